// The calls the dispatch test runs twice: through focal::dispatch (test_dispatch.cpp, built
// with the default flags) and through the header's own types, compiled per instruction set
// with the variant's flags (reference.cpp). Each call emits its name, its result and its
// gradient's bytes; the two runs must agree byte for byte.
#ifndef FOCAL_TESTS_DISPATCH_CASES_HPP
#define FOCAL_TESTS_DISPATCH_CASES_HPP

#include <focal/focal.hpp>

#include "apis.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace dispatch_cases {

/// Where a run sends its results: neutral data, the same in every translation unit.
struct Sink {
  void* context;
  void (*emit)(void* context, const char* name, const void* bytes, std::size_t size);
};

/// The loss types of a run (apis.hpp).
using dispatch_apis::Dispatch;
using dispatch_apis::Header;

/// A deterministic generator (the same numbers in every build).
struct Random {
  std::uint64_t state;
  double uniform() {  // [0, 1)
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(state >> 11) * 0x1.0p-53;
  }
  long long below(long long n) { return static_cast<long long>(uniform() * double(n)); }
};

using Index = Eigen::Index;
template <class S, int O = Eigen::ColMajor>
using Array = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, O>;
template <class S>
using Vector = Eigen::Array<S, Eigen::Dynamic, 1>;

/// Inputs: N × K logits over every regime (a few infinite and one NaN), targets, weights,
/// labels with background and ignore. N·K spans two summation chunks and more. Each value is
/// one rounding of an exact one, so that every build (with or without FMA contraction) makes
/// the same inputs.
template <class S>
struct Data {
  static constexpr Index N = 331, K = 29, bins = 17;
  Array<S> x{N, K}, p{N, K}, hard{N, K}, soft{N, K}, w{N, K}, dfl_x{N, bins};
  Vector<S> row_w{N}, scores{N}, dfl_t{N};
  Vector<int> labels32{N};
  Vector<std::int64_t> labels64{N};

  Data() {
    Random r{0x5eed};
    for (Index j = 0; j < K; ++j) {
      for (Index i = 0; i < N; ++i) {
        const double u = r.uniform();
        x(i, j) = static_cast<S>(u < 0.05 ? (u - 0.025) * 4000 : (u - 0.5) * 40);
        p(i, j) = static_cast<S>(r.uniform());
        hard(i, j) = r.uniform() < 0.1 ? S(1) : S(0);
        soft(i, j) = r.uniform() < 0.2 ? static_cast<S>(r.uniform()) : S(0);
        w(i, j) = static_cast<S>(r.uniform() * 2);
      }
    }
    x(0, 0) = std::numeric_limits<S>::infinity();
    x(1, 1) = -std::numeric_limits<S>::infinity();
    x(2, 2) = std::numeric_limits<S>::quiet_NaN();
    p(3, 3) = S(0);
    p(4, 4) = S(1);
    for (Index i = 0; i < N; ++i) {
      const long long c = r.uniform() < 0.15 ? focal::ignore
                          : r.uniform() < 0.5 ? focal::background
                                              : r.below(K);
      labels32[i] = static_cast<int>(c);
      labels64[i] = c;
      row_w[i] = static_cast<S>(r.uniform() * 3);
      scores[i] = static_cast<S>(r.uniform());
      dfl_t[i] = static_cast<S>(r.uniform() * double(bins - 1));
      for (Index j = 0; j < bins; ++j) dfl_x(i, j) = static_cast<S>((r.uniform() - 0.5) * 30);
    }
  }
};

/// A serial "pool", as a framework's parallel_for: chunks in reverse order.
struct ReversePool {
  template <class Task>
  void operator()(std::size_t n, const Task& task) const {
    for (std::size_t k = n; k-- > 0;) task(k);
  }
};

template <class S, class G>
void emit(const Sink& sink, const std::string& name, S value, const G& grad) {
  sink.emit(sink.context, name.c_str(), &value, sizeof value);
  for (Index j = 0; j < grad.cols(); ++j) {
    for (Index i = 0; i < grad.rows(); ++i) {
      const S g = grad(i, j);
      sink.emit(sink.context, name.c_str(), &g, sizeof g);
    }
  }
}

/// The calls of one loss on logits or probabilities x (targets y: 0/1 or soft), in both storage
/// orders.
template <class S, bool Soft, class Loss>
void sigmoid_calls(const Sink& sink, const std::string& name, const Loss& loss, const Data<S>& d,
                   const Array<S>& x, const Array<S>& y) {
  const Array<S, Eigen::RowMajor> xr = x, yr = y, wr = d.w;
  Array<S> g(x.rows(), x.cols());
  Array<S, Eigen::RowMajor> gr(x.rows(), x.cols());
  const S n = S(7);
  emit(sink, name + " dense", loss.value_and_gradient(x, y, g, n), g);
  emit(sink, name + " dense row-major", loss.value_and_gradient(xr, yr, gr, n), gr);
  emit(sink, name + " dense weights", loss.value_and_gradient(x, y, g, n, d.w), g);
  emit(sink, name + " dense row weights, row-major",
       loss.value_and_gradient(xr, yr, gr, n, d.row_w), gr);
  if constexpr (Soft) {
    emit(sink, name + " scored labels",
         loss.value_and_gradient(x, focal::scored_labels(d.labels32, d.scores), g, n), g);
    emit(sink, name + " scored labels, weights, int64, row-major",
         loss.value_and_gradient(xr, focal::scored_labels(d.labels64, d.scores, d.row_w), gr, n),
         gr);
  } else {
    emit(sink, name + " labels", loss.value_and_gradient(x, focal::labels(d.labels32), g, n), g);
    emit(sink, name + " labels, weights, int64, row-major",
         loss.value_and_gradient(xr, focal::labels(d.labels64, d.row_w), gr, n), gr);
  }
}

template <class Api, class S, class I>
void sigmoid_family(const Sink& sink, const Data<S>& d, const std::string& in) {
  const Array<S>& x = std::is_same<I, focal::Logits>::value ? d.x : d.p;
  using A = Api;
  sigmoid_calls<S, false>(sink, "CE " + in, typename A::template Sigmoid<focal::CrossEntropy<S, I>>(),
                   d, x, d.hard);
  sigmoid_calls<S, false>(sink, "BCE " + in,
                   typename A::template Sigmoid<focal::BalancedCrossEntropy<S, I>>(S(0.6)), d, x,
                   d.hard);
  sigmoid_calls<S, false>(sink, "FL 0.5 " + in,
                   typename A::template Sigmoid<focal::FocalLoss<S, I>>(S(0.5)), d, x, d.hard);
  sigmoid_calls<S, false>(sink, "BFL " + in,
                   typename A::template Sigmoid<focal::BalancedFocalLoss<S, I>>(), d, x, d.hard);
  sigmoid_calls<S, true>(sink, "QFL " + in,
                   typename A::template Sigmoid<focal::QualityFocalLoss<S, I>>(S(1.5)), d, x,
                   d.soft);
  sigmoid_calls<S, true>(sink, "VFL " + in,
                   typename A::template Sigmoid<focal::VarifocalLoss<S, I>>(S(0.7), S(3)), d, x,
                   d.soft);
}

template <class Api, class S>
void run_scalar(const Sink& sink, const std::string& s) {
  const Data<S> d;
  sigmoid_family<Api, S, focal::Logits>(sink, d, s + " logits");
  sigmoid_family<Api, S, focal::Probabilities>(sink, d, s + " probabilities");
  using Star = typename Api::template Sigmoid<focal::FocalLossStar<S>>;
  sigmoid_calls<S, false>(sink, "FL* " + s, Star(S(3), S(-1)), d, d.x, d.hard);

  // Other layouts and executions, on one loss: a Block, a Map with an outer stride, threads,
  // the caller's pool.
  using BFL = typename Api::template Sigmoid<focal::BalancedFocalLoss<S>>;
  const BFL bfl(S(0.25), S(2));
  Array<S> g(d.N, d.K), big = Array<S>::Zero(d.N + 5, d.K + 3);
  auto block = big.block(2, 1, d.N, d.K);
  emit(sink, "BFL block " + s,
       bfl.value_and_gradient(d.x, d.hard, block, S(1), focal::threads(3)), big);
  const Eigen::Map<const Array<S>, 0, Eigen::OuterStride<>> xs(d.w.data(), d.N - 10, d.K,
                                                              Eigen::OuterStride<>(d.N));
  Array<S> gs(d.N - 10, d.K);
  emit(sink, "BFL strided map, pool " + s,
       bfl.value_and_gradient(xs, d.hard.topRows(d.N - 10), gs, S(1),
                              focal::parallel(ReversePool{})),
       gs);
  emit(sink, "BFL labels threads " + s,
       bfl.value_and_gradient(d.x, focal::labels(d.labels64), g, S(3), focal::threads(2)), g);

  // The softmax focal loss: one α, per-class α; both orders, both index widths.
  typename Api::template Softmax<S> softmax(S(0.25), S(2));
  Vector<S> class_alpha(d.K);
  // One rounding: a + b·c would be an FMA in the AVX2 builds and not here (-ffp-contract).
  for (Index c = 0; c < d.K; ++c) class_alpha[c] = S(3 + c) / S(30);
  typename Api::template Softmax<S> per_class(class_alpha, S(1.5));
  const Array<S, Eigen::RowMajor> xr = d.x;
  Array<S, Eigen::RowMajor> gr(d.N, d.K);
  Vector<int> softmax_labels = d.labels32;
  for (Index i = 0; i < d.N; ++i) {
    if (softmax_labels[i] == focal::background) softmax_labels[i] = 0;
  }
  Vector<std::int64_t> softmax_labels64 = softmax_labels.template cast<std::int64_t>();
  emit(sink, "softmax " + s, softmax.value_and_gradient(d.x, focal::labels(softmax_labels), g, S(5)), g);
  emit(sink, "softmax per class, weights, int64, row-major " + s,
       per_class.value_and_gradient(xr, focal::labels(softmax_labels64, d.row_w), gr, S(5),
                                    focal::threads(2)),
       gr);

  // DFL: rows of 17 bins, both orders, with row weights.
  typename Api::template Distribution<S> dfl;
  Array<S> gd(d.N, d.bins);
  const Array<S, Eigen::RowMajor> dxr = d.dfl_x;
  Array<S, Eigen::RowMajor> gdr(d.N, d.bins);
  emit(sink, "DFL " + s, dfl.value_and_gradient(d.dfl_x, d.dfl_t, gd, S(4)), gd);
  emit(sink, "DFL weights row-major " + s,
       dfl.value_and_gradient(dxr, d.dfl_t, gdr, S(4), d.row_w), gdr);
}

/// Every call, float then double.
template <class Api>
void run_all(const Sink& sink) {
  run_scalar<Api, float>(sink, "float");
  run_scalar<Api, double>(sink, "double");
}

}  // namespace dispatch_cases

#endif  // FOCAL_TESTS_DISPATCH_CASES_HPP
