#ifndef FOCAL_FOCAL_LOSS_HPP
#define FOCAL_FOCAL_LOSS_HPP

/// @file
/// Focal loss, eq. (4) of Lin et al. 2017.

#include "detail/config.hpp"

#include "detail/checks.hpp"
#include "detail/sigmoid_loss.hpp"
#include "input.hpp"

FOCAL_NAMESPACE_BEGIN

/// Focal loss, eq. (4): FL(p_t) = −(1 − p_t)^γ log p_t. γ = 0 is cross-entropy, bit for bit.
///
/// Derivative, eq. (10): dFL/dx = s (1 − p_t)^γ (γ p_t log p_t + p_t − 1) on logits, s = ±1 as
/// y = 1/0, computed as −s q^γ (γ p_t (−log p_t) + q) with q = σ(−s·x): no term cancels and no
/// q^(γ−1) appears, so it is finite for every γ ≥ 0, 0 < γ < 1 included. On probabilities
/// dFL/dp = −s q^γ (γ (−log p_t)/q + 1/p_t). Integer γ is applied by multiplication.
///
/// @tparam Scalar float or double.
/// @tparam Input  focal::Logits (default) or focal::Probabilities.
template <class Scalar = float, class Input = Logits>
class FocalLoss : public detail::SigmoidLoss<Scalar, Input> {
 public:
  /// @param gamma focusing parameter γ ≥ 0, finite; the paper's best is 2.
  /// @throws std::invalid_argument if gamma is negative, infinite or NaN.
  explicit FocalLoss(Scalar gamma = Scalar(2))
      : detail::SigmoidLoss<Scalar, Input>(
            detail::focal_params(detail::checked_gamma("FocalLoss", gamma))) {}

  /// γ, the focusing parameter.
  Scalar gamma() const noexcept { return this->params().gamma; }
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_FOCAL_LOSS_HPP
