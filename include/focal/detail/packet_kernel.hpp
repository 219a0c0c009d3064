#ifndef FOCAL_DETAIL_PACKET_KERNEL_HPP
#define FOCAL_DETAIL_PACKET_KERNEL_HPP

// The sigmoid-family kernel of kernel.hpp on logits, in SIMD packets: the same formulas, step
// for step, with exp from packet_math.hpp and log1p(e) = log(d) + d_lo/d from the exact split
// 1 + e = d + d_lo (so one exp and one log per element). The focusing mode (γ = 0…5, another
// integer, non-integer, FL*) is a template parameter, dispatched once per call outside the
// loops. Per-element calls run this same code on a broadcast packet, so a value is the same
// bits whichever entry point computed it.

#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "packet_math.hpp"
#include "params.hpp"
#include "stable.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
// GCC 12 reports its own AVX-512 intrinsics as using uninitialized values under -O3
// (GCC bug 105593); the report lands here when they are inlined into focal's kernels.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace focal {
namespace detail {
namespace simd {

/// Focusing modes: 0…max_static_gamma are integer γ unrolled at compile time.
constexpr int max_static_gamma = 5;
constexpr int mode_int_runtime = 100;  // other integer γ: multiplication in a loop
constexpr int mode_non_integer = -1;   // exp(−γ softplus(z)), exponent in double-word
constexpr int mode_star = -2;          // FL*

/// LogisticTerms (kernel.hpp) in packet form.
template <class P, bool WithLow>
struct LogisticPacket {
  P pt, q, q_lo, nl, m, l1;

  EIGEN_STRONG_INLINE LogisticPacket(const P& z, const P& z_lo) {
    const P one = cst<P>(1);
    const P zero = pzero(z);
    const P nonneg = pcmp_le(zero, z);  // false for NaN
    P e = exp_nonpositive(pnegate(pabs(z)));
    if constexpr (WithLow) e = psub(e, pmul(e, pselect(nonneg, z_lo, pnegate(z_lo))));
    const P d = padd(one, e);
    const P d_lo = padd(psub(one, d), e);  // 1 + e = d + d_lo exactly
    const P big = pdiv(one, d);            // σ(|z|)
    const P small = pdiv(e, d);            // σ(−|z|)
    const P num = pselect(nonneg, e, one);
    const P t = pselect(nonneg, small, big);
    q_lo = pmul(psub(product_residual(num, t, d), pmul(t, d_lo)), big);
    l1 = padd(plog(d), pmul(d_lo, big));  // log1p(e) = log d + log1p(d_lo/d)
    pt = pselect(nonneg, big, small);
    q = t;
    const P neg_z = WithLow ? psub(pnegate(z), z_lo) : pnegate(z);
    nl = padd(pselect(nonneg, zero, neg_z), l1);
    m = pselect(nonneg, z, zero);
  }
};

template <int K, class P>
EIGEN_STRONG_INLINE P static_pow(const P& q) {
  if constexpr (K == 0) {
    return cst<P>(1);
  } else if constexpr (K == 1) {
    return q;
  } else if constexpr (K == 2) {
    return pmul(q, q);
  } else if constexpr (K == 3) {
    return pmul(pmul(q, q), q);
  } else if constexpr (K == 4) {
    const P q2 = pmul(q, q);
    return pmul(q2, q2);
  } else {
    const P q2 = pmul(q, q);
    return pmul(pmul(q2, q2), static_pow<K - 4>(q));
  }
}

template <class P>
EIGEN_STRONG_INLINE P runtime_pow(const P& q, int k) {
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
EIGEN_STRONG_INLINE P is_finite(const P& v) {
  return pcmp_lt(pabs(v), cst<P>(std::numeric_limits<scalar_of<P>>::infinity()));
}

/// α·v with 0·∞ = 0 where α = 0 (kernel.hpp's weight()).
template <class P>
EIGEN_STRONG_INLINE P weight(const P& a, const P& v) {
  const P inf = pcmp_eq(pabs(v), cst<P>(std::numeric_limits<scalar_of<P>>::infinity()));
  return pselect(pand(pcmp_eq(a, pzero(a)), inf), pzero(v), pmul(a, v));  // NaN stays NaN
}

template <class Scalar>
class SigmoidPacketKernel {
 public:
  using P = packet_t<Scalar>;

  explicit SigmoidPacketKernel(const SigmoidParams<Scalar>& p) : p_(p) {}

  /// Calls f(std::integral_constant<int, Mode>{}) with this kernel's focusing mode.
  template <class F>
  decltype(auto) dispatch(F&& f) const {
    if (p_.star) return f(std::integral_constant<int, mode_star>{});
    switch (p_.int_gamma) {
      case 0: return f(std::integral_constant<int, 0>{});
      case 1: return f(std::integral_constant<int, 1>{});
      case 2: return f(std::integral_constant<int, 2>{});
      case 3: return f(std::integral_constant<int, 3>{});
      case 4: return f(std::integral_constant<int, 4>{});
      case 5: return f(std::integral_constant<int, 5>{});
      case -1: return f(std::integral_constant<int, mode_non_integer>{});
      default: return f(std::integral_constant<int, mode_int_runtime>{});
    }
  }

  /// Loss and/or ∂loss/∂x for a packet of logits x; positive is the lane mask of y = 1.
  template <int Mode, bool WantLoss, bool WantGrad>
  EIGEN_STRONG_INLINE void eval(const P& x, const P& positive, P& loss, P& grad) const {
    const P z = pselect(positive, x, pnegate(x));  // z = s·x
    if constexpr (Mode == mode_star) {
      P prod, prod_err, u, sum_err;
      two_prod(cst<P>(p_.star_gamma), z, prod, prod_err);
      two_sum(prod, cst<P>(p_.star_beta), u, sum_err);
      P u_lo = padd(prod_err, sum_err);
      u_lo = pselect(is_finite(u_lo), u_lo, pzero(u_lo));
      const LogisticPacket<P, true> t(u, u_lo);
      if constexpr (WantLoss) {
        const P l = pdiv(t.nl, cst<P>(p_.star_gamma));
        // γ*·z overflowed for a finite z: the loss is ≈ −z − β/γ*.
        const P over = pandnot(is_finite(z), is_finite(l));
        const P limit = psub(pnegate(z), cst<P>(p_.star_beta / p_.star_gamma));
        loss = pselect(pand(over, pcmp_eq(l, l)), limit, l);
      }
      if constexpr (WantGrad) grad = pselect(positive, pnegate(t.q), t.q);
    } else {
      const LogisticPacket<P, false> t(z, pzero(z));
      const P qg = focus<Mode>(t);
      const P alpha_t = pselect(positive, cst<P>(p_.alpha_pos), cst<P>(p_.alpha_neg));
      if constexpr (WantLoss) loss = weight(alpha_t, pmul(qg, t.nl));
      if constexpr (WantGrad) {
        const P pt_nl = pselect(pcmp_lt(pzero(x), t.pt), pmul(t.pt, t.nl), pzero(x));
        const P g = weight(alpha_t, pmul(qg, pmadd(cst<P>(p_.gamma), pt_nl, t.q)));
        grad = pselect(positive, pnegate(g), g);
      }
    }
  }

  /// One element through the packet code (lane 0 of a broadcast).
  template <bool WantLoss, bool WantGrad>
  void eval_one(Scalar x, bool positive, Scalar& loss, Scalar& grad) const {
    const P xp = pset1<P>(x);
    const P mask = positive ? ptrue(xp) : pzero(xp);
    dispatch([&](auto mode) {
      P l = xp, g = xp;
      eval<decltype(mode)::value, WantLoss, WantGrad>(xp, mask, l, g);
      if constexpr (WantLoss) loss = pfirst(l);
      if constexpr (WantGrad) grad = pfirst(g);
    });
  }

  const SigmoidParams<Scalar>& params() const { return p_; }

 private:
  // q^γ: (q + q_lo)^k = q^k + k·q_lo·q^(k−1) by multiplication, or the compensated
  // exp(−γ (m + l1)) for non-integer γ (kernel.hpp, exp_neg_scaled).
  template <int Mode>
  EIGEN_STRONG_INLINE P focus(const LogisticPacket<P, false>& t) const {
    if constexpr (Mode == 0) {
      return cst<P>(1);
    } else if constexpr (Mode > 0 && Mode <= max_static_gamma) {
      const P pk1 = static_pow<Mode - 1>(t.q);
      return pmadd(pmul(cst<P>(Scalar(Mode)), t.q_lo), pk1, pmul(pk1, t.q));
    } else if constexpr (Mode == mode_int_runtime) {
      const P pk1 = runtime_pow(t.q, p_.int_gamma - 1);
      return pmadd(pmul(cst<P>(Scalar(p_.int_gamma)), t.q_lo), pk1, pmul(pk1, t.q));
    } else {
      const P gamma = cst<P>(p_.gamma);
      P s, s_err, p, p_err;
      two_sum(t.m, t.l1, s, s_err);
      two_prod(gamma, s, p, p_err);
      const P e = exp_nonpositive(pnegate(p));
      const P c = pmadd(gamma, s_err, p_err);
      return pselect(is_finite(c), psub(e, pmul(e, c)), e);
    }
  }

  SigmoidParams<Scalar> p_;
};

}  // namespace simd
}  // namespace detail
}  // namespace focal

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // FOCAL_DETAIL_PACKET_KERNEL_HPP
