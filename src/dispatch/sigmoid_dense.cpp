// The dispatch variant's dense sigmoid calls (see variant.hpp).
#include "variant.hpp"

namespace focal_dispatch_variant {

double sigmoid_dense(const abi::Call& call, const abi::Sigmoid& s, const abi::Array2& x,
                     const abi::Array2& y, const abi::Array2& g, double normalizer,
                     const abi::Array2* weights) {
  const auto e = exec(call);
  return with_layout(call, [&](auto scalar, auto order) {
    using S = decltype(scalar);
    constexpr int O = decltype(order)::value;
    return with_input<S>(s, [&](const auto& loss) {
      if (weights != nullptr) {
        return double(loss.value_and_gradient(in<S, O>(x), in<S, O>(y), out<S, O>(g),
                                              static_cast<S>(normalizer), in<S, O>(*weights), e));
      }
      return double(loss.value_and_gradient(in<S, O>(x), in<S, O>(y), out<S, O>(g),
                                            static_cast<S>(normalizer), e));
    });
  });
}

}  // namespace focal_dispatch_variant
