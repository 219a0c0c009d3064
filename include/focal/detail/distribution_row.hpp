#ifndef FOCAL_DETAIL_DISTRIBUTION_ROW_HPP
#define FOCAL_DETAIL_DISTRIBUTION_ROW_HPP

// The row of GFL's Distribution Focal Loss: n + 1 logits over discretized distances and a
// target t ∈ [0, n], i = ⌊t⌋, with S = softmax(x):
//   DFL = −((i + 1 − t) log S_i + (t − i) log S_{i+1})
//       = log(1 + R) + (i + 1 − t)(m − x_i) + (t − i)(m − x_{i+1})
// with m = max x at a, R = Σ_{c≠a} exp(x_c − m): every term ≥ 0, so nothing cancels (the
// softmax focal loss's exact log-softmax, softmax_kernel.hpp). A term whose weight is 0 is
// omitted (t = n uses bin n alone). ∂DFL/∂x_c = S_c − (i + 1 − t) δ_ci − (t − i) δ_c,i+1.
// The row's scalars are double for float rows and two words for double rows (double_word.hpp);
// rows with an infinite logit are taken in plain double, as their limits.

#include "config.hpp"

#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "double_word.hpp"
#include "softmax_kernel.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// The weighted loss of one row (x(c) reads logit c of `bins`) at target t; with Grad, also
/// writes weight·∂DFL/∂x_c / normalizer through g(c) (a Scalar&). A NaN logit makes the loss
/// and the row's gradient NaN.
template <bool Grad, class Wide, class Scalar, class XAt, class GAt>
double distribution_row_in(XAt x, Eigen::Index bins, Scalar t, Scalar weight, Scalar normalizer,
                           GAt g) {
  Scalar m = x(0);
  Eigen::Index a = 0;
  for (Eigen::Index c = 1; c < bins; ++c) {
    if (x(c) > m) {
      m = x(c);
      a = c;
    }
  }
  const Eigen::Index i = static_cast<Eigen::Index>(std::floor(t));
  const bool right = i + 1 < bins;  // t < n: bin i + 1 has weight t − i (> 0 unless t = i)
  const Wide wl = w_difference<Wide>(Scalar(i + 1), t), wr = w_difference<Wide>(t, Scalar(i));
  // s_c = exp(x_c − m) with x_c − m exact (plain double for float rows, exp_difference's
  // correction for double rows); at an infinite m, 1 for the logits equal to it, else 0.
  const auto s = [&](Eigen::Index c) -> double {
    const Scalar v = x(c);
    if (v == m) return 1;
    if constexpr (std::is_same<Scalar, float>::value) return std::exp(double(v) - double(m));
    return exp_difference(v, m);
  };
  // m − x_c ≥ 0: 0 where x_c = m, ∞ where only one of them is infinite.
  const auto gap = [&](Eigen::Index c) -> Wide {
    const Scalar v = x(c);
    if (v == m) return w_from<Wide>(0);
    if (!std::isfinite(v) || !std::isfinite(m)) {
      return w_from<Wide>(std::numeric_limits<double>::infinity());
    }
    return w_difference<Wide>(m, v);
  };
  Wide r = w_from<Wide>(0);  // Σ_{c≠a} s_c (s_a = 1); with several maxima equal, each adds 1
  for (Eigen::Index c = 0; c < bins; ++c) {
    if (c != a) r = w_add(r, s(c));
  }
  Wide loss = w_log1p(r);
  if (w_value(wl) != 0) loss = w_add(loss, w_mul(gap(i), wl));
  if (right && w_value(wr) != 0) loss = w_add(loss, w_mul(gap(i + 1), wr));
  const double value = w_value(loss);
  if constexpr (Grad) {
    const Wide inv = w_div(w_from<Wide>(1), w_add(r, 1.0));
    for (Eigen::Index c = 0; c < bins; ++c) {
      Wide gc = w_mul(inv, s(c));
      if (c == i) gc = w_add(gc, w_mul(wl, -1.0));
      if (right && c == i + 1) gc = w_add(gc, w_mul(wr, -1.0));
      // (g·weight)/normalizer, as the softmax loss: weight/normalizer could overflow.
      g(c) = static_cast<Scalar>(w_value(w_div(w_mul(gc, double(weight)), double(normalizer))));
    }
  }
  return value * double(weight);
}

/// distribution_row_in in the row's wide type, or in plain double where the row has an
/// infinite logit (the double-word operations do not carry special values); NaN rows NaN.
template <bool Grad, class Scalar, class XAt, class GAt>
double distribution_row(XAt x, Eigen::Index bins, Scalar t, Scalar weight, Scalar normalizer,
                        GAt g) {
  bool finite = true, nan = false;
  for (Eigen::Index c = 0; c < bins; ++c) {
    finite = finite && std::isfinite(x(c));
    nan = nan || std::isnan(x(c));
  }
  if (nan) {
    if constexpr (Grad) {
      for (Eigen::Index c = 0; c < bins; ++c) g(c) = std::numeric_limits<Scalar>::quiet_NaN();
    }
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (finite) return distribution_row_in<Grad, wide_t<Scalar>>(x, bins, t, weight, normalizer, g);
  return distribution_row_in<Grad, double>(x, bins, t, weight, normalizer, g);
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_DISTRIBUTION_ROW_HPP
