#ifndef FOCAL_DETAIL_PACKET_KERNEL_HPP
#define FOCAL_DETAIL_PACKET_KERNEL_HPP

// The sigmoid-family kernel of kernel.hpp on logits, in SIMD packets: the same formulas, step
// for step, with exp from packet_math.hpp and log1p(e) = log(d) + d_lo/d from the exact split
// 1 + e = d + d_lo (so one exp and one log per element). The focusing mode (γ = 0…5, another
// integer, non-integer, FL*) is a template parameter, dispatched once per call outside the
// loops. Probabilities have a packet path of their own on AVX-512 (one log per element,
// neg_log_unit), with non-integer γ lane by lane in scalar code. Per-element calls run this
// same code on a broadcast packet, so a value is the same bits whichever entry point computed
// it.

#include "config.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "../input.hpp"
#include "packet_math.hpp"
#include "params.hpp"
#include "probability_kernel.hpp"
#include "stable.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace simd {

/// Where the packet kernel runs: logits wherever Eigen vectorizes Scalar, probabilities where
/// their accurate logarithm exists (has_neg_log_unit: AVX-512); elsewhere the scalar kernel.
template <class Scalar, class Input>
inline constexpr bool packet_kernel_for =
    vectorized<Scalar> &&
    (std::is_same<Input, Logits>::value || has_neg_log_unit<packet_t<Scalar>>);

/// Focusing modes: 0 and 2 are γ = 0 (CE) and γ = 2 (the paper's) at compile time.
inline constexpr int mode_int_runtime = 100;  // other integer γ: multiplication in a loop
inline constexpr int mode_non_integer = -1;   // exp(−γ softplus(z)), exponent in double-word
inline constexpr int mode_star = -2;          // FL*

/// Packets per eval_block call: the stages' stack buffers then hold 8 packets each.
inline constexpr int block_packets = 8;

/// LogisticTerms (kernel.hpp) in packet form.
template <class P, bool WithLow>
struct LogisticPacket {
  P pt, q, q_lo, nl, m, l1;

  /// z (+ z_lo) and e0 = exp(−|z|), computed by the caller (a stage of its own). q + q_lo is
  /// σ(−z) in two words, q within an ulp and not renormalized: its users need the sum, and
  /// q^γ = (q + q_lo)^γ takes either split (Fast2Sum would cost three instructions).
  EIGEN_ALWAYS_INLINE LogisticPacket(const P& z, const P& z_lo, const P& e0) {
    const P one = cst<P>(1);
    const P zero = pzero(z);
    const auto nonneg = less_equal(zero, z);  // false for NaN
    const auto negative = negative_or_nan(z);  // NaN: see neg_abs_clamped
    P e = e0;
    if constexpr (WithLow) e = psub(e, pmul(e, select(nonneg, z_lo, negate(z_lo))));
    const P d = padd(one, e);
    const P d_lo = padd(psub(one, d), e);  // 1 + e = d + d_lo exactly
    const P big = reciprocal_1_to_2(d);    // σ(|z|), within an ulp
    // σ(−|z|) = e·big to an ulp, where z ≥ 0 for q and z < 0 for p_t: one masked product each.
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

template <class P>
EIGEN_ALWAYS_INLINE P runtime_pow(const P& q, int k) {
  P result = cst<P>(1), base = q;
  while (k > 0) {
    if (k & 1) result = pmul(result, base);
    base = pmul(base, base);
    k >>= 1;
  }
  return result;
}

/// |v| < ∞ (false for NaN).
template <class P>
EIGEN_ALWAYS_INLINE mask_t<P> is_finite(const P& v) {
  return less(pabs(v), cst<P>(std::numeric_limits<scalar_of<P>>::infinity()));
}

/// α·v with 0·∞ = 0 where α = 0 (kernel.hpp's weight()).
template <class P>
EIGEN_ALWAYS_INLINE P weight(const P& a, const P& v) {
  const auto inf = equal(pabs(v), cst<P>(std::numeric_limits<scalar_of<P>>::infinity()));
  return select(mask_and(equal(a, pzero(a)), inf), pzero(v), pmul(a, v));  // NaN stays NaN
}

/// The kernel on logits (Input = Logits) or on probabilities (Input = Probabilities).
template <class Scalar, class Input = Logits>
class SigmoidPacketKernel {
 public:
  using P = packet_t<Scalar>;

  explicit SigmoidPacketKernel(const SigmoidParams<Scalar>& p) : p_(p) {}

  /// Calls f(std::integral_constant<int, Mode>{}) with this kernel's focusing mode.
  template <class F>
  decltype(auto) dispatch(F&& f) const {
    if (p_.star) return f(std::integral_constant<int, mode_star>{});
    // CE and the paper's γ = 2 unrolled; other integers by a loop whose trip count is the same
    // for every packet (so perfectly predicted), which keeps the instantiations few.
    switch (p_.int_gamma) {
      case 0: return f(std::integral_constant<int, 0>{});
      case 2: return f(std::integral_constant<int, 2>{});
      case -1: return f(std::integral_constant<int, mode_non_integer>{});
      default: return f(std::integral_constant<int, mode_int_runtime>{});
    }
  }

  /// Loss and ∂loss/∂x of `packets` (≤ block_packets) packets of inputs x and 0/1 targets y
  /// (arrays of packets·L scalars, any alignment), into loss and grad (aligned), in focusing
  /// mode Mode. The logit kernel runs in two stages that each loop over the packets: one
  /// packet's chain (exp, division, log, q^γ) is hundreds of cycles long, and shorter
  /// independent iterations let the core overlap packets (the exp in a loop of its own: measured
  /// 25% faster than one loop; the rest in one: 3% faster than split after the logistic terms).
  /// Intermediates go through the stack and stay in L1.
  template <int Mode>
  EIGEN_ALWAYS_INLINE void eval_block(const Scalar* x, const Scalar* y, int packets,
                                      Scalar* loss, Scalar* grad) const {
    if constexpr (std::is_same<Input, Probabilities>::value) {
      eval_block_probabilities<Mode>(x, y, packets, loss, grad);
    } else {
      eval_block_logits<Mode>(x, y, packets, loss, grad);
    }
  }

  /// eval_block in this kernel's focusing mode (dispatched here, per call).
  void eval_packets(const Scalar* x, const Scalar* y, int packets, Scalar* loss,
                    Scalar* grad) const {
    dispatch([&](auto mode) { eval_block<decltype(mode)::value>(x, y, packets, loss, grad); });
  }

  /// One element through the packet code (lane 0 of a broadcast).
  template <bool WantLoss, bool WantGrad>
  void eval_one(Scalar x, bool positive, Scalar& loss, Scalar& grad) const {
    constexpr int L = lanes<P>;
    constexpr std::size_t size = std::size_t(L);
    alignas(64) Scalar xb[size], yb[size], lb[size], gb[size];
    for (int k = 0; k < L; ++k) {
      xb[k] = x;
      yb[k] = positive ? Scalar(1) : Scalar(0);
    }
    eval_packets(xb, yb, 1, lb, gb);
    if constexpr (WantLoss) loss = lb[0];
    if constexpr (WantGrad) grad = gb[0];
  }

  const SigmoidParams<Scalar>& params() const { return p_; }

 private:
  template <int Mode>
  EIGEN_ALWAYS_INLINE void eval_block_logits(const Scalar* x, const Scalar* y, int packets,
                                             Scalar* loss, Scalar* grad) const {
    constexpr int L = lanes<P>;
    constexpr int max_packets = block_packets;
    constexpr bool star = Mode == mode_star;
    constexpr std::size_t size = std::size_t(max_packets * L);
    alignas(64) Scalar zs[size], zlo[size], es[size];
    mask_t<P> negative_targets[max_packets];  // y ≠ 1, from stage 1 to stage 2: no second compare
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
        z_lo = padd(prod_err, sum_err);
        z_lo = select(is_finite(z_lo), z_lo, pzero(z_lo));
      }
      pstore(zs + k * L, z);
      if constexpr (star) pstore(zlo + k * L, z_lo);
      pstore(es + k * L,
             star ? exp_nonpositive(negate(pabs(z))) : exp_clamped(neg_abs_clamped(xv)));
    }
    // Stage 2: the logistic terms (LogisticPacket), q^γ, loss and derivative.
    for (int k = 0; k < packets; ++k) {
      const LogisticPacket<P, star> t(pload<P>(zs + k * L),
                                      star ? pload<P>(zlo + k * L) : pzero(one),
                                      pload<P>(es + k * L));
      const auto negative_target = negative_targets[k];
      const P q = padd(t.q, t.q_lo);  // σ(−z) correctly rounded
      P l, g;
      if constexpr (star) {
        l = pdiv(t.nl, cst<P>(p_.star_gamma));
        // γ*·x_t overflowed for a finite x_t: the loss is ≈ −x_t − β/γ*.
        const P xt = negate_where(negative_target, ploadu<P>(x + k * L));
        const auto over = mask_andnot(is_finite(xt), is_finite(l));
        const P limit = psub(negate(xt), cst<P>(p_.star_beta / p_.star_gamma));
        l = select(mask_and(over, equal(l, l)), limit, l);
        g = select(negative_target, q, negate(q));
      } else {
        const P qg = focus<Mode>(t.q, t.q_lo, t.m, t.l1);
        // ∂loss/∂x = −α_t q^γ h where y = 1, +α_t q^γ h where y = 0: α_t with that sign.
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

  /// Probabilities (probability_kernel.hpp's formulas): p_t and q from p with the smaller one
  /// exact and q + q_lo = 1 − p; −log p_t = −(log p_t + u_lo/p_t), where p_t = 1 − q rounded
  /// leaves the exact rest u_lo = (1 − p_t) − q (p_t ≥ 1/2); the focal terms as on logits.
  /// Non-integer γ (a pow) runs the scalar formulas lane by lane; so would mode_star, which
  /// dispatch never picks for probabilities but instantiates.
  template <int Mode>
  EIGEN_ALWAYS_INLINE void eval_block_probabilities(const Scalar* x, const Scalar* y,
                                                    int packets, Scalar* loss,
                                                    Scalar* grad) const {
    constexpr int L = lanes<P>;
    if constexpr (Mode == mode_non_integer || Mode == mode_star) {
      for (int i = 0; i < packets * L; ++i) {
        probability_eval<true, true>(p_, x[i], y[i] == Scalar(1), loss[i], grad[i]);
      }
    } else {
      const P one = cst<P>(1), zero = pzero(one);
      const bool alpha_zero = p_.alpha_pos == Scalar(0) || p_.alpha_neg == Scalar(0);
      for (int k = 0; k < packets; ++k) {
        const P p = padd(ploadu<P>(x + k * L), zero);  // −0 → +0 (probability_eval)
        const auto positive = equal(ploadu<P>(y + k * L), one);
        const P one_minus_p = psub(one, p);
        const P pt = select(positive, p, one_minus_p);
        const P q = select(positive, one_minus_p, p);
        const P q_lo = select(positive, psub(negate(p), psub(q, one)), zero);
        const auto upper = less_equal(cst<P>(Scalar(0.5)), pt);
        const P u_lo = select(upper, psub(psub(one, pt), q), zero);  // exact (Sterbenz twice)
        const P nl = neg_log_unit(pt, pdiv(u_lo, select(upper, pt, one)));  // −log(p_t + u_lo)
        const P qg = focus<Mode>(q, q_lo, zero, zero);
        const P alpha_t = select(positive, cst<P>(p_.alpha_pos), cst<P>(p_.alpha_neg));
        // dFL/dp_t = −α_t q^γ (γ (−log p_t)/q + 1/p_t), with (−log p_t)/q = 1 at q = 0 and
        // α_t q^γ/p_t taken as 0 where α_t q^γ = 0 (probability_kernel.hpp).
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
          // One FMA, written out: left as a product and a sum, -ffp-contract=fast may fuse
          // them in one inlining context and not in another, and the bits would differ.
          g = pmadd(alpha_t, pmul(qg, focus_term), direct);
        }
        pstore(loss + k * L, l);
        pstore(grad + k * L, negate_where(positive, g));
      }
    }
  }

  // q^γ: (q + q_lo)^k = q^k + k·q_lo·q^(k−1) by multiplication, or the compensated
  // exp(−γ (m + l1)) for non-integer γ (kernel.hpp, exp_neg_scaled).
  template <int Mode>
  EIGEN_ALWAYS_INLINE P focus(const P& q, const P& q_lo, const P& m, const P& l1) const {
    if constexpr (Mode == 0) {
      return cst<P>(1);
    } else if constexpr (Mode == 2) {
      return pmul(q, pmadd(cst<P>(Scalar(2)), q_lo, q));  // (q + q_lo)² less q_lo² (< 2^-40 q²)
    } else if constexpr (Mode == mode_int_runtime) {
      const P pk1 = runtime_pow(q, p_.int_gamma - 1);
      return pmadd(pmul(cst<P>(Scalar(p_.int_gamma)), q_lo), pk1, pmul(pk1, q));
    } else {
      const P gamma = cst<P>(p_.gamma);
      P s, s_err, p, p_err;
      two_sum(m, l1, s, s_err);
      two_prod(gamma, s, p, p_err);
      const P e = exp_nonpositive(negate(p));
      const P c = pmadd(gamma, s_err, p_err);
      return select(is_finite(c), psub(e, pmul(e, c)), e);
    }
  }

  SigmoidParams<Scalar> p_;
};

}  // namespace simd
}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_PACKET_KERNEL_HPP
