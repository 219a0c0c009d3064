#ifndef FOCAL_DETAIL_SOFT_KERNEL_HPP
#define FOCAL_DETAIL_SOFT_KERNEL_HPP

// The elementwise kernel of the soft-target losses, on the sigmoid kernel's pieces
// (LogisticTerms, focus_power) and run by the same span pass and drivers:
//
//   QFL (Li et al. 2020, GFL):      |y − σ|^β · ce(x, y)
//   VFL (Zhang et al. 2021, VFNet): y · ce(x, y) for y > 0,  α σ^γ softplus(x) for y = 0
//
// with ce(x, y) = y·softplus(−x) + (1 − y)·softplus(x), the binary cross-entropy with a soft
// target written without cancellation (both terms ≥ 0). The terms come from LogisticTerms at
// z = −x: q + q_lo = σ(x) in two words, p_t = 1 − σ(x) to an ulp, nl = softplus(x),
// m + l1 = softplus(−x). d = y − σ(x) is formed from the two words, so it keeps σ's low bits
// where y ≈ σ; what is left there is σ's own error (about an ulp of min(σ, 1 − σ)), which
// |d|^β magnifies by β|d|^(β−1) (docs/math.md, "Soft targets").
//
// Derivatives (∂/∂x), each a sum of terms of one sign:
//   QFL: −sgn(d) (|d|^(β+1) + β ce σ(1 − σ) |d|^(β−1)), 0 at d = 0
//   VFL: −y d for y > 0; α σ^γ (σ + γ (1 − σ) softplus(x)) for y = 0 (the focal loss's
//        negative term with α_t = α)
// On probabilities p (∂/∂p), from −log p and −log(1 − p) as the sigmoid kernel takes them:
//   QFL: −sgn(d) (β ce |d|^(β−1) + |d|^(β+1) / (p (1 − p)))
//   VFL: −y d / (p (1 − p)) for y > 0; α p^γ (γ (−log(1 − p))/p + 1/(1 − p)) for y = 0

#include "config.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "../input.hpp"
#include "sigmoid_kernel.hpp"
#include "simd/eft.hpp"
#include "simd/exp.hpp"
#include "simd/log.hpp"
#include "simd/packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Which soft-target loss.
enum class Soft { quality, varifocal };

/// Parameters of the soft kernel: the exponent (β of QFL, γ of VFL) and VFL's α.
template <class Scalar>
struct SoftParams {
  Scalar exponent = Scalar(2);
  int int_exponent = 2;  // the exponent if integer (integer_gamma), else −1
  Scalar alpha = Scalar(1);
};

template <class Scalar>
SoftParams<Scalar> soft_params(Scalar exponent, Scalar alpha = Scalar(1)) noexcept {
  return {exponent, integer_gamma(exponent), alpha};
}

template <class Scalar, Soft Kind, class Input = Logits, class Packet = simd::packet_t<Scalar>>
class SoftKernel : public KernelCalls<SoftKernel<Scalar, Kind, Input, Packet>, Scalar> {
  static_assert(is_supported_scalar_v<Scalar>, "focal: Scalar must be float or double");
  static_assert(std::is_same<Input, Logits>::value || std::is_same<Input, Probabilities>::value,
                "focal: Input must be focal::Logits or focal::Probabilities");

 public:
  using input_type = Input;
  using P = Packet;
  static constexpr int lanes = simd::lanes<P>;
  /// Targets anywhere in [0, 1], not only 0 or 1.
  static constexpr bool soft_targets = true;

  explicit SoftKernel(const SoftParams<Scalar>& p) noexcept : p_(p) {}

  const SoftParams<Scalar>& params() const noexcept { return p_; }

  /// Calls f(std::integral_constant<Focus, F>{}) with the mode of the exponent.
  template <class Fn>
  decltype(auto) dispatch(Fn&& f) const {
    return dispatch_exponent(p_.int_exponent, std::forward<Fn>(f));
  }

 private:
  friend struct KernelCalls<SoftKernel, Scalar>;

  // d = y − (s + s_lo) as d + d_lo: the exact sum of y − s and the low words, renormalized.
  static EIGEN_ALWAYS_INLINE void difference(const P& y, const P& s, const P& s_lo, P& d,
                                             P& d_lo) {
    using namespace simd;
    P b, b_lo;
    two_sum(y, negate(s), b, b_lo);
    fast_two_sum(b, psub(b_lo, s_lo), d, d_lo);
  }

  // |d|^e from d + d_lo (e = β, or β − 1 for the derivative: |d|^(β−1) formed directly, not as
  // |d|^β / |d|, which loses |d|^β's bits where it is subnormal).
  template <Focus F>
  EIGEN_ALWAYS_INLINE P abs_power(const P& d, const P& d_lo, Scalar e, int int_e) const {
    using namespace simd;
    const P zero = pzero(d);
    return focus_power<F, false>(pabs(d), negate_where(less(d, zero), d_lo), zero, zero, e, int_e);
  }

  // |d|^(β−1) for β > 0 (β = 0 has no such term; 1 for β = 1).
  template <Focus F>
  EIGEN_ALWAYS_INLINE P abs_power_less_one(const P& d, const P& d_lo) const {
    if constexpr (F == Focus::fractional) {
      return abs_power<F>(d, d_lo, p_.exponent - Scalar(1), -1);
    } else if constexpr (F == Focus::none) {
      return simd::cst<P>(Scalar(0));
    } else if (p_.int_exponent == 1) {
      return simd::cst<P>(Scalar(1));
    } else {
      return abs_power<Focus::integer>(d, d_lo, p_.exponent - Scalar(1), p_.int_exponent - 1);
    }
  }

  // −sgn(d)·v, and 0 where d = 0.
  static EIGEN_ALWAYS_INLINE P against(const P& d, const P& v) {
    using namespace simd;
    const P zero = pzero(d);
    return select(equal(d, zero), zero, negate_where(less(zero, d), v));
  }

  template <Focus F>
  EIGEN_ALWAYS_INLINE void eval_block_logits(const Scalar* x, const Scalar* y, int packets,
                                             Scalar* loss, Scalar* grad) const {
    using namespace simd;
    constexpr int L = lanes;
    constexpr std::size_t size = std::size_t(simd::block_packets * L);
    alignas(64) Scalar es[size];
    // Stage 1: e = exp(−|x|) (a loop of its own, as in the sigmoid kernel).
    for (int k = 0; k < packets; ++k) {
      pstore(es + k * L, exp_clamped(neg_abs_clamped(ploadu<P>(x + k * L))));
    }
    const P one = cst<P>(Scalar(1)), zero = pzero(one);
    const P beta = cst<P>(p_.exponent);
    for (int k = 0; k < packets; ++k) {
      const P xv = ploadu<P>(x + k * L);
      const P yv = ploadu<P>(y + k * L);
      const LogisticTerms<P, false> t(negate(xv), zero, pload<P>(es + k * L));
      // softplus(x) = nl, softplus(−x) = m + l1; σ(x) = q + q_lo, 1 − σ(x) = p_t.
      const P sp_neg = padd(t.m, t.l1);
      const P ce = padd(weight(yv, sp_neg), weight(psub(one, yv), t.nl));
      P d, d_lo;
      difference(yv, t.q, t.q_lo, d, d_lo);
      P l, g;
      if constexpr (Kind == Soft::quality) {
        const P dp = abs_power<F>(d, d_lo, p_.exponent, p_.int_exponent);
        const P ad = pabs(d);
        // ce = ∞ (x = ±∞, y on the other side) has d ≠ 0: the loss is ∞ even where |d|^β
        // underflows.
        l = select(is_infinite(ce), ce, pmul(dp, ce));
        // β ce σ(1 − σ) |d|^(β−1), in an order that keeps the tails in range: σ(1 − σ) and ce
        // are both ~exp(−|x|) where y ≈ σ in the tail, and |d|^(β−1) is large for β < 1;
        // σ(1 − σ) → 0 takes ce = ∞ (x = ±∞) to 0.
        P second = zero;
        if (p_.exponent > Scalar(0)) {
          const P ss = pmul(t.q, t.pt), dm = abs_power_less_one<F>(d, d_lo);
          second = p_.exponent < Scalar(1) ? weight(pmul(ss, dm), ce) : pmul(weight(ss, ce), dm);
          second = pmul(beta, second);
        }
        // Pinned (opaque), as the sigmoid kernel's q_lo: -ffp-contract could fuse either product
        // into the sum in one inlining context and not another, and the bits would differ.
        g = against(d, padd(opaque(pmul(dp, ad)), opaque(second)));
      } else {
        const auto positive = less(zero, yv);
        const P qg = focus_power<F, true>(t.q, t.q_lo, t.m, t.l1, p_.exponent, p_.int_exponent);
        const P alpha = cst<P>(p_.alpha);
        // As the focal loss's negative term: h = γ p_t nl + q, p_t nl = 0 where nl = ∞.
        const P pt_nl = pmul(t.pt, pmin(t.nl, cst<P>(std::numeric_limits<Scalar>::max())));
        const P h = pmadd(beta, pt_nl, padd(t.q, t.q_lo));  // σ correctly rounded, as there
        l = select(positive, weight(yv, ce), weight(alpha, pmul(qg, t.nl)));
        g = select(positive, negate(pmul(yv, d)), weight(alpha, pmul(qg, h)));
      }
      // A NaN logit: NaN loss and gradient in every build (AVX-512's exp drops it).
      const auto nan = not_equal(xv, xv);
      pstore(loss + k * L, select(nan, xv, l));
      pstore(grad + k * L, select(nan, xv, g));
    }
  }

  template <Focus F>
  EIGEN_ALWAYS_INLINE void eval_block_probabilities(const Scalar* x, const Scalar* y,
                                                    int packets, Scalar* loss,
                                                    Scalar* grad) const {
    using namespace simd;
    constexpr int L = lanes;
    const P one = cst<P>(Scalar(1)), zero = pzero(one), half = cst<P>(Scalar(0.5));
    const P beta = cst<P>(p_.exponent);
    for (int k = 0; k < packets; ++k) {
      const P p = padd(ploadu<P>(x + k * L), zero);  // −0 → +0, as in the sigmoid kernel
      const P yv = ploadu<P>(y + k * L);
      // −log p (p exact) and −log(1 − p) from 1 − p = u + u_lo (u_lo exact, 0 for p ≥ 1/2).
      const P u = psub(one, p);
      const auto low = less(p, half);
      const P u_lo = select(low, psub(psub(one, u), p), zero);
      const P nlp = neg_log_unit(p, zero);
      const P nlq = neg_log_unit(u, pdiv(u_lo, select(low, u, one)));
      const P ce = padd(weight(yv, nlp), weight(psub(one, yv), nlq));
      P d, d_lo;
      two_sum(yv, negate(p), d, d_lo);
      const P pq = pmul(p, u);  // p (1 − p)
      P l, g;
      if constexpr (Kind == Soft::quality) {
        const P dp = abs_power<F>(d, d_lo, p_.exponent, p_.int_exponent);
        const P ad = pabs(d);
        l = select(is_infinite(ce), ce, pmul(dp, ce));  // as on logits
        // β ce |d|^(β−1): ∞ where ce is (then d ≠ 0), even where |d|^β underflows.
        P second = zero;
        if (p_.exponent > Scalar(0)) {
          // β < 1: |d|^(β−1) may be large and y, ce subnormal: ce·|d|^(β−1) term by term,
          // each log times |d|^(β−1) before its weight.
          const P dm = abs_power_less_one<F>(d, d_lo);
          second = p_.exponent < Scalar(1)
                       ? pmul(beta, padd(weight(yv, pmul(nlp, dm)), weight(psub(one, yv), pmul(nlq, dm))))
                       : pmul(pmul(beta, ce), dm);
          second = select(is_infinite(ce), ce, second);
        }
        g = against(d, padd(opaque(second), over(dp, ad, pq)));  // pinned, as on logits
        // d = 0 at p = y ∈ {0, 1}: with β = 0 the cross-entropy's one-sided slope, ±1 (else 0).
        if (p_.exponent == Scalar(0)) g = select(equal(d, zero), edge_slope(p, one), g);
      } else {
        const auto positive = less(zero, yv);
        const P qg = focus_power<F, false>(p, zero, zero, zero, p_.exponent, p_.int_exponent);
        // γ (−log(1 − p))/p → γ as p → 0; 1/(1 − p) as in the sigmoid kernel's direct term.
        const P r = select(less(zero, p), pdiv(nlq, p), one);
        const P focus_term = p_.exponent > Scalar(0) ? opaque(pmul(beta, r)) : zero;
        const P neg = weight(cst<P>(p_.alpha), pmul(qg, padd(focus_term, pdiv(one, u))));
        const P pos = against(d, over(yv, pabs(d), pq));
        l = select(positive, weight(yv, ce), weight(cst<P>(p_.alpha), pmul(qg, nlq)));
        g = select(positive, select(equal(d, zero), pmul(yv, edge_slope(p, one)), pos), neg);
      }
      pstore(loss + k * L, l);
      pstore(grad + k * L, g);
    }
  }

  // a·b / pq for a, b ∈ [0, 1]: (a·b)/pq unless a·b leaves the normal range, then a·(b/pq);
  // ∞ where pq = p (1 − p) = 0 (a·b > 0 there, or d = 0, which the caller selects).
  static EIGEN_ALWAYS_INLINE P over(const P& a, const P& b, const P& pq) {
    using namespace simd;
    const P ab = pmul(a, b);
    const P v = select(less(ab, cst<P>(std::numeric_limits<Scalar>::min())), pmul(a, pdiv(b, pq)),
                       pdiv(ab, pq));
    return select(equal(pq, pzero(pq)), cst<P>(std::numeric_limits<Scalar>::infinity()), v);
  }

  // The slope of the cross-entropy where p = y: 0 inside (0, 1), +1 at p = 0 (−log(1 − p)),
  // −1 at p = 1 (−log p).
  static EIGEN_ALWAYS_INLINE P edge_slope(const P& p, const P& one) {
    using namespace simd;
    const P zero = pzero(p);
    return select(equal(p, zero), one, select(equal(p, one), negate(one), zero));
  }

  SoftParams<Scalar> p_;
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SOFT_KERNEL_HPP
