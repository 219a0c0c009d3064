// A tour of focal: six anchors of one class, their logits and 0/1 targets, each loss's value
// and gradient in one fused call, normalized by the foreground count as RetinaNet does.
#include <focal/focal.hpp>

#include <algorithm>
#include <cstdio>

template <class Loss>
void show(const char* name, const Loss& loss, const Eigen::ArrayXf& x, const Eigen::ArrayXf& y) {
  const float num_fg = std::max(1.0f, y.sum());  // RetinaNet: divide by max(1, #foreground)
  Eigen::ArrayXf grad(x.size());
  const float total = loss.value_and_gradient(x, y, grad, num_fg);  // sum(loss)/num_fg, d/dx
  std::printf("%-24s loss %-9.4g grad", name, total);
  for (float g : grad) std::printf(" %+.2e", g);
  std::printf("\n");
}

int main() {
  Eigen::ArrayXf logits(6), targets(6);
  logits << 4.0f, -1.0f, -6.0f, -4.6f, 2.0f, -30.0f;  // a hit, a miss, easy and hard negatives
  targets << 1, 1, 0, 0, 0, 0;
  show("CE (1)", focal::CrossEntropy<float>(), logits, targets);
  show("a-CE (3) a=0.75", focal::BalancedCrossEntropy<float>(0.75f), logits, targets);
  show("FL (4) g=2", focal::FocalLoss<float>(2.0f), logits, targets);
  show("a-FL (5) a=0.25 g=2", focal::BalancedFocalLoss<float>(0.25f, 2.0f), logits, targets);
  show("FL* (App. A) g=4 b=0", focal::FocalLossStar<float>(4.0f, 0.0f), logits, targets);
  const focal::BalancedFocalLoss<float> fl;  // per element: easy negatives keep a tiny, exact loss
  std::printf("a-FL of the easy negative at -30: %.4g (not rounded to 0)\n", fl(-30.0f, 0.0f));
}
