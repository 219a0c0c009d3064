#ifndef FOCAL_DETAIL_SIMD_EXP_HPP
#define FOCAL_DETAIL_SIMD_EXP_HPP

// A full-range exp on packets and scalars: exp(x) for x ≤ 0, accurate to about an ulp down to
// the last subnormal.
//
// Why not Eigen's pexp: it clamps its argument and scales with a fast ldexp, so its results
// are wrong below the normal range (SSE: exp(−100) = 2.9e-39 and exp(−∞) > 0 for float;
// AVX-512: flushed to 0 below −87.3; double: exp(−∞) = 5.6e-309). focal needs exp(−|z|) to be
// exact down to the last subnormal. Float uses a degree-4 minimax polynomial, double a Taylor
// polynomial; the reduction keeps the full range and the scaling is exact.

#include "../config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include "packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace simd {

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
  if constexpr (is_scalar<P>) {
    return pmax(-std::abs(v), exp_lowest<S>());
  } else {
    return pmax(por(v, cst<P>(S(-0.0))), cst<P>(exp_lowest<S>()));
  }
}

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
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

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
/// 105593, from code our pragmas cannot reach); scalars std::ldexp.
template <class P>
EIGEN_ALWAYS_INLINE P scale_pow2(const P& y, const P& m) {
  if constexpr (is_scalar<P>) {
    return std::ldexp(y, static_cast<int>(m));
  } else {
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
    // relative error of exp: 2^-28.0 in exact arithmetic (tools/constants.py minimax refits it;
    // Cephes' degree 5 gains nothing over it: every float in [−87, 0] checked against expl,
    // worst 0.882 vs 0.889 ulp, RMS 0.160 both).
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

}  // namespace simd
}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SIMD_EXP_HPP
