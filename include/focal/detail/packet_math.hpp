#ifndef FOCAL_DETAIL_PACKET_MATH_HPP
#define FOCAL_DETAIL_PACKET_MATH_HPP

// SIMD building blocks on Eigen's packets (SSE2 by default, AVX/AVX2/AVX-512 with -march):
// a full-range exp, double-word helpers, and the logistic terms of kernel.hpp in packet form.
//
// Why not Eigen's pexp: it clamps its argument and scales with a fast ldexp, so its results
// are wrong below the normal range (SSE: exp(−100) = 2.9e-39 and exp(−∞) > 0 for float;
// AVX-512: flushed to 0 below −87.3; double: exp(−∞) = 5.6e-309). focal needs exp(−|z|) to be
// exact down to the last subnormal. Float uses the Cephes polynomial Eigen uses, double a
// Taylor polynomial; the reduction keeps the full range and the scaling is Eigen's exact pldexp.

#include "config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace simd {

// Eigen's packet primitives and traits, by name: a using-directive at namespace scope would
// pull all of Eigen::internal into focal's namespace and every header that includes it.
using Eigen::internal::packet_traits;
using Eigen::internal::unpacket_traits;
using Eigen::internal::pabs;
using Eigen::internal::padd;
using Eigen::internal::pand;
using Eigen::internal::pandnot;
using Eigen::internal::pcast;
using Eigen::internal::pcmp_eq;
using Eigen::internal::pcmp_le;
using Eigen::internal::pcmp_lt;
using Eigen::internal::pdiv;
using Eigen::internal::pldexp;
using Eigen::internal::pload;
using Eigen::internal::ploadu;
using Eigen::internal::plogical_shift_left;
using Eigen::internal::plset;
using Eigen::internal::pmadd;
using Eigen::internal::pmax;
using Eigen::internal::pmin;
using Eigen::internal::pmul;
using Eigen::internal::pxor;
using Eigen::internal::por;
using Eigen::internal::predux;
using Eigen::internal::predux_any;
using Eigen::internal::predux_max;
using Eigen::internal::preinterpret;
using Eigen::internal::pselect;
using Eigen::internal::pset1;
using Eigen::internal::pstore;
using Eigen::internal::pstoreu;
using Eigen::internal::psub;
using Eigen::internal::ptrue;
using Eigen::internal::pzero;
#if defined(FOCAL_HAS_SSE)
using Eigen::internal::Packet2d;
using Eigen::internal::Packet4f;
#endif
#if defined(FOCAL_HAS_AVX)
using Eigen::internal::Packet4d;
using Eigen::internal::Packet8f;
#endif
#if defined(FOCAL_HAS_AVX512)
using Eigen::internal::Packet16f;
using Eigen::internal::Packet8d;
#endif

template <class Scalar>
using packet_t = typename packet_traits<Scalar>::type;

template <class P>
using scalar_of = typename unpacket_traits<P>::type;

template <class P>
inline constexpr int lanes = unpacket_traits<P>::size;

/// The number of Scalars in a packet of this build's kernels (1 without SIMD). A function, not
/// a constant: a test links objects built for two instruction sets and asks each which code it
/// runs.
template <class Scalar>
int packet_lanes() noexcept {
  return lanes<packet_t<Scalar>>;
}

/// Whether focal's packet kernels run for this Scalar in this build (Eigen vectorizes it).
template <class Scalar>
inline constexpr bool vectorized = packet_traits<Scalar>::Vectorizable && lanes<packet_t<Scalar>> > 1;

template <class P>
EIGEN_ALWAYS_INLINE P cst(scalar_of<P> v) {
  return pset1<P>(v);
}

/// Lane masks: AVX-512's k-registers for 512-bit packets, Eigen's all-ones vector masks
/// elsewhere. Eigen's AVX-512 pcmp_* widen their k-mask to a vector and pselect narrows it
/// back: two extra instructions per select, which a kernel of selects pays in every packet.
template <class P>
struct MaskOf {
  using type = P;
};
#if defined(FOCAL_HAS_AVX512)
template <>
struct MaskOf<Packet16f> {
  using type = __mmask16;
};
template <>
struct MaskOf<Packet8d> {
  using type = __mmask8;
};
#endif
template <class P>
using mask_t = typename MaskOf<P>::type;

#if defined(FOCAL_HAS_AVX512)
#define FOCAL_DETAIL_CMP(name, eigen, predicate)                                           \
  template <class P>                                                                        \
  EIGEN_ALWAYS_INLINE mask_t<P> name(const P& a, const P& b) {                              \
    if constexpr (std::is_same<P, Packet16f>::value) {                                      \
      return _mm512_cmp_ps_mask(a, b, predicate);                                           \
    } else if constexpr (std::is_same<P, Packet8d>::value) {                                \
      return _mm512_cmp_pd_mask(a, b, predicate);                                           \
    } else {                                                                                \
      return eigen(a, b);                                                                   \
    }                                                                                       \
  }
#else
#define FOCAL_DETAIL_CMP(name, eigen, predicate)                                           \
  template <class P>                                                                        \
  EIGEN_ALWAYS_INLINE mask_t<P> name(const P& a, const P& b) {                              \
    return eigen(a, b);                                                                     \
  }
#endif
/// a < b, a ≤ b, a = b: false where either is NaN (ordered, quiet), as Eigen's pcmp_*.
FOCAL_DETAIL_CMP(less, pcmp_lt, _CMP_LT_OQ)
FOCAL_DETAIL_CMP(less_equal, pcmp_le, _CMP_LE_OQ)
FOCAL_DETAIL_CMP(equal, pcmp_eq, _CMP_EQ_OQ)
#undef FOCAL_DETAIL_CMP

/// a ≠ b: true where either is NaN (unordered).
template <class P>
EIGEN_ALWAYS_INLINE mask_t<P> not_equal(const P& a, const P& b) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_cmp_pd_mask(a, b, _CMP_NEQ_UQ);
  } else {
    return pandnot(ptrue(a), pcmp_eq(a, b));
  }
#else
  return pandnot(ptrue(a), pcmp_eq(a, b));
#endif
}

/// m ? a : b, lane by lane.
template <class P>
EIGEN_ALWAYS_INLINE P select(const mask_t<P>& m, const P& a, const P& b) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_mask_blend_ps(m, b, a);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_mask_blend_pd(m, b, a);
  } else {
    return pselect(m, a, b);
  }
#else
  return pselect(m, a, b);
#endif
}

/// a ∧ b, a ∨ b and a ∧ ¬b on masks.
template <class M>
EIGEN_ALWAYS_INLINE M mask_and(const M& a, const M& b) {
  if constexpr (std::is_integral<M>::value) {
    return M(a & b);
  } else {
    return pand(a, b);
  }
}
template <class M>
EIGEN_ALWAYS_INLINE M mask_or(const M& a, const M& b) {
  if constexpr (std::is_integral<M>::value) {
    return M(a | b);
  } else {
    return por(a, b);
  }
}
template <class M>
EIGEN_ALWAYS_INLINE M mask_andnot(const M& a, const M& b) {
  if constexpr (std::is_integral<M>::value) {
    return M(a & ~b);
  } else {
    return pandnot(a, b);
  }
}

/// −v by flipping the sign bit, in every build: Eigen's pnegate is 0 − v on AVX and AVX-512
/// and a sign flip on SSE, which gives −0 or +0 for v = 0 depending on the build.
template <class P>
EIGEN_ALWAYS_INLINE P negate(const P& v) {
  return pxor(v, cst<P>(scalar_of<P>(-0.0)));
}

/// m ? −v : v (a masked sign flip on AVX-512).
template <class P>
EIGEN_ALWAYS_INLINE P negate_where(const mask_t<P>& m, const P& v) {
#if defined(FOCAL_HAS_AVX512DQ)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_mask_xor_ps(v, m, v, _mm512_set1_ps(-0.0f));
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_mask_xor_pd(v, m, v, _mm512_set1_pd(-0.0));
  } else {
    return select(m, negate(v), v);
  }
#else
  return select(m, negate(v), v);
#endif
}

/// m ? a·b : src (one masked multiplication on AVX-512).
template <class P>
EIGEN_ALWAYS_INLINE P multiply_where(const mask_t<P>& m, const P& a, const P& b, const P& src) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_mask_mul_ps(src, m, a, b);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_mask_mul_pd(src, m, a, b);
  } else {
    return select(m, pmul(a, b), src);
  }
#else
  return select(m, pmul(a, b), src);
#endif
}

/// m ? a − b : a (one masked subtraction on AVX-512).
template <class P>
EIGEN_ALWAYS_INLINE P subtract_where(const mask_t<P>& m, const P& a, const P& b) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_mask_sub_ps(a, m, a, b);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_mask_sub_pd(a, m, a, b);
  } else {
    return select(m, psub(a, b), a);
  }
#else
  return select(m, psub(a, b), a);
#endif
}

/// c − a·b with one rounding where the target has FMA (a negation before pmadd, which the
/// compiler cannot fold into vfnmadd), else c + (−a)·b as Eigen's pmadd computes it.
template <class P>
EIGEN_ALWAYS_INLINE P nmadd(const P& a, const P& b, const P& c) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_fnmadd_ps(a, b, c);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_fnmadd_pd(a, b, c);
  }
#endif
#if defined(FOCAL_HAS_FMA) && defined(FOCAL_HAS_AVX)
  if constexpr (std::is_same<P, Packet8f>::value) {
    return _mm256_fnmadd_ps(a, b, c);
  } else if constexpr (std::is_same<P, Packet4d>::value) {
    return _mm256_fnmadd_pd(a, b, c);
  }
#endif
#if defined(FOCAL_HAS_FMA) && defined(FOCAL_HAS_SSE)
  if constexpr (std::is_same<P, Packet4f>::value) {
    return _mm_fnmadd_ps(a, b, c);
  } else if constexpr (std::is_same<P, Packet2d>::value) {
    return _mm_fnmadd_pd(a, b, c);
  }
#endif
  return pmadd(negate(a), b, c);
}

/// a + b = s + err exactly, given |a| ≥ |b| or a = 0 (Fast2Sum).
template <class P>
EIGEN_ALWAYS_INLINE void fast_two_sum(const P& a, const P& b, P& s, P& err) {
  s = padd(a, b);
  err = psub(b, psub(s, a));
}

/// a + b = s + err exactly (TwoSum).
template <class P>
EIGEN_ALWAYS_INLINE void two_sum(const P& a, const P& b, P& s, P& err) {
  s = padd(a, b);
  const P bb = psub(s, a);
  err = padd(psub(a, psub(s, bb)), psub(b, bb));
}

/// v as computed, hidden from the optimizer: under -ffp-contract=fast (GCC's default in GNU
/// mode) a product that feeds an addition may be fused into an FMA, which changes the very
/// rounding that the double-word algorithms below account for. An empty asm statement pins the
/// rounded value; it emits no instruction.
template <class P>
EIGEN_ALWAYS_INLINE P opaque(P v) {
#if defined(FOCAL_HAS_X86_ASM)
#if defined(FOCAL_HAS_AVX512)
  __asm__("" : "+v"(v));
#else
  __asm__("" : "+x"(v));
#endif
#endif
  return v;
}

/// a·b = p + err exactly (for products that neither overflow nor underflow).
template <class P>
EIGEN_ALWAYS_INLINE void two_prod(const P& a, const P& b, P& p, P& err) {
  p = opaque(pmul(a, b));  // the rounded product, not fused into what adds it
#if defined(FOCAL_HAS_FMA)
  err = pmadd(a, b, negate(p));  // fused: exact
#else
  using S = scalar_of<P>;
  const P split = cst<P>(std::is_same<S, float>::value ? S(4097) : S(134217729));
  const P ca = pmul(split, a), cb = pmul(split, b);
  const P ah = psub(ca, psub(ca, a)), al = psub(a, ah);
  const P bh = psub(cb, psub(cb, b)), bl = psub(b, bh);
  err = padd(padd(padd(psub(pmul(ah, bh), p), pmul(ah, bl)), pmul(al, bh)), pmul(al, bl));
#endif
}

/// n − t·d exactly, for t ≈ n/d.
template <class P>
EIGEN_ALWAYS_INLINE P product_residual(const P& n, const P& t, const P& d) {
#if defined(FOCAL_HAS_FMA)
  return nmadd(t, d, n);  // fused: n − t·d in one rounding
#else
  P p, err;
  two_prod(t, d, p, err);
  return psub(psub(n, p), err);  // n − p is exact (Sterbenz)
#endif
}

/// y·2^m for y in [1/2, 2) and integral m ≥ −(bias + digits) held in a float packet, exact
/// when the result is normal and rounded once when it is subnormal: 2^m is split into
/// 2^max(m, e0)·2^(m − that), both normal, the first product exact. Cheaper than Eigen's
/// four-factor pldexp, which serves any m.
template <class P>
EIGEN_ALWAYS_INLINE P ldexp_exact(const P& y, const P& m) {
  using S = scalar_of<P>;
  using PI = typename unpacket_traits<P>::integer_packet;
  constexpr int digits = std::numeric_limits<S>::digits;  // 24, 53
  constexpr int bias = std::numeric_limits<S>::max_exponent - 1;  // 127, 1023
  const P m1 = pmax(m, cst<P>(S(2 - bias)));  // y·2^m1 ≥ 2^(1−bias): normal
  const P m2 = psub(m, m1);                   // ≥ −(digits + 2): 2^m2 normal
  const auto pow2 = [](const P& k) {
    return preinterpret<P>(plogical_shift_left<digits - 1>(
        padd(pcast<P, PI>(k), pset1<PI>(typename unpacket_traits<PI>::type(bias)))));
  };
  return pmul(pmul(y, pow2(m1)), pow2(m2));
}

/// y·2^m for integral m: exact, or rounded once where the result is subnormal. AVX-512 has an
/// instruction for it (vscalef); elsewhere float builds 2^m from integer packets and double
/// uses Eigen's pldexp (Eigen's AVX-512 double pldexp trips a GCC 12 false warning, bug
/// 105593, from code our pragmas cannot reach).
template <class P>
EIGEN_ALWAYS_INLINE P scale_pow2(const P& y, const P& m) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_scalef_ps(y, m);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_scalef_pd(y, m);
  }
#endif
  if constexpr (std::is_same<scalar_of<P>, float>::value) {
    return ldexp_exact(y, m);
  } else {
    return pldexp(y, m);
  }
}

/// 1/d for d in [1, 2.5]: a division. (A refined vrcp14 estimate was measured on AVX-512: it
/// loses for float, and for double it only wins while another division keeps the divider
/// busy in parallel with the FMA ports; with the normalizer's division gone it does not.)
template <class P>
EIGEN_ALWAYS_INLINE P reciprocal_1_to_2(const P& d) {
  return pdiv(cst<P>(1), d);
}

/// Whether any lane of a mask is set.
template <class M>
EIGEN_ALWAYS_INLINE bool mask_any(const M& m) {
  if constexpr (std::is_integral<M>::value) {
    return m != M(0);
  } else {
    return predux_any(m);
  }
}

/// Whether every lane of a mask is set.
template <class M>
EIGEN_ALWAYS_INLINE bool mask_all(const M& m) {
  if constexpr (std::is_integral<M>::value) {
    return m == M(~M(0));
  } else {
    return !predux_any(pandnot(ptrue(m), m));
  }
}

/// a/b correctly rounded, given r = RN(1/b) normal and b > 0. For double with FMA: the
/// estimate a·r corrected by its exact residual (Markstein), three FMAs instead of a division
/// that costs ~16 cycles of divider per AVX-512 packet (measured: 40 → 30 ms for 4M doubles).
/// The residual is exact, and the estimate neither overflows nor goes subnormal, while
/// 2^(emin + 2·digits)·max(1, b) ≤ |a| ≤ 2^(emax − 2)·min(1, b) (bounds the compiler hoists
/// out of the loop); packets with a lane outside (∞ and NaN included) take the division: a
/// branch that real gradients almost never take. Float keeps the division: Markstein with
/// this check measured slower (the float packet holds twice the lanes per division).
template <class P>
EIGEN_ALWAYS_INLINE P divide_by(const P& a, const P& b, const P& r) {
#if defined(FOCAL_HAS_FMA)
  using S = scalar_of<P>;
  if constexpr (std::is_same<S, double>::value) {
    constexpr int emin = std::numeric_limits<S>::min_exponent - 1;  // −1022
    constexpr int emax = std::numeric_limits<S>::max_exponent - 1;  // 1023
    constexpr int digits = std::numeric_limits<S>::digits;
    const P q = pmul(a, r);
    const P rem = nmadd(q, b, a);  // exact, in the range below
    const P result = pmadd(rem, r, q);
    const P magnitude = pabs(a);
    const P one = cst<P>(S(1));
    const P lowest = pmul(cst<P>(std::ldexp(S(1), emin + 2 * digits)), pmax(b, one));
    const P highest = pmul(cst<P>(std::ldexp(S(1), emax - 2)), pmin(b, one));
    const auto safe = mask_and(less_equal(lowest, magnitude), less_equal(magnitude, highest));
    return mask_all(safe) ? result : select(safe, result, pdiv(a, b));
  }
#endif
  (void)r;
  return pdiv(a, b);
}

/// Below this, exp is less than half the least subnormal: its result is exactly 0.
template <class S>
constexpr S exp_lowest() {
  return std::is_same<S, float>::value ? S(-104) : S(-746);
}

// GCC defines some AVX-512 intrinsics as macros when not optimizing (-O0, -fsyntax-only) that
// cast -1 to a mask type: -Wsign-conversion then fires on focal's line, not in GCC's header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif
/// max(−|v|, exp_lowest): the argument of exp(−|z|), clamped where it no longer matters. With
/// AVX-512DQ one vrange (−min(|v|, |exp_lowest|)), which maps NaN to exp_lowest: the caller
/// carries a NaN logit through z instead (negative_or_nan). Elsewhere the sign bit set, then
/// pmax, which keeps a NaN first operand.
template <class P>
EIGEN_ALWAYS_INLINE P neg_abs_clamped(const P& v) {
  using S = scalar_of<P>;
#if defined(FOCAL_HAS_AVX512DQ)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_range_ps(v, cst<P>(exp_lowest<S>()), 0xE);  // min |·|, sign set
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_range_pd(v, cst<P>(exp_lowest<S>()), 0xE);
  }
#endif
  return pmax(por(v, cst<P>(S(-0.0))), cst<P>(exp_lowest<S>()));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// z < 0, and on packets whose neg_abs_clamped drops NaN also z NaN (one unordered compare):
/// where it is true the kernel subtracts z, so a NaN logit makes the loss and gradient NaN.
template <class P>
EIGEN_ALWAYS_INLINE mask_t<P> negative_or_nan(const P& z) {
#if defined(FOCAL_HAS_AVX512DQ)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_cmp_ps_mask(z, pzero(z), _CMP_NGE_UQ);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_cmp_pd_mask(z, pzero(z), _CMP_NGE_UQ);
  }
#endif
  return less(z, pzero(z));
}

/// x·k rounded to an integer (to nearest, ties to even; |x·k| < 2^(digits − 2)): adding
/// 1.5·2^(digits − 1) rounds at the unit, in the same FMA as the product, and subtracting the
/// constant back is exact. Two instructions where pfloor(x·k + 1/2) takes four micro-ops on
/// AVX-512 (vrndscale is two) and many more on SSE2, which has no rounding instruction.
template <class P>
EIGEN_ALWAYS_INLINE P round_product(const P& x, scalar_of<P> k) {
  using S = scalar_of<P>;
  const P magic = cst<P>(S(1.5) * S(1LL << (std::numeric_limits<S>::digits - 1)));
  return psub(pmadd(x, cst<P>(k), magic), magic);
}

/// exp(r) = 1 + r + r²·y from y = (exp(r) − 1 − r)/r², the tail of the polynomial. With FMA,
/// 1 + r·(1 + r·y): two FMAs, one instruction fewer than 1 + (r + r²·y) and no less accurate
/// (lower RMS error for every loss over a dense grid of logits, float and double). Without FMA
/// each step would round twice and the 1 + r·y inside costs half an ulp: the 1 goes last.
template <class P>
EIGEN_ALWAYS_INLINE P exp_finish(const P& y, const P& r) {
  using S = scalar_of<P>;
#if defined(FOCAL_HAS_FMA)
  return pmadd(pmadd(y, r, cst<P>(S(1))), r, cst<P>(S(1)));
#else
  return padd(cst<P>(S(1)), pmadd(y, pmul(r, r), r));
#endif
}

/// exp(x) for x in [exp_lowest, 0] (and NaN → NaN), accurate to about an ulp, subnormal
/// results included (rounded once, by the scaling).
template <class P>
EIGEN_ALWAYS_INLINE P exp_clamped(const P& x) {
  using S = scalar_of<P>;
  if constexpr (std::is_same<S, float>::value) {
    const P m = round_product(x, 1.44269504088896341f);
    // r = x − m·ln 2 in two steps (Cody–Waite): m·0.693359375 is exact.
    P r = pmadd(m, cst<P>(-0.693359375f), x);
    r = pmadd(m, cst<P>(2.12194440e-4f), r);
    // exp(r) = 1 + r + r²·P(r) on |r| ≤ ln2/2, P of degree 4 fitted for the least maximum
    // relative error of exp (2^-28.3, 0.05 ulp; Cephes' degree 5 gains nothing over it: every
    // float in [−87, 0] checked against expl, worst 0.882 vs 0.889 ulp, RMS 0.160 both).
    P y = pmadd(cst<P>(1.3814611001e-3f), r, cst<P>(8.3687100353e-3f));
    y = pmadd(y, r, cst<P>(4.1668387409e-2f));
    y = pmadd(y, r, cst<P>(1.6666520688e-1f));
    y = pmadd(y, r, cst<P>(4.9999993451e-1f));
    return scale_pow2(exp_finish(y, r), m);
  } else {
    const P m = round_product(x, 1.4426950408889634073599);
    P r = psub(x, pmul(m, cst<P>(0.693145751953125)));  // exact: few bits in the constant
    r = psub(r, pmul(m, cst<P>(1.42860682030941723212e-6)));
    // exp(r) on |r| ≤ ln2/2 by its Taylor series to r^13 (truncation below 0.05 ulp), in
    // Horner form. No division, unlike Cephes' Padé.
    P y = cst<P>(1.0 / 6227020800.0);                    // 1/13!
    y = pmadd(y, r, cst<P>(1.0 / 479001600.0));          // 1/12!
    y = pmadd(y, r, cst<P>(1.0 / 39916800.0));
    y = pmadd(y, r, cst<P>(1.0 / 3628800.0));
    y = pmadd(y, r, cst<P>(1.0 / 362880.0));
    y = pmadd(y, r, cst<P>(1.0 / 40320.0));
    y = pmadd(y, r, cst<P>(1.0 / 5040.0));
    y = pmadd(y, r, cst<P>(1.0 / 720.0));
    y = pmadd(y, r, cst<P>(1.0 / 120.0));
    y = pmadd(y, r, cst<P>(1.0 / 24.0));
    y = pmadd(y, r, cst<P>(1.0 / 6.0));
    y = pmadd(y, r, cst<P>(0.5));
    return scale_pow2(exp_finish(y, r), m);
  }
}

/// exp(w) for w ≤ 0 (and −∞ → 0, NaN → NaN), accurate to about an ulp over the whole range,
/// subnormal results included.
template <class P>
EIGEN_ALWAYS_INLINE P exp_nonpositive(const P& w) {
  // Below exp_lowest (and at −∞) the clamped argument gives exactly 0, and NaN passes through
  // pmax(w, ·), which keeps its first operand when either is NaN, and everything after it.
  return exp_clamped(pmax(w, cst<P>(exp_lowest<scalar_of<P>>())));
}

/// log(d) for d in [1, 2] (and NaN → NaN), the only logarithm the logit kernel needs where
/// log1p_split has no table: d > √2 is halved, log d = log m + k·ln 2 with m = d or d/2 in
/// [√½, √2] and k = 0 or 1. Float: Cephes' logf polynomial as Eigen's plog uses it, without
/// the exponent extraction and special cases a general log needs. Double: below.
template <class P>
EIGEN_ALWAYS_INLINE P log_1_to_2(const P& d) {
  using S = scalar_of<P>;
  const auto upper = less(cst<P>(S(1.41421356237309504880)), d);
  const P m = select(upper, pmul(d, cst<P>(S(0.5))), d);
  const P k = select(upper, cst<P>(S(1)), pzero(d));
  if constexpr (std::is_same<S, float>::value) {
    const P x = psub(m, cst<P>(1.0f));  // exact
    const P z = pmul(x, x);
    P y = pmadd(cst<P>(7.0376836292e-2f), x, cst<P>(-1.1514610310e-1f));
    y = pmadd(y, x, cst<P>(1.1676998740e-1f));
    y = pmadd(y, x, cst<P>(-1.2420140846e-1f));
    y = pmadd(y, x, cst<P>(1.4249322787e-1f));
    y = pmadd(y, x, cst<P>(-1.6668057665e-1f));
    y = pmadd(y, x, cst<P>(2.0000714765e-1f));
    y = pmadd(y, x, cst<P>(-2.4999993993e-1f));
    y = pmadd(y, x, cst<P>(3.3333331174e-1f));
    y = pmul(pmul(y, x), z);
    y = pmadd(k, cst<P>(-2.12194440e-4f), y);  // ln 2 = 0.693359375 − 2.12194440e-4
    y = pmadd(z, cst<P>(-0.5f), y);
    return pmadd(k, cst<P>(0.693359375f), padd(x, y));
  } else {
    // log m = 2 atanh(s), s = (m − 1)/(m + 1) ∈ [−0.172, 0.172], with s carried in two words
    // (u = m − 1 exact, m + 1 = v + v_lo exact, residual exact): the division's rounding then
    // costs nothing. Series to s^21 (truncation < 0.1 ulp).
    const P one = cst<P>(1.0);
    const P u = psub(m, one);
    P v, v_lo;
    two_sum(m, one, v, v_lo);
    const P rv = reciprocal_1_to_2(v);  // v ∈ [1.7, 2.5]
    const P sh = pmul(u, rv);
    const P sl = pmul(psub(product_residual(u, sh, v), pmul(sh, v_lo)), rv);
    const P z = pmul(sh, sh);
    P r = cst<P>(2.0 / 21);
    r = pmadd(r, z, cst<P>(2.0 / 19));
    r = pmadd(r, z, cst<P>(2.0 / 17));
    r = pmadd(r, z, cst<P>(2.0 / 15));
    r = pmadd(r, z, cst<P>(2.0 / 13));
    r = pmadd(r, z, cst<P>(2.0 / 11));
    r = pmadd(r, z, cst<P>(2.0 / 9));
    r = pmadd(r, z, cst<P>(2.0 / 7));
    r = pmadd(r, z, cst<P>(2.0 / 5));
    r = pmadd(r, z, cst<P>(2.0 / 3));
    const P tail = pmadd(pmul(sh, z), r, pmadd(k, cst<P>(1.42860682030941723212e-6), padd(sl, sl)));
    return padd(pmadd(k, cst<P>(0.693145751953125), padd(sh, sh)), tail);  // + k ln 2
  }
}

#if defined(FOCAL_HAS_AVX512)
/// The table logarithm of AVX-512 packets, for m in [1, 2] given inv_m = 1/m within an ulp:
/// c = inv_m rounded to a multiple of 1/32 for float (k/32, k = 16…32), of 1/16 for double
/// (k/16, k = 8…16: vpermt2pd holds 16 entries, not 17), makes r = m·c − 1 exact (c·m lies on a
/// 2^-28 grid for float, 2^-56 for double); then log m = log(1/c) + log1p(r), with log(1/c) from
/// a table in two words and log1p(r) = r + r²·P(r), P of degree 3 (float, |r| ≤ 1/32) or
/// minimax of degree 10 (double, |r| ≤ 1/16), relative error below 0.004 of the unit roundoff.
/// Returns r, the table's high word, and y = r²·P(r) + its low word: log m = hi + r + y.
template <class P>
struct TableLog {
  P r, hi, y;
};

template <class P>
EIGEN_ALWAYS_INLINE TableLog<P> table_log(const P& m, const P& inv_m) {
  TableLog<P> t;
  P lo;
  if constexpr (std::is_same<P, Packet16f>::value) {
    // c = k/32, k = 16…32, from RN(inv_m + 2^18), whose ulp is 1/32 and whose low mantissa
    // bits are then k: vpermt2ps reads k mod 32 from two registers, so entry 0 is c = 1 and
    // entries 16…31 are k. |r| ≤ 1/32 (and r ≤ 1/64 where c = 1) lets log1p(r) = r + r²·P(r)
    // stop at r⁵ (Taylor: the r⁶/6 left out is below 0.003 ulp of the result).
    const P magic = cst<P>(262144.0f);
    const P sum = padd(inv_m, magic);
    const P c = psub(sum, magic);
    t.r = pmadd(m, c, cst<P>(-1.0f));
    const __m512i k = _mm512_castps_si512(sum);
    const P zero = pzero(m);
    t.hi = _mm512_permutex2var_ps(
        zero, k,
        _mm512_setr_ps(0.6931471824645996f, 0.6325225830078125f, 0.5753641724586487f,
                       0.5212969183921814f, 0.4700036346912384f, 0.4212134778499603f,
                       0.37469345331192017f, 0.33024168014526367f, 0.28768208622932434f,
                       0.246860072016716f, 0.20763936638832092f, 0.16989903151988983f,
                       0.133531391620636f, 0.09844007343053818f, 0.06453852355480194f,
                       0.0317486971616745f));
    lo = _mm512_permutex2var_ps(
        zero, k,
        _mm512_setr_ps(-1.9046542121259336e-09f, -2.426430256718959e-08f,
                       -2.7555087100950004e-08f, 5.241104883424441e-09f,
                       -5.4455027154176605e-09f, -1.2773656798970023e-08f,
                       -3.870509690528934e-09f, 6.725313195232729e-09f,
                       -1.3777543550475002e-08f, 5.914809975138269e-09f,
                       -1.610076405533789e-09f, 5.275507586333106e-09f, 1.0038866404826763e-09f,
                       -6.17285667026124e-10f, -2.417230859919073e-09f,
                       1.1529057708514756e-09f));
    P y = pmadd(cst<P>(0.2f), t.r, cst<P>(-0.25f));
    y = pmadd(y, t.r, cst<P>(0.333333343f));
    t.y = pmadd(y, t.r, cst<P>(-0.5f));
  } else {
    static_assert(std::is_same<P, Packet8d>::value, "AVX-512 packets only");
    // The same with RN(inv_m + 2^48); vpermt2pd reads k mod 16, entries 8…15 in the second
    // register.
    const P magic = cst<P>(281474976710656.0);
    const P sum = padd(inv_m, magic);
    const P c = psub(sum, magic);
    t.r = pmadd(m, c, cst<P>(-1.0));
    const __m512i k = _mm512_castpd_si512(sum);
    t.hi = _mm512_permutex2var_pd(
        _mm512_setr_pd(0.0, 0, 0, 0, 0, 0, 0, 0), k,
        _mm512_setr_pd(0.6931471805599453, 0.5753641449035618, 0.4700036292457356,
                       0.3746934494414107, 0.2876820724517809, 0.2076393647782445,
                       0.13353139262452263, 0.06453852113757118));
    lo = _mm512_permutex2var_pd(
        _mm512_setr_pd(0.0, 0, 0, 0, 0, 0, 0, 0), k,
        _mm512_setr_pd(2.3190468138462996e-17, 5.214321232885128e-17, -2.3229412495470032e-17,
                       -3.9243112288632396e-18, 2.607160616442564e-17, 1.2053243216686129e-17,
                       -3.664457663660085e-18, -6.470486661692933e-18));
    P y = pmadd(cst<P>(-0.08412310281403275), t.r, cst<P>(0.09169827163376812));
    y = pmadd(y, t.r, cst<P>(-0.0999966790306496));
    y = pmadd(y, t.r, cst<P>(0.11110811031481257));
    y = pmadd(y, t.r, cst<P>(-0.12500000661843239));
    y = pmadd(y, t.r, cst<P>(0.14285714803218127));
    y = pmadd(y, t.r, cst<P>(-0.16666666666039168));
    y = pmadd(y, t.r, cst<P>(0.19999999999610618));
    y = pmadd(y, t.r, cst<P>(-0.25000000000000244));
    y = pmadd(y, t.r, cst<P>(0.33333333333333426));
    t.y = pmadd(y, t.r, cst<P>(-0.5));
  }
  t.y = pmadd(t.y, pmul(t.r, t.r), lo);  // r²·P(r) + the table's low word
  return t;
}
#endif

/// log1p(e) from 1 + e = d + d_lo (exact split) and inv_d = 1/d within an ulp (the kernel has
/// both): log d + d_lo/d. On AVX-512, log d by table_log, with log(1/c) + r summed exactly
/// (Fast2Sum: |log(1/c)| ≥ |r|, or log(1/c) = 0) and d_lo/d folded in, so that one rounding
/// ends it: fewer instructions than the polynomial log (and for double no division), and more
/// accurate. Elsewhere, log_1_to_2(d).
template <class P>
EIGEN_ALWAYS_INLINE P log1p_split(const P& d, const P& d_lo, const P& inv_d) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value || std::is_same<P, Packet8d>::value) {
    const TableLog<P> t = table_log(d, inv_d);
    P s, s_err;
    fast_two_sum(t.hi, t.r, s, s_err);
    return padd(s, padd(s_err, pmadd(d_lo, inv_d, t.y)));
  }
#endif
  return padd(log_1_to_2(d), pmul(d_lo, inv_d));
}

/// Whether neg_log_unit exists for P: on AVX-512's packets, where the table lookups are one
/// instruction. (A polynomial log elsewhere would cost the probability kernel half an ulp
/// against libm's; there it stays scalar.)
template <class P>
inline constexpr bool has_neg_log_unit =
#if defined(FOCAL_HAS_AVX512)
    std::is_same<P, Packet16f>::value || std::is_same<P, Packet8d>::value;
#else
    false;
#endif

// As for neg_abs_clamped: _mm512_getmant_* are macros at -O0.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif
/// −(log v + corr) for v in [0, 1] (0 → +∞, NaN → NaN) and a small correction corr (the
/// caller's v_lo/v), within about half an ulp: v = m·2^e (vgetmant/vgetexp, subnormals
/// included), log m by table_log, and e·ln 2 + log(1/c) + r summed with a two-product, Fast2Sum
/// and TwoSum, so that one rounding ends it.
template <class P>
EIGEN_ALWAYS_INLINE P neg_log_unit(const P& v, const P& corr) {
  static_assert(has_neg_log_unit<P>, "focal: neg_log_unit needs AVX-512 packets");
#if defined(FOCAL_HAS_AVX512)
  using S = scalar_of<P>;
  constexpr bool f = std::is_same<P, Packet16f>::value;
  P m, e;
  if constexpr (f) {
    m = _mm512_getmant_ps(v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);  // [1, 2)
    e = _mm512_getexp_ps(v);
  } else {
    m = _mm512_getmant_pd(v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
    e = _mm512_getexp_pd(v);
  }
  const TableLog<P> t = table_log(m, pdiv(cst<P>(S(1)), m));
  // e·ln 2 with ln 2 split as the table's entry for c = 1/2 is, so that near v = 1 (e = −1,
  // c = 1/2) the leading words cancel exactly; e·ln2_hi exactly as a two-product. Its binade is
  // at least that of log(1/c) ≤ ln 2 when e ≠ 0, as Fast2Sum needs.
  const P ln2_hi = cst<P>(f ? S(0.6931471824645996) : S(0.6931471805599453));
  const P ln2_lo = cst<P>(f ? S(-1.9046542121259336e-09) : S(2.3190468138462996e-17));
  const P e_safe = select(equal(v, pzero(v)), pzero(v), e);  // getexp(0) = −∞
  P a, a_err, s1, e1, s2, e2;
  two_prod(e_safe, ln2_hi, a, a_err);
  fast_two_sum(a, t.hi, s1, e1);
  two_sum(s1, t.r, s2, e2);
  const P tail = padd(padd(padd(e1, e2), a_err), padd(pmadd(e_safe, ln2_lo, t.y), corr));
  const P result = psub(pzero(v), padd(s2, tail));  // −log 1 = +0, not −0
  return select(equal(v, pzero(v)), cst<P>(std::numeric_limits<S>::infinity()), result);
#else
  (void)corr;
  return v;
#endif
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace simd
}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_PACKET_MATH_HPP
