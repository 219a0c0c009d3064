#ifndef FOCAL_DISPATCH_HPP
#define FOCAL_DISPATCH_HPP

/// @file
/// The losses with their fused calls in the compiled library `focal::dispatch` (CMake target),
/// which holds them built for SSE2, AVX2+FMA and AVX-512 and runs the best this CPU has: the
/// speed of `-march=native` in a program built with default flags.
///
/// `focal::dispatch::BalancedFocalLoss<float>` and the others are the header types of the same
/// name (they derive from them: the same constructors, accessors, per-element and lazy
/// calls); their `value_and_gradient` runs the chosen variant's compiled code, whose results
/// are bitwise those of the header's call compiled for that instruction set. Arguments that
/// are Eigen objects with direct access (Array, Matrix, Map, Block, Ref, in either storage
/// order, with any strides) go to the library; the rest runs the header's code inline, compiled
/// for this translation unit's instruction set: expressions, class indices other than 32- or
/// 64-bit signed integers, unscored labels on the soft-target losses, per_image calls.

#include "focal.hpp"
#include "detail/dispatch_abi.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace forward {

template <class D>
inline constexpr bool direct =
    (int(Eigen::internal::traits<std::decay_t<D>>::Flags) & Eigen::DirectAccessBit) != 0;

/// a in the inputs' storage order (see abi::Array2). A vector's two strides are its step:
/// Eigen walks a vector by its inner stride whatever its orientation.
template <class D>
dispatch::abi::Array2 array2(const D& a, bool row_major) {
  std::ptrdiff_t rs = a.rowStride(), cs = a.colStride();
  if (a.cols() == 1) cs = rs;
  if (a.rows() == 1) rs = cs;
  return {a.data(), a.rows(), a.cols(), row_major ? rs : cs, row_major ? cs : rs};
}

/// Whether v is a vector of n entries (the header's error otherwise).
template <class D>
bool is_vector(const D& v, Eigen::Index n) {
  return (v.rows() == 1 || v.cols() == 1) && v.size() == n;
}

template <class D>
dispatch::abi::Vector vector(const D& v) {
  return {v.data(), v.size(), v.rows() == 1 ? v.colStride() : v.rowStride()};
}

/// A task of the caller's pool: runs chunk k of the variant's pass.
struct PoolTask {
  const void* task;
  void (*run)(const void* task, std::size_t k);
  void operator()(std::size_t k) const { run(task, k); }
};

template <class Exec>
inline constexpr bool known_exec = std::is_same<Exec, Threads>::value;
template <class F>
inline constexpr bool known_exec<Parallel<F>> = true;

inline dispatch::abi::Exec exec_of(const Threads& t) { return {t.count, nullptr, nullptr}; }

template <class F>
dispatch::abi::Exec exec_of(const Parallel<F>& p) {
  return {1, &p.parallel_for,
          [](const void* pool, std::size_t n, const void* task,
             void (*run)(const void*, std::size_t)) {
            (*static_cast<const F*>(pool))(n, PoolTask{task, run});
          }};
}

template <class Scalar, class Exec>
dispatch::abi::Call call_of(bool row_major, const Exec& exec) {
  return {std::is_same<Scalar, double>::value ? 1 : 0, row_major ? 1 : 0, exec_of(exec)};
}

/// Label vectors the library takes: direct access, class indices of 4 or 8 signed bytes,
/// weights and scores of the loss's scalar.
template <class Scalar, class Indices, class Weights, class Scores>
constexpr bool labels_forwardable() {
  using I = typename Indices::Scalar;
  bool ok = direct<Indices> && std::is_signed<I>::value && (sizeof(I) == 4 || sizeof(I) == 8);
  if constexpr (!std::is_empty<Weights>::value) {
    ok = ok && direct<Weights> && std::is_same<typename Weights::Scalar, Scalar>::value;
  }
  if constexpr (!std::is_empty<Scores>::value) {
    ok = ok && direct<Scores> && std::is_same<typename Scores::Scalar, Scalar>::value;
  }
  return ok;
}

/// The labels as the library takes them, or false where the header should report them (their
/// shape, or a 64-bit label outside the 32-bit range, which no number of classes makes legal).
/// The library takes 32-bit class indices only: 64-bit ones (PyTorch's) are passed as the
/// 32-bit integers in their low halves (x86-64 is little-endian), at twice the stride, once
/// they all fit; the header's code compiled once for both, and the same bits.
template <class Indices, class Weights, class Scores>
bool label_vectors(const Labels<Indices, Weights, Scores>& labels, Eigen::Index rows,
                   dispatch::abi::LabelVectors& out) {
  if (!is_vector(labels.indices(), rows)) return false;
  out.indices = vector(labels.indices());
  out.index_bytes = 4;
  if constexpr (sizeof(typename Indices::Scalar) == 8) {
    const auto& v = labels.indices();
    bool fit = true;
    for (Eigen::Index i = 0; i < v.size(); ++i) {
      const auto c = v.coeff(i);
      fit &= c == static_cast<std::int32_t>(c);
    }
    if (!fit) return false;
    out.indices.stride *= 2;
  }
  out.weights = out.scores = {nullptr, 0, 0};
  if constexpr (!std::is_empty<Weights>::value) {
    if (!is_vector(labels.weights(), rows)) return false;
    out.weights = vector(labels.weights());
  }
  if constexpr (!std::is_empty<Scores>::value) {
    if (!is_vector(labels.scores(), rows)) return false;
    out.scores = vector(labels.scores());
  }
  return true;
}

/// The soft-target losses, which the library takes with scored labels only.
template <class Loss>
inline constexpr bool soft_loss = false;
template <class S, class I>
inline constexpr bool soft_loss<QualityFocalLoss<S, I>> = true;
template <class S, class I>
inline constexpr bool soft_loss<VarifocalLoss<S, I>> = true;

template <class Input>
inline constexpr int is_probabilities = std::is_same<Input, Probabilities>::value ? 1 : 0;

/// The abi description of a sigmoid loss.
template <class S, class I>
dispatch::abi::Sigmoid sigmoid_of(const CrossEntropy<S, I>&) {
  return {dispatch::abi::Loss::cross_entropy, is_probabilities<I>, 0, 0, 0};
}
template <class S, class I>
dispatch::abi::Sigmoid sigmoid_of(const BalancedCrossEntropy<S, I>& l) {
  return {dispatch::abi::Loss::balanced_cross_entropy, is_probabilities<I>, l.alpha(), 0, 0};
}
template <class S, class I>
dispatch::abi::Sigmoid sigmoid_of(const FocalLoss<S, I>& l) {
  return {dispatch::abi::Loss::focal, is_probabilities<I>, 0, l.gamma(), 0};
}
template <class S, class I>
dispatch::abi::Sigmoid sigmoid_of(const BalancedFocalLoss<S, I>& l) {
  return {dispatch::abi::Loss::balanced_focal, is_probabilities<I>, l.alpha(), l.gamma(), 0};
}
template <class S>
dispatch::abi::Sigmoid sigmoid_of(const FocalLossStar<S>& l) {
  return {dispatch::abi::Loss::focal_star, 0, 0, l.gamma(), l.beta()};
}
template <class S, class I>
dispatch::abi::Sigmoid sigmoid_of(const QualityFocalLoss<S, I>& l) {
  return {dispatch::abi::Loss::quality_focal, is_probabilities<I>, 0, 0, l.beta()};
}
template <class S, class I>
dispatch::abi::Sigmoid sigmoid_of(const VarifocalLoss<S, I>& l) {
  return {dispatch::abi::Loss::varifocal, is_probabilities<I>, l.alpha(), l.gamma(), 0};
}

}  // namespace forward
}  // namespace detail
FOCAL_NAMESPACE_END

FOCAL_DETAIL_FP_PUSH
namespace focal {
namespace dispatch {

/// A sigmoid-family loss (focal::CrossEntropy, …, focal::VarifocalLoss) whose fused calls run
/// the dispatch library's variant. Everything else is the header loss's.
template <class Loss>
class Sigmoid : public Loss {
  using Scalar = typename Loss::scalar_type;
 public:
  using Loss::Loss;
  /// The header loss's defaults.
  Sigmoid() = default;
  /// The header loss `loss`, dispatched.
  explicit Sigmoid(const Loss& loss) : Loss(loss) {}

  /// As the header's value_and_gradient(inputs, targets, grad, normalizer, exec).
  template <class DX, class DY, class G, class Exec = Threads,
            class = std::enable_if_t<!std::is_base_of<Eigen::EigenBase<Exec>, Exec>::value>>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs,
                            const Eigen::DenseBase<DY>& targets, G&& grad,
                            Scalar normalizer = Scalar(1), const Exec& exec = Exec{}) const {
    if constexpr (dense_forwardable<DX, DY, G, Exec>()) {
      auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
      const bool rm = bool(DX::IsRowMajor);
      namespace fw = detail::forward;
      return static_cast<Scalar>(abi::table().sigmoid_dense(
          fw::call_of<Scalar>(rm, exec), fw::sigmoid_of(base()), fw::array2(inputs.derived(), rm),
          fw::array2(targets.derived(), rm), fw::array2(out, rm), normalizer, nullptr));
    } else {
      return Loss::value_and_gradient(inputs, targets, std::forward<G>(grad), normalizer, exec);
    }
  }

  /// As the header's value_and_gradient(inputs, targets, grad, normalizer, weights, exec).
  template <class DX, class DY, class G, class DW, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs,
                            const Eigen::DenseBase<DY>& targets, G&& grad, Scalar normalizer,
                            const Eigen::DenseBase<DW>& weights, const Exec& exec = Exec{}) const {
    if constexpr (dense_forwardable<DX, DY, G, Exec>() && detail::forward::direct<DW> &&
                  std::is_same<typename DW::Scalar, Scalar>::value) {
      auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
      const bool rm = bool(DX::IsRowMajor);
      namespace fw = detail::forward;
      const abi::Array2 w = fw::array2(weights.derived(), rm);
      return static_cast<Scalar>(abi::table().sigmoid_dense(
          fw::call_of<Scalar>(rm, exec), fw::sigmoid_of(base()), fw::array2(inputs.derived(), rm),
          fw::array2(targets.derived(), rm), fw::array2(out, rm), normalizer, &w));
    } else {
      return Loss::value_and_gradient(inputs, targets, std::forward<G>(grad), normalizer,
                                      weights, exec);
    }
  }

  /// As the header's value_and_gradient(inputs, labels, grad, normalizer, exec).
  template <class DX, class Indices, class Weights, class Scores, class G, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs,
                            const Labels<Indices, Weights, Scores>& labels, G&& grad,
                            Scalar normalizer = Scalar(1), const Exec& exec = Exec{}) const {
    namespace fw = detail::forward;
    if constexpr (dense_forwardable<DX, DX, G, Exec>() &&
                  fw::labels_forwardable<Scalar, Indices, Weights, Scores>() &&
                  Labels<Indices, Weights, Scores>::scored == fw::soft_loss<Loss>) {
      auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
      abi::LabelVectors l;
      if (fw::label_vectors(labels, inputs.rows(), l)) {
        const bool rm = bool(DX::IsRowMajor);
        return static_cast<Scalar>(abi::table().sigmoid_labels(
            fw::call_of<Scalar>(rm, exec), fw::sigmoid_of(base()),
            fw::array2(inputs.derived(), rm), l, fw::array2(out, rm), normalizer));
      }
      return Loss::value_and_gradient(inputs, labels, out, normalizer, exec);
    } else {
      return Loss::value_and_gradient(inputs, labels, std::forward<G>(grad), normalizer, exec);
    }
  }

  /// The header's per-image call, run inline (not dispatched).
  template <class DX, class Indices, class Weights, class Scores, class G, class D,
            class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs,
                            const Labels<Indices, Weights, Scores>& labels, G&& grad,
                            const PerImage<D>& images, const Exec& exec = Exec{}) const {
    return Loss::value_and_gradient(inputs, labels, std::forward<G>(grad), images, exec);
  }

 private:
  const Loss& base() const noexcept { return *this; }

  template <class DX, class DY, class G, class Exec>
  static constexpr bool dense_forwardable() {
    using DG = std::remove_reference_t<G>;
    if constexpr (std::is_base_of<Eigen::DenseBase<std::remove_const_t<DG>>,
                                  std::remove_const_t<DG>>::value) {
      return detail::forward::direct<DX> && detail::forward::direct<DY> &&
             detail::forward::direct<DG> && detail::forward::known_exec<Exec> &&
             std::is_same<typename DX::Scalar, Scalar>::value &&
             std::is_same<typename DY::Scalar, Scalar>::value &&
             std::is_same<typename DG::Scalar, Scalar>::value;
    } else {
      return false;
    }
  }
};

/// focal::CrossEntropy, dispatched.
template <class Scalar = float, class Input = Logits>
using CrossEntropy = Sigmoid<::focal::CrossEntropy<Scalar, Input>>;
/// focal::BalancedCrossEntropy, dispatched.
template <class Scalar = float, class Input = Logits>
using BalancedCrossEntropy = Sigmoid<::focal::BalancedCrossEntropy<Scalar, Input>>;
/// focal::FocalLoss, dispatched.
template <class Scalar = float, class Input = Logits>
using FocalLoss = Sigmoid<::focal::FocalLoss<Scalar, Input>>;
/// focal::BalancedFocalLoss, dispatched.
template <class Scalar = float, class Input = Logits>
using BalancedFocalLoss = Sigmoid<::focal::BalancedFocalLoss<Scalar, Input>>;
/// focal::FocalLossStar, dispatched.
template <class Scalar = float>
using FocalLossStar = Sigmoid<::focal::FocalLossStar<Scalar>>;
/// focal::QualityFocalLoss, dispatched.
template <class Scalar = float, class Input = Logits>
using QualityFocalLoss = Sigmoid<::focal::QualityFocalLoss<Scalar, Input>>;
/// focal::VarifocalLoss, dispatched.
template <class Scalar = float, class Input = Logits>
using VarifocalLoss = Sigmoid<::focal::VarifocalLoss<Scalar, Input>>;

/// focal::SoftmaxFocalLoss whose fused call runs the dispatch library's variant.
template <class Scalar = float>
class SoftmaxFocalLoss : public ::focal::SoftmaxFocalLoss<Scalar> {
  using Loss = ::focal::SoftmaxFocalLoss<Scalar>;

 public:
  using Loss::Loss;
  /// The header loss's defaults.
  SoftmaxFocalLoss() = default;
  /// The header loss `loss`, dispatched.
  explicit SoftmaxFocalLoss(const Loss& loss) : Loss(loss) {}

  /// As the header's value_and_gradient(logits, labels, grad, normalizer, exec).
  template <class DX, class Indices, class Weights, class G, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& logits,
                            const Labels<Indices, Weights>& labels, G&& grad,
                            Scalar normalizer = Scalar(1), const Exec& exec = Exec{}) const {
    namespace fw = detail::forward;
    using DG = std::remove_const_t<std::remove_reference_t<G>>;
    if constexpr (fw::direct<DX> && std::is_base_of<Eigen::DenseBase<DG>, DG>::value &&
                  fw::known_exec<Exec> && std::is_same<typename DX::Scalar, Scalar>::value &&
                  fw::labels_forwardable<Scalar, Indices, Weights, detail::NoScores>()) {
      auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
      abi::LabelVectors l;
      if (fw::direct<DG> && fw::label_vectors(labels, logits.rows(), l)) {
        const bool rm = bool(DX::IsRowMajor);
        const auto& alpha = this->class_alpha();
        const abi::Softmax s{this->alpha(), this->gamma(),
                             alpha.size() == 0 ? nullptr : alpha.data(), alpha.size()};
        return static_cast<Scalar>(abi::table().softmax_labels(
            fw::call_of<Scalar>(rm, exec), s, fw::array2(logits.derived(), rm), l,
            fw::array2(out, rm), normalizer));
      }
      return Loss::value_and_gradient(logits, labels, out, normalizer, exec);
    } else {
      return Loss::value_and_gradient(logits, labels, std::forward<G>(grad), normalizer, exec);
    }
  }
};

/// focal::DistributionFocalLoss whose fused calls run the dispatch library's variant.
template <class Scalar = float>
class DistributionFocalLoss : public ::focal::DistributionFocalLoss<Scalar> {
  using Loss = ::focal::DistributionFocalLoss<Scalar>;

 public:
  DistributionFocalLoss() = default;
  /// The header loss `loss`, dispatched.
  explicit DistributionFocalLoss(const Loss& loss) : Loss(loss) {}

  /// As the header's value_and_gradient(logits, targets, grad, normalizer, exec).
  template <class DX, class DT, class G, class Exec = Threads,
            class = std::enable_if_t<!std::is_base_of<Eigen::EigenBase<Exec>, Exec>::value>>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DT>& targets,
                            G&& grad, Scalar normalizer = Scalar(1),
                            const Exec& exec = Exec{}) const {
    return call(logits, targets, std::forward<G>(grad), normalizer, exec,
                static_cast<const std::nullptr_t*>(nullptr));
  }

  /// As the header's value_and_gradient(logits, targets, grad, normalizer, weights, exec).
  template <class DX, class DT, class G, class DW, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DT>& targets,
                            G&& grad, Scalar normalizer, const Eigen::DenseBase<DW>& weights,
                            const Exec& exec = Exec{}) const {
    return call(logits, targets, std::forward<G>(grad), normalizer, exec, &weights.derived());
  }

 private:
  template <class DW>
  static constexpr bool weights_forwardable() {
    if constexpr (std::is_same<DW, std::nullptr_t>::value) {
      return true;
    } else {
      return detail::forward::direct<DW> && std::is_same<typename DW::Scalar, Scalar>::value;
    }
  }

  template <class DX, class DT, class G, class Exec, class DW>
  Scalar call(const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DT>& targets, G&& grad,
              Scalar normalizer, const Exec& exec, const DW* weights) const {
    namespace fw = detail::forward;
    using DG = std::remove_const_t<std::remove_reference_t<G>>;
    constexpr bool weighted = !std::is_same<DW, std::nullptr_t>::value;  // else weights is null
    const Loss& base = *this;
    const auto header = [&](auto&& g) {
      if constexpr (weighted) {
        return base.value_and_gradient(logits, targets, std::forward<decltype(g)>(g),
                                       normalizer, *weights, exec);
      } else {
        (void)weights;
        return base.value_and_gradient(logits, targets, std::forward<decltype(g)>(g),
                                       normalizer, exec);
      }
    };
    if constexpr (fw::direct<DX> && fw::direct<DT> && weights_forwardable<DW>() &&
                  std::is_base_of<Eigen::DenseBase<DG>, DG>::value && fw::known_exec<Exec> &&
                  std::is_same<typename DX::Scalar, Scalar>::value &&
                  std::is_same<typename DT::Scalar, Scalar>::value) {
      auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
      bool vectors = fw::direct<DG> && fw::is_vector(targets.derived(), logits.rows());
      abi::Vector w{nullptr, 0, 0};
      if constexpr (weighted) {
        vectors = vectors && fw::is_vector(*weights, logits.rows());
        w = fw::vector(*weights);
      }
      if (vectors) {
        const bool rm = bool(DX::IsRowMajor);
        return static_cast<Scalar>(abi::table().distribution(
            fw::call_of<Scalar>(rm, exec), fw::array2(logits.derived(), rm),
            fw::vector(targets.derived()), fw::array2(out, rm), normalizer,
            weighted ? &w : nullptr));
      }
      return header(out);
    } else {
      return header(std::forward<G>(grad));
    }
  }
};

}  // namespace dispatch
}  // namespace focal
FOCAL_DETAIL_FP_POP

#endif  // FOCAL_DISPATCH_HPP
