#ifndef FOCAL_DETAIL_KERNEL_HPP
#define FOCAL_DETAIL_KERNEL_HPP

// The one elementwise kernel behind all sigmoid-family losses (CE, α-CE, FL, α-FL, FL*).
//
//   loss = α_t · q^γ · (−log p_t),   q = 1 − p_t,   evaluated at p_t = σ(z), z = s·x
//   (Logits) or p_t = p / 1 − p (Probabilities); FL* is CE evaluated at z' = γ*·z + β and
//   divided by γ*. Every formula is a stable form (README, The math): no clamps, no log of a rounded
//   probability, no 1 − σ(z), integer γ by multiplication.

#include "config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include "../input.hpp"
#include "packet_kernel.hpp"
#include "probability_kernel.hpp"
#include "params.hpp"
#include "stable.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// α-balanced focal parameters: α_t = α for y = 1, 1 − α for y = 0; γ = 0 is CE.
template <class Scalar>
SigmoidParams<Scalar> focal_params(Scalar alpha, Scalar gamma) noexcept {
  SigmoidParams<Scalar> p;
  p.alpha_pos = alpha;
  p.alpha_neg = Scalar(1) - alpha;
  p.gamma = gamma;
  p.int_gamma = integer_gamma(gamma);
  return p;
}

/// Unbalanced focal parameters: α_t = 1 for both targets (not α = 0.5, which would halve).
template <class Scalar>
SigmoidParams<Scalar> focal_params(Scalar gamma) noexcept {
  SigmoidParams<Scalar> p = focal_params(Scalar(1), gamma);
  p.alpha_neg = Scalar(1);
  return p;
}

/// FL* parameters (App. A): CE at γ*·z + β, divided by γ*.
template <class Scalar>
SigmoidParams<Scalar> star_params(Scalar gamma, Scalar beta) noexcept {
  SigmoidParams<Scalar> p = focal_params(Scalar(0));
  p.star = true;
  p.star_gamma = gamma;
  p.star_beta = beta;
  return p;
}

/// The stable pieces of the logistic function at z, from one exp and one log1p:
/// e = exp(−|z|), p_t = σ(z), q = σ(−z) = 1 − p_t, nl = softplus(−z) = −log p_t,
/// m + l1 = softplus(z) = −log q with m = max(z, 0) exact and l1 = log1p(e).
/// q is also kept as a double-word q + q_lo, exact to far below an ulp given e: q^γ by
/// multiplication multiplies q's relative error by γ, and this keeps that to e's own error.
template <class Scalar>
struct LogisticTerms {
  Scalar pt, q, q_lo, nl, m, l1;

  /// z_lo: an optional low part, |z_lo| ≤ ulp(z)/2, of an argument z + z_lo that is not a
  /// float (FL*'s γ x_t + β); first-order corrections carry it into e and nl.
  explicit LogisticTerms(Scalar z, Scalar z_lo = Scalar(0)) noexcept {
    Scalar e = std::exp(-std::abs(z));
    // exp(−|z + z_lo|) = e·exp(∓z_lo) ≈ e·(1 ∓ z_lo); z_lo ≠ 0 implies z ≠ 0.
    e -= e * (z >= Scalar(0) ? z_lo : -z_lo);
    const Scalar d = Scalar(1) + e;
    const Scalar d_lo = (Scalar(1) - d) + e;  // 1 + e = d + d_lo exactly (Fast2Sum, 1 ≥ e)
    const Scalar big = Scalar(1) / d;          // σ(|z|) ∈ [1/2, 1]
    const Scalar small = e / d;                // σ(−|z|), computed directly: never 1 − σ(|z|)
    const bool nonneg = z >= Scalar(0);        // false for NaN: NaN then flows through every term
    // The quotient's low part: n/(d + d_lo) − t = ((n − t·d) − t·d_lo)/d, with n − t·d exact.
    const Scalar num = nonneg ? e : Scalar(1);
    const Scalar t = nonneg ? small : big;
    q_lo = (product_residual(num, t, d) - t * d_lo) / d;
    l1 = std::log1p(e);
    pt = nonneg ? big : small;
    q = t;
    nl = (nonneg ? Scalar(0) : -z - z_lo) + l1;
    m = nonneg ? z : Scalar(0);
  }
};

template <class Scalar, class Input>
class SigmoidKernel {
  static_assert(is_supported_scalar_v<Scalar>, "focal: Scalar must be float or double");
  static_assert(std::is_same<Input, Logits>::value || std::is_same<Input, Probabilities>::value,
                "focal: Input must be focal::Logits or focal::Probabilities");

 public:
  explicit SigmoidKernel(const SigmoidParams<Scalar>& params) noexcept : p_(params) {}

  const SigmoidParams<Scalar>& params() const noexcept { return p_; }

  /// Loss and/or ∂loss/∂x at input x with target positive (y = 1) or not (y = 0).
  template <bool WantLoss, bool WantGrad>
  void eval(Scalar x, bool positive, Scalar& loss, Scalar& grad) const noexcept {
    if constexpr (simd::packet_kernel_for<Scalar, Input>) {
      // The packet kernel on one lane: the same bits as the vectorized array calls.
      simd::SigmoidPacketKernel<Scalar, Input>(p_).template eval_one<WantLoss, WantGrad>(
          x, positive, loss, grad);
    } else if constexpr (std::is_same<Input, Logits>::value) {
      if (p_.star) {
        eval_star<WantLoss, WantGrad>(x, positive, loss, grad);
        return;
      }
      const Scalar alpha_t = positive ? p_.alpha_pos : p_.alpha_neg;
      const Scalar z = positive ? x : -x;  // z = s·x, p_t = σ(z)
      const LogisticTerms<Scalar> t(z);
      const Scalar qg = focus_logit(t);
      if constexpr (WantLoss) loss = weight(alpha_t, qg * t.nl);
      if constexpr (WantGrad) {
        // (10): dFL/dz = −α_t q^γ (γ p_t (−log p_t) + q). Both bracket terms are ≥ 0, so
        // nothing cancels, and no q^(γ−1) appears: finite for every γ ≥ 0. p_t·(−log p_t)
        // → 0 as p_t → 0 (z = −∞).
        const Scalar pt_nl = t.pt > Scalar(0) ? t.pt * t.nl : Scalar(0);
        const Scalar g = weight(alpha_t, qg * (p_.gamma * pt_nl + t.q));
        grad = positive ? -g : g;  // dz/dx = s
      }
    } else {
      probability_eval<WantLoss, WantGrad>(p_, x, positive, loss, grad);
    }
  }

  Scalar value(Scalar x, bool positive) const noexcept {
    Scalar loss, unused;
    eval<true, false>(x, positive, loss, unused);
    return loss;
  }

  Scalar derivative(Scalar x, bool positive) const noexcept {
    Scalar unused, grad;
    eval<false, true>(x, positive, unused, grad);
    return grad;
  }

 private:
  // q^γ on logits: q·q… for integer γ; otherwise exp(−γ·softplus(z)) = exp(−γ·(m + l1)) with
  // the exponent in double-word precision (q itself may be subnormal or 0 when q^γ is not).
  Scalar focus_logit(const LogisticTerms<Scalar>& t) const noexcept {
    if (p_.int_gamma >= 0) return int_pow_dw(t.q, t.q_lo, p_.int_gamma);
    return exp_neg_scaled(p_.gamma, t.m, t.l1);
  }

  // FL* (App. A): loss = softplus(−u)/γ*, u = γ*·z + β; dFL*/dx = −s σ(−u)  (11).
  // u is carried exactly as u + u_lo: rounding it would cost |u| ulp in the loss.
  template <bool WantLoss, bool WantGrad>
  void eval_star(Scalar x, bool positive, Scalar& loss, Scalar& grad) const noexcept {
    const Scalar z = positive ? x : -x;
    Scalar prod, prod_err, u, sum_err;
    two_prod(p_.star_gamma, z, prod, prod_err);
    two_sum(prod, p_.star_beta, u, sum_err);
    Scalar u_lo = prod_err + sum_err;
    if (!std::isfinite(u_lo)) u_lo = Scalar(0);  // γ*·z overflowed or z = ±∞: nothing to carry
    const LogisticTerms<Scalar> t(u, u_lo);
    if constexpr (WantLoss) {
      Scalar l = t.nl / p_.star_gamma;
      // γ*·z can overflow for a finite z while the loss, ≈ −z − β/γ*, is finite.
      if (std::isinf(l) && std::isfinite(z)) l = -z - p_.star_beta / p_.star_gamma;
      loss = l;
    }
    if constexpr (WantGrad) grad = positive ? -t.q : t.q;
  }

  SigmoidParams<Scalar> p_;
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_KERNEL_HPP
