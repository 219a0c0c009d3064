#ifndef FOCAL_DETAIL_SPAN_HPP
#define FOCAL_DETAIL_SPAN_HPP

// The kernel over a contiguous span of elements, with the fused passes' extras: anchor weights,
// a keep mask, the gradient divided by the normalizer, and the losses summed into the chunk's
// accumulator. Every driver (dense, labels) ends here.

#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

#include "simd/eft.hpp"
#include "simd/packet.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

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
enum class Weighting { none, per_element };

/// A kernel over a contiguous span: loss into acc, grad = w·d / normalizer into g. Any kernel
/// with eval_block<Mode>(x, y, packets, loss, grad) on this build's packets (SigmoidKernel).
/// Masked: elements whose `keep` is 0 give a loss and a gradient of exactly 0, whatever their
/// input (NaN included). Runs eval_block over groups of block_packets packets; the tail (n not
/// a multiple of the packet size) is padded into a full packet, so every element goes through
/// the same instructions.
template <auto Mode, Weighting How, bool Masked, class S, class Kernel>
void fused_span(const Kernel& kernel, const S* x, const S* y,
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
    const S *xs = x + i, *ys = y + i, *ws = How == Weighting::per_element ? w + i : nullptr;
    const S* ks = Masked ? keep + i : nullptr;
    S* gs = g + i;
    if (!whole) {
      for (Eigen::Index k = 0; k < padded; ++k) {
        xb[k] = k < r ? x[i + k] : S(0);
        yb[k] = k < r ? y[i + k] : S(0);
        if constexpr (How == Weighting::per_element) wb[k] = k < r ? w[i + k] : S(0);
        if constexpr (Masked) kb[k] = k < r ? keep[i + k] : S(0);
      }
      xs = xb;
      ys = yb;
      ws = wb;
      ks = kb;
      gs = gb;
    }
    // The group's lines of g requested before its arithmetic (~300 cycles) rather than by the
    // stores after it (benchmark: bench_fused fused, a few percent from 256K to 4M floats).
    if (r == group) prefetch_for_write<group>(gs);
    kernel.template eval_block<Mode>(xs, ys, packets, lb, db);
    std::fill(lb + r, lb + group, S(0));  // padding lanes and absent packets add nothing
    for (int k = 0; k < packets; ++k) {
      P d = pload<P>(db + k * L);
      if constexpr (How != Weighting::none) {
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

/// What a span call carries besides x and y: anchor weights (How), and whether a 0/1 `keep`
/// mask drops elements.
template <Weighting How, bool Masked = false>
struct span_kind {};

/// The span pass of the drivers (fused_dense, fused_labels): a kernel and the normalizer.
/// The kernel's mode (its dispatch) and the scaling are chosen here, per span, so that the
/// drivers around it are compiled once per argument type rather than once per mode.
template <class S, class Kernel>
struct SpanPass {
  static_assert(std::is_same<typename Kernel::P, simd::packet_t<S>>::value,
                "focal: the drivers sum this build's packets");
  Kernel kernel;
  S normalizer;

  template <Weighting How, bool Masked>
  void operator()(span_kind<How, Masked>, const S* x, const S* y, const S* w, const S* keep,
                  S* g, Eigen::Index n, PacketSum<simd::packet_t<S>>& acc) const {
    kernel.dispatch([&](auto mode) {
      fused_span<decltype(mode)::value, How, Masked>(kernel, x, y, w, keep, g, n, normalizer, acc);
    });
  }
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SPAN_HPP
