#ifndef FOCAL_DETAIL_FUSED_HPP
#define FOCAL_DETAIL_FUSED_HPP

// The fused value_and_gradient passes of the sigmoid losses, vectorized.
//
// Work is cut into fixed chunks (chunk_elements in storage order, or whole rows for row-major
// labels), independent of SIMD width and thread count. Each chunk sums its losses 8 packets at
// a time pairwise, adds those block sums into per-lane TwoSum accumulators, reduces them in
// lane order into a compensated double, and the chunk totals are added in chunk order: the
// total is within a few ulps of the exact sum (3 roundings per block at worst, far less in
// practice), and bitwise the same whether one thread or many computed the chunks. It is not
// the same bits for the same values in another storage order (or as labels rather than dense
// targets): the chunks then hold other elements, and their float block sums round otherwise
// (tested within 4 ulp of the exact sum either way). Contiguous
// data are read and written in place (with labels, row by row or column by column, as the
// logits lie); anything else (strided Maps, blocks, expressions) is gathered block by block
// into stack buffers that stay in L1: a run of contiguous elements at a time where the
// operands lie in runs (a Block's rows or columns; with labels, a piece within one run is
// read in place), a packet at a time from expressions Eigen evaluates in packets, element by
// element otherwise.

#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "../input.hpp"
#include "../labels.hpp"
#include "parallel.hpp"
#include "sigmoid_kernel.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

inline constexpr Eigen::Index block_elements = 256;   // gather/scatter buffers: 3 × 1 KiB of float
inline constexpr Eigen::Index piece_elements = 1024;  // labels: buffers of 4 KiB each of float
inline constexpr Eigen::Index few_classes = 32;       // labels: fewer classes go masked (below)
inline constexpr Eigen::Index short_run = 128;        // labels: so do runs of rows shorter on average

/// Asks for the cache lines of p[0, N) in a writable state (prefetchw), where the target has
/// the instruction (elsewhere a read prefetch would only add an upgrade on the store).
template <int N, class S>
EIGEN_ALWAYS_INLINE void prefetch_for_write(const S* p) {
#if defined(FOCAL_HAS_PREFETCHW)
  for (int k = 0; k < N; k += 64 / int(sizeof(S))) __builtin_prefetch(p + k, 1, 3);
#else
  (void)p;
#endif
}

/// How anchors are weighted in a span: not at all, or per element.
enum class Weights { none, per_element };

/// The packet kernel over a contiguous span: loss into acc, grad = w·d / normalizer into g.
/// Masked: elements whose `keep` is 0 give a loss and a gradient of exactly 0, whatever their
/// input (NaN included). Runs eval_block over groups of block_packets packets; the tail (n not
/// a multiple of the packet size) is padded into a full packet, so every element goes through
/// the same instructions.
template <Focus F, Weights W, bool Masked, class S, class Input>
void fused_span(const SigmoidKernel<S, Input>& kernel, const S* x, const S* y,
                const S* w, const S* keep, S* g, Eigen::Index n, S normalizer,
                PacketSum<simd::packet_t<S>>& acc) {
  using namespace Eigen::internal;
  using P = simd::packet_t<S>;
  constexpr int L = simd::lanes<P>;
  constexpr int group = simd::block_packets * L;
  constexpr std::size_t size = std::size_t(group);
  alignas(64) S xb[size], yb[size], wb[size], kb[size], gb[size], lb[size], db[size];
  const P norm = pset1<P>(normalizer);
  // Dividing by the normalizer: Markstein's FMA correction of g·(1/n), correctly rounded like
  // a division, when 1/n is a normal number; a division otherwise. A branch per packet, taken
  // the same way every time.
  const bool scale = normalizer != S(1);
  const S inv = S(1) / normalizer;
  const bool markstein = std::isnormal(inv);
  const P inv_p = pset1<P>(inv);
  for (Eigen::Index i = 0; i < n; i += group) {
    const Eigen::Index r = std::min<Eigen::Index>(group, n - i);
    const int packets = int((r + L - 1) / L);
    const Eigen::Index padded = Eigen::Index(packets) * L;
    // Whole packets are read and written in the caller's arrays; the tail goes through stack
    // buffers padded with x = y = w = 0, whose lanes' losses are dropped and gradients unused.
    const bool whole = r == padded;
    const S *xs = x + i, *ys = y + i, *ws = W == Weights::per_element ? w + i : nullptr;
    const S* ks = Masked ? keep + i : nullptr;
    S* gs = g + i;
    if (!whole) {
      for (Eigen::Index k = 0; k < padded; ++k) {
        xb[k] = k < r ? x[i + k] : S(0);
        yb[k] = k < r ? y[i + k] : S(0);
        if constexpr (W == Weights::per_element) wb[k] = k < r ? w[i + k] : S(0);
        if constexpr (Masked) kb[k] = k < r ? keep[i + k] : S(0);
      }
      xs = xb;
      ys = yb;
      ws = wb;
      ks = kb;
      gs = gb;
    }
    // The group's lines of g requested before its arithmetic (~300 cycles) rather than by the
    // stores after it: 1–4% faster from 256K to 4M floats, 0–2% at 16M (paired runs).
    if (r == group) prefetch_for_write<group>(gs);
    kernel.template eval_block<F>(xs, ys, packets, lb, db);
    std::fill(lb + r, lb + group, S(0));  // padding lanes and absent packets add nothing
    for (int k = 0; k < packets; ++k) {
      P d = pload<P>(db + k * L);
      if constexpr (W != Weights::none) {
        const P wv = ploadu<P>(ws + k * L);
        pstore(lb + k * L, simd::weight(wv, pload<P>(lb + k * L)));
        d = simd::weight(wv, d);
      }
      if (scale) d = markstein ? simd::divide_by(d, norm, inv_p) : pdiv(d, norm);
      if constexpr (Masked) {
        const P zero = pzero(d);
        const auto kept = simd::not_equal(ploadu<P>(ks + k * L), zero);
        pstore(lb + k * L, simd::select(kept, pload<P>(lb + k * L), zero));
        d = simd::select(kept, d, zero);
      }
      pstoreu(gs + k * L, d);
    }
    acc.add_block(lb);
    if (!whole) std::copy(gb, gb + r, g + i);
  }
}

/// What a span call carries besides x and y: anchor weights (W), and whether a 0/1 `keep`
/// mask drops elements.
template <Weights W, bool Masked = false>
struct span_kind {};

/// Spans through the packet kernel (vectorized builds). The focusing mode and the scaling are
/// dispatched here, per span, so that the drivers around it are compiled once per argument
/// type rather than once per mode.
template <class S, class Input = Logits>
struct PacketSpans {
  SigmoidKernel<S, Input> kernel;
  S normalizer;

  template <Weights W, bool Masked>
  void operator()(span_kind<W, Masked>, const S* x, const S* y, const S* w, const S* keep,
                  S* g, Eigen::Index n, PacketSum<simd::packet_t<S>>& acc) const {
    kernel.dispatch([&](auto mode) {
      fused_span<decltype(mode)::value, W, Masked>(kernel, x, y, w, keep, g, n, normalizer, acc);
    });
  }
};

/// How the elements of a dense object lie when walked in the given storage order: in runs of
/// `length` contiguous elements, `stride` apart (a contiguous array is one run; a Block of a
/// larger array or a Map with an outer stride, one run per row or column). data is null where
/// they do not: an inner stride (a vector with a stride included), the other storage order, an
/// expression.
template <class S>
struct Runs {
  S* data = nullptr;
  Eigen::Index length = 0, stride = 0;
};

template <class D>
Runs<const typename D::Scalar> runs_of(const D& a, bool row_major) {
  if constexpr ((int(Eigen::internal::traits<D>::Flags) & Eigen::DirectAccessBit) != 0) {
    if (a.size() == 0) return {};
    if (a.rows() == 1 || a.cols() == 1) {
      // A vector's step is its row or column stride: a Block of one column of a row-major
      // array has an inner stride of 1 and its elements an outer stride apart.
      const Eigen::Index step = a.cols() == 1 ? a.rowStride() : a.colStride();
      if (step == 1 || a.size() == 1) return {a.data(), a.size(), a.size()};
      return {};  // runs of one element: the element-by-element gather is faster
    }
    if (a.innerStride() != 1 || bool(D::IsRowMajor) != row_major) return {};
    const Eigen::Index length = row_major ? a.cols() : a.rows();
    // Rows (columns) back to back: one run, so that a walk over it, as the vectorized checks',
    // need not stop at every row (N × 4 float targets: every element had gone to the scalar
    // tail, and the check took as long as the fused pass).
    if (a.outerStride() == length) return {a.data(), a.size(), a.size()};
    return {a.data(), length, a.outerStride()};
  } else {
    (void)a;
    (void)row_major;
    return {};
  }
}

/// A dense object whose coefficients are one contiguous array in the given storage order.
template <class D>
const typename D::Scalar* flat_data(const D& a, bool row_major) {
  const auto r = runs_of(a, row_major);
  return r.length == a.size() ? r.data : nullptr;
}

/// to[0, m) = from[0, m), in packets: runs are a row of a few dozen elements, where a call to
/// memmove per run cost more than the copy.
template <class S>
EIGEN_ALWAYS_INLINE void copy_short(const S* from, Eigen::Index m, S* to) {
  using namespace Eigen::internal;
  using P = simd::packet_t<S>;
  constexpr int L = simd::lanes<P>;
  Eigen::Index k = 0;
  for (; k + L <= m; k += L) pstoreu(to + k, ploadu<P>(from + k));
  for (; k < m; ++k) to[k] = from[k];
}

/// f(p, k, m) for elements [b, b + n) of runs, in order, a run's part at a time: the m
/// elements from p are positions [k, k + m) of the n.
template <class S, class F>
void for_runs(const Runs<const S>& r, Eigen::Index b, Eigen::Index n, F&& f) {
  Eigen::Index outer = b / r.length, inner = b % r.length;
  for (Eigen::Index k = 0; k < n; ++outer, inner = 0) {
    const Eigen::Index m = std::min(n - k, r.length - inner);
    f(r.data + outer * r.stride + inner, k, m);
    k += m;
  }
}

/// Elements [b, b + n) of runs, in order, copied out of them (to out) or into them (from in).
template <class S>
void copy_from_runs(const Runs<const S>& r, Eigen::Index b, Eigen::Index n, S* out) {
  for_runs(r, b, n, [&](const S* p, Eigen::Index k, Eigen::Index m) { copy_short(p, m, out + k); });
}
template <class S>
void copy_to_runs(const Runs<const S>& r, Eigen::Index b, Eigen::Index n, const S* in) {
  for_runs(r, b, n, [&](const S* p, Eigen::Index k, Eigen::Index m) {
    copy_short(in + k, m, const_cast<S*>(p));  // G's runs
  });
}

/// Whether Eigen can evaluate D's coefficients a packet at a time by linear index (in D's
/// storage order): an expression over arrays (x * s, a.cast<float>(), ...).
template <class D>
inline constexpr bool linear_packets =
    (int(Eigen::internal::evaluator<D>::Flags) & Eigen::PacketAccessBit) != 0 &&
    (int(Eigen::internal::evaluator<D>::Flags) & Eigen::LinearAccessBit) != 0;

/// Coefficients [b, b + n) of ev (linear_packets) by linear index, as Eigen's own assignment
/// evaluates them: on_packet(k, v) for the whole packets, on_element(k, v) for the tail, k the
/// position in [0, n).
template <class S, class E, class OnPacket, class OnElement>
EIGEN_ALWAYS_INLINE void walk_packets(const E& ev, Eigen::Index b, Eigen::Index n,
                                      OnPacket&& on_packet, OnElement&& on_element) {
  using P = simd::packet_t<S>;
  constexpr int L = simd::lanes<P>;
  Eigen::Index k = 0;
  for (; k + L <= n; k += L) on_packet(k, ev.template packet<Eigen::Unaligned, P>(b + k));
  for (; k < n; ++k) on_element(k, S(ev.coeff(b + k)));
}

/// out[0, n) = coefficients [b, b + n) of ev, a packet at a time (walk_packets).
template <class S, class E>
EIGEN_ALWAYS_INLINE void read_packets(const E& ev, Eigen::Index b, Eigen::Index n, S* out) {
  walk_packets<S>(
      ev, b, n, [&](Eigen::Index k, const auto& v) { Eigen::internal::pstoreu(out + k, v); },
      [&](Eigen::Index k, S v) { out[k] = v; });
}

/// Walks (i, j) in row- or column-major order from a linear index.
struct Cursor {
  Eigen::Index i, j, rows, cols;
  bool row_major;
  Cursor(Eigen::Index linear, Eigen::Index r, Eigen::Index c, bool rm)
      : i(rm ? linear / c : linear % r), j(rm ? linear % c : linear / r), rows(r), cols(c),
        row_major(rm) {}
  void next() {
    if (row_major) {
      if (++j == cols) j = 0, ++i;
    } else {
      if (++i == rows) i = 0, ++j;
    }
  }
};

/// The dense fused pass. Validation is the caller's.
template <class S, class Span, class DX, class DY, class DG, class Exec>
double fused_dense(const Span& span, const DX& x, const DY& y, DG& g, const Exec& exec) {
  using P = simd::packet_t<S>;
  const Eigen::Index rows = x.rows(), cols = x.cols(), size = rows * cols;
  const bool row_major = bool(DX::IsRowMajor) && rows != 1 && cols != 1;
  const S* xp = flat_data(x, row_major);
  const S* yp = flat_data(y, row_major);
  S* gp = const_cast<S*>(flat_data(g, row_major));
  const Eigen::Index chunks = (size + chunk_elements - 1) / chunk_elements;
  if (xp != nullptr && yp != nullptr && gp != nullptr) {
    return run_chunks(chunks, exec, [&](Eigen::Index c) {
      PacketSum<P> acc;
      const Eigen::Index begin = c * chunk_elements;
      const Eigen::Index n = std::min(chunk_elements, size - begin);
      span(span_kind<Weights::none>{}, xp + begin, yp + begin, nullptr, nullptr, gp + begin, n,
           acc);
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
      // Expressions: a packet at a time (element by element they took 2.0× the contiguous
      // call's time, 4M floats).
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
    alignas(64) S xb[block_elements], yb[block_elements], gb[block_elements];
    const Eigen::Index end = std::min(size, (c + 1) * chunk_elements);
    for (Eigen::Index b = c * chunk_elements; b < end; b += block_elements) {
      const Eigen::Index n = std::min(block_elements, end - b);
      // Operands that are contiguous after all (beside an expression, say) stay in place.
      if (xp == nullptr) gather(x, xr, ex, true, b, n, xb);
      if (yp == nullptr) gather(y, yr, ey, y_linear, b, n, yb);
      span(span_kind<Weights::none>{}, xp != nullptr ? xp + b : xb, yp != nullptr ? yp + b : yb,
           nullptr, nullptr, gp != nullptr ? gp + b : gb, n, acc);
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

/// The labels path's stack buffers for a piece: targets (0 but at each row's class), a keep
/// mask and anchor weights, as many as there are elements in a piece, and a list of rows.
template <class S, bool Weighted>
struct LabelPiece {
  static constexpr Weights weights = Weighted ? Weights::per_element : Weights::none;
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
/// 64-bit labels, 16 or 8 rows per step by a compress (a scalar step cost 2 cycles per row,
/// a fifth of the kernel's time with 4 classes).
template <class L, class W>
EIGEN_ALWAYS_INLINE Eigen::Index list_rows(const Labels<L, W>& labels, Eigen::Index first,
                                           Eigen::Index last, std::int32_t* rows,
                                           int& dropped) {
  using T = typename L::Scalar;
  using C = label_lane<T>;
  Eigen::Index listed = 0, row = first;
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_signed<T>::value && (sizeof(T) == 4 || sizeof(T) == 8)) {
    const T* p = flat_data(labels.indices(), false);
    if (p != nullptr) {
      constexpr int lanes = 64 / int(sizeof(T));
      __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      const __m512i step = _mm512_set1_epi32(lanes);
      for (; row <= last; row += lanes) {
        const Eigen::Index n = std::min<Eigen::Index>(lanes, last + 1 - row);
        const __mmask16 in = __mmask16((1u << n) - 1);
        __mmask16 listed_mask, ignored_mask;
        if constexpr (sizeof(T) == 4) {  // the masked load stops at the array's end
          const __m512i v = _mm512_maskz_loadu_epi32(in, p + row);
          listed_mask = _mm512_mask_cmpneq_epi32_mask(in, v, _mm512_set1_epi32(background));
          ignored_mask = _mm512_mask_cmpeq_epi32_mask(in, v, _mm512_set1_epi32(ignore));
        } else {
          const __m512i v = _mm512_maskz_loadu_epi64(__mmask8(in), p + row);
          listed_mask = _mm512_mask_cmpneq_epi64_mask(__mmask8(in), v, _mm512_set1_epi64(background));
          ignored_mask = _mm512_mask_cmpeq_epi64_mask(__mmask8(in), v, _mm512_set1_epi64(ignore));
        }
        _mm512_storeu_si512(rows + listed, _mm512_maskz_compress_epi32(listed_mask, index));
        listed += _mm_popcnt_u32(listed_mask);
        dropped += int(_mm_popcnt_u32(ignored_mask));
        index = _mm512_add_epi32(index, step);
      }
      return listed;
    }
  }
#endif
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
template <class S, class L, class W>
void fill_weights(const Labels<L, W>& labels, Eigen::Index cols, Eigen::Index a, Eigen::Index m,
                  S* w) {
  for_rows(cols, a, m, [&](Eigen::Index row, Eigen::Index from, Eigen::Index to) {
    std::fill(w + from, w + to, labels.template weight<S>(row));
  });
}

/// Where the labels path reads its logits: runs of contiguous elements (a Block's rows or
/// columns, one run for a contiguous array), in place where a piece lies in one run; an
/// expression, evaluated a packet at a time by linear index (its storage order); or element
/// by element. Whichever, the same pieces, so the same bits.
template <class S>
struct RunsReader {
  Runs<const S> runs;

  /// Elements [a, a + m) in place, or null where they are not contiguous.
  const S* at(Eigen::Index a, Eigen::Index m) const {
    if (runs.stride == runs.length) return runs.data + a;
    const Eigen::Index inner = a % runs.length;
    if (inner + m > runs.length) return nullptr;
    return runs.data + (a / runs.length) * runs.stride + inner;
  }
  void read(Eigen::Index a, Eigen::Index m, S* out) const { copy_from_runs(runs, a, m, out); }
};

template <class S, class E>
struct PacketReader {
  const E& ev;
  const S* at(Eigen::Index, Eigen::Index) const { return nullptr; }
  void read(Eigen::Index a, Eigen::Index m, S* out) const { read_packets(ev, a, m, out); }
};

/// Anything else (an expression without packet access, a strided Map), element by element.
template <class S, class E>
struct CoeffReader {
  const E& ev;
  Eigen::Index rows, cols;
  bool row_major;
  const S* at(Eigen::Index, Eigen::Index) const { return nullptr; }
  void read(Eigen::Index a, Eigen::Index m, S* out) const {
    Cursor in(a, rows, cols, row_major);
    for (Eigen::Index k = 0; k < m; ++k, in.next()) out[k] = ev.coeff(in.i, in.j);
  }
};

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
/// resets only the 1s that fall in it (visiting every row of every piece twice, with two
/// divisions to find them, measured 4–5% slower with 80 classes).
template <class S, class Span, class IO, class L, class W>
EIGEN_DONT_INLINE void labels_in_runs(const Span& span, const IO& xg, Eigen::Index cols,
                                      const Labels<L, W>& labels, Eigen::Index begin_row,
                                      Eigen::Index end_row, PacketSum<simd::packet_t<S>>& acc) {
  constexpr bool weighted = Labels<L, W>::weighted;
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
      xg.zero_row(i);
      ++i;
      continue;
    }
    Eigen::Index run_end = i + 1;
    while (run_end < end_row && labels[run_end] != ignore) ++run_end;
    for (Eigen::Index a = i * cols; a < run_end * cols; a += piece_elements) {
      const Eigen::Index m = std::min(piece_elements, run_end * cols - a);
      Eigen::Index stop = next;
      for (; stop < labelled && hot(stop) < a + m; ++stop) piece.y[hot(stop) - a] = S(1);
      if constexpr (weighted) fill_weights(labels, cols, a, m, piece.w);
      xg.piece(a, m, [&](const S* xs, S* gs) {
        span(span_kind<Piece::weights>{}, xs, piece.y, piece.w, nullptr, gs, m, acc);
      });
      for (; next < stop; ++next) piece.y[hot(next) - a] = S(0);
    }
    i = run_end;
  }
}

/// The kernel on a labels piece of m elements at x into g: masked where `dropped` of its rows
/// are ignored (their keep lanes 0), plain otherwise.
template <class Span, class S, bool Weighted>
EIGEN_ALWAYS_INLINE void piece_span(const Span& span, const LabelPiece<S, Weighted>& piece,
                                    int dropped, const S* x, S* g, Eigen::Index m,
                                    PacketSum<simd::packet_t<S>>& acc) {
  using Piece = LabelPiece<S, Weighted>;
  if (dropped != 0) {
    span(span_kind<Piece::weights, true>{}, x, piece.y, piece.w, piece.keep, g, m, acc);
  } else {
    span(span_kind<Piece::weights>{}, x, piece.y, piece.w, nullptr, g, m, acc);
  }
}

/// A piece of one column: rows [first, first + m) of class `column`, whose targets, keep mask
/// and anchor weights it fills, element by element in a loop the compiler vectorizes; returns
/// how many of the rows are ignored.
template <class S, bool Weighted, class L, class W>
EIGEN_ALWAYS_INLINE int column_piece(const Labels<L, W>& labels, Eigen::Index column,
                                     Eigen::Index first, Eigen::Index m,
                                     LabelPiece<S, Weighted>& piece) {
  using C = label_lane<typename L::Scalar>;
  const C j = static_cast<C>(column);
  int dropped = 0;  // 32 bits: the vectorized count needs no widening
  for (Eigen::Index k = 0; k < m; ++k) {
    const C label = static_cast<C>(labels.indices().coeff(first + k));
    piece.y[k] = label == j ? S(1) : S(0);
    piece.keep[k] = label == C(ignore) ? S(0) : S(1);
    if constexpr (Weighted) piece.w[k] = labels.template weight<S>(first + k);
    dropped += label == C(ignore);
  }
  return dropped;
}

/// The labels path over rows [begin_row, end_row) where runs of rows between ignored ones are
/// short (few classes, or many ignored rows): a kernel call per run would leave mostly partial
/// blocks (measured about 10× slower than the dense call with one class, 1.3× with 20), so
/// pieces run across ignored rows, whose elements a keep mask of 0 drops (loss and gradient
/// exactly 0, whatever x). The targets start all 0 and the mask all 1; a piece sets what its
/// rows that are not background need and puts it back after the kernel (measured 4% faster
/// with 20 classes than refilling both whole for every piece, the same with 4).
template <class S, class Span, class IO, class L, class W>
EIGEN_DONT_INLINE void labels_masked(const Span& span, const IO& xg, Eigen::Index cols,
                                     const Labels<L, W>& labels, Eigen::Index begin_row,
                                     Eigen::Index end_row, PacketSum<simd::packet_t<S>>& acc) {
  constexpr bool weighted = Labels<L, W>::weighted;
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
    // Visits the piece's rows that are not background: sets (v = 1) or resets (v = 0) the
    // target of labelled rows and the mask of ignored ones (to 1 − v).
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
          if (hot >= from && hot < to) piece.y[hot] = v;
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
    xg.piece(a, m, [&](const S* xs, S* gs) { piece_span(span, piece, dropped, xs, gs, m, acc); });
    if (cols != 1) mark(S(0));
  }
}

/// The labels fused pass. Validation is the caller's.
template <class S, class Span, class DX, class L, class W, class DG, class Exec>
double fused_labels(const Span& span, const DX& x, const Labels<L, W>& labels, DG& g,
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
    const PieceIO<S, std::decay_t<decltype(reader)>> xg{
        reader, RunsReader<S>{Runs<const S>{gr.data, extent, g_pitch}}};
    if (!row_major) {
      // Column-major: a column is contiguous, and its targets are the rows labelled with its
      // class. Chunks in storage order; pieces within a column, with targets, keep mask and
      // weights built for them (column_piece).
      const Eigen::Index chunks = (size + chunk_elements - 1) / chunk_elements;
      return run_chunks(chunks, exec, [&](Eigen::Index c) {
        using Piece = LabelPiece<S, Labels<L, W>::weighted>;
        Piece piece;
        PacketSum<P> acc;
        const Eigen::Index end = std::min(size, (c + 1) * chunk_elements);
        for (Eigen::Index a = c * chunk_elements; a < end;) {
          const Eigen::Index column = a / rows, first = a % rows;
          const Eigen::Index m = std::min({piece_elements, end - a, rows - first});
          const int dropped = column_piece(labels, column, first, m, piece);
          xg.piece(a, m,
                   [&](const S* xs, S* gs) { piece_span(span, piece, dropped, xs, gs, m, acc); });
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
        labels_in_runs<S>(span, xg, cols, labels, begin_row, end_row, acc);
      } else {
        labels_masked<S>(span, xg, cols, labels, begin_row, end_row, acc);
      }
      return acc.take();
    });
  };
  const Eigen::internal::evaluator<DX> ex(x);
  if (g_pitch >= 0 && size > 0) {
    // x in runs; an expression Eigen evaluates in packets (its linear order is its storage
    // order, which is the order walked here: through the gather below, an expression took
    // 2.9× the time of the same call on an array, 80 classes); anything else.
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
        yb[k] = label == static_cast<long long>(in.j) ? S(1) : S(0);
        wb[k] = ignored ? S(0) : labels.template weight<S>(in.i);
      }
      span(span_kind<Weights::per_element>{}, xb, yb, wb, nullptr, gb, n, acc);
      Cursor out(b, rows, cols, row_major);
      for (Eigen::Index k = 0; k < n; ++k, out.next()) eg.coeffRef(out.i, out.j) = gb[k];
    }
    return acc.take();
  });
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_FUSED_HPP
