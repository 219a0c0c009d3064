// Uses focal as a downstream detector codebase would, and checks one number.
#include <focal/focal.hpp>
#if defined(FOCAL_CONSUMER_DISPATCH)
#include <focal/dispatch.hpp>
#endif

#include <cmath>
#include <cstdio>

int main() {
  Eigen::ArrayXf logits(3), targets(3), grad(3);
  logits << 0.0f, 2.0f, -1.0f;
  targets << 1.0f, 0.0f, 0.0f;
  const float total = focal::BalancedFocalLoss<float>().value_and_gradient(logits, targets, grad);
  // α-FL at (x, y) = (0, 1): 0.25 · 0.5² · log 2; the other two terms computed the same way
  // from eq. (5) in double.
  double expected = 0.25 * 0.25 * std::log(2.0);
  for (double x : {2.0, -1.0}) {
    const double p = 1 / (1 + std::exp(-x));
    expected += 0.75 * p * p * -std::log(1 - p);
  }
  // On two threads (the package's target carries what std::thread needs): the same bits.
  Eigen::ArrayXf grad2(3);
  const bool same = focal::BalancedFocalLoss<float>().value_and_gradient(
                        logits, targets, grad2, 1.0f, focal::threads(2)) == total;
  bool ok = std::fabs(total - expected) <= 1e-6 * expected && same;
#if defined(FOCAL_CONSUMER_DISPATCH)
  // The same call through focal::dispatch: the variant this CPU runs.
  Eigen::ArrayXf grad3(3);
  const float dispatched = focal::dispatch::BalancedFocalLoss<float>().value_and_gradient(
      logits, targets, grad3);
  std::printf("focal::dispatch (%s): loss %.7g\n",
              focal::dispatch::name(focal::dispatch::isa()), dispatched);
  ok = ok && std::fabs(dispatched - expected) <= 1e-6 * expected;
#endif
  std::printf("focal %d.%d.%d: loss %.7g, expected %.7g: %s\n", FOCAL_VERSION_MAJOR,
              FOCAL_VERSION_MINOR, FOCAL_VERSION_PATCH, total, expected, ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
