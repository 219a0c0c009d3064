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
#include "parallel.hpp"
#include "simd/eft.hpp"
#include "simd/exp.hpp"
#include "simd/packet.hpp"
#include "softmax_kernel.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Scalars in the stack buffer through which rows in other layouts reach the packet kernel
/// (16 KiB of float), where it holds a cache line of each column (16 rows of float, 8 of
/// double); for wider rows, softmax_wide_buffer's 64 KiB (Eigen's own stack allocations go to
/// 128 KiB). Rows of more classes than that holds take the scalar kernel there.
inline constexpr Eigen::Index softmax_buffer = 4096;
template <class Scalar>
inline constexpr Eigen::Index softmax_wide_buffer = 65536 / Eigen::Index(sizeof(Scalar));

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

/// Rows per summation chunk of the softmax pass (the unit of threading): about 8,192
/// elements, and at least a cache line of each column, which the gather of other layouts
/// copies at a time.
template <class Scalar>
Eigen::Index softmax_chunk_rows(Eigen::Index classes) {
  constexpr Eigen::Index line = 64 / Eigen::Index(sizeof(Scalar));
  return std::max(line, chunk_elements / std::max<Eigen::Index>(classes, 1));
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
  alignas(64) Scalar buffer[softmax_wide_buffer<Scalar>];
  f(buffer, softmax_wide_buffer<Scalar>);
}

/// Rows [first, end) of x (any layout, at most softmax_wide_buffer classes) into g through a
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
    const Eigen::Index most = std::min(capacity / classes, std::max(line, softmax_buffer / classes));
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
  if (classes * line <= softmax_buffer) {
    alignas(64) Scalar buffer[softmax_buffer];
    parts(buffer, softmax_buffer);
  } else {
    with_wide_buffer<Scalar>(parts);
  }
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SOFTMAX_PACKET_HPP
