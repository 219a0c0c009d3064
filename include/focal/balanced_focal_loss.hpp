#ifndef FOCAL_BALANCED_FOCAL_LOSS_HPP
#define FOCAL_BALANCED_FOCAL_LOSS_HPP

/// @file
/// α-balanced focal loss, eq. (5) of Lin et al. 2017: the loss RetinaNet trains with.

#include "detail/config.hpp"

#include "detail/checks.hpp"
#include "detail/sigmoid_loss.hpp"
#include "input.hpp"

FOCAL_NAMESPACE_BEGIN

/// α-balanced focal loss, eq. (5): FL(p_t) = −α_t (1 − p_t)^γ log p_t, α_t = α for y = 1 and
/// 1 − α for y = 0 (torchvision's and Detectron's convention).
///
/// Derivative: eq. (10) times α_t; computed as for FocalLoss, finite for every γ ≥ 0.
///
/// @tparam Scalar float or double.
/// @tparam Input  focal::Logits (default) or focal::Probabilities.
template <class Scalar = float, class Input = Logits>
class BalancedFocalLoss : public detail::SigmoidLoss<Scalar, Input> {
 public:
  /// @param alpha weight α of positive targets in [0, 1]; negatives get 1 − α.
  /// @param gamma focusing parameter γ ≥ 0, finite.
  /// Defaults α = 0.25, γ = 2 are the paper's best (Table 1b).
  /// @throws std::invalid_argument if alpha is not in [0, 1] or gamma is negative, infinite or
  ///         NaN.
  explicit BalancedFocalLoss(Scalar alpha = Scalar(0.25), Scalar gamma = Scalar(2))
      : detail::SigmoidLoss<Scalar, Input>(
            detail::focal_params(detail::checked_alpha("BalancedFocalLoss", alpha),
                                 detail::checked_gamma("BalancedFocalLoss", gamma))) {}

  /// α, the weight of positive targets.
  Scalar alpha() const noexcept { return this->params().alpha_pos; }
  /// γ, the focusing parameter.
  Scalar gamma() const noexcept { return this->params().gamma; }
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_BALANCED_FOCAL_LOSS_HPP
