#ifndef FOCAL_DETAIL_FUSED_DENSE_HPP
#define FOCAL_DETAIL_FUSED_DENSE_HPP

// The fused pass of the sigmoid losses against dense 0/1 targets. Work is cut into fixed
// chunks (chunk_elements in storage order), independent of SIMD width and thread count; each
// chunk's losses go through the span pass into its accumulator (summation.hpp), and the chunk
// totals are added in chunk order: the same bits whether one thread or many computed the
// chunks. Contiguous operands are read and written in place; anything else (strided Maps,
// Blocks, expressions) is gathered block by block into stack buffers that stay in L1
// (layout.hpp).

#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "layout.hpp"
#include "parallel.hpp"
#include "span.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// No dense weights (the weights argument of fused_dense).
struct NoDenseWeights {};

/// Dense anchor weights: W of the inputs' shape, or one weight per row (a vector of `rows`).
template <class DW>
struct DenseWeights {
  const DW& w;
  bool per_row;
};

/// The weights of elements [b, b + n) in storage order: in place (wp), gathered from the
/// weights' runs or element by element, or each row's weight; none without weights.
template <class S>
const S* weights_of(NoDenseWeights, const S*, Eigen::Index, Eigen::Index, bool, Eigen::Index,
                    Eigen::Index, S*) {
  return nullptr;
}
template <class S, class DW>
const S* weights_of(const DenseWeights<DW>& weights, const S* wp, Eigen::Index rows,
                    Eigen::Index cols, bool row_major, Eigen::Index b, Eigen::Index n, S* out) {
  if (wp != nullptr) return wp + b;
  const Eigen::internal::evaluator<DW> ew(weights.w);
  Cursor in(b, rows, cols, row_major);
  if (weights.per_row) {
    for (Eigen::Index k = 0; k < n; ++k, in.next()) out[k] = ew.coeff(in.i);
    return out;
  }
  const auto runs = runs_of(weights.w, row_major);
  if (runs.data != nullptr) {
    copy_from_runs(runs, b, n, out);
  } else {
    for (Eigen::Index k = 0; k < n; ++k, in.next()) out[k] = ew.coeff(in.i, in.j);
  }
  return out;
}

/// The dense fused pass, optionally weighted (weights: NoDenseWeights or DenseWeights).
/// Validation is the caller's.
template <class S, class Pass, class DX, class DY, class DG, class Exec,
          class Weights = NoDenseWeights>
double fused_dense(const Pass& pass, const DX& x, const DY& y, DG& g, const Exec& exec,
                   const Weights& weights = Weights{}) {
  using P = simd::packet_t<S>;
  constexpr bool weighted = !std::is_same<Weights, NoDenseWeights>::value;
  using Kind = span_kind<weighted ? Weighting::per_element : Weighting::none>;
  const Eigen::Index rows = x.rows(), cols = x.cols(), size = rows * cols;
  const bool row_major = bool(DX::IsRowMajor) && rows != 1 && cols != 1;
  const S* xp = flat_data(x, row_major);
  const S* yp = flat_data(y, row_major);
  S* gp = const_cast<S*>(flat_data(g, row_major));
  const S* wp = nullptr;  // weights of the inputs' shape lying in their order
  if constexpr (weighted) {
    if (!weights.per_row) wp = flat_data(weights.w, row_major);
  }
  const Eigen::Index chunks = (size + chunk_elements - 1) / chunk_elements;
  if (xp != nullptr && yp != nullptr && gp != nullptr && (!weighted || wp != nullptr)) {
    return run_chunks(chunks, exec, [&](Eigen::Index c) {
      PacketSum<P> acc;
      const Eigen::Index begin = c * chunk_elements;
      const Eigen::Index n = std::min(chunk_elements, size - begin);
      pass(Kind{}, xp + begin, yp + begin, weighted ? wp + begin : nullptr, nullptr,
           gp + begin, n, acc);
      return acc.take();
    });
  }
  // Gather: the same chunks and lanes, through stack blocks; runs of contiguous elements (a
  // Block's rows or columns) copied as such, anything else element by element.
  const Eigen::internal::evaluator<DX> ex(x);
  const Eigen::internal::evaluator<DY> ey(y);
  const auto xr = runs_of(x, row_major);
  const auto yr = runs_of(y, row_major);
  const auto gr = runs_of(g, row_major);
  // Linear order is storage order: the chunks' order where the object is a vector or lies in
  // that order (x always does).
  const bool vector = rows == 1 || cols == 1;
  const bool y_linear = vector || bool(DY::IsRowMajor) == row_major;
  const auto gather = [&](const auto& a, const auto& runs, const auto& ev, bool linear,
                          Eigen::Index b, Eigen::Index n, S* out) {
    if (runs.data != nullptr) {
      copy_from_runs(runs, b, n, out);
      return;
    }
    if constexpr (linear_packets<std::decay_t<decltype(a)>>) {
      // Expressions: a packet at a time, not element by element (benchmark: bench_fused
      // fused_expr against fused).
      if (linear) {
        read_packets(ev, b, n, out);
        return;
      }
    }
    Cursor in(b, rows, cols, row_major);
    for (Eigen::Index k = 0; k < n; ++k, in.next()) out[k] = ev.coeff(in.i, in.j);
  };
  return run_chunks(chunks, exec, [&](Eigen::Index c) {
    Eigen::internal::evaluator<DG> eg(g);
    PacketSum<P> acc;
    alignas(64) S xb[block_elements], yb[block_elements], gb[block_elements], wb[block_elements];
    const Eigen::Index end = std::min(size, (c + 1) * chunk_elements);
    for (Eigen::Index b = c * chunk_elements; b < end; b += block_elements) {
      const Eigen::Index n = std::min(block_elements, end - b);
      // Operands that are contiguous after all (beside an expression, say) stay in place.
      if (xp == nullptr) gather(x, xr, ex, true, b, n, xb);
      if (yp == nullptr) gather(y, yr, ey, y_linear, b, n, yb);
      const S* ws = weights_of(weights, wp, rows, cols, row_major, b, n, wb);
      pass(Kind{}, xp != nullptr ? xp + b : xb, yp != nullptr ? yp + b : yb, ws,
           nullptr, gp != nullptr ? gp + b : gb, n, acc);
      if (gp != nullptr) continue;
      if (gr.data != nullptr) {
        copy_to_runs(gr, b, n, gb);
      } else {
        Cursor out(b, rows, cols, row_major);
        for (Eigen::Index k = 0; k < n; ++k, out.next()) eg.coeffRef(out.i, out.j) = gb[k];
      }
    }
    return acc.take();
  });
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_FUSED_DENSE_HPP
