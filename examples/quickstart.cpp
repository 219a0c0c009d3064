// A tour of focal on six anchors of one class: logits from a detector head, 0/1 targets,
// every loss's value and gradient, and RetinaNet's normalization by the foreground count.
#include <focal/focal.hpp>

#include <algorithm>
#include <cstdio>

template <class Loss>
void show(const char* name, const Loss& loss, const Eigen::ArrayXf& logits,
          const Eigen::ArrayXf& targets, float num_foreground) {
  Eigen::ArrayXf grad(logits.size());
  // One fused pass: returns sum(loss) / normalizer and writes d(that)/d(logits) into grad.
  const float total = loss.value_and_gradient(logits, targets, grad, num_foreground);
  std::printf("%-26s loss %.6g  grad [", name, total);
  for (Eigen::Index i = 0; i < grad.size(); ++i) std::printf(" %+.3e", grad[i]);
  std::printf(" ]\n");
}

int main() {
  Eigen::ArrayXf logits(6), targets(6);
  logits << 4.0f, -1.0f, -6.0f, -4.6f, 2.0f, -30.0f;  // confident hit ... easy negatives
  targets << 1, 1, 0, 0, 0, 0;                           // two anchors matched to a box
  const float num_foreground = std::max(1.0f, targets.sum());  // RetinaNet's normalizer

  std::printf("logits  [");
  for (Eigen::Index i = 0; i < logits.size(); ++i) std::printf(" %+.1f", logits[i]);
  std::printf(" ]\ntargets [");
  for (Eigen::Index i = 0; i < targets.size(); ++i) std::printf(" %.0f", targets[i]);
  std::printf(" ]   normalized by %g foreground anchors\n\n", num_foreground);

  show("CE (1)", focal::CrossEntropy<float>(), logits, targets, num_foreground);
  show("alpha-CE (3), a=0.75", focal::BalancedCrossEntropy<float>(0.75f), logits, targets,
       num_foreground);
  show("FL (4), g=2", focal::FocalLoss<float>(2.0f), logits, targets, num_foreground);
  show("alpha-FL (5), a=.25 g=2", focal::BalancedFocalLoss<float>(0.25f, 2.0f), logits, targets,
       num_foreground);
  show("FL* (App. A), g=4 b=0", focal::FocalLossStar<float>(4.0f, 0.0f), logits, targets,
       num_foreground);

  // Per element and as lazy expressions, e.g. to inspect which anchors dominate the loss.
  const focal::BalancedFocalLoss<float> fl;
  const Eigen::ArrayXf per_anchor = fl.value(logits, targets);
  std::printf("\nalpha-FL per anchor: ");
  for (Eigen::Index i = 0; i < per_anchor.size(); ++i) std::printf(" %.3e", per_anchor[i]);
  std::printf("\nthe easy negative at -30 still has a nonzero loss: %.3e (exact, not 0)\n",
              fl(-30.0f, 0.0f));
  return 0;
}
