#ifndef FOCAL_DETAIL_FUSED_LABELS_HPP
#define FOCAL_DETAIL_FUSED_LABELS_HPP

// The fused pass of the sigmoid losses against class-index labels, with no one-hot array: the
// targets of a piece of up to piece_elements elements are built in stack buffers (0 but at
// each row's class) and the kernel runs on them through the span pass. Row-major logits go a
// chunk of whole rows at a time, skipping ignored rows where the runs between them are long
// and masking them where they are short; column-major logits a column piece at a time. The
// logits are read where they lie (layout.hpp's readers); the same pieces whatever the layout.

#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "../labels.hpp"
#include "layout.hpp"
#include "parallel.hpp"
#include "simd/compress.hpp"
#include "simd/packet.hpp"
#include "span.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

inline constexpr Eigen::Index piece_elements = 1024;  // labels: buffers of 4 KiB each of float
inline constexpr Eigen::Index few_classes = 32;       // labels: fewer classes go masked (below)
inline constexpr Eigen::Index short_run = 128;        // labels: so do runs of rows shorter on average


/// The labels path's stack buffers for a piece: targets (0 but at each row's class), a keep
/// mask and anchor weights, as many as there are elements in a piece, and a list of rows.
template <class S, bool Weighted>
struct LabelPiece {
  static constexpr Weighting weighting = Weighted ? Weighting::per_element : Weighting::none;
  alignas(64) S y[piece_elements];
  alignas(64) S keep[piece_elements + simd::lanes<simd::packet_t<S>>];  // + room for set_short
  alignas(64) S w[Weighted ? piece_elements : 1];
  // A list of rows: labels_masked's not background, from the piece's first row; labels_in_runs'
  // with a class, from the chunk's first (+ room for list_rows' last store).
  std::int32_t rows[piece_elements + 16];
};

/// Sets p[0, len) to v in packets: std::fill of a row of a few classes compiles to a call to
/// memset, which cost more than the row's share of the kernel. Whole packets, the last one
/// overlapping the one before; shorter than a packet, one packet read, its first len lanes
/// set, written back (p must have a packet's room).
template <class S>
EIGEN_ALWAYS_INLINE void set_short(S* p, Eigen::Index len, S v) {
  using namespace Eigen::internal;
  using P = simd::packet_t<S>;
  constexpr int L = simd::lanes<P>;
  const P value = pset1<P>(v);
  if (len >= L) {
    for (Eigen::Index k = 0; k + L < len; k += L) pstoreu(p + k, value);
    pstoreu(p + len - L, value);
  } else {
    const auto head = simd::less(plset<P>(S(0)), pset1<P>(S(len)));
    pstoreu(p, simd::select(head, value, ploadu<P>(p)));
  }
}

/// Lists the rows in [first, last] whose label is not background into rows (as row − first)
/// and counts the ignored ones into dropped; returns how many were listed. Branch-free: ignored
/// rows come at random, and a branch per row mispredicts. With AVX-512 and contiguous 32- or
/// 64-bit labels, 16 or 8 rows per step by a compress: a scalar step per row is a fifth of the
/// kernel's time with 4 classes (benchmark: bench_labels labels/4).
template <class Indices, class Weights, class Scores>
EIGEN_ALWAYS_INLINE Eigen::Index list_rows(const Labels<Indices, Weights, Scores>& labels, Eigen::Index first,
                                           Eigen::Index last, std::int32_t* rows,
                                           int& dropped) {
  using T = typename Indices::Scalar;
  using C = label_lane<T>;
  Eigen::Index listed = 0, row = first;
  if constexpr (simd::has_compress_marked<T>) {
    const T* p = flat_data(labels.indices(), false);
    if (p != nullptr) {
      return simd::compress_marked(p + first, last + 1 - first, T(background), T(ignore), rows,
                                   dropped);
    }
  }
  for (; row <= last; ++row) {
    const C label = static_cast<C>(labels.indices().coeff(row));
    rows[listed] = std::int32_t(row - first);
    listed += label != C(background);
    dropped += label == C(ignore);
  }
  return listed;
}

/// Elements [a, a + m) of row-major inputs with `cols` columns: calls f(row, from, to) for
/// each row they meet, with the row's part as positions [from, to) in the piece.
template <class F>
EIGEN_ALWAYS_INLINE void for_rows(Eigen::Index cols, Eigen::Index a, Eigen::Index m, F&& f) {
  for (Eigen::Index row = a / cols, end = (a + m - 1) / cols; row <= end; ++row) {
    f(row, std::max(row * cols, a) - a, std::min((row + 1) * cols, a + m) - a);
  }
}

/// Anchor weights of the piece [a, a + m): each row's weight over its part.
template <class S, class Indices, class Weights, class Scores>
void fill_weights(const Labels<Indices, Weights, Scores>& labels, Eigen::Index cols, Eigen::Index a, Eigen::Index m,
                  S* w) {
  for_rows(cols, a, m, [&](Eigen::Index row, Eigen::Index from, Eigen::Index to) {
    std::fill(w + from, w + to, labels.template weight<S>(row));
  });
}

/// The labels path's x (a reader above) and G (runs), in pieces of up to piece_elements
/// elements in storage order: what lies in one run is passed to the kernel in place, anything
/// else gathered into stack buffers, a run's part at a time, and G scattered back. The same
/// pieces whatever the layout, so the same bits.
template <class S, class XReader>
struct PieceIO {
  XReader x;
  RunsReader<S> g;

  /// f(x, g) on elements [a, a + m) (m ≤ piece_elements).
  template <class F>
  void piece(Eigen::Index a, Eigen::Index m, F&& f) const {
    alignas(64) S xb[piece_elements], gb[piece_elements];
    const S* xs = x.at(a, m);
    if (xs == nullptr) {
      x.read(a, m, xb);
      xs = xb;
    }
    S* gs = const_cast<S*>(g.at(a, m));  // G's runs
    if (gs != nullptr) {
      f(xs, gs);
    } else {
      f(xs, static_cast<S*>(gb));
      copy_to_runs(g.runs, a, m, gb);
    }
  }

  /// Row `row` of G set to 0 (row-major: a run is a row).
  void zero_row(Eigen::Index row) const {
    S* p = const_cast<S*>(g.runs.data) + row * g.runs.stride;
    std::fill(p, p + g.runs.length, S(0));
  }
};

/// The labels path over rows [begin_row, end_row) where ignored rows are few: each run of rows
/// between them is one contiguous stretch of x and G, cut into pieces; ignored rows get a zero
/// gradient. The chunk's labelled rows are listed once, in order, and each piece sets and
/// resets only the 1s that fall in it, rather than visiting every row of every piece twice
/// with two divisions to find them (benchmark: bench_labels labels/80 and labels/1000).
template <class S, class Pass, class IO, class Indices, class Weights, class Scores>
EIGEN_DONT_INLINE void labels_in_runs(const Pass& pass, const IO& io, Eigen::Index cols,
                                      const Labels<Indices, Weights, Scores>& labels, Eigen::Index begin_row,
                                      Eigen::Index end_row, PacketSum<simd::packet_t<S>>& acc) {
  constexpr bool weighted = Labels<Indices, Weights, Scores>::weighted;
  using Piece = LabelPiece<S, weighted>;
  Piece piece;
  std::fill(piece.y, piece.y + piece_elements, S(0));
  // Rows with a class, from begin_row: a chunk has at most chunk_elements / few_classes rows.
  static_assert(chunk_elements / few_classes <= piece_elements, "piece.rows holds a chunk's rows");
  Eigen::Index labelled = 0;
  for (Eigen::Index i = begin_row; i < end_row; ++i) {
    piece.rows[labelled] = std::int32_t(i - begin_row);
    labelled += labels[i] >= 0;
  }
  const auto hot = [&](Eigen::Index k) {  // the element of the k-th labelled row's class
    const Eigen::Index row = begin_row + piece.rows[k];
    return row * cols + Eigen::Index(labels[row]);
  };
  Eigen::Index next = 0;  // the first labelled row whose 1 is not in a piece already done
  for (Eigen::Index i = begin_row; i < end_row;) {
    if (labels[i] == ignore) {
      io.zero_row(i);
      ++i;
      continue;
    }
    Eigen::Index run_end = i + 1;
    while (run_end < end_row && labels[run_end] != ignore) ++run_end;
    for (Eigen::Index a = i * cols; a < run_end * cols; a += piece_elements) {
      const Eigen::Index m = std::min(piece_elements, run_end * cols - a);
      Eigen::Index stop = next;
      for (; stop < labelled && hot(stop) < a + m; ++stop) {
        piece.y[hot(stop) - a] = labels.template score<S>(begin_row + piece.rows[stop]);
      }
      if constexpr (weighted) fill_weights(labels, cols, a, m, piece.w);
      io.piece(a, m, [&](const S* xs, S* gs) {
        pass(span_kind<Piece::weighting>{}, xs, piece.y, piece.w, nullptr, gs, m, acc);
      });
      for (; next < stop; ++next) piece.y[hot(next) - a] = S(0);
    }
    i = run_end;
  }
}

/// The kernel on a labels piece of m elements at x into g: masked where `dropped` of its rows
/// are ignored (their keep lanes 0), plain otherwise.
template <class Pass, class S, bool Weighted>
EIGEN_ALWAYS_INLINE void piece_span(const Pass& pass, const LabelPiece<S, Weighted>& piece,
                                    int dropped, const S* x, S* g, Eigen::Index m,
                                    PacketSum<simd::packet_t<S>>& acc) {
  using Piece = LabelPiece<S, Weighted>;
  if (dropped != 0) {
    pass(span_kind<Piece::weighting, true>{}, x, piece.y, piece.w, piece.keep, g, m, acc);
  } else {
    pass(span_kind<Piece::weighting>{}, x, piece.y, piece.w, nullptr, g, m, acc);
  }
}

/// A piece of one column: rows [first, first + m) of class `column`, whose targets, keep mask
/// and anchor weights it fills, element by element in a loop the compiler vectorizes; returns
/// how many of the rows are ignored.
template <class S, bool Weighted, class Indices, class Weights, class Scores>
EIGEN_ALWAYS_INLINE int column_piece(const Labels<Indices, Weights, Scores>& labels, Eigen::Index column,
                                     Eigen::Index first, Eigen::Index m,
                                     LabelPiece<S, Weighted>& piece) {
  using C = label_lane<typename Indices::Scalar>;
  const C j = static_cast<C>(column);
  int dropped = 0;  // 32 bits: the vectorized count needs no widening
  for (Eigen::Index k = 0; k < m; ++k) {
    const C label = static_cast<C>(labels.indices().coeff(first + k));
    piece.y[k] = label == j ? labels.template score<S>(first + k) : S(0);
    piece.keep[k] = label == C(ignore) ? S(0) : S(1);
    if constexpr (Weighted) piece.w[k] = labels.template weight<S>(first + k);
    dropped += label == C(ignore);
  }
  return dropped;
}

/// The labels path over rows [begin_row, end_row) where runs of rows between ignored ones are
/// short (few classes, or many ignored rows): a kernel call per run would leave mostly partial
/// blocks, so pieces run across ignored rows, whose elements a keep mask of 0 drops (loss and
/// gradient exactly 0, whatever x). The targets start all 0 and the mask all 1; a piece sets
/// what its rows that are not background need and puts it back after the kernel, rather than
/// refilling both whole for every piece (benchmark: bench_labels labels/1, labels/4 and
/// labels/20 against dense_onehot).
template <class S, class Pass, class IO, class Indices, class Weights, class Scores>
EIGEN_DONT_INLINE void labels_masked(const Pass& pass, const IO& io, Eigen::Index cols,
                                     const Labels<Indices, Weights, Scores>& labels, Eigen::Index begin_row,
                                     Eigen::Index end_row, PacketSum<simd::packet_t<S>>& acc) {
  constexpr bool weighted = Labels<Indices, Weights, Scores>::weighted;
  using Piece = LabelPiece<S, weighted>;
  Piece piece;
  const Eigen::Index end = end_row * cols;
  if (cols != 1) {
    std::fill(piece.y, piece.y + piece_elements, S(0));
    std::fill(piece.keep, piece.keep + piece_elements, S(1));
  }
  for (Eigen::Index a = begin_row * cols; a < end; a += piece_elements) {
    const Eigen::Index m = std::min(piece_elements, end - a);
    int dropped = 0;  // 32 bits: the vectorized count below needs no widening
    Eigen::Index listed = 0;
    const Eigen::Index first = a / cols;
    // Visits the piece's rows that are not background: sets (v = 1: 1, or the row's score) or
    // resets (v = 0) the target of labelled rows and the mask of ignored ones (to 1 − v).
    const auto mark = [&](S v) {
      for (Eigen::Index k = 0; k < listed; ++k) {
        const Eigen::Index row = first + piece.rows[k];
        const long long label = labels[row];
        const Eigen::Index from = std::max(row * cols, a) - a;
        const Eigen::Index to = std::min((row + 1) * cols, a + m) - a;
        if (label == ignore) {
          set_short(piece.keep + from, to - from, S(1) - v);
        } else {
          const Eigen::Index hot = row * cols + Eigen::Index(label) - a;
          if (hot >= from && hot < to) {
            piece.y[hot] = v == S(0) ? S(0) : labels.template score<S>(row);
          }
        }
      }
    };
    if (cols == 1) {  // an element per row
      dropped = column_piece(labels, 0, a, m, piece);
    } else {
      listed = list_rows(labels, first, (a + m - 1) / cols, piece.rows, dropped);
      mark(S(1));
      if constexpr (weighted) fill_weights(labels, cols, a, m, piece.w);
    }
    io.piece(a, m, [&](const S* xs, S* gs) { piece_span(pass, piece, dropped, xs, gs, m, acc); });
    if (cols != 1) mark(S(0));
  }
}

/// The labels fused pass. Validation is the caller's.
template <class S, class Pass, class DX, class Indices, class Weights, class Scores, class DG, class Exec>
double fused_labels(const Pass& pass, const DX& x, const Labels<Indices, Weights, Scores>& labels, DG& g,
                    const Exec& exec) {
  using P = simd::packet_t<S>;
  const Eigen::Index rows = x.rows(), cols = x.cols(), size = rows * cols;
  const bool row_major = bool(DX::IsRowMajor) || cols == 1;
  // Rows (columns) in runs, contiguous or a Block's: the distance between them; else -1, and
  // the gather below.
  const auto pitch = [&](const auto& r, Eigen::Index extent) {
    return r.data == nullptr ? Eigen::Index(-1)
                             : r.length == size ? extent : r.length == extent ? r.stride : -1;
  };
  const auto xr = runs_of(x, row_major);
  const auto gr = runs_of(g, row_major);
  const Eigen::Index extent = row_major ? cols : rows;
  const Eigen::Index x_pitch = pitch(xr, extent), g_pitch = pitch(gr, extent);
  const auto passes = [&](const auto& reader) {
    const PieceIO<S, std::decay_t<decltype(reader)>> io{
        reader, RunsReader<S>{Runs<const S>{gr.data, extent, g_pitch}}};
    if (!row_major) {
      // Column-major: a column is contiguous, and its targets are the rows labelled with its
      // class. Chunks in storage order; pieces within a column, with targets, keep mask and
      // weights built for them (column_piece).
      const Eigen::Index chunks = (size + chunk_elements - 1) / chunk_elements;
      return run_chunks(chunks, exec, [&](Eigen::Index c) {
        using Piece = LabelPiece<S, Labels<Indices, Weights, Scores>::weighted>;
        Piece piece;
        PacketSum<P> acc;
        const Eigen::Index end = std::min(size, (c + 1) * chunk_elements);
        for (Eigen::Index a = c * chunk_elements; a < end;) {
          const Eigen::Index column = a / rows, first = a % rows;
          const Eigen::Index m = std::min({piece_elements, end - a, rows - first});
          const int dropped = column_piece(labels, column, first, m, piece);
          io.piece(a, m,
                   [&](const S* xs, S* gs) { piece_span(pass, piece, dropped, xs, gs, m, acc); });
          a += m;
        }
        return acc.take();
      });
    }
    // Row-major, in pieces of up to piece_elements elements, so that the kernel sees whole
    // blocks of packets whatever the number of classes: each chunk of rows skips its ignored
    // rows where the runs between them are long, and masks them where they are short.
    const Eigen::Index rows_per_chunk = std::max<Eigen::Index>(1, chunk_elements / cols);
    const Eigen::Index chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
    return run_chunks(chunks, exec, [&](Eigen::Index c) {
      PacketSum<P> acc;
      const Eigen::Index begin_row = c * rows_per_chunk;
      const Eigen::Index end_row = std::min(rows, begin_row + rows_per_chunk);
      // Skip ignored rows where there are many classes and the runs of rows between ignored
      // ones are long on average (in elements).
      bool long_runs = false;
      if (cols >= few_classes) {
        Eigen::Index kept = labels[begin_row] != ignore, runs = kept;
        for (Eigen::Index i = begin_row + 1; i < end_row; ++i) {  // vectorized: no carried state
          const long long k = labels[i] != ignore, starts = labels[i - 1] == ignore;
          kept += k;
          runs += k & starts;
        }
        long_runs = kept * cols >= short_run * runs;
      }
      if (long_runs) {
        labels_in_runs<S>(pass, io, cols, labels, begin_row, end_row, acc);
      } else {
        labels_masked<S>(pass, io, cols, labels, begin_row, end_row, acc);
      }
      return acc.take();
    });
  };
  const Eigen::internal::evaluator<DX> ex(x);
  if (g_pitch >= 0 && size > 0) {
    // x in runs; an expression Eigen evaluates in packets (its linear order is its storage
    // order, which is the order walked here: the gather below reads it element by element, at
    // about three times the array's time); anything else.
    if (x_pitch >= 0) return passes(RunsReader<S>{Runs<const S>{xr.data, extent, x_pitch}});
    if constexpr (linear_packets<DX>) {
      return passes(PacketReader<S, decltype(ex)>{ex});
    } else {
      return passes(CoeffReader<S, decltype(ex)>{ex, rows, cols, row_major});
    }
  }
  // G in neither layout's runs (an inner stride, the other storage order): gathered in the
  // logits' storage order; ignored elements enter as x = 0 with weight 0, which gives exactly
  // 0 loss and 0 gradient (whatever the logit was, NaN included).
  const Eigen::Index chunks = (size + chunk_elements - 1) / chunk_elements;
  return run_chunks(chunks, exec, [&](Eigen::Index c) {
    Eigen::internal::evaluator<DG> eg(g);
    PacketSum<P> acc;
    alignas(64) S xb[block_elements], yb[block_elements], wb[block_elements],
        gb[block_elements];
    const Eigen::Index end = std::min(size, (c + 1) * chunk_elements);
    for (Eigen::Index b = c * chunk_elements; b < end; b += block_elements) {
      const Eigen::Index n = std::min(block_elements, end - b);
      Cursor in(b, rows, cols, row_major);
      for (Eigen::Index k = 0; k < n; ++k, in.next()) {
        const long long label = labels[in.i];
        const bool ignored = label == ignore;
        xb[k] = ignored ? S(0) : ex.coeff(in.i, in.j);
        yb[k] = label == static_cast<long long>(in.j) ? labels.template score<S>(in.i) : S(0);
        wb[k] = ignored ? S(0) : labels.template weight<S>(in.i);
      }
      pass(span_kind<Weighting::per_element>{}, xb, yb, wb, nullptr, gb, n, acc);
      Cursor out(b, rows, cols, row_major);
      for (Eigen::Index k = 0; k < n; ++k, out.next()) eg.coeffRef(out.i, out.j) = gb[k];
    }
    return acc.take();
  });
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_FUSED_LABELS_HPP
