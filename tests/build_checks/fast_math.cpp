// Built by CTest with -Ofast: without FOCAL_ALLOW_FAST_MATH it must not compile (the test
// expects focal's #error), with it it must (the opt-out is the user's explicit choice).
#include <focal/focal.hpp>

int main() {
  const focal::BalancedFocalLoss<float> loss;
  Eigen::ArrayXf x = Eigen::ArrayXf::LinSpaced(64, -20.0f, 20.0f);
  Eigen::ArrayXf y = (x > 0.0f).cast<float>(), g(64);
  return loss.value_and_gradient(x, y, g) >= 0.0f ? 0 : 1;
}
