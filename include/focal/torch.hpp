#ifndef FOCAL_TORCH_HPP
#define FOCAL_TORCH_HPP

/// @file
/// The PyTorch bridge (libtorch C++): focal's losses as differentiable operations on CPU
/// tensors. Optional: not included by focal.hpp, it needs libtorch. The forward of each is
/// focal's fused value_and_gradient, which leaves the gradient with respect to the logits; the
/// backward scales that gradient by the incoming one, so `loss.backward()` costs no second pass.

#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "focal.hpp"
#if defined(FOCAL_TORCH_DISPATCH)
#include "dispatch.hpp"
#endif

// Inside focal's instruction-set namespace like the rest of focal: objects built for two
// instruction sets must not share these inline functions' bodies.
FOCAL_NAMESPACE_BEGIN
namespace torch_ops {
// With FOCAL_TORCH_DISPATCH (the op library where focal::dispatch is built: it links it), the
// ops run focal::dispatch's losses, else the header's. The two builds' inline functions differ,
// so each has its own namespace.
#if defined(FOCAL_TORCH_DISPATCH)
inline namespace dispatched {
#else
inline namespace header_only {
#endif

namespace bridge {

#if defined(FOCAL_TORCH_DISPATCH)
template <class S>
using Focal = dispatch::FocalLoss<S>;
template <class S>
using BalancedFocal = dispatch::BalancedFocalLoss<S>;
template <class S>
using SoftmaxFocal = dispatch::SoftmaxFocalLoss<S>;
#else
template <class S>
using Focal = FocalLoss<S>;
template <class S>
using BalancedFocal = BalancedFocalLoss<S>;
template <class S>
using SoftmaxFocal = SoftmaxFocalLoss<S>;
#endif

using AutogradContext = ::torch::autograd::AutogradContext;
using TensorList = ::torch::autograd::tensor_list;

template <class S>
using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Checks that t is a floating-point (float or double) CPU tensor.
inline void check_logits(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), "focal: ", name, " must be a CPU tensor, got ", t.device());
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, "focal: ", name,
              " must be float or double, got ", t.scalar_type());
}

/// Runs f, turning focal's std::invalid_argument into c10::Error (Python: RuntimeError).
template <class F>
auto checked(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, e.what());
    throw;  // not reached: TORCH_CHECK(false) throws
  }
}

/// Calls f(loss) with the sigmoid loss torchvision's (alpha, gamma) name: α < 0 turns the
/// weighting off (FocalLoss), else α-balanced (BalancedFocalLoss); γ = 0 is (α-)CE.
template <class S, class F>
auto with_sigmoid_loss(double alpha, double gamma, F&& f) {
  if (alpha < 0) return f(Focal<S>(static_cast<S>(gamma)));
  return f(BalancedFocal<S>(static_cast<S>(alpha), static_cast<S>(gamma)));
}

/// focal's chunks on PyTorch's intra-op thread pool (at::parallel_for): the same bits as one
/// thread, and as many threads as torch.set_num_threads allows.
inline auto torch_pool() {
  return focal::parallel([](std::size_t n, const auto& task) {
    at::parallel_for(0, static_cast<int64_t>(n), 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) task(static_cast<std::size_t>(k));
    });
  });
}

/// The saved ∂loss/∂logits times the incoming gradient: a scalar for reduced losses, a tensor
/// of the logits' shape for reduction "none".
inline TensorList backward_scaled(AutogradContext* ctx, const TensorList& grad_outputs,
                                  std::size_t inputs) {
  const at::Tensor grad = ctx->get_saved_variables()[0];
  TensorList out(inputs);
  out[0] = grad * grad_outputs[0];
  return out;
}

/// torchvision.ops.sigmoid_focal_loss as an autograd function.
struct SigmoidFocalLossFunction : public ::torch::autograd::Function<SigmoidFocalLossFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& inputs,
                            const at::Tensor& targets, double alpha, double gamma,
                            const std::string& reduction) {
    check_logits(inputs, "inputs");
    TORCH_CHECK(targets.device().is_cpu(), "focal: targets must be a CPU tensor");
    TORCH_CHECK(inputs.sizes() == targets.sizes(), "focal: inputs have shape ", inputs.sizes(),
                " but targets ", targets.sizes(), "; they must match");
    TORCH_CHECK(reduction == "none" || reduction == "mean" || reduction == "sum",
                "focal: reduction must be 'none', 'mean' or 'sum', got '", reduction, "'");
    const at::Tensor x = inputs.contiguous();  // no copy where it already is
    const at::Tensor y = targets.to(inputs.scalar_type()).contiguous();
    at::Tensor grad = at::empty_like(x, at::MemoryFormat::Contiguous);
    at::Tensor result;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "focal::sigmoid_focal_loss", [&] {
      using S = scalar_t;
      const Eigen::Index n = x.numel();
      const Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>> xm(x.data_ptr<S>(), n);
      const Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>> ym(y.data_ptr<S>(), n);
      Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>> gm(grad.data_ptr<S>(), n);
      checked([&] {
        with_sigmoid_loss<S>(alpha, gamma, [&](const auto& loss) {
          if (reduction == "none") {
            // Per-element losses and derivatives: the lazy expressions, one pass each.
            at::Tensor values = at::empty_like(x, at::MemoryFormat::Contiguous);
            Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>>(values.data_ptr<S>(), n) =
                loss.value(xm, ym);
            gm = loss.gradient(xm, ym);
            result = values;
          } else {
            const S normalizer = reduction == "mean" && n > 0 ? static_cast<S>(n) : S(1);
            const S total =
                n > 0 ? loss.value_and_gradient(xm, ym, gm, normalizer, torch_pool()) : S(0);
            result = at::scalar_tensor(reduction == "mean" && n == 0
                                           ? std::numeric_limits<S>::quiet_NaN()
                                           : total,
                                       x.options());
          }
          return 0;
        });
        return 0;
      });
    });
    ctx->save_for_backward({grad});
    return result;
  }

  static TensorList backward(AutogradContext* ctx, TensorList grad_outputs) {
    return backward_scaled(ctx, grad_outputs, 5);
  }
};

/// The forward of the ops on logits [N, K] and int64 labels [N]: checks, views both as Eigen
/// maps (no copy where contiguous), runs pass(logits, focal::labels(labels), grad), which
/// returns the total, and saves the gradient for the backward.
template <class Pass>
at::Tensor labels_forward(AutogradContext* ctx, const at::Tensor& logits,
                          const at::Tensor& labels, const Pass& pass) {
  check_logits(logits, "logits");
  TORCH_CHECK(logits.dim() == 2, "focal: logits must be [N, K], got ", logits.sizes());
  TORCH_CHECK(labels.device().is_cpu() && labels.scalar_type() == at::kLong,
              "focal: labels must be a CPU int64 tensor, got ", labels.scalar_type(), " on ",
              labels.device());
  const at::Tensor x = logits.contiguous(), l = labels.contiguous();
  at::Tensor grad = at::empty_like(x, at::MemoryFormat::Contiguous);
  at::Tensor result;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "focal::torch_ops", [&] {
    using S = scalar_t;
    const Eigen::Map<const RowMajor<S>> xm(x.data_ptr<S>(), x.size(0), x.size(1));
    const Eigen::Map<const Eigen::Array<int64_t, Eigen::Dynamic, 1>> lm(l.data_ptr<int64_t>(),
                                                                        l.numel());
    Eigen::Map<RowMajor<S>> gm(grad.data_ptr<S>(), x.size(0), x.size(1));
    const S total = checked([&] { return pass(xm, focal::labels(lm), gm); });
    result = at::scalar_tensor(total, x.options());
  });
  ctx->save_for_backward({grad});
  return result;
}

/// focal's labels pass as an autograd function: Σ over non-ignored anchors / normalizer.
struct SigmoidFocalLossLabelsFunction
    : public ::torch::autograd::Function<SigmoidFocalLossLabelsFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits,
                            const at::Tensor& labels, double alpha, double gamma,
                            double normalizer) {
    return labels_forward(ctx, logits, labels, [&](const auto& x, const auto& l, auto& g) {
      using S = typename std::decay_t<decltype(x)>::Scalar;
      return with_sigmoid_loss<S>(alpha, gamma, [&](const auto& loss) {
        return loss.value_and_gradient(x, l, g, static_cast<S>(normalizer), torch_pool());
      });
    });
  }

  static TensorList backward(AutogradContext* ctx, TensorList grad_outputs) {
    return backward_scaled(ctx, grad_outputs, 5);
  }
};

/// focal's SoftmaxFocalLoss as an autograd function.
struct SoftmaxFocalLossFunction : public ::torch::autograd::Function<SoftmaxFocalLossFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits,
                            const at::Tensor& labels, double gamma, double alpha,
                            double normalizer) {
    return labels_forward(ctx, logits, labels, [&](const auto& x, const auto& l, auto& g) {
      using S = typename std::decay_t<decltype(x)>::Scalar;
      const SoftmaxFocal<S> loss(static_cast<S>(alpha), static_cast<S>(gamma));
      return loss.value_and_gradient(x, l, g, static_cast<S>(normalizer), torch_pool());
    });
  }

  static TensorList backward(AutogradContext* ctx, TensorList grad_outputs) {
    return backward_scaled(ctx, grad_outputs, 5);
  }
};

}  // namespace bridge

/// torchvision.ops.sigmoid_focal_loss: loss = α_t (1 − p_t)^γ CE(x, t) per element, α_t = α for
/// t = 1 and 1 − α for t = 0 (α < 0: no weighting), reduced by "none", "mean" or "sum".
/// inputs: float or double CPU logits of any shape (contiguous ones are not copied); targets:
/// 0 or 1 of the same shape. Differentiable with respect to inputs.
/// @throws c10::Error on a shape mismatch, a CUDA or integer tensor, a target other than 0 or
/// 1, or a bad α, γ or reduction, with focal's message.
inline at::Tensor sigmoid_focal_loss(const at::Tensor& inputs, const at::Tensor& targets,
                                     double alpha = 0.25, double gamma = 2,
                                     const std::string& reduction = "none") {
  return bridge::SigmoidFocalLossFunction::apply(inputs, targets, alpha, gamma, reduction);
}

/// RetinaNet's classification loss on class-index labels: Σ over non-ignored anchors of the
/// α-balanced focal loss (α < 0: unweighted) of logits [N, K] against labels [N] (int64: a class
/// in [0, K), −1 background, −2 ignore), divided by normalizer (e.g. max(1, #foreground)).
/// Differentiable with respect to logits.
/// @throws c10::Error on bad shapes, dtypes or devices, a bad label, α, γ or normalizer.
inline at::Tensor sigmoid_focal_loss_labels(const at::Tensor& logits, const at::Tensor& labels,
                                            double alpha = 0.25, double gamma = 2,
                                            double normalizer = 1) {
  return bridge::SigmoidFocalLossLabelsFunction::apply(logits, labels, alpha, gamma, normalizer);
}

/// The softmax focal loss (focal::SoftmaxFocalLoss) of logits [N, K] against labels [N] (int64:
/// a class in [0, K) or −2 ignore): Σ_i FL_i / normalizer. Differentiable with respect to
/// logits.
/// @throws c10::Error on bad shapes, dtypes or devices, a bad label, α, γ or normalizer.
inline at::Tensor softmax_focal_loss(const at::Tensor& logits, const at::Tensor& labels,
                                     double gamma = 2, double alpha = 1, double normalizer = 1) {
  return bridge::SoftmaxFocalLossFunction::apply(logits, labels, gamma, alpha, normalizer);
}

}  // namespace dispatched / header_only
}  // namespace torch_ops
FOCAL_NAMESPACE_END

#endif  // FOCAL_TORCH_HPP
