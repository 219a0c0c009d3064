#ifndef FOCAL_VARIFOCAL_LOSS_HPP
#define FOCAL_VARIFOCAL_LOSS_HPP

/// @file
/// Varifocal Loss of Zhang et al. 2021 (VarifocalNet; YOLOv8, RT-DETR).

#include "detail/config.hpp"

#include "detail/checks.hpp"
#include "detail/sigmoid_loss.hpp"
#include "detail/soft_kernel.hpp"
#include "input.hpp"

FOCAL_NAMESPACE_BEGIN

/// Varifocal Loss (VFNet, eq. (2) of Zhang et al. 2021; mmdetection's `iou_weighted=True`) with
/// a soft target q ∈ [0, 1], the IoU-aware classification score (0 for negatives), p = σ(x):
/// VFL(x, q) = −q (q log p + (1 − q) log(1 − p)) for q > 0, −α p^γ log(1 − p) for q = 0.
/// Positives are weighted by their own target and not down-weighted; negatives are the
/// α-weighted focal term.
///
/// Derivative: q (p − q) for q > 0; α p^γ (p + γ (1 − p) (−log(1 − p))) for q = 0 (the focal
/// loss's negative term with α_t = α); finite for every γ ≥ 0. On probabilities
/// (Input = Probabilities) x is p itself.
///
/// Targets: any q in [0, 1] (NaN or outside throws std::invalid_argument). With
/// focal::scored_labels(v, s) the target is s_i at row i's class and 0 elsewhere.
///
/// @tparam Scalar float or double.
/// @tparam Input  focal::Logits (default) or focal::Probabilities.
template <class Scalar = float, class Input = Logits>
class VarifocalLoss
    : public detail::SigmoidLoss<Scalar, Input,
                                 detail::SoftKernel<Scalar, detail::Soft::varifocal, Input>> {
  using Base = detail::SigmoidLoss<Scalar, Input,
                                   detail::SoftKernel<Scalar, detail::Soft::varifocal, Input>>;

 public:
  /// @param alpha weight α ∈ [0, 1] of the negatives; @param gamma γ ≥ 0, finite. The defaults
  ///        α = 0.75, γ = 2 are the paper's (and mmdetection's, ultralytics').
  /// @throws std::invalid_argument if alpha is not in [0, 1] or gamma is negative, infinite or
  ///         NaN.
  explicit VarifocalLoss(Scalar alpha = Scalar(0.75), Scalar gamma = Scalar(2))
      : Base(detail::soft_params(detail::checked_gamma("VarifocalLoss", gamma),
                                 detail::checked_alpha("VarifocalLoss", alpha))) {}

  /// α, the weight of the negatives.
  Scalar alpha() const noexcept { return this->params().alpha; }
  /// γ, the exponent of p on the negatives.
  Scalar gamma() const noexcept { return this->params().exponent; }
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_VARIFOCAL_LOSS_HPP
