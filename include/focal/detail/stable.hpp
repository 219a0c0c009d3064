#ifndef FOCAL_DETAIL_STABLE_HPP
#define FOCAL_DETAIL_STABLE_HPP

// Scalar building blocks that keep every digit: error-free transformations, integer powers
// by multiplication, and a compensated exp for non-integer powers. Private to focal.

#include "config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

FOCAL_NAMESPACE_BEGIN
namespace detail {

template <class Scalar>
inline constexpr bool is_supported_scalar_v =
    std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value;

/// a + b = s + err exactly (Knuth's TwoSum; no ordering assumption on |a|, |b|).
template <class Scalar>
inline void two_sum(Scalar a, Scalar b, Scalar& s, Scalar& err) noexcept {
  s = a + b;
  const Scalar bb = s - a;
  err = (a - (s - bb)) + (b - bb);
}

/// a * b = p + err exactly, for finite products that neither overflow nor underflow.
template <class Scalar>
inline void two_prod(Scalar a, Scalar b, Scalar& p, Scalar& err) noexcept {
  p = a * b;
#if defined(FOCAL_HAS_FMA) || defined(FP_FAST_FMA)
  err = std::fma(a, b, -p);
#else
  // Dekker's product with Veltkamp's split; without hardware FMA, std::fma would be a slow
  // library call. Only reached from the non-integer γ path.
  constexpr Scalar split =
      std::is_same<Scalar, float>::value ? Scalar(4097) : Scalar(134217729);  // 2^ceil(p/2) + 1
  const Scalar ca = split * a, cb = split * b;
  const Scalar ah = ca - (ca - a), al = a - ah;
  const Scalar bh = cb - (cb - b), bl = b - bh;
  err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
#endif
}

/// n − t·d exactly, for a quotient t ≈ n/d (so that n − t·d is tiny next to n).
template <class Scalar>
inline Scalar product_residual(Scalar n, Scalar t, Scalar d) noexcept {
#if defined(FOCAL_HAS_FMA) || defined(FP_FAST_FMA)
  return std::fma(-t, d, n);
#else
  Scalar p, err;
  two_prod(t, d, p, err);
  return (n - p) - err;  // n − p is exact (Sterbenz), so only the last subtraction rounds
#endif
}

/// q^k by multiplication (square-and-multiply), k ≥ 0. k = 0 gives 1, also for q = 0.
template <class Scalar>
inline Scalar int_pow(Scalar q, int k) noexcept {
  switch (k) {  // the common cases, without a loop
    case 0: return Scalar(1);
    case 1: return q;
    case 2: return q * q;
    case 3: return q * q * q;
    case 4: { const Scalar q2 = q * q; return q2 * q2; }
    default: break;
  }
  Scalar result = Scalar(1);
  Scalar base = q;
  while (k > 0) {
    if (k & 1) result *= base;
    base *= base;
    k >>= 1;
  }
  return result;
}

/// (q + q_lo)^k for a double-word q (|q_lo| ≤ ulp(q)/2) and k ≥ 0, by multiplication:
/// q^k + k·q_lo·q^(k−1). Rounding q to one word would cost k/2 ulp; this costs nothing.
template <class Scalar>
inline Scalar int_pow_dw(Scalar q, Scalar q_lo, int k) noexcept {
  if (k == 0) return Scalar(1);
  const Scalar pk1 = int_pow(q, k - 1);
  return pk1 * q + Scalar(k) * q_lo * pk1;
}

/// exp(−γ·(m + l)) for γ ≥ 0, m ≥ 0 (exact) and 0 ≤ l ≤ log 2, with the exponent carried in
/// double-word precision: the rounding of γ·(m + l) would otherwise cost |γ·(m + l)| ulp
/// (about 40 ulp at a logit of 80 with γ = 0.5). What remains is exp's own error plus
/// γ times the rounding error of l.
template <class Scalar>
inline Scalar exp_neg_scaled(Scalar gamma, Scalar m, Scalar l) noexcept {
  Scalar s, s_err;
  two_sum(m, l, s, s_err);
  Scalar p, p_err;
  two_prod(gamma, s, p, p_err);
  const Scalar e = std::exp(-p);
  const Scalar c = p_err + gamma * s_err;  // |c| is about one ulp of p
  // exp(−p − c) = exp(−p)·(1 − c + O(c²)); e·c is tiny next to e, so its rounding is
  // negligible and no fma is needed. At p = ∞ (m = ∞), or where the split would overflow,
  // c is not finite and exp(−p) is already the answer (0).
  return std::isfinite(c) ? e - e * c : e;
}

/// a·v where a ≥ 0 is a weight that may be exactly 0: then 0·∞ is taken as 0 (α = 0 means the
/// term is switched off, at every input), while NaN still propagates.
template <class Scalar>
inline Scalar weight(Scalar a, Scalar v) noexcept {
  return (a == Scalar(0) && std::isinf(v)) ? Scalar(0) : a * v;
}

/// Σ in double with Neumaier's compensation: of terms ≥ 0, within about 2^-106 relative of the
/// exact sum (plus the final rounding) whatever their order, far below a float's ulp and an ulp
/// or two of a double's. +∞ terms give +∞.
class CompensatedSum {
 public:
  void add(double v) noexcept {
    const double t = s_ + v;
    c_ += std::abs(s_) >= std::abs(v) ? (s_ - t) + v : (v - t) + s_;
    s_ = t;
  }
  double total() const noexcept { return std::isfinite(s_) ? s_ + c_ : s_; }
  /// The sum and its compensation, unrounded: total() = high() + low().
  double high() const noexcept { return s_; }
  double low() const noexcept { return std::isfinite(s_) ? c_ : 0; }

 private:
  double s_ = 0, c_ = 0;
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_STABLE_HPP
