#ifndef FOCAL_DETAIL_SIMD_LOG_HPP
#define FOCAL_DETAIL_SIMD_LOG_HPP

// The logarithms of the kernels, on packets and scalars: log1p(e) of the logit kernel from the
// exact split 1 + e = d + d_lo, and −log v of the probability kernel for v in [0, 1], each
// ended by one rounding. AVX-512 reads log(1/c) from a table held in registers (one permute);
// other packets and scalars use a polynomial or a series.

#include "../config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include "eft.hpp"
#include "packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace simd {

/// log m = 2 atanh(s) for m in [√½, √2], s = (m − 1)/(m + 1) ∈ [−0.172, 0.172], with s carried
/// in two words, sh + sl (u = m − 1 exact, m + 1 = v + v_lo exact, residual exact): the
/// division's rounding then costs nothing. log m = 2sh + 2sl + sh·z·r with z = sh² and r the
/// series' tail: to s^21 for double (truncation < 0.1 ulp), to s^11 for float (< 0.03 ulp).
template <class P>
struct AtanhLog {
  P sh, sl, z, r;

  EIGEN_ALWAYS_INLINE explicit AtanhLog(const P& m) {
    using S = scalar_of<P>;
    const P one = cst<P>(S(1));
    const P u = psub(m, one);
    P v, v_lo;
    two_sum(m, one, v, v_lo);
    const P rv = reciprocal_1_to_2(v);  // v ∈ [1.7, 2.5]
    sh = pmul(u, rv);
    sl = pmul(psub(product_residual(u, sh, v), pmul(sh, v_lo)), rv);
    z = pmul(sh, sh);
    if constexpr (std::is_same<S, float>::value) {
      r = cst<P>(2.0f / 11);
      r = pmadd(r, z, cst<P>(2.0f / 9));
      r = pmadd(r, z, cst<P>(2.0f / 7));
      r = pmadd(r, z, cst<P>(2.0f / 5));
      r = pmadd(r, z, cst<P>(2.0f / 3));
    } else {
      r = cst<P>(2.0 / 21);
      r = pmadd(r, z, cst<P>(2.0 / 19));
      r = pmadd(r, z, cst<P>(2.0 / 17));
      r = pmadd(r, z, cst<P>(2.0 / 15));
      r = pmadd(r, z, cst<P>(2.0 / 13));
      r = pmadd(r, z, cst<P>(2.0 / 11));
      r = pmadd(r, z, cst<P>(2.0 / 9));
      r = pmadd(r, z, cst<P>(2.0 / 7));
      r = pmadd(r, z, cst<P>(2.0 / 5));
      r = pmadd(r, z, cst<P>(2.0 / 3));
    }
  }
};

/// log(d) for d in [1, 2] (and NaN → NaN), the only logarithm the logit kernel needs where
/// log1p_split has no table: d > √2 is halved, log d = log m + k·ln 2 with m = d or d/2 in
/// [√½, √2] and k = 0 or 1. Float: Cephes' logf polynomial as Eigen's plog uses it, without
/// the exponent extraction and special cases a general log needs. Double: AtanhLog.
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
    const AtanhLog<P> a(m);
    const P tail =
        pmadd(pmul(a.sh, a.z), a.r, pmadd(k, cst<P>(1.42860682030941723212e-6), padd(a.sl, a.sl)));
    return padd(pmadd(k, cst<P>(0.693145751953125), padd(a.sh, a.sh)), tail);  // + k ln 2
  }
}

#if defined(FOCAL_HAS_AVX512)
/// The table logarithm of AVX-512 packets, for m in [1, 2] given inv_m = 1/m within an ulp:
/// c = inv_m rounded to a multiple of 1/32 for float (k/32, k = 16…32), of 1/16 for double
/// (k/16, k = 8…16: vpermt2pd holds 16 entries, not 17), makes r = m·c − 1 exact (c·m lies on a
/// 2^-28 grid for float, 2^-56 for double); then log m = log(1/c) + log1p(r), with log(1/c) from
/// a table in two words (tools/constants.py tables) and log1p(r) = r + r²·P(r), P of degree 3
/// (float, |r| ≤ 1/32) or a fit of degree 10 (double, |r| ≤ 1/16) whose relative error is 0.022
/// of the unit roundoff in exact arithmetic (tools/constants.py minimax; its symmetric refit is
/// 0.002, but every AVX-512 double result would change its bits for it).
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

/// −(log v + corr) for v in [0, 1] (0 → +∞, NaN → NaN) and a small correction corr (the
/// caller's v_lo/v), within about half an ulp, for packets without a table (SSE, AVX) and
/// scalars: v = m·2^e with m in [√½, √2) (pfrexp, subnormals included); log m by AtanhLog;
/// e·ln 2 with ln 2 split so that e·ln2_hi is exact (Cody–Waite, as in exp_clamped), and added
/// to 2s by Fast2Sum (|e·ln 2| ≥ ln 2 > |2s| where e ≠ 0), so that one rounding ends it.
template <class P>
EIGEN_ALWAYS_INLINE P neg_log_unit_series(const P& v, const P& corr) {
  using S = scalar_of<P>;
  constexpr bool f = std::is_same<S, float>::value;
  const P one = cst<P>(S(1));
  P e;
  P m = pfrexp(v, e);  // [1/2, 1)
  const auto low = less(m, cst<P>(S(0.70710678118654752440)));
  m = select(low, padd(m, m), m);
  e = select(low, psub(e, one), e);
  const AtanhLog<P> a(m);
  const P ln2_hi = cst<P>(f ? S(0.693359375) : S(0.693145751953125));
  const P ln2_lo = cst<P>(f ? S(-2.12194440e-4) : S(1.42860682030941723212e-6));
  P s, s_err;
  fast_two_sum(pmul(e, ln2_hi), padd(a.sh, a.sh), s, s_err);  // e·ln2_hi exact
  const P tail =
      padd(padd(s_err, pmadd(e, ln2_lo, padd(a.sl, a.sl))), pmadd(pmul(a.sh, a.z), a.r, corr));
  const P result = psub(pzero(v), padd(s, tail));  // −log 1 = +0, not −0
  return select(equal(v, pzero(v)), cst<P>(std::numeric_limits<S>::infinity()), result);
}

// As for neg_abs_clamped (exp.hpp): _mm512_getmant_* are macros at -O0.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif
/// −(log v + corr) for v in [0, 1] (0 → +∞, NaN → NaN) and a small correction corr (the
/// caller's v_lo/v), within about half an ulp. On AVX-512: v = m·2^e (vgetmant/vgetexp,
/// subnormals included), log m by table_log, and e·ln 2 + log(1/c) + r summed with a
/// two-product, Fast2Sum and TwoSum, so that one rounding ends it. Elsewhere
/// neg_log_unit_series.
template <class P>
EIGEN_ALWAYS_INLINE P neg_log_unit(const P& v, const P& corr) {
  if constexpr (!is_avx512<P>) {
    return neg_log_unit_series(v, corr);
  } else {
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
    // c = 1/2) the leading words cancel exactly; e·ln2_hi exactly as a two-product. Its binade
    // is at least that of log(1/c) ≤ ln 2 when e ≠ 0, as Fast2Sum needs.
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
#endif
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace simd
}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SIMD_LOG_HPP
