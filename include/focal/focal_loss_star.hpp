#ifndef FOCAL_FOCAL_LOSS_STAR_HPP
#define FOCAL_FOCAL_LOSS_STAR_HPP

/// @file
/// FL*, the focal-loss variant of Appendix A of Lin et al. 2017.

#include "detail/config.hpp"

#include "detail/checks.hpp"
#include "detail/sigmoid_loss.hpp"
#include "input.hpp"

FOCAL_NAMESPACE_BEGIN

/// FL*, Appendix A, eq. (6)-(8): with x_t = s·x (s = ±1 as y = 1/0) and
/// p*_t = σ(γ x_t + β), FL* = −log(p*_t) / γ.
///
/// Derivative, eq. (11): dFL*/dx = s (p*_t − 1), computed as −s σ(−(γ x_t + β)).
/// γ = 1, β = 0 is cross-entropy, bit for bit. Defined on logits only.
///
/// @tparam Scalar float or double.
template <class Scalar = float>
class FocalLossStar : public detail::SigmoidLoss<Scalar, Logits> {
 public:
  /// @param gamma γ > 0, finite; @param beta β, finite. The defaults γ = 4, β = 0 are one of
  ///        the paper's good settings (Table 3; γ = 2, β = 1 is the other).
  /// @throws std::invalid_argument if gamma is not positive and finite, or beta not finite.
  explicit FocalLossStar(Scalar gamma = Scalar(4), Scalar beta = Scalar(0))
      : detail::SigmoidLoss<Scalar, Logits>(
            detail::star_params(detail::checked_positive_gamma("FocalLossStar", gamma),
                                detail::checked_beta("FocalLossStar", beta))) {}

  /// γ of p*_t = σ(γ x_t + β).
  Scalar gamma() const noexcept { return this->params().star_gamma; }
  /// β of p*_t = σ(γ x_t + β).
  Scalar beta() const noexcept { return this->params().star_beta; }
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_FOCAL_LOSS_STAR_HPP
