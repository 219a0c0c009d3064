#ifndef FOCAL_DETAIL_SIGMOID_KERNEL_HPP
#define FOCAL_DETAIL_SIGMOID_KERNEL_HPP

// The one elementwise kernel behind all sigmoid-family losses (CE, α-CE, FL, α-FL, FL*),
// written once on packets (simd/packet.hpp) and run on Eigen's packets where Eigen vectorizes
// and on plain scalars where it does not:
//
//   loss = α_t · q^γ · (−log p_t),   q = 1 − p_t,   at p_t = σ(z), z = s·x (Logits), or
//   p_t = p / 1 − p (Probabilities); FL* is CE at z' = γ*·z + β divided by γ*.
//
// Every formula is a stable form (docs/math.md): no clamps, no log of a rounded probability,
// no 1 − σ(z), integer γ by multiplication. On logits: one exp and one log per element, with
// log1p(e) = log(d) + d_lo/d from the exact split 1 + e = d + d_lo. The focusing mode is a
// template parameter, dispatched once per call outside the loops. Per-element calls run this
// same code on a broadcast packet, so a value is the same bits whichever entry point computed
// it.

#include "config.hpp"

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "../input.hpp"
#include "simd/eft.hpp"
#include "simd/exp.hpp"
#include "simd/log.hpp"
#include "simd/packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

template <class Scalar>
inline constexpr bool is_supported_scalar_v =
    std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value;

/// Integer γ up to this value is computed by multiplication; larger or fractional γ use the
/// compensated exp. (γ = 64 already sends q^γ below float's range for q ≤ 0.25.)
inline constexpr int max_int_gamma = 64;

/// −1 if γ is not an integer in [0, max_int_gamma], else γ.
template <class Scalar>
inline int integer_gamma(Scalar gamma) noexcept {
  if (gamma >= Scalar(0) && gamma <= Scalar(max_int_gamma) && gamma == std::floor(gamma)) {
    return static_cast<int>(gamma);
  }
  return -1;
}

/// Parameters of the kernel. The public loss types fill them in; the kernel never validates
/// (the constructors and the array entry points do).
template <class Scalar>
struct SigmoidParams {
  Scalar alpha_neg = Scalar(1);  // α_t for y = 0 (1 − α in the balanced losses)
  Scalar alpha_pos = Scalar(1);  // α_t for y = 1 (α)
  Scalar gamma = Scalar(0);      // focusing exponent γ of (1 − p_t)^γ
  int int_gamma = 0;             // γ if integer (see integer_gamma), else −1
  bool star = false;             // FL*: loss = −log σ(γ*·z + β) / γ*
  Scalar star_gamma = Scalar(1);  // γ* of FL*
  Scalar star_beta = Scalar(0);   // β of FL*
};

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

/// How q^γ is computed: γ = 0 (CE) and γ = 2 (the paper's) unrolled at compile time; another
/// integer γ by multiplication in a loop; a fractional γ by a compensated exp (on probabilities
/// pow); FL* has no q^γ.
enum class Focus { none, square, integer, fractional, star };

/// q^γ: (q + q_lo)^k = q^k + k·q_lo·q^(k−1) by multiplication; for a fractional γ, with
/// Exp, the compensated exp(−γ (m + l1)) (m + l1 = −log q, q itself may be subnormal or 0 where
/// q^γ is not), with the exponent in two words: rounding γ·(m + l1) would cost |γ·(m + l1)| ulp
/// (about 40 ulp at a logit of 80 with γ = 0.5); what remains is exp's own error plus γ times
/// the rounding error of l1. Without Exp (probabilities, soft targets' |y − σ|) libm's pow,
/// lane by lane, times (1 + q_lo/q)^γ ≈ 1 + γ q_lo/q. Shared by the sigmoid and soft kernels.
template <Focus F, bool Exp, class P, class Scalar>
EIGEN_ALWAYS_INLINE P focus_power(const P& q, const P& q_lo, const P& m, const P& l1,
                                  Scalar gamma, int int_gamma) {
  using namespace simd;
  if constexpr (F == Focus::none) {
    return cst<P>(Scalar(1));
  } else if constexpr (F == Focus::square) {
    return pmul(q, pmadd(cst<P>(Scalar(2)), q_lo, q));  // (q + q_lo)² less q_lo² (< 2^-40 q²)
  } else if constexpr (F == Focus::integer) {
    const P pk1 = power(q, int_gamma - 1);
    return pmadd(pmul(cst<P>(Scalar(int_gamma)), q_lo), pk1, pmul(pk1, q));
  } else if constexpr (!Exp) {
    constexpr std::size_t size = std::size_t(lanes<P>);
    alignas(64) Scalar qs[size], lows[size];
    pstore(qs, q);
    pstore(lows, q_lo);
    for (std::size_t i = 0; i < size; ++i) {
      const Scalar pw = std::pow(qs[i], gamma);
      qs[i] = lows[i] == Scalar(0) ? pw : pw + gamma * (lows[i] / qs[i]) * pw;
    }
    return pload<P>(qs);
  } else {
    const P g = cst<P>(gamma);
    P s, s_err, p, p_err;
    two_sum(m, l1, s, s_err);
    two_prod(g, s, p, p_err);
    const P e = exp_nonpositive(negate(p));
    // exp(−p − c) = exp(−p)·(1 − c + O(c²)), |c| about an ulp of p. At p = ∞ (m = ∞), or
    // where the split overflows, c is not finite and exp(−p) is already the answer (0).
    const P c = pmadd(g, s_err, p_err);
    return select(is_finite(c), psub(e, pmul(e, c)), e);
  }
}

/// The stable pieces of the logistic function at z, from e = exp(−|z|) and one log:
/// p_t = σ(z), q = σ(−z) = 1 − p_t as a double-word q + q_lo (q within an ulp, not
/// renormalized: its users need the sum, and q^γ = (q + q_lo)^γ takes either split),
/// nl = softplus(−z) = −log p_t, m + l1 = softplus(z) = −log q with m = max(z, 0) exact and
/// l1 = log1p(e). q^γ by multiplication multiplies q's relative error by γ; the low word keeps
/// that to e's own error.
template <class P, bool WithLow>
struct LogisticTerms {
  P pt, q, q_lo, nl, m, l1;

  /// z (+ z_lo, |z_lo| ≤ ulp(z)/2: FL*'s γ*·z + β in two words) and e0 = exp(−|z|),
  /// computed by the caller (a stage of its own).
  EIGEN_ALWAYS_INLINE LogisticTerms(const P& z, const P& z_lo, const P& e0) {
    using namespace simd;
    const P one = cst<P>(1);
    const P zero = pzero(z);
    const auto nonneg = less_equal(zero, z);  // false for NaN
    const auto negative = negative_or_nan(z);  // NaN: see neg_abs_clamped
    P e = e0;
    // exp(−|z + z_lo|) = e·exp(∓z_lo) ≈ e·(1 ∓ z_lo); z_lo ≠ 0 implies z ≠ 0.
    if constexpr (WithLow) e = psub(e, pmul(e, select(nonneg, z_lo, negate(z_lo))));
    const P d = padd(one, e);
    const P d_lo = padd(psub(one, d), e);  // 1 + e = d + d_lo exactly (Fast2Sum, 1 ≥ e)
    const P big = reciprocal_1_to_2(d);    // σ(|z|), within an ulp
    // σ(−|z|) = e·big to an ulp, never 1 − σ(|z|): where z ≥ 0 for q, z < 0 for p_t.
    q = multiply_where(nonneg, e, big, big);
    pt = multiply_where(negative, e, big, big);
    // num/(d + d_lo) − q = ((num − q·d) − q·d_lo)/d, with num − q·d exact.
    const P num = select(nonneg, e, one);
    // Pinned (opaque): under -ffp-contract=fast the product could fuse into the q + q_lo that
    // the kernel adds in one inlining context and not another, and the bits would differ.
    q_lo = opaque(pmul(psub(product_residual(num, q, d), pmul(q, d_lo)), big));
    l1 = log1p_split(d, d_lo, big);  // log1p(e) = log d + log1p(d_lo/d) ≈ log d + d_lo/d
    // nl = softplus(−z) = max(−z, 0) + log1p(e): l1 − z where z < 0, and where z is NaN (on
    // AVX-512 e is then finite: the NaN reaches the loss and, through h, the gradient here).
    nl = subtract_where(negative, l1, WithLow ? padd(z, z_lo) : z);
    m = select(nonneg, z, zero);
  }
};

/// Calls f(std::integral_constant<Focus, F>{}) with the mode of an exponent k (integer_gamma):
/// 0 and 2 unrolled, another integer by multiplication, −1 (fractional) by exp or pow.
template <class Fn>
decltype(auto) dispatch_exponent(int k, Fn&& f) {
  switch (k) {
    case 0: return f(std::integral_constant<Focus, Focus::none>{});
    case 2: return f(std::integral_constant<Focus, Focus::square>{});
    case -1: return f(std::integral_constant<Focus, Focus::fractional>{});
    default: return f(std::integral_constant<Focus, Focus::integer>{});
  }
}

/// The calls every elementwise kernel offers on top of its dispatch and eval_block (CRTP):
/// eval_block in the kernel's mode, and one element as lane 0 of a broadcast packet, so that
/// a per-element call gives the same bits as the arrays.
template <class Kernel, class Scalar>
struct KernelCalls {
  /// Loss and ∂loss/∂x of `packets` (≤ simd::block_packets) packets of inputs x and targets y
  /// (arrays of packets·lanes scalars, any alignment), into loss and grad (aligned), in mode
  /// F: the kernel's eval_block_logits or eval_block_probabilities, as its Input says.
  template <Focus F>
  EIGEN_ALWAYS_INLINE void eval_block(const Scalar* x, const Scalar* y, int packets,
                                      Scalar* loss, Scalar* grad) const {
    const Kernel& k = static_cast<const Kernel&>(*this);
    if constexpr (std::is_same<typename Kernel::input_type, Probabilities>::value) {
      k.template eval_block_probabilities<F>(x, y, packets, loss, grad);
    } else {
      k.template eval_block_logits<F>(x, y, packets, loss, grad);
    }
  }

  /// eval_block in the kernel's mode (dispatched here, per call).
  void eval_packets(const Scalar* x, const Scalar* y, int packets, Scalar* loss,
                    Scalar* grad) const {
    const Kernel& k = static_cast<const Kernel&>(*this);
    k.dispatch([&](auto mode) {
      k.template eval_block<decltype(mode)::value>(x, y, packets, loss, grad);
    });
  }

  /// Loss and ∂loss/∂x at input x and target y.
  std::pair<Scalar, Scalar> at(Scalar x, Scalar y) const noexcept {
    constexpr std::size_t size = std::size_t(Kernel::lanes);
    alignas(64) Scalar xb[size], yb[size], lb[size], gb[size];
    for (std::size_t k = 0; k < size; ++k) {
      xb[k] = x;
      yb[k] = y;
    }
    eval_packets(xb, yb, 1, lb, gb);
    return {lb[0], gb[0]};
  }
  Scalar value(Scalar x, Scalar y) const noexcept { return at(x, y).first; }
  Scalar derivative(Scalar x, Scalar y) const noexcept { return at(x, y).second; }
};

/// The kernel on logits (Input = Logits) or on probabilities (Input = Probabilities), on
/// packets of this build (plain scalars without SIMD), or on the Packet given (Scalar itself:
/// the same formulas one element at a time, as benchmarks and tests run them in any build).
template <class Scalar, class Input = Logits, class Packet = simd::packet_t<Scalar>>
class SigmoidKernel : public KernelCalls<SigmoidKernel<Scalar, Input, Packet>, Scalar> {
  static_assert(is_supported_scalar_v<Scalar>, "focal: Scalar must be float or double");
  static_assert(std::is_same<Input, Logits>::value || std::is_same<Input, Probabilities>::value,
                "focal: Input must be focal::Logits or focal::Probabilities");

 public:
  using input_type = Input;
  using P = Packet;
  static constexpr int lanes = simd::lanes<P>;

  explicit SigmoidKernel(const SigmoidParams<Scalar>& p) noexcept : p_(p) {}

  const SigmoidParams<Scalar>& params() const noexcept { return p_; }

  /// Calls f(std::integral_constant<Focus, F>{}) with this kernel's focusing mode.
  template <class Fn>
  decltype(auto) dispatch(Fn&& f) const {
    using Mode = Focus;
    if constexpr (std::is_same<Input, Logits>::value) {
      if (p_.star) return f(std::integral_constant<Mode, Focus::star>{});
    }
    return dispatch_exponent(p_.int_gamma, std::forward<Fn>(f));
  }

 private:
  friend struct KernelCalls<SigmoidKernel, Scalar>;

  // Logits in two stages that each loop over the packets: one packet's chain (exp, division,
  // log, q^γ) is hundreds of cycles long, and shorter independent iterations let the core
  // overlap packets: the exp in a loop of its own, the rest in one (benchmark: bench_fused
  // kernel_block). Intermediates go through the stack and stay in L1.
  template <Focus F>
  EIGEN_ALWAYS_INLINE void eval_block_logits(const Scalar* x, const Scalar* y, int packets,
                                             Scalar* loss, Scalar* grad) const {
    using namespace simd;
    constexpr int L = lanes;
    constexpr bool star = F == Focus::star;
    constexpr std::size_t size = std::size_t(simd::block_packets * L);
    alignas(64) Scalar zs[size], zlo[size], es[size];
    mask_t<P> negative_targets[simd::block_packets];  // y ≠ 1, from stage 1 to stage 2
    const P one = cst<P>(1);
    const bool alpha_zero = p_.alpha_pos == Scalar(0) || p_.alpha_neg == Scalar(0);
    // Stage 1: z = s·x (FL*: u = γ*·z + β in two words) and e = exp(−|z|).
    for (int k = 0; k < packets; ++k) {
      const P xv = ploadu<P>(x + k * L);
      const auto negative_target = not_equal(ploadu<P>(y + k * L), one);
      negative_targets[k] = negative_target;
      P z = negate_where(negative_target, xv);  // x_t: −x unless y = 1
      P z_lo = pzero(z);
      if constexpr (star) {
        P prod, prod_err, sum_err;
        two_prod(cst<P>(p_.star_gamma), z, prod, prod_err);
        two_sum(prod, cst<P>(p_.star_beta), z, sum_err);
        // γ*·z overflowed or z = ±∞: nothing to carry.
        z_lo = padd(prod_err, sum_err);
        z_lo = select(is_finite(z_lo), z_lo, pzero(z_lo));
      }
      pstore(zs + k * L, z);
      if constexpr (star) pstore(zlo + k * L, z_lo);
      pstore(es + k * L,
             star ? exp_nonpositive(negate(pabs(z))) : exp_clamped(neg_abs_clamped(xv)));
    }
    // Stage 2: the logistic terms, q^γ, loss and derivative.
    for (int k = 0; k < packets; ++k) {
      const LogisticTerms<P, star> t(pload<P>(zs + k * L),
                                     star ? pload<P>(zlo + k * L) : pzero(one),
                                     pload<P>(es + k * L));
      const auto negative_target = negative_targets[k];
      const P q = padd(t.q, t.q_lo);  // σ(−z) correctly rounded
      P l, g;
      if constexpr (star) {
        // FL* (App. A): loss = softplus(−u)/γ*, u = γ*·z + β; dFL*/dx = −s σ(−u)  (11).
        l = pdiv(t.nl, cst<P>(p_.star_gamma));
        // γ*·x_t overflowed for a finite x_t: the loss is ≈ −x_t − β/γ*.
        const P xt = negate_where(negative_target, ploadu<P>(x + k * L));
        const auto over = mask_andnot(is_finite(xt), is_finite(l));
        const P limit = psub(negate(xt), cst<P>(p_.star_beta / p_.star_gamma));
        l = select(mask_and(over, equal(l, l)), limit, l);
        g = select(negative_target, q, negate(q));
      } else {
        const P qg = focus_power<F, true>(t.q, t.q_lo, t.m, t.l1, p_.gamma, p_.int_gamma);
        // (10): dFL/dz = −α_t q^γ h, h = γ p_t (−log p_t) + q: both terms ≥ 0, so nothing
        // cancels, and no q^(γ−1) appears: finite for every γ ≥ 0. ∂loss/∂x = −α_t q^γ h where
        // y = 1, +α_t q^γ h where y = 0: α_t with that sign.
        const P signed_alpha =
            select(negative_target, cst<P>(p_.alpha_neg), cst<P>(-p_.alpha_pos));
        // p_t·nl, 0 where p_t = 0 and nl = ∞ (z = −∞): nl capped at the largest finite value.
        const P pt_nl = pmul(t.pt, pmin(t.nl, cst<P>(std::numeric_limits<Scalar>::max())));
        const P h = pmadd(cst<P>(p_.gamma), pt_nl, q);
        if (alpha_zero) {  // 0·∞ = 0 only matters where some α_t is exactly 0
          l = weight(pabs(signed_alpha), pmul(qg, t.nl));
          g = weight(signed_alpha, pmul(qg, h));
        } else {
          // (α_t·q^γ formed once for both would save an instruction, 1.5% in L2, but it moves
          // the rounding: on the sweep's grid the SSE2 build's γ = 1 gradient goes past its
          // 6 ulp, and with FMA the γ = 5 loss goes 8.5 → 9.1 ulp, γ = 0.5 3.3 → 3.5.)
          l = pabs(pmul(signed_alpha, pmul(qg, t.nl)));
          g = pmul(signed_alpha, pmul(qg, h));
        }
      }
      pstore(loss + k * L, l);
      pstore(grad + k * L, g);
    }
  }

  // Probabilities: p_t and q from p with the smaller one exact (it is p, or 1 − p with
  // p ≥ 1/2, Sterbenz) and q + q_lo = 1 − p; −log p_t = −(log p_t + u_lo/p_t), where p_t = 1 − q
  // rounded leaves the exact rest u_lo = (1 − p_t) − q (p_t ≥ 1/2); the focal terms as on
  // logits.
  template <Focus F>
  EIGEN_ALWAYS_INLINE void eval_block_probabilities(const Scalar* x, const Scalar* y,
                                                    int packets, Scalar* loss,
                                                    Scalar* grad) const {
    using namespace simd;
    constexpr int L = lanes;
    const P one = cst<P>(1), zero = pzero(one);
    const bool alpha_zero = p_.alpha_pos == Scalar(0) || p_.alpha_neg == Scalar(0);
    for (int k = 0; k < packets; ++k) {
      // −0 is a legal probability and means 0: + 0 makes it +0, whose limits follow (as −0,
      // p_t = −0 gave 1/p_t = −∞ and NaN).
      const P p = padd(ploadu<P>(x + k * L), zero);
      const auto positive = equal(ploadu<P>(y + k * L), one);
      const P one_minus_p = psub(one, p);
      const P pt = select(positive, p, one_minus_p);
      const P q = select(positive, one_minus_p, p);
      const P q_lo = select(positive, psub(negate(p), psub(q, one)), zero);
      const auto upper = less_equal(cst<P>(Scalar(0.5)), pt);
      const P u_lo = select(upper, psub(psub(one, pt), q), zero);  // exact (Sterbenz twice)
      const P nl = neg_log_unit(pt, pdiv(u_lo, select(upper, pt, one)));  // −log(p_t + u_lo)
      const P qg = focus_power<F, false>(q, q_lo, zero, zero, p_.gamma, p_.int_gamma);
      const P alpha_t = select(positive, cst<P>(p_.alpha_pos), cst<P>(p_.alpha_neg));
      // dFL/dp_t = −α_t q^γ (γ (−log p_t)/q + 1/p_t); (−log p_t)/q → 1 as q → 0, which gives 0
      // at p_t = 1 for γ > 0 and −α_t for γ = 0; at p_t = 0 it is −∞·α_t. α_t q^γ / p_t rather
      // than α_t·(1/p_t): 1/p_t overflows for subnormal p_t where the product does not; it is
      // taken as 0 where α_t q^γ = 0 (only if α_t = 0: q^γ = 0 needs p_t = 1), not 0/0.
      const P r = select(less(zero, q), pdiv(nl, q), one);
      const P focus_term = p_.gamma > Scalar(0) ? pmul(cst<P>(p_.gamma), r) : zero;
      const P c = pmul(alpha_t, qg);
      const P direct = select(equal(c, zero), zero, pdiv(c, pt));
      P l, g;
      if (alpha_zero) {
        l = weight(alpha_t, pmul(qg, nl));
        g = padd(weight(alpha_t, pmul(qg, focus_term)), direct);
      } else {
        l = pmul(alpha_t, pmul(qg, nl));
        // One FMA, written out: left as a product and a sum, -ffp-contract=fast may fuse them
        // in one inlining context and not in another, and the bits would differ.
        g = pmadd(alpha_t, pmul(qg, focus_term), direct);
      }
      pstore(loss + k * L, l);
      pstore(grad + k * L, negate_where(positive, g));  // dp_t/dp = s
    }
  }

  SigmoidParams<Scalar> p_;
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SIGMOID_KERNEL_HPP
