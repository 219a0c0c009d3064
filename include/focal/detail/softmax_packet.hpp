#ifndef FOCAL_DETAIL_SOFTMAX_PACKET_HPP
#define FOCAL_DETAIL_SOFTMAX_PACKET_HPP

// The softmax row kernel (softmax_kernel.hpp) on a row of contiguous logits, in SIMD packets:
// the maximum; s_c = exp(x_c − m) with x_c − m carried exactly (TwoSum) through the packet exp
// of simd/exp.hpp; one sum of the s_c in per-lane TwoSum accumulators, reduced in double,
// from which the row sums R and Q follow without cancellation; the row's scalars from
// softmax_row_terms, shared with the scalar kernel; and the gradient −w·s_c/Σs·weight/normalizer
// as one product per packet. Rows with a NaN or an infinite logit, rows shorter than a packet,
// and gradient scales outside the normal range are left to the scalar kernel's formulas.

#include "config.hpp"

#include <cstddef>
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "double_word.hpp"
#include "simd/eft.hpp"
#include "simd/exp.hpp"
#include "simd/packet.hpp"
#include "softmax_kernel.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// What the packet passes over a row leave for its scalars: R, Q, s_t, the maximum and x_t.
template <class Scalar>
struct RowSums {
  wide_t<Scalar> r{}, q{};
  Scalar st = 0, m = 0, xt = 0;
};

/// Passes 1 and 2 of softmax_focal_row on the `classes` contiguous logits at x: the row sums
/// into sums and, with Grad, s_c parked in the contiguous grad (which may be x itself). Returns
/// false, having written nothing, for a row the scalar kernel must take: a logit that is NaN
/// or infinite, or fewer classes than a packet holds.
template <bool Grad, class Scalar>
bool softmax_row_sums(const Scalar* x, Eigen::Index classes, Eigen::Index t, Scalar* grad,
                      RowSums<Scalar>& sums) {
  using namespace Eigen::internal;
  using P = simd::packet_t<Scalar>;
  constexpr int L = simd::lanes<P>;
  if (classes < L) return false;
  const Eigen::Index whole = classes - classes % L;
  // The last elements, if classes is not a multiple of L, as the packet that ends the row:
  // its first lanes repeat elements already counted and are masked out of the sums. Loaded
  // now, before grad (which may be x) is written.
  const Eigen::Index last_start = classes - L;
  const P last = ploadu<P>(x + last_start);
  // Pass 1: the maximum; v − v is NaN exactly where v is NaN or ±∞.
  P top = last, finite = psub(last, last);
  for (Eigen::Index j = 0; j < whole; j += L) {
    const P v = ploadu<P>(x + j);
    top = pmax(top, v);
    finite = padd(finite, psub(v, v));
  }
  if (!std::isfinite(predux(finite))) return false;
  const Scalar m = predux_max(top);
  const Scalar xt = x[t];  // before grad, which may be x, is written
  // Pass 2: s_c, parked in the gradient row, and one sum U over the classes that are neither
  // the target nor a maximum (each maximum has s_c = 1 exactly). Then R = Σ_{c≠a} s_c for one
  // maximum a and Q = Σ_{c≠t} s_c are U plus whole ties and s_t: sums of terms ≥ 0, with no
  // search for a and nothing that cancels.
  const P mp = pset1<P>(m), neg_m = pset1<P>(-m), one = pset1<P>(Scalar(1)), zero = pzero(one);
  const P at_t = pset1<P>(Scalar(t));
  LaneSum<P> u_sum;
  P ties = zero, target = zero;  // target: s_t in its lane, 0 elsewhere (no branch on t)
  // s of the packet of elements [j, j + L), counted in the sums where keep is 1.
  const auto step = [&](const P& v, Eigen::Index j, const P& keep) {
    P d, d_lo;
    simd::two_sum(v, neg_m, d, d_lo);  // v − m = d + d_lo exactly
    const P e = simd::exp_nonpositive(d);
    // exp(d + d_lo) ≈ e + e·d_lo; 1 at the maximum itself (d = d_lo = 0 gives exp(0) = 1);
    // 0 where v − m overflows to −∞ (d_lo is then NaN).
    const P s = simd::select(simd::equal(e, zero), zero, pmadd(e, d_lo, e));
    const auto top_lane = simd::equal(v, mp);
    const auto target_lane = simd::equal(plset<P>(Scalar(j)), at_t);
    ties = padd(ties, simd::select(top_lane, keep, zero));
    u_sum.add(simd::select(simd::mask_or(top_lane, target_lane), zero, pmul(keep, s)));
    target = simd::select(target_lane, s, target);  // the last packet may repeat it: same bits
    return s;
  };
  for (Eigen::Index j = 0; j < whole; j += L) {
    const P s = step(ploadu<P>(x + j), j, one);
    if constexpr (Grad) pstoreu(grad + j, s);
  }
  if (whole < classes) {
    const P fresh = simd::select(
        simd::less_equal(pset1<P>(Scalar(whole)), plset<P>(Scalar(last_start))), one, zero);
    const P s = step(last, last_start, fresh);
    if constexpr (Grad) pstoreu(grad + last_start, s);  // the repeated lanes: the same bits
  } else {
    (void)grad;
  }
  alignas(64) Scalar target_lanes[std::size_t(L)];
  pstore(target_lanes, target);
  sums.st = target_lanes[t >= last_start ? t - last_start : t % L];
  using Wide = wide_t<Scalar>;
  const Wide u = u_sum.template take_wide<Wide>();
  const double n_top = double(predux(ties));
  const bool target_top = xt == m;
  sums.r = w_add(target_top ? u : w_add(u, double(sums.st)), n_top - 1);
  sums.q = w_add(u, target_top ? n_top - 1 : n_top);
  sums.m = m;
  sums.xt = xt;
  return true;
}

/// The rest of softmax_focal_row after softmax_row_sums: the row's scalars and, with Grad,
/// the gradient row from the parked s_c. Returns the weighted loss.
template <bool Grad, class Scalar>
double softmax_row_finish(const RowSums<Scalar>& sums, Eigen::Index classes, Eigen::Index t,
                          Scalar alpha_t, Scalar gamma, int int_gamma, Scalar anchor_weight,
                          Scalar normalizer, Scalar* grad) {
  using namespace Eigen::internal;
  using P = simd::packet_t<Scalar>;
  constexpr int L = simd::lanes<P>;
  const auto terms = softmax_row_terms(sums.r, sums.q, sums.st, sums.m, sums.xt, alpha_t, gamma,
                                       int_gamma, anchor_weight);
  if constexpr (Grad) {
    // −w·s/Σs·weight/normalizer as c·s; where c would overflow, or lose precision below the
    // normal range, the scalar kernel's order of operations (softmax_gradient) instead.
    const double c = w_value(
        w_div(w_mul(w_mul(terms.w, terms.inv_sum), -double(anchor_weight)), double(normalizer)));
    const bool direct = c == 0 || (std::fabs(c) >= double(std::numeric_limits<Scalar>::min()) &&
                                   std::fabs(c) <= double(std::numeric_limits<Scalar>::max()));
    if (direct) {
      const P cp = pset1<P>(Scalar(c));
      Eigen::Index j = 0;
      for (; j + L <= classes; j += L) pstoreu(grad + j, pmul(cp, ploadu<P>(grad + j)));
      for (; j < classes; ++j) grad[j] = Scalar(c) * grad[j];
    } else {
      for (Eigen::Index j = 0; j < classes; ++j) {
        grad[j] = softmax_gradient(terms, false, grad[j], anchor_weight, normalizer);
      }
    }
    grad[t] = softmax_gradient(terms, true, sums.st, anchor_weight, normalizer);
  } else {
    (void)classes, (void)t, (void)normalizer, (void)grad;
  }
  return terms.loss;
}

/// softmax_row_sums where the build vectorizes Scalar and x and grad are rows in place
/// (non-null); false (the scalar kernel) elsewhere.
template <bool Grad, class Scalar>
bool softmax_row_sums_fast(const Scalar* x, Eigen::Index classes, Eigen::Index t, Scalar* grad,
                           RowSums<Scalar>& sums) {
  if constexpr (simd::vectorized<Scalar>) {
    return x != nullptr && grad != nullptr &&
           softmax_row_sums<Grad>(x, classes, t, grad, sums);
  } else {
    (void)x, (void)classes, (void)t, (void)grad, (void)sums;
    return false;
  }
}


}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SOFTMAX_PACKET_HPP
