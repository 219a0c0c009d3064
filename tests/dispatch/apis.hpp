// The loss types a run of the dispatch calls uses: the header's own (Header) or
// focal::dispatch's (Dispatch). Shared by the dispatch test (tests/dispatch/cases.hpp) and
// benchmarks/bench_dispatch.cpp.
#ifndef FOCAL_TESTS_DISPATCH_APIS_HPP
#define FOCAL_TESTS_DISPATCH_APIS_HPP

#include <focal/dispatch.hpp>

namespace dispatch_apis {

struct Header {
  template <class Loss>
  using Sigmoid = Loss;
  template <class S>
  using Softmax = focal::SoftmaxFocalLoss<S>;
  template <class S>
  using Distribution = focal::DistributionFocalLoss<S>;
};

struct Dispatch {
  template <class Loss>
  using Sigmoid = focal::dispatch::Sigmoid<Loss>;
  template <class S>
  using Softmax = focal::dispatch::SoftmaxFocalLoss<S>;
  template <class S>
  using Distribution = focal::dispatch::DistributionFocalLoss<S>;
};

}  // namespace dispatch_apis

#endif  // FOCAL_TESTS_DISPATCH_APIS_HPP
