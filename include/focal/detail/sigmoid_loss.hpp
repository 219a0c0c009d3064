#ifndef FOCAL_DETAIL_SIGMOID_LOSS_HPP
#define FOCAL_DETAIL_SIGMOID_LOSS_HPP

// The array API shared by every sigmoid-family loss: per-element calls, lazy value/gradient
// expressions, and the fused value_and_gradient pass. The public loss types derive from
// SigmoidLoss and only add constructors and parameter accessors.

#include "config.hpp"

#include <cstddef>
#include <cmath>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "../execution.hpp"
#include "../input.hpp"
#include "../labels.hpp"
#include "checks.hpp"
#include "scan.hpp"
#include "fused_dense.hpp"
#include "fused_labels.hpp"
#include "sigmoid_kernel.hpp"
#include "soft_kernel.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Eigen binary functor: per-element loss (Derivative = false) or ∂loss/∂x, unchecked (the
/// caller validated the arrays). Its packetOp runs the same packet kernel as the fused call, so
/// Eigen vectorizes the expressions.
template <class Scalar, class Kernel, bool Derivative>
struct elementwise_op {
  Kernel kernel;

  Scalar operator()(const Scalar& x, const Scalar& y) const noexcept {
    return Derivative ? kernel.derivative(x, y) : kernel.value(x, y);
  }

  template <class Packet>
  Packet packetOp(const Packet& x, const Packet& y) const {
    using namespace Eigen::internal;
    if constexpr (std::is_same<Packet, simd::packet_t<Scalar>>::value) {
      constexpr int n = unpacket_traits<Packet>::size;
      alignas(64) Scalar xs[std::size_t(n)], ys[std::size_t(n)], ls[std::size_t(n)], ds[std::size_t(n)];
      pstore(xs, x);
      pstore(ys, y);
      kernel.eval_packets(xs, ys, 1, ls, ds);
      return pload<Packet>(Derivative ? ds : ls);
    } else {  // another packet size (Eigen's half packets): lane by lane, same bits
      constexpr int n = unpacket_traits<Packet>::size;
      alignas(64) Scalar xs[std::size_t(n)], ys[std::size_t(n)];
      pstoreu(xs, x);
      pstoreu(ys, y);
      for (int i = 0; i < n; ++i) xs[i] = (*this)(xs[i], ys[i]);
      return ploadu<Packet>(xs);
    }
  }
};

template <class Scalar, class Kernel>
using value_op = elementwise_op<Scalar, Kernel, false>;
template <class Scalar, class Kernel>
using derivative_op = elementwise_op<Scalar, Kernel, true>;

/// Eigen nullary functor: element (i, j) of the loss (or its derivative) of logits against
/// class-index labels, as if labels were one-hot: positive iff j == labels[i]; background rows
/// are negative everywhere; ignored rows are 0; each row weighted by its anchor weight.
template <class Scalar, class Kernel, class DX, class Indices, class Weights, class Scores, bool Derivative>
struct labeled_op {
  Kernel kernel;
  typename Eigen::internal::ref_selector<DX>::type inputs;
  Labels<Indices, Weights, Scores> labels;

  Scalar operator()(Eigen::Index i, Eigen::Index j) const {
    const long long c = labels[i];
    if (c == ignore) return Scalar(0);
    const Scalar x = inputs.coeff(i, j);
    const Scalar y = c == static_cast<long long>(j) ? labels.template score<Scalar>(i) : Scalar(0);
    const Scalar v = Derivative ? kernel.derivative(x, y) : kernel.value(x, y);
    return simd::weight(labels.template weight<Scalar>(i), v);
  }
};

/// Array-kind view of any dense object, so Matrix and Array arguments can be mixed: an
/// Array-kind object itself (a reference, never a copy), anything else wrapped. Nested in an
/// expression, plain objects are then held by reference and expressions, Maps and wrappers by
/// value (Eigen's ref_selector).
template <class D>
decltype(auto) as_array(const Eigen::DenseBase<D>& a) {
  if constexpr (std::is_base_of<Eigen::ArrayBase<D>, D>::value) {
    return a.derived();
  } else {
    return Eigen::ArrayWrapper<const D>(a.derived());
  }
}

/// The kernel inside a sigmoid loss, for detail code that runs it directly (matching_cost).
struct KernelOf {
  /// The kernel of `loss`.
  template <class Loss>
  static const auto& get(const Loss& loss) noexcept {
    return loss.kernel_;
  }
};

/// Whether a kernel takes targets anywhere in [0, 1] (the soft-target losses) rather than 0 or 1.
template <class Kernel, class = void>
struct takes_soft_targets : std::false_type {};
template <class Kernel>
struct takes_soft_targets<Kernel, std::enable_if_t<Kernel::soft_targets>> : std::true_type {};

template <class Scalar, class Input, class Kernel = SigmoidKernel<Scalar, Input>>
class SigmoidLoss {
  static constexpr bool soft = takes_soft_targets<Kernel>::value;

 public:
  using scalar_type = Scalar;  ///< float or double
  using input_type = Input;    ///< focal::Logits or focal::Probabilities

  /// Loss of one element. @throws std::invalid_argument if y is not 0 or 1, or if x is a
  /// probability outside [0, 1]. NaN x gives NaN.
  Scalar operator()(Scalar x, Scalar y) const {
    check_element<Input, soft>(x, y);
    return kernel_.value(x, y);
  }

  /// ∂loss/∂x of one element, x being the logit or the probability as the Input says.
  /// @throws std::invalid_argument as operator().
  Scalar derivative(Scalar x, Scalar y) const {
    check_element<Input, soft>(x, y);
    return kernel_.derivative(x, y);
  }

  /// Per-element losses as a lazy Eigen array expression; nothing is computed or allocated
  /// until it is evaluated (`.sum()`, assignment). Shapes and targets (and probabilities) are
  /// checked now. The expression refers to plain arrays passed in, and copies expressions and
  /// Maps: it is valid as long as the plain arrays live.
  /// @throws std::invalid_argument on a shape mismatch, a target other than 0 or 1, or a
  /// probability outside [0, 1]; the message names the argument, the index and the value.
  template <class DX, class DY>
  auto value(const Eigen::DenseBase<DX>& inputs, const Eigen::DenseBase<DY>& targets) const {
    return make_expr<value_op<Scalar, Kernel>>(inputs, targets);
  }

  /// Per-element ∂loss/∂x as a lazy Eigen array expression, e.g. `G = loss.gradient(X, Y) / n;`.
  /// Checks and lifetime as value().
  template <class DX, class DY>
  auto gradient(const Eigen::DenseBase<DX>& inputs, const Eigen::DenseBase<DY>& targets) const {
    return make_expr<derivative_op<Scalar, Kernel>>(inputs, targets);
  }

  /// Per-element losses against class-index labels (focal::labels), as a lazy N × K array
  /// expression equal to value() against the one-hot targets, with background rows negative for
  /// every class, ignored rows 0, and rows scaled by anchor weights. No one-hot array is built.
  /// @throws std::invalid_argument on a label vector whose length is not N, a label outside
  /// [0, K) ∪ {background, ignore}, a bad anchor weight, or a probability outside [0, 1].
  template <class DX, class Indices, class Weights, class Scores>
  auto value(const Eigen::DenseBase<DX>& inputs, const Labels<Indices, Weights, Scores>& labels) const {
    return make_labeled_expr<false>(inputs, labels);
  }

  /// Per-element ∂loss/∂x against class-index labels, lazily; ignored rows are 0. Checks as
  /// value(inputs, labels).
  template <class DX, class Indices, class Weights, class Scores>
  auto gradient(const Eigen::DenseBase<DX>& inputs, const Labels<Indices, Weights, Scores>& labels) const {
    return make_labeled_expr<true>(inputs, labels);
  }

  /// The fused pass against class-index labels: for N × K inputs and N labels, returns
  /// Σ w_i·loss_ij / normalizer over non-ignored rows and writes grad = its derivative, as the
  /// dense call would with one-hot targets, in one pass in the inputs' storage order, with no
  /// one-hot array and no allocation. Ignored rows get a zero gradient row. exec:
  /// focal::threads(n) or focal::parallel(pool); the result is the same bits with any.
  /// @throws std::invalid_argument as value(inputs, labels), on a grad of another shape, or a
  /// normalizer that is not positive and finite; grad is then untouched.
  template <class DX, class Indices, class Weights, class Scores, class G, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs, const Labels<Indices, Weights, Scores>& labels,
                            G&& grad, Scalar normalizer = Scalar(1),
                            const Exec& exec = Exec{}) const {
    check_input_scalar<DX>();
    auto& out = writable_grad<Scalar>(std::forward<G>(grad));
    check_normalizer(normalizer);
    check_labeled(inputs, labels);
    check_shape("grad", out.rows(), out.cols(), input_name<Input>(), inputs.rows(),
                inputs.cols());
    const double total = fused_labels<Scalar>(pass(normalizer), inputs.derived(), labels, out,
                                              exec);
    return static_cast<Scalar>(total / static_cast<double>(normalizer));
  }

  /// The same with torchvision's RetinaNet normalization: the rows are the anchors of
  /// B = images.size() images, in order, and the result is the mean over images of each
  /// image's Σ w_i·loss_ij divided by max(1, its number of foreground anchors), with grad its
  /// derivative: one call instead of a Map and a normalizer per image.
  /// @throws std::invalid_argument as above, on no images, an image size that is negative, or
  /// sizes that do not add up to the number of rows; grad is then untouched.
  template <class DX, class Indices, class Weights, class Scores, class G, class D, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs, const Labels<Indices, Weights, Scores>& labels,
                            G&& grad, const PerImage<D>& images,
                            const Exec& exec = Exec{}) const {
    check_input_scalar<DX>();
    auto& out = writable_grad<Scalar>(std::forward<G>(grad));
    check_labeled(inputs, labels);
    check_shape("grad", out.rows(), out.cols(), input_name<Input>(), inputs.rows(),
                inputs.cols());
    check_images(images, inputs.rows(), input_name<Input>());
    const Eigen::Index count = images.size();
    CompensatedSum total;
    for (Eigen::Index b = 0, first = 0; b < count; ++b) {
      const Eigen::Index n = images[b];
      const auto part = labels.rows(first, n);
      // B·max(1, #foreground) as the normalizer: each image's mean, then the mean over images.
      const Scalar normalizer = Scalar(count) * foreground_normalizer<Scalar>(part);
      auto g = out.middleRows(first, n);
      const double t = fused_labels<Scalar>(pass(normalizer), inputs.derived().middleRows(first, n),
                                            part, g, exec);
      total.add(t / static_cast<double>(normalizer));
      first += n;
    }
    return static_cast<Scalar>(total.total());
  }

  /// The fused pass with dense weights (mmdetection's `weight`): returns
  /// Σ w·loss / normalizer and writes grad = w·∂loss/∂x / normalizer, in the same single pass.
  /// weights has the inputs' shape (a weight per element) or is a vector of one weight per
  /// row (per anchor); each finite and ≥ 0 (0 drops the element: its loss and gradient are 0,
  /// also where the loss is infinite).
  /// @throws std::invalid_argument as the unweighted call, on weights of another shape, or a
  /// weight that is negative, infinite or NaN; grad is then untouched.
  template <class DX, class DY, class G, class DW, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs,
                            const Eigen::DenseBase<DY>& targets, G&& grad, Scalar normalizer,
                            const Eigen::DenseBase<DW>& weights, const Exec& exec = Exec{}) const {
    static_assert(std::is_same<typename DW::Scalar, Scalar>::value,
                  "focal: weights must have the loss's Scalar type");
    return dense_call(inputs, targets, writable_grad<Scalar>(std::forward<G>(grad)), normalizer,
                      exec, &weights);
  }

  /// The fused pass: returns Σ loss / normalizer and writes grad = ∂(Σ loss / normalizer)/∂x
  /// in one pass over the inputs, allocating nothing. Targets (and probabilities) are checked
  /// in a read-only sweep first, so that grad is untouched when they are bad. grad is any
  /// writable dense object of the inputs' shape (an Array or Matrix, a Block, a Map, a Ref);
  /// it is never resized, and may be the very object holding the inputs (in-place). A const
  /// or temporary Array or Matrix does not compile. RetinaNet passes normalizer =
  /// max(1, number of foreground anchors). The total is summed in double with compensation. exec:
  /// focal::threads(n) or focal::parallel(pool); the result is the same bits with any.
  /// @throws std::invalid_argument on a shape mismatch (targets or grad), a target other than
  /// 0 or 1, a probability outside [0, 1], or a normalizer that is not positive and finite;
  /// grad is left untouched.
  template <class DX, class DY, class G, class Exec = Threads,
            class = std::enable_if_t<!std::is_base_of<Eigen::EigenBase<Exec>, Exec>::value>>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& inputs,
                            const Eigen::DenseBase<DY>& targets, G&& grad,
                            Scalar normalizer = Scalar(1), const Exec& exec = Exec{}) const {
    return dense_call(inputs, targets, writable_grad<Scalar>(std::forward<G>(grad)), normalizer,
                      exec, NoDenseWeights{});
  }

 protected:
  template <class Params>
  explicit SigmoidLoss(const Params& params) : kernel_(params) {}

  /// The kernel's parameters, for the derived types' accessors.
  const auto& params() const noexcept { return kernel_.params(); }

 private:
  // The dense fused call, unweighted (NoDenseWeights) or weighted (a pointer to the weights).
  template <class DX, class DY, class DG, class Exec, class W>
  Scalar dense_call(const Eigen::DenseBase<DX>& inputs, const Eigen::DenseBase<DY>& targets,
                    DG& out, Scalar normalizer, const Exec& exec, const W& weights) const {
    check_scalar<DX, DY>();
    check_normalizer(normalizer);
    check_shape("targets", targets.rows(), targets.cols(), input_name<Input>(), inputs.rows(),
                inputs.cols());
    check_shape("grad", out.rows(), out.cols(), input_name<Input>(), inputs.rows(),
                inputs.cols());
    double total;
    if constexpr (std::is_same<W, NoDenseWeights>::value) {
      // Targets are read twice: checked first, so that grad is untouched when they are bad
      // (the fused pass could not take back what it wrote).
      check_contents(inputs, targets);
      total = fused_dense<Scalar>(pass(normalizer), inputs.derived(), targets.derived(), out,
                                  exec);
    } else {
      using DW = std::decay_t<decltype(weights->derived())>;
      const bool per_row =
          check_dense_weights(*weights, inputs.rows(), inputs.cols(), input_name<Input>());
      check_contents(inputs, targets);
      total = fused_dense<Scalar>(pass(normalizer), inputs.derived(), targets.derived(), out,
                                  exec, DenseWeights<DW>{weights->derived(), per_row});
    }
    return static_cast<Scalar>(total / static_cast<double>(normalizer));
  }

  auto pass(Scalar normalizer) const {
    return SpanPass<Scalar, Kernel>{kernel_, normalizer};
  }

  template <class DX>
  static constexpr void check_input_scalar() {
    static_assert(std::is_same<typename DX::Scalar, Scalar>::value,
                  "focal: logits/probabilities must have the loss's Scalar type "
                  "(float arrays for a loss<float>, double arrays for a loss<double>)");
  }

  template <class DX, class Indices, class Weights, class Scores>
  static void check_labeled(const Eigen::DenseBase<DX>& inputs, const Labels<Indices, Weights, Scores>& labels) {
    static_assert(soft || !Labels<Indices, Weights, Scores>::scored,
                  "focal: scored labels are soft targets, for QualityFocalLoss and VarifocalLoss; "
                  "this loss takes focal::labels(classes) or focal::labels(classes, weights)");
    check_labels<Scalar>(labels, inputs.rows(), inputs.cols(), input_name<Input>(), true);
    check_inputs_fast<Input>(inputs);
  }

  template <bool Derivative, class DX, class Indices, class Weights, class Scores>
  auto make_labeled_expr(const Eigen::DenseBase<DX>& inputs, const Labels<Indices, Weights, Scores>& labels) const {
    check_input_scalar<DX>();
    check_labeled(inputs, labels);
    using Op = labeled_op<Scalar, Kernel, DX, Indices, Weights, Scores, Derivative>;
    using Plain = Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic,
                               DX::IsRowMajor ? Eigen::RowMajor : Eigen::ColMajor>;
    return Eigen::CwiseNullaryOp<Op, const Plain>(inputs.rows(), inputs.cols(),
                                                  Op{kernel_, inputs.derived(), labels});
  }

  template <class DX, class DY>
  static constexpr void check_scalar() {
    check_input_scalar<DX>();
    static_assert(std::is_same<typename DY::Scalar, Scalar>::value,
                  "focal: targets must have the loss's Scalar type "
                  "(for class indices use focal::labels)");
  }

  template <class DX, class DY>
  static void check_arrays(const Eigen::DenseBase<DX>& inputs,
                           const Eigen::DenseBase<DY>& targets) {
    check_shape("targets", targets.rows(), targets.cols(), input_name<Input>(), inputs.rows(),
                inputs.cols());
    check_contents(inputs, targets);
  }

  // Targets 0 or 1, then probabilities in [0, 1]: each vectorized over runs of contiguous
  // elements, and the exact scan, which finds and names the offender, otherwise or on failure.
  // Shapes must match.
  template <class DX, class DY>
  static void check_contents(const Eigen::DenseBase<DX>& inputs,
                             const Eigen::DenseBase<DY>& targets) {
    check_targets_fast<soft>(targets);
    check_inputs_fast<Input>(inputs);
  }

  template <class Op, class DX, class DY>
  auto make_expr(const Eigen::DenseBase<DX>& inputs, const Eigen::DenseBase<DY>& targets) const {
    check_scalar<DX, DY>();
    check_arrays(inputs, targets);
    using Lhs = std::decay_t<decltype(as_array(inputs))>;
    using Rhs = std::decay_t<decltype(as_array(targets))>;
    return Eigen::CwiseBinaryOp<Op, const Lhs, const Rhs>(as_array(inputs), as_array(targets),
                                                      Op{kernel_});
  }

  friend struct KernelOf;
  Kernel kernel_;
};

}  // namespace detail
FOCAL_NAMESPACE_END

namespace Eigen {
namespace internal {
template <class Scalar, class Kernel, bool Derivative>
struct functor_traits<focal::detail::elementwise_op<Scalar, Kernel, Derivative>> {
  enum {
    Cost = 60 * NumTraits<Scalar>::MulCost,  // an exp, a log, two divisions and some
    PacketAccess = focal::detail::simd::vectorized<Scalar>
  };
};
}  // namespace internal
}  // namespace Eigen

#endif  // FOCAL_DETAIL_SIGMOID_LOSS_HPP
