#ifndef FOCAL_DETAIL_LAYOUT_HPP
#define FOCAL_DETAIL_LAYOUT_HPP

// How the fused passes find their operands: a dense object's elements as runs of contiguous
// elements (a contiguous array is one run, a Block one run per row or column), walked, copied
// out of and into; expressions Eigen evaluates in packets, read a packet at a time by linear
// index; anything else element by element (Cursor). The readers give the labels pass its
// logits whichever the layout, in the same pieces, so the same bits. For row kernels (the
// softmax), rows in place where they are contiguous, else gathered into a row-major stack
// buffer (columns by register transposes).

#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "simd/packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Elements per gather/scatter block of the dense pass: 3 buffers of 1 KiB of float.
inline constexpr Eigen::Index block_elements = 256;

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
    // need not stop at every row (rows shorter than a packet would send every element to the
    // scalar tail: bench_labels dense_onehot/4).
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

// --- Rows: where a row kernel finds a row, and the gather of rows in other layouts. ---

/// Scalars in the stack buffer through which rows in other layouts reach a row kernel (the
/// softmax's packet rows; 16 KiB of float), where it holds a cache line of each column (16 rows of float, 8 of
/// double); for wider rows, wide_row_buffer's 64 KiB (Eigen's own stack allocations go to
/// 128 KiB). Rows of more classes than that holds take the scalar kernel there.
inline constexpr Eigen::Index row_buffer = 4096;
template <class Scalar>
inline constexpr Eigen::Index wide_row_buffer = 65536 / Eigen::Index(sizeof(Scalar));

/// Pointer to the elements of a: const where a is const or read-only (an expression).
template <class D>
using element_pointer =
    std::conditional_t<std::is_const<D>::value ||
                           (int(Eigen::internal::traits<std::remove_const_t<D>>::Flags) &
                            Eigen::LvalueBit) == 0,
                       const typename D::Scalar*, typename D::Scalar*>;

/// Row i of a at row_start(a, i): a row-major object with contiguous rows (inner stride 1),
/// in a build where the packet kernel runs for its Scalar; nullptr for any other object
/// (expressions included).
template <class D>
element_pointer<D> row_start(D& a, Eigen::Index i) {
  using Scalar = typename D::Scalar;
  constexpr int flags = int(Eigen::internal::traits<std::remove_const_t<D>>::Flags);
  if constexpr (simd::vectorized<Scalar> && (flags & Eigen::DirectAccessBit) != 0 &&
                (flags & Eigen::RowMajorBit) != 0) {
    // Class indices go through the packets as Scalar: exact up to 2^digits.
    constexpr double exact = double(1LL << std::numeric_limits<Scalar>::digits);
    if (a.innerStride() == 1 && double(a.cols()) < exact) return a.data() + i * a.outerStride();
  }
  (void)a;
  (void)i;
  return nullptr;
}

/// Column j of a at column_start(a, j): a column-major object with contiguous columns (inner
/// stride 1), in a build where the packet kernel runs for its Scalar; nullptr for any other.
template <class D>
element_pointer<D> column_start(D& a, Eigen::Index j) {
  using Scalar = typename D::Scalar;
  constexpr int flags = int(Eigen::internal::traits<std::remove_const_t<D>>::Flags);
  if constexpr (simd::vectorized<Scalar> && (flags & Eigen::DirectAccessBit) != 0 &&
                (flags & Eigen::RowMajorBit) == 0) {
    if (a.innerStride() == 1) return a.data() + j * a.outerStride();
  }
  (void)a;
  (void)j;
  return nullptr;
}

/// Prefetches elements [from, from + n) of each of `classes` columns `stride` apart (for
/// writing with Write): a chunk of column-major rows reads more streams than the hardware
/// prefetchers follow (benchmark: bench_labels softmax_colmajor/81).
/// Nothing where that is less than a cache line per column.
template <int Write, class S>
EIGEN_ALWAYS_INLINE void prefetch_columns(const S* cols, Eigen::Index stride,
                                          Eigen::Index classes, Eigen::Index from,
                                          Eigen::Index n) {
#if defined(__GNUC__) || defined(__clang__)
  const Eigen::Index bytes = n * Eigen::Index(sizeof(S));
  if (bytes < 64) return;
  for (Eigen::Index j = 0; j < classes; ++j) {
    const char* p = reinterpret_cast<const char*>(cols + j * stride + from);
    for (Eigen::Index b = 0; b < bytes; b += 64) __builtin_prefetch(p + b, Write);
  }
#else
  (void)cols, (void)stride, (void)classes, (void)from, (void)n;
#endif
}

/// Between n rows of `classes` columns, row-major in rows (row k at rows + k · classes), and
/// the same elements in columns `stride` apart from cols (each contiguous): into rows, or with
/// ToColumns into the columns. Squares of a packet's lanes go through registers (Eigen's
/// ptranspose), the edges element by element: element by element throughout, the copy of
/// column-major logits to the softmax rows and back takes as long as the rows' kernel
/// (benchmark: bench_labels softmax_colmajor against softmax).
template <bool ToColumns, class S>
EIGEN_ALWAYS_INLINE void transpose_rows(S* cols, Eigen::Index stride, Eigen::Index n,
                                        Eigen::Index classes, S* rows) {
  using namespace Eigen::internal;
  // 256-bit squares in AVX-512 builds: Eigen's 512-bit transposes trip GCC 12's warning about
  // its own intrinsics (bug 105593) in Eigen's code, outside any region focal can silence.
  using Full = simd::packet_t<S>;
  using P = std::conditional_t<sizeof(Full) == 64, typename unpacket_traits<Full>::half, Full>;
  constexpr int L = simd::lanes<P>;
  const auto move = [&](Eigen::Index k, Eigen::Index j) {
    if constexpr (ToColumns) {
      cols[j * stride + k] = rows[k * classes + j];
    } else {
      rows[k * classes + j] = cols[j * stride + k];
    }
  };
  Eigen::Index j = 0;
  for (; j + L <= classes; j += L) {
    Eigen::Index k = 0;
    for (; k + L <= n; k += L) {
      PacketBlock<P, L> b;
      S* c = cols + j * stride + k;
      S* r = rows + k * classes + j;
      if constexpr (ToColumns) {
        for (int m = 0; m < L; ++m, r += classes) b.packet[m] = ploadu<P>(r);
        ptranspose(b);
        for (int m = 0; m < L; ++m, c += stride) pstoreu(c, b.packet[m]);
      } else {
        for (int m = 0; m < L; ++m, c += stride) b.packet[m] = ploadu<P>(c);
        ptranspose(b);
        for (int m = 0; m < L; ++m, r += classes) pstoreu(r, b.packet[m]);
      }
    }
    for (; k < n; ++k)
      for (int m = 0; m < L; ++m) move(k, j + m);
  }
  for (; j < classes; ++j)
    for (Eigen::Index k = 0; k < n; ++k) move(k, j);
}

/// f(buffer, capacity) with a 64 KiB stack buffer, in a frame of its own: beside the 16 KiB
/// one, it slows column-major rows of few classes (benchmark: bench_labels softmax_colmajor/21).
template <class Scalar, class F>
EIGEN_DONT_INLINE void with_wide_buffer(const F& f) {
  alignas(64) Scalar buffer[wide_row_buffer<Scalar>];
  f(buffer, wide_row_buffer<Scalar>);
}

/// Rows [first, end) of x (any layout, at most wide_row_buffer classes) into g through a
/// row-major stack buffer, a part at a time: gathered, run there in place by
/// run(buffer, first row, rows), and the gradient rows scattered back; each class's rows are
/// read and written in storage order. Contiguous columns (a column-major array, Map or Block)
/// go through transpose_rows, the next part's lines prefetched; anything else element by
/// element. In a frame of its own: inlined, it slows the row-major calls (benchmark:
/// bench_labels softmax). Against the scalar row kernel these layouts ran before:
/// bench_labels softmax_colmajor against softmax_scalar.
template <class DX, class DG, class Run>
EIGEN_DONT_INLINE void gathered_rows(const DX& x, DG& g, Eigen::Index first, Eigen::Index end,
                                     const Run& run) {
  using Scalar = typename DX::Scalar;
  const Eigen::internal::evaluator<DX> ex(x);
  Eigen::internal::evaluator<DG> eg(g);
  const Eigen::Index rows = x.rows(), classes = x.cols();
  const Scalar* x_cols = column_start(x, 0);
  Scalar* g_cols = column_start(g, 0);
  const Eigen::Index x_stride = x_cols != nullptr && classes > 1 ? column_start(x, 1) - x_cols : 0;
  const Eigen::Index g_stride = g_cols != nullptr && classes > 1 ? column_start(g, 1) - g_cols : 0;
  constexpr Eigen::Index line = 64 / Eigen::Index(sizeof(Scalar));  // a cache line's rows
  const auto parts = [&](Scalar* buffer, Eigen::Index capacity) {
    // 4,096 scalars, which stay in L1 from the gather through the kernel to the scatter, or a
    // cache line of each column where that is more; the range cut into equal parts of at
    // most that.
    const Eigen::Index most = std::min(capacity / classes, std::max(line, row_buffer / classes));
    const Eigen::Index count = (end - first + most - 1) / most;
    const Eigen::Index size = count == 0 ? 0 : (end - first + count - 1) / count;
    for (Eigen::Index c0 = first; c0 < end; c0 += size) {
      // The next part's lines, also past the range: the next chunk's first part.
      const Eigen::Index n = std::min(size, end - c0), next = std::min(size, rows - c0 - n);
      if (x_cols != nullptr) {
        transpose_rows<false>(const_cast<Scalar*>(x_cols) + c0, x_stride, n, classes, buffer);
        prefetch_columns<0>(x_cols, x_stride, classes, c0 + n, next);
      } else {
        for (Eigen::Index j = 0; j < classes; ++j)
          for (Eigen::Index k = 0; k < n; ++k) buffer[k * classes + j] = ex.coeff(c0 + k, j);
      }
      run(buffer, c0, n);
      if (g_cols != nullptr) {
        transpose_rows<true>(g_cols + c0, g_stride, n, classes, buffer);
        prefetch_columns<1>(g_cols, g_stride, classes, c0 + n, next);
      } else {
        for (Eigen::Index j = 0; j < classes; ++j)
          for (Eigen::Index k = 0; k < n; ++k) eg.coeffRef(c0 + k, j) = buffer[k * classes + j];
      }
    }
  };
  if (classes * line <= row_buffer) {
    alignas(64) Scalar buffer[row_buffer];
    parts(buffer, row_buffer);
  } else {
    with_wide_buffer<Scalar>(parts);
  }
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_LAYOUT_HPP
