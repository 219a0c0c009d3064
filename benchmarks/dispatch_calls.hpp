// The calls of bench_dispatch.cpp, run through focal::dispatch there and through the header's
// types in dispatch_header.cpp (compiled with other flags).
#ifndef FOCAL_BENCHMARKS_DISPATCH_CALLS_HPP
#define FOCAL_BENCHMARKS_DISPATCH_CALLS_HPP

#include <focal/focal.hpp>

#include "apis.hpp"

#include <cstdint>
#include <vector>

namespace dispatch_calls {

/// Inputs of the calls: a RetinaNet batch (N anchors × 80 classes, row-major, ~1% foreground,
/// ~9% ignored) with its 0/1 targets and scores, and N × 17 DFL logits, built by
/// bench_dispatch.cpp. Plain buffers, read through Maps: an Eigen array allocated in one
/// translation unit would carry its alignment to code compiled with other flags, which may
/// assume a larger one.
struct Batch {
  Eigen::Index n = 0, k = 80, bins = 17;
  std::vector<float> x, y, g, dfl_x, dfl_g, scores, dfl_t;
  std::vector<int> labels, softmax_labels;
  std::vector<double> xd, yd, gd;
};

template <class T>
using Rows = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstRows =
    Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstVector = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

/// The losses of a build: the header's, or focal::dispatch's (tests/dispatch/apis.hpp).
using dispatch_apis::Dispatch;
using dispatch_apis::Header;

/// Call `call` (see bench_dispatch.cpp's list) once; its result.
template <class Api>
double run(int call, Batch& b) {
  const float n = 100;
  const ConstRows<float> x(b.x.data(), b.n, b.k), y(b.y.data(), b.n, b.k);
  Rows<float> g(b.g.data(), b.n, b.k);
  const ConstVector<int> labels(b.labels.data(), b.n);
  switch (call) {
    case 0: {  // α-FL on dense 0/1 targets
      const typename Api::template Sigmoid<focal::BalancedFocalLoss<float>> loss;
      return loss.value_and_gradient(x, y, g, n);
    }
    case 1: {  // α-FL on class-index labels
      const typename Api::template Sigmoid<focal::BalancedFocalLoss<float>> loss;
      return loss.value_and_gradient(x, focal::labels(labels), g, n);
    }
    case 2: {  // QFL on scored labels
      const typename Api::template Sigmoid<focal::QualityFocalLoss<float>> loss;
      const ConstVector<float> scores(b.scores.data(), b.n);
      return loss.value_and_gradient(x, focal::scored_labels(labels, scores), g, n);
    }
    case 3: {  // the softmax focal loss
      const typename Api::template Softmax<float> loss(0.25f, 2.f);
      const ConstVector<int> classes(b.softmax_labels.data(), b.n);
      return loss.value_and_gradient(x, focal::labels(classes), g, n);
    }
    case 4: {  // DFL
      const typename Api::template Distribution<float> loss;
      Rows<float> dg(b.dfl_g.data(), b.n, b.bins);
      return loss.value_and_gradient(ConstRows<float>(b.dfl_x.data(), b.n, b.bins),
                                     ConstVector<float>(b.dfl_t.data(), b.n), dg, n);
    }
    case 5: {  // α-FL in double
      const typename Api::template Sigmoid<focal::BalancedFocalLoss<double>> loss;
      Rows<double> gd(b.gd.data(), b.n, b.k);
      return loss.value_and_gradient(ConstRows<double>(b.xd.data(), b.n, b.k),
                                     ConstRows<double>(b.yd.data(), b.n, b.k), gd, 100.0);
    }
    default: return 0;
  }
}

}  // namespace dispatch_calls

#endif  // FOCAL_BENCHMARKS_DISPATCH_CALLS_HPP
