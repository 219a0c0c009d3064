#ifndef FOCAL_DETAIL_SOFTMAX_LOSS_HPP
#define FOCAL_DETAIL_SOFTMAX_LOSS_HPP

// The driver of SoftmaxFocalLoss: the fused pass over N × K logits in chunks of whole rows on
// the shared chunk runner (parallel.hpp), each row through the packet row kernel where it lies
// contiguous (softmax_packet.hpp) or through a row-major stack buffer, and the scalar row
// kernel (softmax_kernel.hpp) for what the packets leave; the per-row loss of value()'s
// expression. Validation is the public type's.

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>

#include "../labels.hpp"
#include "config.hpp"
#include "layout.hpp"
#include "parallel.hpp"
#include "sigmoid_kernel.hpp"
#include "softmax_kernel.hpp"
#include "softmax_packet.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN

template <class Scalar>
class SoftmaxFocalLoss;

namespace detail {

/// Per-class α of a SoftmaxFocalLoss held by the caller: size values at data.
template <class Scalar>
struct BorrowedClassAlpha {
  const Scalar* data = nullptr;  ///< the K weights
  Eigen::Index size = 0;         ///< K
};

/// Rows per summation chunk of the softmax pass (the unit of threading): about 8,192
/// elements, and at least a cache line of each column, which the gather of other layouts
/// copies at a time.
template <class Scalar>
Eigen::Index softmax_chunk_rows(Eigen::Index classes) {
  constexpr Eigen::Index line = 64 / Eigen::Index(sizeof(Scalar));
  return std::max(line, chunk_elements / std::max<Eigen::Index>(classes, 1));
}

// Rows a few at a time: the packet passes of each, then their scalars (a chain of dependent
// double operations and a log1p per row) and gradients, so that the rows' chains overlap.
inline constexpr int softmax_batch = 4;

/// Rows [i0, i0 + b), b ≤ softmax_batch, into total in row order: the packet kernel where x_row(i)
/// and g_row(i) are contiguous rows (non-null), else the scalar kernel through x_at(i, j)
/// and g_at(i, j). Ignored rows get a zero gradient. int_gamma: integer_gamma(loss.gamma()),
/// computed once per call by the caller.
template <class Scalar, class Indices, class Weights, class XRow, class GRow, class XAt, class GAt>
void softmax_rows_batch(const SoftmaxFocalLoss<Scalar>& loss, int int_gamma,
                        const Labels<Indices, Weights>& labels, Eigen::Index i0, int b,
                        Eigen::Index classes, Scalar normalizer, XRow x_row, GRow g_row, XAt x_at,
                        GAt g_at, CompensatedSum& total) {
  RowSums<Scalar> sums[softmax_batch];
  bool fast[softmax_batch] = {};
  for (int k = 0; k < b; ++k) {
    const Eigen::Index i = i0 + k;
    const long long t = labels[i];
    fast[k] =
        t != ignore && softmax_row_sums_fast<true>(x_row(i), classes, static_cast<Eigen::Index>(t),
                                                   g_row(i), sums[k]);
  }
  for (int k = 0; k < b; ++k) {
    const Eigen::Index i = i0 + k;
    const long long t = labels[i];
    if (t == ignore) {
      for (Eigen::Index j = 0; j < classes; ++j) g_at(i, j) = Scalar(0);
      continue;
    }
    const Eigen::Index ti = static_cast<Eigen::Index>(t);
    const Scalar aw = labels.template weight<Scalar>(i);
    if (fast[k]) {
      total.add(softmax_row_finish<true>(sums[k], classes, ti, loss.alpha_of(ti), loss.gamma(),
                                         int_gamma, aw, normalizer, g_row(i)));
    } else {
      total.add(softmax_focal_row<true>([&](Eigen::Index j) { return x_at(i, j); }, classes, ti,
                                        loss.alpha_of(ti), loss.gamma(), int_gamma, aw, normalizer,
                                        [&](Eigen::Index j) -> Scalar& { return g_at(i, j); }));
    }
  }
}

/// The fused pass: Σ_i w_i FL_i over non-ignored rows (not yet divided by the normalizer) and
/// the gradient into out. Chunks of whole rows, the same in every layout and for any
/// execution: each sums its rows' losses in row order, and the chunks' totals are added in
/// chunk order.
template <class Scalar, class DX, class Indices, class Weights, class DG, class Exec>
double softmax_fused(const SoftmaxFocalLoss<Scalar>& loss, const DX& logits,
                     const Labels<Indices, Weights>& labels, DG& out, Scalar normalizer,
                     const Exec& exec) {
  const Eigen::internal::evaluator<DX> ex(logits);
  Eigen::internal::evaluator<DG> eg(out);
  const Eigen::Index rows = logits.rows(), classes = logits.cols();
  const bool in_place =
      rows == 0 || (row_start(logits, 0) != nullptr && row_start(out, 0) != nullptr);
  const bool gather =
      !in_place && simd::vectorized<Scalar> && classes > 0 && classes <= wide_row_buffer<Scalar>;
  // Chunks of whole rows, the same in every layout and for any execution: each sums its rows'
  // losses in row order, and the chunks' totals are added in chunk order.
  const Eigen::Index chunk = softmax_chunk_rows<Scalar>(classes);
  const Eigen::Index chunks = (rows + chunk - 1) / chunk;
  const int int_gamma = integer_gamma(loss.gamma());
  const double total = run_chunks(chunks, exec, [&](Eigen::Index c) {
    CompensatedSum sum;
    const Eigen::Index first = c * chunk, end = std::min(rows, first + chunk);
    if (!gather) {
      // Rows in place where they are contiguous (the packet kernel), else the scalar kernel.
      for (Eigen::Index i0 = first; i0 < end; i0 += softmax_batch) {
        softmax_rows_batch(
            loss, int_gamma, labels, i0, int(std::min<Eigen::Index>(softmax_batch, end - i0)),
            classes, normalizer, [&](Eigen::Index i) { return row_start(logits, i); },
            [&](Eigen::Index i) { return row_start(out, i); },
            [&](Eigen::Index i, Eigen::Index j) { return ex.coeff(i, j); },
            [&](Eigen::Index i, Eigen::Index j) -> Scalar& { return eg.coeffRef(i, j); }, sum);
      }
    } else {
      // Other layouts (column-major, strided, expressions): the rows reach the packet kernel
      // through a row-major stack buffer, a part of the chunk at a time. The same bits.
      gathered_rows(logits, out, first, end, [&](Scalar* buffer, Eigen::Index r0, Eigen::Index n) {
        const auto row = [&](Eigen::Index i) { return buffer + (i - r0) * classes; };
        for (Eigen::Index i0 = r0; i0 < r0 + n; i0 += softmax_batch) {
          softmax_rows_batch(
              loss, int_gamma, labels, i0, int(std::min<Eigen::Index>(softmax_batch, r0 + n - i0)),
              classes, normalizer, row, row,
              [&](Eigen::Index i, Eigen::Index j) { return row(i)[j]; },
              [&](Eigen::Index i, Eigen::Index j) -> Scalar& { return row(i)[j]; }, sum);
        }
      });
    }
    return sum.total();
  });
  return total;
}

/// The weighted loss of row i (0 if ignored), unchecked.
template <class Scalar, class DX, class Indices, class Weights>
Scalar softmax_row_loss(const SoftmaxFocalLoss<Scalar>& loss, const DX& logits,
                        const Labels<Indices, Weights>& labels, Eigen::Index i) {
  const long long t = labels[i];
  if (t == ignore) return Scalar(0);
  const Eigen::Index ti = static_cast<Eigen::Index>(t);
  const int int_gamma = integer_gamma(loss.gamma());
  Scalar unused = 0;
  RowSums<Scalar> sums;
  if (softmax_row_sums_fast<false>(row_start(logits, i), logits.cols(), ti, &unused, sums)) {
    return static_cast<Scalar>(softmax_row_finish<false>(
        sums, logits.cols(), ti, loss.alpha_of(ti), loss.gamma(), int_gamma,
        labels.template weight<Scalar>(i), Scalar(1), &unused));
  }
  return static_cast<Scalar>(softmax_focal_row<false>(
      [&](Eigen::Index j) { return logits.coeff(i, j); }, logits.cols(), ti, loss.alpha_of(ti),
      loss.gamma(), int_gamma, labels.template weight<Scalar>(i), Scalar(1),
      [&](Eigen::Index) -> Scalar& { return unused; }));
}

/// Eigen nullary functor: the loss of row i (weighted; 0 for ignored rows).
template <class Scalar, class DX, class Indices, class Weights>
struct softmax_row_op {
  SoftmaxFocalLoss<Scalar> loss;
  typename Eigen::internal::ref_selector<DX>::type logits;
  Labels<Indices, Weights> labels;

  // One index only: Eigen then grants the column vector linear access.
  Scalar operator()(Eigen::Index i) const { return loss.row_loss(logits, labels, i); }
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SOFTMAX_LOSS_HPP
