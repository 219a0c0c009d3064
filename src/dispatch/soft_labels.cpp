// The dispatch variant's soft-target losses on focal::scored_labels (see sigmoid_labels.cpp).
#include "variant.hpp"

namespace focal_dispatch_variant {

double soft_labels(const abi::Call& call, const abi::Sigmoid& s, const abi::Array2& x,
                   const abi::LabelVectors& l, const abi::Array2& g, double normalizer) {
  const auto e = exec(call);
  return with_layout(call, [&](auto scalar, auto order) {
    using S = decltype(scalar);
    constexpr int O = decltype(order)::value;
    return with_input<S>(s, [&](const auto& loss) {
      if constexpr (is_soft<std::decay_t<decltype(loss)>>::value) {
        return with_labels<S, true>(l, [&](const auto& labels) {
          return double(loss.value_and_gradient(in<S, O>(x), labels, out<S, O>(g),
                                                static_cast<S>(normalizer), e));
        });
      } else {
        return 0.0;  // sigmoid_labels' own
      }
    });
  });
}

}  // namespace focal_dispatch_variant
