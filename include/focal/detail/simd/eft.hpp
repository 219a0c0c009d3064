#ifndef FOCAL_DETAIL_SIMD_EFT_HPP
#define FOCAL_DETAIL_SIMD_EFT_HPP

// Arithmetic that keeps every digit, on packets and scalars alike: the error-free
// transformations (TwoSum, Fast2Sum, the exact product), the exact residual of a quotient,
// a correctly rounded division without the divider, and integer powers by multiplication.

#include "../config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include "packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace simd {

/// c − a·b with one rounding where the target has FMA (a negation before pmadd, which the
/// compiler cannot fold into vfnmadd), else c + (−a)·b as Eigen's pmadd computes it.
template <class P>
EIGEN_ALWAYS_INLINE P nmadd(const P& a, const P& b, const P& c) {
  if constexpr (is_scalar<P>) {
#if defined(FOCAL_HAS_FMA) || defined(FP_FAST_FMA)
    return std::fma(-a, b, c);
#endif
  }
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

/// a + b = s + err exactly (Knuth's TwoSum; no ordering assumption on |a|, |b|).
template <class P>
EIGEN_ALWAYS_INLINE void two_sum(const P& a, const P& b, P& s, P& err) {
  s = padd(a, b);
  const P bb = psub(s, a);
  err = padd(psub(a, psub(s, bb)), psub(b, bb));
}

/// a·b = p + err exactly (for products that neither overflow nor underflow): one FMA where
/// the target has it (for scalars also where the compiler's target does: FP_FAST_FMA), else
/// Dekker's product with Veltkamp's split (std::fma would be a slow library call).
template <class P>
EIGEN_ALWAYS_INLINE void two_prod(const P& a, const P& b, P& p, P& err) {
  p = opaque(pmul(a, b));  // the rounded product, not fused into what adds it
  if constexpr (is_scalar<P>) {
#if defined(FOCAL_HAS_FMA) || defined(FP_FAST_FMA)
    err = std::fma(a, b, -p);
    return;
#endif
  } else {
#if defined(FOCAL_HAS_FMA)
    err = pmadd(a, b, negate(p));  // fused: exact
    return;
#endif
  }
  using S = scalar_of<P>;
  const P split = cst<P>(std::is_same<S, float>::value ? S(4097) : S(134217729));  // 2^⌈p/2⌉ + 1
  const P ca = pmul(split, a), cb = pmul(split, b);
  const P ah = psub(ca, psub(ca, a)), al = psub(a, ah);
  const P bh = psub(cb, psub(cb, b)), bl = psub(b, bh);
  err = padd(padd(padd(psub(pmul(ah, bh), p), pmul(ah, bl)), pmul(al, bh)), pmul(al, bl));
}

/// n − t·d exactly, for a quotient t ≈ n/d (so that n − t·d is tiny next to n).
template <class P>
EIGEN_ALWAYS_INLINE P product_residual(const P& n, const P& t, const P& d) {
  constexpr bool fused =
#if defined(FOCAL_HAS_FMA)
      true;
#elif defined(FP_FAST_FMA)
      is_scalar<P>;
#else
      false;
#endif
  if constexpr (fused) {
    return nmadd(t, d, n);  // n − t·d in one rounding
  } else {
    P p, err;
    two_prod(t, d, p, err);
    return psub(psub(n, p), err);  // n − p is exact (Sterbenz), so only this rounds
  }
}

/// 1/d for d in [1, 2.5]: a division. (A refined vrcp14 estimate was measured on AVX-512: it
/// loses for float, and for double it only wins while another division keeps the divider
/// busy in parallel with the FMA ports.)
template <class P>
EIGEN_ALWAYS_INLINE P reciprocal_1_to_2(const P& d) {
  return pdiv(cst<P>(1), d);
}

/// a/b correctly rounded, given r = RN(1/b) normal and b > 0. For double with FMA: the
/// estimate a·r corrected by its exact residual (Markstein), three FMAs instead of a division
/// that costs ~16 cycles of divider per AVX-512 packet. The residual is exact, and the
/// estimate neither overflows nor goes subnormal, while
/// 2^(emin + 2·digits)·max(1, b) ≤ |a| ≤ 2^(emax − 2)·min(1, b) (bounds the compiler hoists
/// out of the loop); packets with a lane outside (∞ and NaN included) take the division: a
/// branch that real gradients almost never take. Float keeps the division: Markstein with
/// this check measured slower, a float packet holding twice the lanes per division.
template <class P>
EIGEN_ALWAYS_INLINE P divide_by(const P& a, const P& b, const P& r) {
#if defined(FOCAL_HAS_FMA)
  using S = scalar_of<P>;
  if constexpr (std::is_same<S, double>::value && !is_scalar<P>) {
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

/// q^k by multiplication (square-and-multiply), k ≥ 0; k = 0 gives 1, also for q = 0. The
/// trip count is the same for every packet of a call, so the loop is perfectly predicted.
template <class P>
EIGEN_ALWAYS_INLINE P power(const P& q, int k) {
  P result = cst<P>(1), base = q;
  while (k > 0) {
    if (k & 1) result = pmul(result, base);
    base = pmul(base, base);
    k >>= 1;
  }
  return result;
}

}  // namespace simd
}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SIMD_EFT_HPP
