#ifndef FOCAL_BALANCED_CROSS_ENTROPY_HPP
#define FOCAL_BALANCED_CROSS_ENTROPY_HPP

/// @file
/// α-balanced cross-entropy, eq. (3) of Lin et al. 2017.

#include "detail/config.hpp"

#include "detail/checks.hpp"
#include "detail/sigmoid_loss.hpp"
#include "input.hpp"

FOCAL_NAMESPACE_BEGIN

/// α-balanced cross-entropy, eq. (3): CE(p_t) = −α_t log p_t, with α_t = α for y = 1 and
/// 1 − α for y = 0.
///
/// Derivative: dCE/dx = α_t s (p_t − 1) on logits (eq. (9) times α_t), s = ±1 as y = 1/0;
/// −α_t s / p_t on probabilities.
///
/// @tparam Scalar float or double.
/// @tparam Input  focal::Logits (default) or focal::Probabilities.
template <class Scalar = float, class Input = Logits>
class BalancedCrossEntropy : public detail::SigmoidLoss<Scalar, Input> {
 public:
  /// @param alpha weight α of the positive targets, in [0, 1]; negatives get 1 − α. The default
  ///        0.75 is the paper's best for CE (Table 1a). 0 and 1 switch a class off exactly.
  /// @throws std::invalid_argument if alpha is not in [0, 1] (NaN included).
  explicit BalancedCrossEntropy(Scalar alpha = Scalar(0.75))
      : detail::SigmoidLoss<Scalar, Input>(detail::focal_params(
            detail::checked_alpha("BalancedCrossEntropy", alpha), Scalar(0))) {}

  /// α, the weight of positive targets.
  Scalar alpha() const noexcept { return this->params().alpha_pos; }
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_BALANCED_CROSS_ENTROPY_HPP
