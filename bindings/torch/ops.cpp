// focal's PyTorch bridge as TorchScript custom ops (libfocal_torch.so): after
// torch.ops.load_library(path), Python calls torch.ops.focal.sigmoid_focal_loss(x, t, 0.25, 2.0,
// "sum") and the other two, with autograd, as C++ calls focal::torch_ops.
#include <focal/torch.hpp>

#include <torch/library.h>

#include <string>

namespace {

at::Tensor sigmoid_focal_loss(const at::Tensor& inputs, const at::Tensor& targets, double alpha,
                              double gamma, std::string reduction) {
  return focal::torch_ops::sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction);
}

at::Tensor sigmoid_focal_loss_labels(const at::Tensor& logits, const at::Tensor& labels,
                                     double alpha, double gamma, double normalizer) {
  return focal::torch_ops::sigmoid_focal_loss_labels(logits, labels, alpha, gamma, normalizer);
}

at::Tensor softmax_focal_loss(const at::Tensor& logits, const at::Tensor& labels, double gamma,
                              double alpha, double normalizer) {
  return focal::torch_ops::softmax_focal_loss(logits, labels, gamma, alpha, normalizer);
}

}  // namespace

// Catch-all kernels (CompositeImplicitAutograd): autograd goes through the
// torch::autograd::Functions inside, so backward() works from Python too.
TORCH_LIBRARY(focal, m) {
  m.def("sigmoid_focal_loss(Tensor inputs, Tensor targets, float alpha=0.25, float gamma=2, "
        "str reduction=\"none\") -> Tensor",
        &sigmoid_focal_loss);
  m.def("sigmoid_focal_loss_labels(Tensor logits, Tensor labels, float alpha=0.25, "
        "float gamma=2, float normalizer=1) -> Tensor",
        &sigmoid_focal_loss_labels);
  m.def("softmax_focal_loss(Tensor logits, Tensor labels, float gamma=2, float alpha=1, "
        "float normalizer=1) -> Tensor",
        &softmax_focal_loss);
}
