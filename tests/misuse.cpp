// Programs that must not compile (see misuse.* in CMakeLists.txt): each one misuses the API in
// one way, and the build must stop with focal's static_assert message.
#include <focal/focal.hpp>

int main() {
  const focal::BalancedFocalLoss<float> loss;
  Eigen::ArrayXf x = Eigen::ArrayXf::Zero(4), y = Eigen::ArrayXf::Zero(4), g(4);
#if defined(FOCAL_MISUSE_LOGITS_SCALAR)
  Eigen::ArrayXd xd = Eigen::ArrayXd::Zero(4);
  return int(loss.value_and_gradient(xd, y, g));  // double logits for a float loss
#elif defined(FOCAL_MISUSE_TARGETS_SCALAR)
  Eigen::ArrayXi labels = Eigen::ArrayXi::Zero(4);
  return int(loss.value_and_gradient(x, labels, g));  // integer targets
#elif defined(FOCAL_MISUSE_GRAD_SCALAR)
  Eigen::ArrayXd gd(4);
  return int(loss.value_and_gradient(x, y, gd));  // double gradient for a float loss
#elif defined(FOCAL_MISUSE_GRAD_CONST)
  const Eigen::ArrayXf& gc = g;
  return int(loss.value_and_gradient(x, y, Eigen::Map<const Eigen::ArrayXf>(gc.data(), 4)));
#elif defined(FOCAL_MISUSE_GRAD_CONST_ARRAY)
  const Eigen::ArrayXf gc = Eigen::ArrayXf::Zero(4);  // written through const_cast: UB
  return int(loss.value_and_gradient(x, y, gc));
#elif defined(FOCAL_MISUSE_GRAD_TEMPORARY)
  return int(loss.value_and_gradient(x, y, Eigen::ArrayXf(4)));  // the gradient is lost
#elif defined(FOCAL_MISUSE_SOFTMAX_GRAD_TEMPORARY)
  const focal::SoftmaxFocalLoss<float> softmax;
  Eigen::ArrayXi labels = Eigen::ArrayXi::Zero(4);
  return int(softmax.value_and_gradient(x, focal::labels(labels), Eigen::ArrayXf(4)));
#else
  return int(loss.value_and_gradient(x, y, g));
#endif
}
