#ifndef FOCAL_DETAIL_LANE_SUM_HPP
#define FOCAL_DETAIL_LANE_SUM_HPP

// Per-lane TwoSum accumulation in SIMD packets, reduced in double: the summation of the fused
// pass (fused.hpp, a chunk's losses) and of the softmax packet rows (softmax_packet.hpp).

#include "config.hpp"

#include <cmath>
#include <type_traits>

#include <Eigen/Core>

#include "double_word.hpp"
#include "packet_math.hpp"
#include "stable.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

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

  /// take() where every lane is known finite, as W (double_word.hpp): for float, cheaper (see
  /// take_finite); for double, the compensated sum in two words.
  template <class W>
  W take_wide() {
    if constexpr (std::is_same<W, double>::value) {
      return take_finite();
    } else {
      return w_sum<W>(take_sum());
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

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_LANE_SUM_HPP
