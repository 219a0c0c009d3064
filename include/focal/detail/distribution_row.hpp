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
#include <cstddef>
#include <type_traits>
#include <limits>

#include <Eigen/Core>

#include "double_word.hpp"
#include "simd/eft.hpp"
#include "simd/exp.hpp"
#include "simd/log.hpp"
#include "simd/packet.hpp"
#include "softmax_kernel.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Rows of up to this many bins keep their exponentials in a stack buffer, computed a packet
/// at a time (GFL's reg_max is 16 and 7 in NanoDet); longer rows compute each twice.
inline constexpr Eigen::Index dfl_buffered_bins = 64;

/// s_c = exp(x_c − m) for a finite row of `bins` ≤ dfl_buffered_bins into s, on packets of
/// double: x_c − m exact in two words (one, for float rows), exp(d + d_lo) ≈ e + e·d_lo.
template <class Scalar, class XAt>
EIGEN_ALWAYS_INLINE void row_exps(XAt x, Eigen::Index bins, Scalar m, double* s) {
  using P = simd::packet_t<double>;
  constexpr int L = simd::lanes<P>;
  constexpr std::size_t size = std::size_t(dfl_buffered_bins + L);
  alignas(64) double d[size], lo[size];
  const Eigen::Index padded = (bins + L - 1) / L * L;
  for (Eigen::Index c = 0; c < padded; ++c) {
    if (c < bins) {
      simd::two_sum(double(x(c)), -double(m), d[c], lo[c]);
    } else {
      d[c] = lo[c] = 0;
    }
  }
  for (Eigen::Index c = 0; c < padded; c += L) {
    const P e = simd::exp_nonpositive(Eigen::internal::pload<P>(d + c));
    if constexpr (std::is_same<Scalar, float>::value) {
      Eigen::internal::pstore(s + c, e);  // a float difference is exact in double: lo = 0
    } else {
      // x_c = −∞: d = −∞ and d_lo NaN; e = 0 is already exact.
      const P l = Eigen::internal::pload<P>(lo + c);
      Eigen::internal::pstore(s + c, simd::select(simd::is_finite(l), Eigen::internal::pmadd(e, l, e), e));
    }
  }
}

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
  alignas(64) double buffer[std::size_t(dfl_buffered_bins + simd::lanes<simd::packet_t<double>>)];
  const bool buffered = bins <= dfl_buffered_bins && std::isfinite(m);
  if (buffered) row_exps(x, bins, m, buffer);
  const auto s = [&](Eigen::Index c) -> double {
    const Scalar v = x(c);
    if (v == m) return 1;
    if (buffered) return buffer[c];
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
    const bool unit = weight == Scalar(1) && normalizer == Scalar(1);
    // Float rows: weight/normalizer of floats is within double's range, and one product per
    // element instead of a division.
    const double scale = double(weight) / double(normalizer);
    for (Eigen::Index c = 0; c < bins; ++c) {
      Wide gc = w_mul(inv, s(c));
      if (c == i) gc = w_add(gc, w_mul(wl, -1.0));
      if (right && c == i + 1) gc = w_add(gc, w_mul(wr, -1.0));
      if (unit) {
        g(c) = static_cast<Scalar>(w_value(gc));
      } else if constexpr (std::is_same<Wide, double>::value) {
        g(c) = static_cast<Scalar>(gc * scale);
      } else {
        // (g·weight)/normalizer, as the softmax loss: weight/normalizer could overflow double.
        g(c) = static_cast<Scalar>(w_value(w_div(w_mul(gc, double(weight)), double(normalizer))));
      }
    }
  }
  return value * double(weight);
}

/// A finite float row of up to dfl_buffered_bins bins, in double packets: the same formulas
/// as distribution_row_in, with R = Σ_{c≠a} s_c summed apart from s_a = 1 (1 + R rounded
/// would cost the loss its low bits where R is small).
template <bool Grad, class XAt, class GAt>
double distribution_float_row(XAt x, Eigen::Index bins, float t, float weight, float normalizer,
                              GAt g) {
  using namespace Eigen::internal;
  using P = simd::packet_t<double>;
  constexpr int L = simd::lanes<P>;
  constexpr std::size_t size = std::size_t(dfl_buffered_bins + L);
  alignas(64) double v[size], s[size];
  const Eigen::Index padded = (bins + L - 1) / L * L;
  Eigen::Index a = 0;
  double m = double(x(0));
  for (Eigen::Index c = 0; c < bins; ++c) {
    v[c] = double(x(c));
    const bool above = v[c] > m;  // the first maximum; branch-free
    m = above ? v[c] : m;
    a = above ? c : a;
  }
  for (Eigen::Index c = bins; c < padded; ++c) v[c] = -std::numeric_limits<double>::infinity();
  P r = pzero(P());
  const P mp = pset1<P>(m);
  for (Eigen::Index c = 0; c < padded; c += L) {
    const P e = simd::exp_nonpositive(psub(pload<P>(v + c), mp));  // exact differences
    pstore(s + c, e);
  }
  s[a] = 0;
  for (Eigen::Index c = 0; c < padded; c += L) r = padd(r, pload<P>(s + c));
  const double rs = predux(r);
  s[a] = 1;
  const Eigen::Index i = static_cast<Eigen::Index>(std::floor(t));
  const bool right = i + 1 < bins;
  const double wl = double(i + 1) - double(t), wr = double(t) - double(i);
  // log1p(R) from 1 + R = d + d_lo exactly: the kernel's log1p_split for R < 1 (libm's log1p
  // was a quarter of the row's time), log d + d_lo/d above (log d ≥ log 2: no cancellation).
  double d, d_lo;
  simd::two_sum(1.0, rs, d, d_lo);
  const double inv = 1 / d;
  double loss = rs < 1 ? simd::log1p_split(d, d_lo, inv) : std::log(d) + d_lo * inv;
  if (wl != 0) loss += wl * (m - v[i]);
  if (right && wr != 0) loss += wr * (m - v[i + 1]);
  if constexpr (Grad) {
    const double scale = double(weight) / double(normalizer);
    const P k = pset1<P>(inv * scale);
    for (Eigen::Index c = 0; c < padded; c += L) pstore(s + c, pmul(pload<P>(s + c), k));
    // The target bins: (s_c·inv − w)·scale, the difference before the scaling.
    s[i] = (s[i] / scale - wl) * scale;
    if (right) s[i + 1] = (s[i + 1] / scale - wr) * scale;
    for (Eigen::Index c = 0; c < bins; ++c) g(c) = static_cast<float>(s[c]);
  }
  return loss * double(weight);
}

/// simd::lanes<packet_t<double>> float rows at once, lane l holding row l (x(l, c) reads its
/// logit c, t[l] its target, w[l] its weight): the rows transposed into double packets, so that
/// the max, the exps, the sum and the log run across rows rather than along one short row
/// (a row of 17 bins is a chain of dependent steps; 8 rows are 8 independent ones). The
/// formulas of distribution_float_row. Returns false, having written nothing, if a row is not
/// finite or has more than dfl_buffered_bins bins; else each row's weighted loss in losses[l]
/// and, with Grad, weight·∂DFL/∂x_c / normalizer through g(l, c).
template <bool Grad, class XAt, class GAt>
bool distribution_float_batch(XAt x, Eigen::Index bins, const float* t, const float* w,
                              float normalizer, double* losses, GAt g) {
  using namespace Eigen::internal;
  using P = simd::packet_t<double>;
  constexpr int L = simd::lanes<P>;
  constexpr std::size_t size = std::size_t(dfl_buffered_bins * L);
  if (bins > dfl_buffered_bins) return false;
  alignas(64) double xt[size], st[size];
  bool finite = true;
  for (Eigen::Index c = 0; c < bins; ++c) {
    for (int l = 0; l < L; ++l) {
      const double v = double(x(l, c));
      finite = finite && std::isfinite(v);
      xt[c * L + l] = v;
    }
  }
  if (!finite) return false;
  alignas(64) double ti[std::size_t(L)], wl[std::size_t(L)], wr[std::size_t(L)],
      scale[std::size_t(L)], weight[std::size_t(L)];
  for (int l = 0; l < L; ++l) {
    const double i = std::floor(double(t[l]));
    ti[l] = i;
    wl[l] = i + 1 - double(t[l]);  // exact in double
    wr[l] = double(t[l]) - i;
    weight[l] = double(w[l]);
    scale[l] = double(w[l]) / double(normalizer);
  }
  P m = pload<P>(xt);
  for (Eigen::Index c = 1; c < bins; ++c) m = pmax(m, pload<P>(xt + c * L));
  const P zero = pzero(m), one = pset1<P>(1.0), iv = pload<P>(ti), i1 = padd(iv, one);
  P r = zero, xi = zero, xi1 = zero;
  auto found = simd::less(one, zero);  // all false
  for (Eigen::Index c = 0; c < bins; ++c) {
    const P xc = pload<P>(xt + c * L);
    const P e = simd::exp_nonpositive(psub(xc, m));  // x_c − m exact in double
    pstore(st + c * L, e);
    // R leaves out each row's first maximum (its exp is the 1 of 1 + R).
    const auto first_max = simd::mask_andnot(simd::equal(xc, m), found);
    found = simd::mask_or(found, first_max);
    r = padd(r, simd::select(first_max, zero, e));
    const P cv = pset1<P>(double(c));
    xi = simd::select(simd::equal(cv, iv), xc, xi);
    xi1 = simd::select(simd::equal(cv, i1), xc, xi1);
  }
  P d, d_lo;
  simd::two_sum(one, r, d, d_lo);
  const P inv = pdiv(one, d);
  // log1p(R): the kernel's log1p_split where 1 + R < 2, log d + d_lo/d above.
  const P l1 = simd::select(simd::less(r, one), simd::log1p_split(d, d_lo, inv),
                            pmadd(d_lo, inv, plog(d)));
  const P wlv = pload<P>(wl), wrv = pload<P>(wr);
  P loss = padd(l1, pmul(wlv, psub(m, xi)));
  loss = padd(loss, pmul(wrv, psub(m, xi1)));  // t = n: wr = 0, x_{i+1} never set
  pstore(losses, pmul(loss, pload<P>(weight)));
  if constexpr (Grad) {
    const P sc = pload<P>(scale);
    for (Eigen::Index c = 0; c < bins; ++c) {
      const P cv = pset1<P>(double(c));
      const P wc = simd::select(simd::equal(cv, iv), wlv, simd::select(simd::equal(cv, i1), wrv, zero));
      // (S_c − w_c)·weight/normalizer, the difference in one rounding.
      pstore(st + c * L, pmul(pmadd(pload<P>(st + c * L), inv, simd::negate(wc)), sc));
    }
    for (int l = 0; l < L; ++l) {
      for (Eigen::Index c = 0; c < bins; ++c) g(l, c) = static_cast<float>(st[c * L + l]);
    }
  }
  return true;
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
  if constexpr (std::is_same<Scalar, float>::value) {
    if (finite && bins <= dfl_buffered_bins) {
      return distribution_float_row<Grad>(x, bins, t, weight, normalizer, g);
    }
  }
  if (finite) return distribution_row_in<Grad, wide_t<Scalar>>(x, bins, t, weight, normalizer, g);
  return distribution_row_in<Grad, double>(x, bins, t, weight, normalizer, g);
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_DISTRIBUTION_ROW_HPP
