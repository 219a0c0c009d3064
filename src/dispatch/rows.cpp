// The dispatch variant's row losses: the softmax focal loss and DFL (see variant.hpp).
#include "variant.hpp"

namespace focal_dispatch_variant {

double softmax_labels(const abi::Call& call, const abi::Softmax& s, const abi::Array2& x,
                      const abi::LabelVectors& l, const abi::Array2& g, double normalizer) {
  const auto e = exec(call);
  return with_layout(call, [&](auto scalar, auto order) {
    using S = decltype(scalar);
    constexpr int O = decltype(order)::value;
    // The caller's loss, rebuilt: its per-class α borrowed, nothing allocated.
    const focal::SoftmaxFocalLoss<S> loss =
        s.class_alpha != nullptr
            ? focal::SoftmaxFocalLoss<S>(
                  focal::detail::BorrowedClassAlpha<S>{static_cast<const S*>(s.class_alpha),
                                                       s.classes},
                  static_cast<S>(s.gamma))
            : focal::SoftmaxFocalLoss<S>(static_cast<S>(s.alpha), static_cast<S>(s.gamma));
    return with_labels<S, false>(l, [&](const auto& labels) {
      return double(loss.value_and_gradient(in<S, O>(x), labels, out<S, O>(g),
                                            static_cast<S>(normalizer), e));
    });
  });
}

double distribution(const abi::Call& call, const abi::Array2& x, const abi::Vector& targets,
                    const abi::Array2& g, double normalizer, const abi::Vector* weights) {
  const auto e = exec(call);
  return with_layout(call, [&](auto scalar, auto order) {
    using S = decltype(scalar);
    constexpr int O = decltype(order)::value;
    const focal::DistributionFocalLoss<S> loss;
    if (weights != nullptr) {
      return double(loss.value_and_gradient(in<S, O>(x), vec<S>(targets), out<S, O>(g),
                                            static_cast<S>(normalizer), vec<S>(*weights), e));
    }
    return double(loss.value_and_gradient(in<S, O>(x), vec<S>(targets), out<S, O>(g),
                                          static_cast<S>(normalizer), e));
  });
}

}  // namespace focal_dispatch_variant
