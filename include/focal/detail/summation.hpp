#ifndef FOCAL_DETAIL_SUMMATION_HPP
#define FOCAL_DETAIL_SUMMATION_HPP

// The sums of the fused passes: a compensated double (chunk totals, softmax row sums), per-lane
// TwoSum accumulators in packets reduced into it (a chunk's losses, the softmax packet rows),
// and the chunk accumulator that adds a block of packets pairwise first.

#include "config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "double_word.hpp"
#include "simd/eft.hpp"
#include "simd/packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

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

/// A compensated sum's total: rounded to double, or in two words.
template <class Wide>
Wide w_sum(const CompensatedSum& sum) noexcept {
  if constexpr (std::is_same<Wide, double>::value) {
    return sum.total();
  } else {
    return std::isfinite(sum.high()) ? w_normalize(sum.high(), sum.low())
                                     : DoubleWord{sum.high(), 0};
  }
}

/// Per-lane TwoSum accumulation of terms ≥ 0 (or +∞, or NaN).
template <class P>
class LaneSum {
 public:
  using S = simd::scalar_of<P>;
  LaneSum() : s_(pset_zero()), c_(pset_zero()) {}

  EIGEN_ALWAYS_INLINE void add(const P& v) {
    P t, e;
    simd::two_sum(s_, v, t, e);
    s_ = t;
    c_ = Eigen::internal::padd(c_, e);
  }

  /// The total: lanes in order, each with its error term (dropped where the lane is ±∞:
  /// TwoSum's error of ∞ is NaN), summed with compensation. Resets the accumulator.
  double take() { return take_sum().total(); }

  /// take() where every lane is known finite, as Wide (double_word.hpp): for float, cheaper (see
  /// take_finite); for double, the compensated sum in two words.
  template <class Wide>
  Wide take_wide() {
    if constexpr (std::is_same<Wide, double>::value) {
      return take_finite();
    } else {
      return w_sum<Wide>(take_sum());
    }
  }

  /// take() where every lane is known finite, cheaper for float: float lanes summed in double
  /// lose ~2^-53 per addition, far below float's ulp, and the error terms (~2^-24 of the sums)
  /// need no more than a float sum. Resets the accumulator.
  double take_finite() {
    if constexpr (std::is_same<S, float>::value) {
      alignas(64) S s[simd::lanes<P>];
      Eigen::internal::pstoreu(s, s_);
      double part[4] = {0, 0, 0, 0};
      for (int i = 0; i < simd::lanes<P>; ++i) part[i % 4] += double(s[i]);
      const double total =
          ((part[0] + part[1]) + (part[2] + part[3])) + double(Eigen::internal::predux(c_));
      s_ = c_ = pset_zero();
      return total;
    } else {
      return take();
    }
  }

 protected:
  /// The lanes' running sums.
  const P& partial() const { return s_; }

 private:
  CompensatedSum take_sum() {
    alignas(64) S s[simd::lanes<P>], c[simd::lanes<P>];
    Eigen::internal::pstoreu(s, s_);
    Eigen::internal::pstoreu(c, c_);
    CompensatedSum sum;
    for (int i = 0; i < simd::lanes<P>; ++i) {
      sum.add(double(s[i]));
      if (std::isfinite(s[i])) sum.add(double(c[i]));
    }
    s_ = c_ = pset_zero();
    return sum;
  }

  static P pset_zero() { return Eigen::internal::pset1<P>(S(0)); }
  P s_, c_;
};

/// A chunk's losses (≥ 0, or +∞, or NaN), a block of packets at a time.
template <class P>
class PacketSum : public LaneSum<P> {
 public:
  using S = typename LaneSum<P>::S;

  /// Adds a block of simd::block_packets packets: pairwise in a fixed tree (each lane's block
  /// sum within 3 roundings of exact, all terms being ≥ 0), then exactly into the accumulator:
  /// one TwoSum per block rather than per packet.
  EIGEN_ALWAYS_INLINE void add_block(const S* v) {
    using Eigen::internal::padd;
    using Eigen::internal::pload;
    constexpr int L = simd::lanes<P>;
    static_assert(simd::block_packets == 8, "the tree below sums 8 packets");
    const P a = padd(padd(pload<P>(v), pload<P>(v + L)), padd(pload<P>(v + 2 * L), pload<P>(v + 3 * L)));
    const P b = padd(padd(pload<P>(v + 4 * L), pload<P>(v + 5 * L)),
                     padd(pload<P>(v + 6 * L), pload<P>(v + 7 * L)));
    add_sum(padd(a, b), v, simd::block_packets * L);
  }

  /// The chunk's total; resets the accumulator.
  double take() {
    CompensatedSum total;
    total.add(LaneSum<P>::take());
    total.add(wide_.total());
    wide_ = CompensatedSum();
    return total.total();
  }

 private:
  // sum = Σ v[0, n) lane by lane, into the lanes; or, for float, where that would pass the
  // largest float (huge logits, or an infinite loss), the n terms in double: a float total
  // over FLT_MAX may still give a finite Σ / normalizer. One compare per block otherwise.
  EIGEN_ALWAYS_INLINE void add_sum(const P& sum, const S* v, int n) {
    if constexpr (std::is_same<S, float>::value) {
      const P inf = Eigen::internal::pset1<P>(std::numeric_limits<S>::infinity());
      const P next = Eigen::internal::padd(this->partial(), sum);
      if (simd::mask_any(simd::equal(next, inf))) {
        for (int i = 0; i < n; ++i) wide_.add(double(v[i]));
        return;
      }
    }
    this->add(sum);
  }

  CompensatedSum wide_;
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SUMMATION_HPP
