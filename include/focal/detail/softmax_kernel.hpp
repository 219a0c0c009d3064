#ifndef FOCAL_DETAIL_SOFTMAX_KERNEL_HPP
#define FOCAL_DETAIL_SOFTMAX_KERNEL_HPP

// The row kernel of the softmax focal loss: for one row x of K logits and a
// target class t, with p = softmax(x),
//   FL = −α_t q^γ log p_t,  q = 1 − p_t = Σ_{c≠t} p_c (summed, never formed as 1 − p_t),
//   ∂FL/∂x_c = w (δ_ct − p_c),  w = −α_t q^γ (1 + γ p_t r),  r = −log p_t / q  (→ 1 as q → 0).
// No q^(γ−1) appears, so saturated rows stay finite for every γ ≥ 0.
//
// With m = max x and a its (first) index: s_c = exp(x_c − m) with x_c − m carried exactly,
// S = 1 + R with R = Σ_{c≠a} s_c, −log p_t = (m − x_t) + log1p(R). Row sums are compensated
// and the row's scalars kept in double for float rows, in two words for double rows
// (double_word.hpp): what is left is the exps' and log1p's own rounding, and q^γ multiplies
// only that by γ.

#include "config.hpp"

#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "double_word.hpp"
#include "simd/eft.hpp"
#include "simd/packet.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// exp(v − m) for v ≤ m, with v − m as an exact double-word (the rounding of the difference
/// would otherwise cost |v − m| ulp): exp(d + d_lo) ≈ e + e·d_lo.
template <class Scalar>
inline Scalar exp_difference(Scalar v, Scalar m) noexcept {
  if (v == m) return Scalar(1);  // also ties at ±∞
  Scalar d, d_lo;
  simd::two_sum(v, -m, d, d_lo);
  const Scalar e = std::exp(d);
  return std::isfinite(d_lo) ? e + e * d_lo : e;  // v = −∞ or m = +∞: e is already exact (0)
}

/// A row's scalars, from its sums: R = Σ_{c≠a} s_c and Q = Σ_{c≠t} s_c of s_c = exp(x_c − m),
/// the target's s_t, the maximum m and the target's logit x_t. W: double for float rows, two
/// words for double rows (double_word.hpp).
template <class Wide>
struct SoftmaxRowTerms {
  double loss;  // anchor_weight·α_t q^γ (−log p_t)
  Wide w;          // −α_t q^γ (1 + γ p_t r)
  Wide q;          // 1 − p_t
  Wide inv_sum;    // 1 / Σ s_c = 1 / (1 + R)
};

/// The formulas of softmax_row_terms in W.
template <class Wide, class Scalar>
inline SoftmaxRowTerms<Wide> softmax_row_formulas(const Wide& r, const Wide& q_sum, Scalar st, Scalar m,
                                               Scalar xt, Scalar alpha_t, Scalar gamma,
                                               int int_gamma, Scalar anchor_weight) {
  SoftmaxRowTerms<Wide> terms;
  terms.inv_sum = w_div(w_from<Wide>(1), w_add(r, 1.0));
  const Wide gap = xt == m ? w_from<Wide>(0) : w_difference<Wide>(m, xt);
  const Wide nl = w_add(gap, w_log1p(r));       // −log p_t ≥ 0
  terms.q = w_mul(q_sum, terms.inv_sum);     // 1 − p_t, from the non-target terms
  const Wide qg = int_gamma >= 0 ? w_pow_int(terms.q, int_gamma) : w_pow(terms.q, double(gamma));
  terms.loss = simd::weight(double(anchor_weight),
                              simd::weight(double(alpha_t), w_value(w_mul(qg, nl))));
  // p_t·r with r = −log p_t / q: s_t·(−log p_t)/Q, one division; r → 1 as q → 0 (then p_t),
  // p_t·r → 0 as p_t → 0.
  const Wide pt_ratio = st == Scalar(0) ? w_from<Wide>(0)
                     : w_value(q_sum) > 0 ? w_div(w_mul(nl, double(st)), q_sum)
                                          : w_mul(terms.inv_sum, double(st));
  terms.w = w_mul(w_mul(qg, -double(alpha_t)), w_add(w_mul(pt_ratio, double(gamma)), 1.0));
  return terms;
}

template <class Wide, class Scalar>
inline SoftmaxRowTerms<Wide> softmax_row_terms(const Wide& r, const Wide& q_sum, Scalar st, Scalar m,
                                            Scalar xt, Scalar alpha_t, Scalar gamma,
                                            int int_gamma, Scalar anchor_weight) {
  if constexpr (std::is_same<Wide, DoubleWord>::value) {
    const SoftmaxRowTerms<Wide> terms =
        softmax_row_formulas(r, q_sum, st, m, xt, alpha_t, gamma, int_gamma, anchor_weight);
    if (std::isfinite(terms.loss) && w_finite(terms.w) && w_finite(terms.q) &&
        w_finite(terms.inv_sum)) {
      return terms;
    }
    // An infinite logit, or a term beyond double's range: the double-word operations do not
    // carry special values, plain double does (the result's accuracy is moot there).
    const SoftmaxRowTerms<double> d = softmax_row_formulas(
        w_value(r), w_value(q_sum), st, m, xt, alpha_t, gamma, int_gamma, anchor_weight);
    return {d.loss, {d.w, 0}, {d.q, 0}, {d.inv_sum, 0}};
  } else {
    return softmax_row_formulas(r, q_sum, st, m, xt, alpha_t, gamma, int_gamma, anchor_weight);
  }
}

/// ∂(anchor_weight·FL)/∂x_c / normalizer for a column with s_c = s (the target's if target).
template <class Wide, class Scalar>
inline Scalar softmax_gradient(const SoftmaxRowTerms<Wide>& terms, bool target, Scalar s,
                               Scalar anchor_weight, Scalar normalizer) {
  const Wide g = target ? w_mul(terms.w, terms.q) : w_mul(w_mul(terms.w, terms.inv_sum), -double(s));
  // (g·weight)/normalizer, not g·(weight/normalizer): the latter overflows for a tiny
  // normalizer and turns zero gradients into 0·∞.
  const double v = w_value(w_div(w_mul(g, double(anchor_weight)), double(normalizer)));
  if (std::isfinite(v)) return static_cast<Scalar>(v);
  // Beyond double's range (or through it, in the double-word steps): plain double's limits.
  return static_cast<Scalar>(w_value(g) * double(anchor_weight) / double(normalizer));
}

/// Loss of one row, weighted by anchor_weight; with Grad, also writes the row's gradient
/// times anchor_weight / normalizer through grad(j) (a Scalar&). x(j) reads logit j.
/// A NaN anywhere in the row makes the loss and the whole gradient row NaN: softmax couples
/// the row.
template <bool Grad, class Scalar, class XAt, class GAt>
double softmax_focal_row(XAt x, Eigen::Index classes, Eigen::Index t, Scalar alpha_t,
                         Scalar gamma, int int_gamma, Scalar anchor_weight, Scalar normalizer,
                         GAt grad) {
  // Pass 1: the maximum and its first index.
  Scalar m = -std::numeric_limits<Scalar>::infinity();
  Eigen::Index a = 0;
  bool nan = false;
  for (Eigen::Index j = 0; j < classes; ++j) {
    const Scalar v = x(j);
    if (std::isnan(v)) {
      nan = true;
    } else if (v > m) {
      m = v;
      a = j;
    }
  }
  if (nan) {
    if constexpr (Grad) {
      for (Eigen::Index j = 0; j < classes; ++j) grad(j) = std::numeric_limits<Scalar>::quiet_NaN();
    }
    return std::numeric_limits<double>::quiet_NaN();
  }
  // All −∞: every s_c is 1 below (the uniform limit).
  // Pass 2: s_c, their sums without the argmax (R) and without the target (Q). The s_c are
  // parked in the gradient row, which pass 3 overwrites.
  const Scalar xt = x(t);
  CompensatedSum r_sum, q_sum;  // sums of Scalars: a float row's exactly
  Scalar st = Scalar(1);
  for (Eigen::Index j = 0; j < classes; ++j) {
    const Scalar s = exp_difference(x(j), m);
    if (j != a) r_sum.add(s);
    if (j != t) q_sum.add(s);
    if (j == t) st = s;
    if constexpr (Grad) grad(j) = s;
  }
  using Wide = wide_t<Scalar>;
  const SoftmaxRowTerms<Wide> terms = softmax_row_terms(w_sum<Wide>(r_sum), w_sum<Wide>(q_sum), st, m,
                                                     xt, alpha_t, gamma, int_gamma,
                                                     anchor_weight);
  if constexpr (Grad) {
    for (Eigen::Index j = 0; j < classes; ++j) {
      grad(j) = softmax_gradient(terms, j == t, grad(j), anchor_weight, normalizer);
    }
  } else {
    (void)normalizer;
  }
  return terms.loss;
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SOFTMAX_KERNEL_HPP
