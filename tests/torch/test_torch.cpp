// The libtorch bridge against torchvision's sigmoid_focal_loss written with libtorch ops and
// differentiated by autograd, in double on logits in [−15, 15].
#include <focal/torch.hpp>

#include <catch2/catch.hpp>

namespace {

namespace ops = focal::torch_ops;

at::Tensor torchvision_formula(const at::Tensor& x, const at::Tensor& t, double alpha,
                               double gamma, const std::string& reduction) {
  const at::Tensor p = torch::sigmoid(x);
  const at::Tensor ce = torch::binary_cross_entropy_with_logits(x, t, {}, {}, at::Reduction::None);
  const at::Tensor p_t = p * t + (1 - p) * (1 - t);
  at::Tensor loss = ce * torch::pow(1 - p_t, gamma);
  if (alpha >= 0) loss = (alpha * t + (1 - alpha) * (1 - t)) * loss;
  if (reduction == "mean") return loss.mean();
  if (reduction == "sum") return loss.sum();
  return loss;
}

// Normwise: max |a − b| / max |b|. Elementwise relative differences reach 1e-9 at |x| ≈ 15,
// where the formula's 1 − σ(x) has lost that much (focal's value is the accurate one there).
double max_relative(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item<double>();
}

}  // namespace

TEST_CASE("sigmoid_focal_loss matches torchvision's formula and its autograd gradient") {
  torch::manual_seed(0);
  for (const std::string reduction : {"none", "mean", "sum"}) {
    for (const double alpha : {0.25, -1.0}) {
      for (const double gamma : {0.0, 0.5, 2.0, 5.0}) {
        const at::Tensor x0 = torch::rand({64, 7}, torch::kDouble) * 30 - 15;
        const at::Tensor t = (torch::rand({64, 7}, torch::kDouble) < 0.2).to(torch::kDouble);
        at::Tensor x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
        const at::Tensor a = ops::sigmoid_focal_loss(x1, t, alpha, gamma, reduction);
        const at::Tensor b = torchvision_formula(x2, t, alpha, gamma, reduction);
        CHECK(max_relative(a, b) < 1e-12);
        const at::Tensor w = torch::rand(a.sizes(), torch::kDouble);
        (a * w).sum().backward();
        (b * w).sum().backward();
        CHECK(max_relative(x1.grad(), x2.grad()) < 1e-12);
      }
    }
  }
}

TEST_CASE("the labels and softmax forms are differentiable and equal the library's calls") {
  const at::Tensor x = torch::randn({50, 4}, torch::kDouble).requires_grad_(true);
  const at::Tensor labels = torch::randint(-2, 4, {50}, torch::kLong);
  const at::Tensor loss = ops::sigmoid_focal_loss_labels(x, labels, 0.25, 2.0, 3.0);
  loss.backward();
  // The same as the dense form on one-hot targets of non-ignored rows.
  const at::Tensor keep = (labels != -2).to(torch::kDouble).unsqueeze(1);
  const at::Tensor onehot = torch::zeros({50, 4}, torch::kDouble)
                                .scatter_(1, labels.clamp_min(0).unsqueeze(1), 1.0) *
                            (labels >= 0).to(torch::kDouble).unsqueeze(1);
  const at::Tensor x2 = x.detach().clone().requires_grad_(true);
  const at::Tensor dense = (torchvision_formula(x2, onehot, 0.25, 2.0, "none") * keep).sum() / 3.0;
  dense.backward();
  CHECK(std::abs(loss.item<double>() - dense.item<double>()) < 1e-12 * dense.item<double>());
  CHECK(max_relative(x.grad(), x2.grad()) < 1e-10);
  const at::Tensor xs = torch::randn({50, 5}, torch::kDouble).requires_grad_(true);
  const at::Tensor ls = torch::randint(0, 5, {50}, torch::kLong);
  const at::Tensor s = ops::softmax_focal_loss(xs, ls, 2.0, 0.25, 2.0);
  s.backward();
  CHECK(xs.grad().sum(1).abs().max().item<double>() < 1e-12);  // rows of a softmax gradient
}

TEST_CASE("bad input raises c10::Error with focal's message") {
  const at::Tensor x = torch::randn({4, 3});
  CHECK_THROWS_AS(ops::sigmoid_focal_loss(x, torch::zeros({4, 2})), c10::Error);
  CHECK_THROWS_WITH(ops::sigmoid_focal_loss(x, torch::full({4, 3}, 0.5)),
                    Catch::Contains("must be 0 or 1"));
  CHECK_THROWS_AS(ops::sigmoid_focal_loss(torch::zeros({4, 3}, torch::kLong), torch::zeros({4, 3})),
                  c10::Error);
  CHECK_THROWS_WITH(ops::sigmoid_focal_loss_labels(x, torch::full({4}, 7, torch::kLong)),
                    Catch::Contains("labels[0] = 7"));
}

#if !defined(FOCAL_TESTS_NO_QUADMATH)
#include "../reference.hpp"

TEST_CASE("beyond [-15, 15] the bridge keeps focal's accuracy where the formula flushes") {
  // Against the binary128 reference: focal within 16 ulp; torchvision's formula loses it all
  // (1 − σ(x) rounds to 0 and the loss with it, or keeps a fraction of its digits).
  double worst_focal = 0, worst_formula = 0;
  for (const double x : {20.0, 30.0, 40.0, 60.0, -20.0, -30.0, -40.0, -60.0}) {
    for (const double y : {0.0, 1.0}) {
      const at::Tensor xt = torch::full({1}, x, torch::kDouble);
      const at::Tensor yt = torch::full({1}, y, torch::kDouble);
      const double ours = ops::sigmoid_focal_loss(xt, yt, 0.25, 2.0, "sum").item<double>();
      const double theirs = torchvision_formula(xt, yt, 0.25, 2.0, "sum").item<double>();
      const ref::quad exact = ref::focal_logit(x, y == 1.0, y == 1.0 ? 0.25 : 0.75, 2).loss;
      worst_focal = std::max(worst_focal, double(ref::ulp_error<double>(ours, exact)));
      worst_formula = std::max(worst_formula, double(ref::ulp_error<double>(theirs, exact)));
    }
  }
  CHECK(worst_focal <= 16);
  CHECK(worst_formula > 1e6);
}
#endif
