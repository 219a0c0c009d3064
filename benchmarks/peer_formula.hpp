#ifndef FOCAL_BENCHMARKS_PEER_FORMULA_HPP
#define FOCAL_BENCHMARKS_PEER_FORMULA_HPP

// torchvision's sigmoid_focal_loss, written out in scalars with libm, and its gradient as
// PyTorch's autograd computes it. This is the formula every mainstream peer uses (README, Conventions);
// it is what users write by hand, and the baseline for accuracy and speed.
//
// torchvision/ops/focal_loss.py:
//   p = sigmoid(x); ce = binary_cross_entropy_with_logits(x, t)
//   p_t = p*t + (1 - p)*(1 - t); loss = ce * (1 - p_t)**gamma
//   if alpha >= 0: loss = (alpha*t + (1 - alpha)*(1 - t)) * loss
// binary_cross_entropy_with_logits as in PyTorch 1.13 (Debian's python3-torch),
// aten/src/ATen/native/Loss.cpp: m = max(-x, 0); (1 - t)*x + m + log(exp(-m) + exp(-x - m)).
// Backward, node by node: BCE-with-logits' grad is sigmoid(x) - t; pow's is
// gamma * b**(gamma - 1) (0 when gamma == 0); sigmoid's is g * (1 - p) * p.

#include <algorithm>
#include <cmath>

namespace peer {

template <class S>
struct TorchvisionFocal {
  S alpha;  // < 0: no α weighting (torchvision's switch)
  S gamma;

  void operator()(S x, S t, S& loss, S& grad) const {
    // Forward.
    const S p = S(1) / (S(1) + std::exp(-x));
    const S m = std::max(-x, S(0));
    const S ce = (S(1) - t) * x + m + std::log(std::exp(-m) + std::exp(-x - m));
    const S p_t = p * t + (S(1) - p) * (S(1) - t);
    const S b = S(1) - p_t;
    const S w = std::pow(b, gamma);
    const S alpha_t = alpha >= 0 ? alpha * t + (S(1) - alpha) * (S(1) - t) : S(1);
    loss = alpha_t * (ce * w);
    // Backward, from d loss = 1.
    const S d_ce = alpha_t * w;
    const S d_w = alpha_t * ce;
    const S d_b = gamma == 0 ? S(0) : d_w * (gamma * std::pow(b, gamma - S(1)));
    const S d_pt = -d_b;
    const S d_p = d_pt * t - d_pt * (S(1) - t);
    grad = d_ce * (p - t) + d_p * (S(1) - p) * p;
  }
};

}  // namespace peer

#endif  // FOCAL_BENCHMARKS_PEER_FORMULA_HPP
