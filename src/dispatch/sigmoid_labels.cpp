// The dispatch variant's sigmoid calls on class-index labels (see variant.hpp): the 0/1 losses
// on focal::labels here, the soft-target losses on focal::scored_labels in soft_labels.cpp
// (two files: each is one of the longest compilations of the library).
#include "variant.hpp"

namespace focal_dispatch_variant {

double sigmoid_labels(const abi::Call& call, const abi::Sigmoid& s, const abi::Array2& x,
                      const abi::LabelVectors& l, const abi::Array2& g, double normalizer) {
  if (s.loss == abi::Loss::quality_focal || s.loss == abi::Loss::varifocal) {
    return soft_labels(call, s, x, l, g, normalizer);
  }
  const auto e = exec(call);
  return with_layout(call, [&](auto scalar, auto order) {
    using S = decltype(scalar);
    constexpr int O = decltype(order)::value;
    const auto run = [&](const auto& loss) {
      return with_labels<S, false>(l, [&](const auto& labels) {
        return double(loss.value_and_gradient(in<S, O>(x), labels, out<S, O>(g),
                                              static_cast<S>(normalizer), e));
      });
    };
    return with_input<S>(s, [&](const auto& loss) {
      if constexpr (is_soft<std::decay_t<decltype(loss)>>::value) {
        return 0.0;  // soft_labels' above
      } else {
        return run(loss);
      }
    });
  });
}

}  // namespace focal_dispatch_variant
