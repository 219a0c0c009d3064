#ifndef FOCAL_DETAIL_DOUBLE_WORD_HPP
#define FOCAL_DETAIL_DOUBLE_WORD_HPP

// Double-word arithmetic (Joldes, Muller, Popescu, "Tight and rigorous error bounds for basic
// building blocks of double-word arithmetic", ACM TOMS 2017): a value hi + lo, |lo| ≤ ulp(hi)/2,
// carried through a few operations at about 2^-100 relative error. The softmax rows of double
// logits keep their scalars (q, −log p_t, q^γ, the gradient's factor) this way: in plain double
// each operation would add its rounding to the result's few ulp, and q^γ multiply q's by γ.
// Rows of float logits use plain double (wide_t), 2^-29 of a float ulp.
//
// The same operations are defined on double (w_add(a, b) = a + b, ...), so that the row
// formulas are written once for both.

#include "config.hpp"

#include <cmath>
#include <type_traits>

#include "simd/eft.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

struct DoubleWord {
  double hi = 0, lo = 0;
};

/// The type a softmax row's scalars are kept in: double for float logits, DoubleWord for double.
template <class Scalar>
using wide_t = std::conditional_t<std::is_same<Scalar, float>::value, double, DoubleWord>;

/// hi + lo with |lo| ≤ ulp(hi)/2, given |hi| ≥ |lo| or hi = 0 (Fast2Sum).
inline DoubleWord w_normalize(double hi, double lo) noexcept {
  const double s = hi + lo;
  return {s, lo - (s - hi)};
}

inline double w_value(double a) noexcept { return a; }
inline double w_value(const DoubleWord& a) noexcept { return a.hi + a.lo; }

/// Whether both words are finite. The operations below assume finite operands and results
/// that neither overflow nor go subnormal (the error-free products need that); their users
/// check the outcome and take plain double where it is not (softmax_row_terms).
inline bool w_finite(const DoubleWord& a) noexcept {
  return std::isfinite(a.hi) && std::isfinite(a.lo);
}

template <class Wide>
Wide w_from(double a) noexcept {
  if constexpr (std::is_same<Wide, double>::value) {
    return a;
  } else {
    return DoubleWord{a, 0};
  }
}

inline double w_add(double a, double b) noexcept { return a + b; }
inline double w_mul(double a, double b) noexcept { return a * b; }
inline double w_div(double a, double b) noexcept { return a / b; }

/// x + y (DWPlusFP, Algorithm 4: relative error ≤ 2u²).
inline DoubleWord w_add(const DoubleWord& x, double y) noexcept {
  double sh, sl;
  simd::two_sum(x.hi, y, sh, sl);
  return w_normalize(sh, x.lo + sl);
}

/// x + y (AccurateDWPlusDW, Algorithm 6: ≤ 3u² + 13u³).
inline DoubleWord w_add(const DoubleWord& x, const DoubleWord& y) noexcept {
  double sh, sl, th, tl;
  simd::two_sum(x.hi, y.hi, sh, sl);
  simd::two_sum(x.lo, y.lo, th, tl);
  const DoubleWord v = w_normalize(sh, sl + th);
  return w_normalize(v.hi, tl + v.lo);
}

/// x·y (DWTimesFP, Algorithm 9: ≤ 2u²).
inline DoubleWord w_mul(const DoubleWord& x, double y) noexcept {
  double ch, cl1;
  simd::two_prod(x.hi, y, ch, cl1);
  return w_normalize(ch, cl1 + x.lo * y);
}

/// x·y (DWTimesDW, Algorithm 12: ≤ 5u²).
inline DoubleWord w_mul(const DoubleWord& x, const DoubleWord& y) noexcept {
  double ch, cl1;
  simd::two_prod(x.hi, y.hi, ch, cl1);
  return w_normalize(ch, cl1 + (x.hi * y.lo + x.lo * y.hi));
}

/// x / y as DWDivDW (Algorithm 17) does it, with one hardware division instead of two: the
/// quotient's high word from a reciprocal (a few ulps off) and its correction from the exact
/// residual x − th·y times the same reciprocal; about 2^-104 relative either way.
inline DoubleWord w_div(const DoubleWord& x, const DoubleWord& y) noexcept {
  const double inv = 1 / y.hi;
  const double th = x.hi * inv;
  const DoubleWord p = w_mul(y, th);  // th·y
  const double delta = (x.hi - p.hi) + (x.lo - p.lo);
  return w_normalize(th, delta * inv);
}

/// x / y (DWDivFP, Algorithm 15, with the reciprocal as above).
inline DoubleWord w_div(const DoubleWord& x, double y) noexcept {
  const double inv = 1 / y;
  const double th = x.hi * inv;
  double ph, pl;
  simd::two_prod(th, y, ph, pl);
  const double delta = ((x.hi - ph) - pl) + x.lo;
  return w_normalize(th, delta * inv);
}

/// a − b for Scalar inputs, exact (in double for float, in two words for double).
template <class Wide, class Scalar>
Wide w_difference(Scalar a, Scalar b) noexcept {
  if constexpr (std::is_same<Wide, double>::value) {
    return double(a) - double(b);
  } else {
    double s, e;
    simd::two_sum(double(a), -double(b), s, e);
    return DoubleWord{s, e};
  }
}

/// log1p(r) for r ≥ 0: libm's log1p of the high word and the first-order term of the low one.
inline double w_log1p(double r) noexcept { return std::log1p(r); }
inline DoubleWord w_log1p(const DoubleWord& r) noexcept {
  return w_normalize(std::log1p(r.hi), r.lo / (1 + r.hi));
}

/// q^k for integer k ≥ 0 by multiplication (q^0 = 1, also for q = 0).
inline double w_pow_int(double q, int k) noexcept { return simd::power(q, k); }
inline DoubleWord w_pow_int(const DoubleWord& q, int k) noexcept {
  switch (k) {  // the common cases, without a loop
    case 0: return {1, 0};
    case 1: return q;
    case 2: return w_mul(q, q);
    default: break;
  }
  DoubleWord result{1, 0}, base = q;
  while (k > 0) {
    if (k & 1) result = w_mul(result, base);
    k >>= 1;
    if (k > 0) base = w_mul(base, base);
  }
  return result;
}

/// q^γ for non-integer γ > 0: libm's pow of the high word, (1 + lo/hi)^γ ≈ 1 + γ·lo/hi.
inline double w_pow(double q, double gamma) noexcept { return std::pow(q, gamma); }
inline DoubleWord w_pow(const DoubleWord& q, double gamma) noexcept {
  const double p = std::pow(q.hi, gamma);
  if (q.hi == 0) return {p, 0};
  return w_normalize(p, p * (gamma * (q.lo / q.hi)));
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_DOUBLE_WORD_HPP
