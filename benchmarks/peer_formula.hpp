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

// mmdetection's soft-target losses (v3), per element, with
// the gradients autograd computes. Shared pieces: BCE-with-logits as above, σ as 1/(1 + e^-x).
//
// mmdet/models/losses/gfocal_loss.py, quality_focal_loss_tensor_target (and, per element, quality_focal_loss):
//   scale_factor = (pred_sigmoid - target).abs().pow(beta)
//   loss = binary_cross_entropy_with_logits(pred, target) * scale_factor
// mmdet/models/losses/varifocal_loss.py, varifocal_loss with iou_weighted=True:
//   focal_weight = target * (target > 0) + alpha * (pred_sigmoid - target).abs().pow(gamma) * (target <= 0)
//   loss = binary_cross_entropy_with_logits(pred, target) * focal_weight
// Backward: abs' = sign (0 at 0), pow' = e·b^(e − 1), sigmoid' = s (1 − s).
template <class S>
S bce_with_logits(S x, S t) {
  const S m = std::max(-x, S(0));
  return (S(1) - t) * x + m + std::log(std::exp(-m) + std::exp(-x - m));
}

template <class S>
S sign(S v) {
  return v > 0 ? S(1) : v < 0 ? S(-1) : S(0);
}

template <class S>
struct MmdetQualityFocal {
  S beta;

  void operator()(S x, S t, S& loss, S& grad) const {
    const S s = S(1) / (S(1) + std::exp(-x));
    const S ce = bce_with_logits(x, t);
    const S b = std::abs(s - t);
    const S w = std::pow(b, beta);
    loss = ce * w;
    const S d_b = beta == 0 ? S(0) : ce * beta * std::pow(b, beta - S(1));
    grad = w * (s - t) + d_b * sign(s - t) * s * (S(1) - s);
  }
};

template <class S>
struct MmdetVarifocal {
  S alpha, gamma;

  void operator()(S x, S t, S& loss, S& grad) const {
    const S s = S(1) / (S(1) + std::exp(-x));
    const S ce = bce_with_logits(x, t);
    const S b = std::abs(s - t);
    const S pw = std::pow(b, gamma);
    const S pos = t > 0 ? S(1) : S(0);
    const S w = t * pos + alpha * pw * (S(1) - pos);
    loss = ce * w;
    const S d_b = gamma == 0 ? S(0) : ce * alpha * (S(1) - pos) * gamma * std::pow(b, gamma - S(1));
    grad = w * (s - t) + d_b * sign(s - t) * s * (S(1) - s);
  }
};

// mmdet/models/losses/gfocal_loss.py, distribution_focal_loss: with dis_left = ⌊t⌋, dis_right = dis_left + 1,
//   loss = cross_entropy(pred, dis_left) * (dis_right - t) + cross_entropy(pred, dis_right) * (t - dis_left)
// cross_entropy as PyTorch's log_softmax: x − max − log Σ exp(x − max); its backward softmax − one-hot.
// (t must be < n: dis_right = n + 1 would index past the row; GFL clamps targets to n − 0.01.)
template <class S>
S mmdet_distribution_focal(const S* x, int bins, S t, S* grad) {
  S m = x[0];
  for (int c = 1; c < bins; ++c) m = std::max(m, x[c]);
  S sum = 0;
  for (int c = 0; c < bins; ++c) sum += std::exp(x[c] - m);
  const S lse = std::log(sum);
  const int left = int(t), right = left + 1;
  const S wl = S(right) - t, wr = t - S(left);
  const S loss = -(x[left] - m - lse) * wl - (x[right] - m - lse) * wr;
  for (int c = 0; c < bins; ++c) {
    const S p = std::exp(x[c] - m - lse);
    grad[c] = wl * (p - (c == left ? S(1) : S(0))) + wr * (p - (c == right ? S(1) : S(0)));
  }
  return loss;
}

// Deformable DETR / DINO's HungarianMatcher (focal cost), per query and target class:
//   out_prob = pred_logits.sigmoid()
//   neg_cost_class = (1 - alpha) * (out_prob ** gamma) * (-(1 - out_prob + 1e-8).log())
//   pos_cost_class = alpha * ((1 - out_prob) ** gamma) * (-(out_prob + 1e-8).log())
//   cost_class = pos_cost_class[:, tgt_ids] - neg_cost_class[:, tgt_ids]
template <class S>
S detr_focal_cost(S x, S alpha, S gamma) {
  const S p = S(1) / (S(1) + std::exp(-x));
  const S neg = (S(1) - alpha) * std::pow(p, gamma) * -std::log(S(1) - p + S(1e-8));
  const S pos = alpha * std::pow(S(1) - p, gamma) * -std::log(p + S(1e-8));
  return pos - neg;
}

}  // namespace peer

#endif  // FOCAL_BENCHMARKS_PEER_FORMULA_HPP
