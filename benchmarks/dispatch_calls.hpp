// The calls of bench_dispatch.cpp, run through focal::dispatch there and through the header's
// types in dispatch_header.cpp (compiled with other flags).
#ifndef FOCAL_BENCHMARKS_DISPATCH_CALLS_HPP
#define FOCAL_BENCHMARKS_DISPATCH_CALLS_HPP

#include <focal/focal.hpp>

#include <cstdint>

namespace dispatch_calls {

using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Inputs of the calls: a RetinaNet batch (N anchors × 80 classes, row-major, ~1% foreground,
/// ~9% ignored) with its 0/1 targets and scores, and N × 17 DFL logits; plain data, built by
/// bench_dispatch.cpp.
struct Batch {
  Eigen::Index n = 0, k = 80, bins = 17;
  RowMajor x, y, g, dfl_x, dfl_g;
  Eigen::ArrayXi labels, softmax_labels;
  Eigen::ArrayXf scores, dfl_t;
  Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xd, yd, gd;
};

/// The losses of a build: the header's, or focal::dispatch's (bench_dispatch.cpp).
struct Header {
  template <class Loss>
  using Sigmoid = Loss;
  template <class S>
  using Softmax = focal::SoftmaxFocalLoss<S>;
  template <class S>
  using Distribution = focal::DistributionFocalLoss<S>;
};

/// Call `call` (see bench_dispatch.cpp's list) once; its result.
template <class Api>
double run(int call, Batch& b) {
  const float n = 100;
  switch (call) {
    case 0: {  // α-FL on dense 0/1 targets
      const typename Api::template Sigmoid<focal::BalancedFocalLoss<float>> loss;
      return loss.value_and_gradient(b.x, b.y, b.g, n);
    }
    case 1: {  // α-FL on class-index labels
      const typename Api::template Sigmoid<focal::BalancedFocalLoss<float>> loss;
      return loss.value_and_gradient(b.x, focal::labels(b.labels), b.g, n);
    }
    case 2: {  // QFL on scored labels
      const typename Api::template Sigmoid<focal::QualityFocalLoss<float>> loss;
      return loss.value_and_gradient(b.x, focal::scored_labels(b.labels, b.scores), b.g, n);
    }
    case 3: {  // the softmax focal loss
      const typename Api::template Softmax<float> loss(0.25f, 2.f);
      return loss.value_and_gradient(b.x, focal::labels(b.softmax_labels), b.g, n);
    }
    case 4: {  // DFL
      const typename Api::template Distribution<float> loss;
      return loss.value_and_gradient(b.dfl_x, b.dfl_t, b.dfl_g, n);
    }
    case 5: {  // α-FL in double
      const typename Api::template Sigmoid<focal::BalancedFocalLoss<double>> loss;
      return loss.value_and_gradient(b.xd, b.yd, b.gd, 100.0);
    }
    default: return 0;
  }
}

}  // namespace dispatch_calls

#endif  // FOCAL_BENCHMARKS_DISPATCH_CALLS_HPP
