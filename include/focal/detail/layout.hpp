#ifndef FOCAL_DETAIL_LAYOUT_HPP
#define FOCAL_DETAIL_LAYOUT_HPP

// How the fused passes find their operands: a dense object's elements as runs of contiguous
// elements (a contiguous array is one run, a Block one run per row or column), walked, copied
// out of and into; expressions Eigen evaluates in packets, read a packet at a time by linear
// index; anything else element by element (Cursor). The readers give the labels pass its
// logits whichever the layout, in the same pieces, so the same bits.

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

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_LAYOUT_HPP
