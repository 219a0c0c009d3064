#ifndef FOCAL_DETAIL_SCAN_HPP
#define FOCAL_DETAIL_SCAN_HPP

// The vectorized validation scans that run before a fused pass: targets all 0 or 1,
// probabilities all in [0, 1], one verdict for a whole array walked in packets where it lies in
// runs or is an expression Eigen evaluates in packets. A failed or impossible scan sends the
// caller to checks.hpp's exact scan, which finds and names the offender.

#include "config.hpp"

#include <cstddef>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include <Eigen/Core>

#include "../input.hpp"
#include "checks.hpp"
#include "layout.hpp"
#include "simd/packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Walks `runs` runs of `length` contiguous elements `stride` apart from data (a contiguous
/// array is one run), last run first, each backwards: on_packet(v) for each whole packet;
/// returns whether on_element(v) holds for every element after the last whole packet of a run.
/// Backwards because the fused pass that follows starts at the front, which is then the part
/// still in cache.
template <class Scalar, class OnPacket, class OnElement>
bool scan_runs(const Scalar* data, Eigen::Index runs, Eigen::Index length, Eigen::Index stride,
               OnPacket&& on_packet, OnElement&& on_element) {
  using P = simd::packet_t<Scalar>;
  constexpr int L = simd::lanes<P>;
  bool all = true;
  const Eigen::Index whole = length - length % L;
  for (Eigen::Index run = runs; run-- > 0;) {
    const Scalar* r = data + run * stride;
    for (Eigen::Index i = whole; i > 0; i -= L) on_packet(Eigen::internal::ploadu<P>(r + i - L));
    for (Eigen::Index i = whole; i < length; ++i) all = all && on_element(r[i]);
  }
  return all;
}

/// Walks the n coefficients of an expression Eigen evaluates in packets (linear_packets) by
/// linear index, as scan_runs walks a run: on_packet for the whole packets, the rest on_element.
template <class Scalar, class E, class OnPacket, class OnElement>
bool scan_linear(const E& ev, Eigen::Index n, OnPacket&& on_packet, OnElement&& on_element) {
  bool all = true;
  walk_packets<Scalar>(
      ev, 0, n, [&](Eigen::Index, const auto& v) { on_packet(v); },
      [&](Eigen::Index, Scalar v) { all = all && on_element(v); });
  return all;
}

/// scan(on_packet, on_element) over a's coefficients, in runs (scan_runs) or, for an
/// expression Eigen evaluates in packets, by linear index (scan_linear); passes it to test,
/// whose verdict it returns. False where a is neither (the caller's exact scan then decides).
template <class D, class Test>
bool vector_scan(const Eigen::DenseBase<D>& a, Test&& test) {
  using Scalar = typename D::Scalar;
  const auto r = runs_of(a.derived(), bool(D::IsRowMajor));
  if (r.data != nullptr) {
    return test([&](auto&& on_packet, auto&& on_element) {
      return scan_runs(r.data, a.size() / r.length, r.length, r.stride, on_packet, on_element);
    });
  }
  if constexpr (linear_packets<D>) {
    const Eigen::internal::evaluator<D> ev(a.derived());
    return test([&](auto&& on_packet, auto&& on_element) {
      return scan_linear<Scalar>(ev, a.size(), on_packet, on_element);
    });
  }
  return false;
}

/// Targets all 0 or 1? Vectorized over a scan (vector_scan), one verdict for all; false
/// sends the caller to the exact scan, which finds and names the offender.
template <class Scalar, class Scan>
bool targets_look_valid(Scan&& scan) {
  using namespace Eigen::internal;
  using P = simd::packet_t<Scalar>;
  constexpr int L = simd::lanes<P>;
  const P zero = pset1<P>(Scalar(0)), one = pset1<P>(Scalar(1));
  P ok = pcmp_eq(zero, zero);
  bool all = scan([&](const P& v) { ok = pand(ok, por(pcmp_eq(v, zero), pcmp_eq(v, one))); },
                  [](Scalar v) { return is_target(v); });
  alignas(64) Scalar lanes[std::size_t(L)];
  pstoreu(lanes, ok);
  for (int k = 0; k < L; ++k) all = all && !(lanes[k] == Scalar(0));  // a true lane is all ones
  return all;
}

/// Soft targets all in [0, 1], none NaN (is_soft_target)? As targets_look_valid.
template <class Scalar, class Scan>
bool soft_targets_look_valid(Scan&& scan) {
  using P = simd::packet_t<Scalar>;
  const P zero = Eigen::internal::pset1<P>(Scalar(0)), one = Eigen::internal::pset1<P>(Scalar(1));
  auto ok = simd::less_equal(zero, one);  // all true
  const bool all = scan(
      [&](const P& v) {
        ok = simd::mask_and(ok, simd::mask_and(simd::less_equal(zero, v), simd::less_equal(v, one)));
      },
      [](Scalar v) { return is_soft_target(v); });
  return all && simd::mask_all(ok);
}

/// Probabilities all in [0, 1] or NaN (is_probability)? As targets_look_valid.
template <class Scalar, class Scan>
bool probabilities_look_valid(Scan&& scan) {
  using P = simd::packet_t<Scalar>;
  const P zero = Eigen::internal::pset1<P>(Scalar(0)), one = Eigen::internal::pset1<P>(Scalar(1));
  simd::mask_t<P> bad = simd::less(zero, zero);  // all false
  const bool all = scan(
      [&](const P& v) {
        bad = simd::mask_or(bad, simd::mask_or(simd::less(v, zero), simd::less(one, v)));
      },
      [](Scalar v) { return is_probability(v); });
  return all && !simd::mask_any(bad);
}

/// check_targets, with the vectorized scan first where the targets lie in runs of contiguous
/// elements or are an expression Eigen evaluates in packets (the exact scan, which names the
/// offender, otherwise or on failure).
template <bool Soft = false, class DY>
void check_targets_fast(const Eigen::DenseBase<DY>& targets) {
  using Scalar = typename DY::Scalar;
  const bool valid = vector_scan(targets, [](auto&& scan) {
    return Soft ? soft_targets_look_valid<Scalar>(scan) : targets_look_valid<Scalar>(scan);
  });
  if (!valid) check_targets<Soft>(targets);
}

/// Dense weights: of the inputs' shape (false) or one per row (true, a vector of `rows`), else
/// std::invalid_argument; every weight finite and ≥ 0 (vectorized first, as the targets), else
/// std::invalid_argument naming the index and the value.
template <class DW>
bool check_dense_weights(const Eigen::DenseBase<DW>& w, Eigen::Index rows, Eigen::Index cols,
                         const char* input) {
  using Scalar = typename DW::Scalar;
  const bool full = w.rows() == rows && w.cols() == cols;
  const bool per_row = !full && (w.rows() == 1 || w.cols() == 1) && w.size() == rows;
  if (!full && !per_row) {
    std::ostringstream os;
    os << "focal: weights has shape " << w.rows() << "x" << w.cols() << " but " << input
       << " has shape " << rows << "x" << cols << "; weights must have that shape or be a vector"
       << " of " << rows << " entries (one per row)";
    throw std::invalid_argument(os.str());
  }
  const auto ok = [](Scalar v) { return v >= Scalar(0) && v <= std::numeric_limits<Scalar>::max(); };
  const bool valid = vector_scan(w, [&](auto&& scan) {
    using P = simd::packet_t<Scalar>;
    const P zero = Eigen::internal::pset1<P>(Scalar(0));
    const P top = Eigen::internal::pset1<P>(std::numeric_limits<Scalar>::max());
    auto good = simd::less_equal(zero, top);  // all true
    const bool all = scan(
        [&](const P& v) {
          good = simd::mask_and(good, simd::mask_and(simd::less_equal(zero, v), simd::less_equal(v, top)));
        },
        ok);
    return all && simd::mask_all(good);
  });
  if (!valid) check_all("weights", w, ok, "must be finite and >= 0");
  return per_row;
}

/// check_inputs, the same way for probabilities.
template <class Input, class DX>
void check_inputs_fast(const Eigen::DenseBase<DX>& inputs) {
  if constexpr (std::is_same<Input, Probabilities>::value) {
    using Scalar = typename DX::Scalar;
    if (vector_scan(inputs, [](auto&& scan) { return probabilities_look_valid<Scalar>(scan); })) {
      return;
    }
  }
  check_inputs<Input>(inputs);
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SCAN_HPP
