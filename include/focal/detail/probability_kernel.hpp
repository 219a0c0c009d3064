#ifndef FOCAL_DETAIL_PROBABILITY_KERNEL_HPP
#define FOCAL_DETAIL_PROBABILITY_KERNEL_HPP

// The sigmoid-family losses on probabilities, one element in scalar arithmetic: the fallback
// of builds without SIMD and, lane by lane, of non-integer γ in the packet kernel.

#include "config.hpp"

#include <cmath>

#include "params.hpp"
#include "stable.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Loss and/or ∂loss/∂p at probability p in [0, 1] (or NaN), target positive (y = 1) or not.
template <bool WantLoss, bool WantGrad, class Scalar>
void probability_eval(const SigmoidParams<Scalar>& prm, Scalar p_in, bool positive, Scalar& loss,
                      Scalar& grad) noexcept {
  // −0 is a legal probability and means 0: + 0 makes it +0, whose limits follow (as −0, p_t
  // = −0 gave 1/p_t = −∞ and NaN).
  const Scalar p = p_in + Scalar(0);
  const Scalar alpha_t = positive ? prm.alpha_pos : prm.alpha_neg;
  // The smaller of p_t and q is exact (it is p, or 1 − p with p ≥ 1/2, Sterbenz); the
  // larger is ≥ 1/2, so rounding it costs half an ulp at most.
  const Scalar pt = positive ? p : Scalar(1) - p;
  const Scalar q = positive ? Scalar(1) - p : p;
  const Scalar q_lo = positive ? -p - (q - Scalar(1)) : Scalar(0);  // 1 − p = q + q_lo
  const Scalar nl = pt >= Scalar(0.5) ? -std::log1p(-q) : -std::log(pt);  // −log p_t
  Scalar qg;
  if (prm.int_gamma >= 0) {
    qg = int_pow_dw(q, q_lo, prm.int_gamma);
  } else {
    const Scalar pw = std::pow(q, prm.gamma);  // (q + q_lo)^γ = q^γ (1 + γ q_lo/q + …)
    qg = q_lo == Scalar(0) ? pw : pw + prm.gamma * (q_lo / q) * pw;
  }
  if constexpr (WantLoss) loss = weight(alpha_t, qg * nl);
  if constexpr (WantGrad) {
    // dFL/dp_t = −α_t q^γ (γ (−log p_t)/q + 1/p_t); (−log p_t)/q → 1 as q → 0, which
    // gives 0 at p_t = 1 for γ > 0 and −α_t for γ = 0; at p_t = 0 it is −∞·α_t.
    const Scalar r = q > Scalar(0) ? nl / q : Scalar(1);
    const Scalar focus = prm.gamma > Scalar(0) ? prm.gamma * r : Scalar(0);
    // α_t q^γ / p_t rather than α_t·(1/p_t): 1/p_t overflows for subnormal p_t where the
    // product does not. c = 0 only if α_t = 0 (q^γ = 0 needs p_t = 1): then 0, not 0/0.
    const Scalar c = alpha_t * qg;
    const Scalar g = weight(alpha_t, qg * focus) + (c == Scalar(0) ? Scalar(0) : c / pt);
    grad = positive ? -g : g;  // dp_t/dp = s
  }
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_PROBABILITY_KERNEL_HPP
