#ifndef FOCAL_QUALITY_FOCAL_LOSS_HPP
#define FOCAL_QUALITY_FOCAL_LOSS_HPP

/// @file
/// Quality Focal Loss of Li et al. 2020 (Generalized Focal Loss, GFL; NanoDet).

#include "detail/config.hpp"

#include "detail/checks.hpp"
#include "detail/sigmoid_loss.hpp"
#include "detail/soft_kernel.hpp"
#include "input.hpp"

FOCAL_NAMESPACE_BEGIN

/// Quality Focal Loss (GFL, eq. (5) of Li et al. 2020) with a soft target y ∈ [0, 1], e.g.
/// the IoU of the predicted box with its ground truth (0 for negatives):
/// QFL(x, y) = −|y − σ|^β ((1 − y) log(1 − σ) + y log σ), σ = σ(x),
/// evaluated as |y − σ|^β (y·softplus(−x) + (1 − y)·softplus(x)) with y − σ kept to σ's low
/// bits. β = 0 is binary cross-entropy with soft targets (label smoothing).
///
/// Derivative: dQFL/dx = −sgn(y − σ) |y − σ|^(β−1) ((y − σ)² + β·ce·σ(1 − σ)), a sum of terms
/// of one sign; finite for every β ≥ 1, and taken as 0 where y = σ exactly (for β < 1 the
/// one-sided slopes are infinite there). On probabilities (Input = Probabilities) x is σ itself.
///
/// Targets: any y in [0, 1] (0 or 1 included; NaN or outside throws std::invalid_argument).
/// With focal::scored_labels(v, s) the target is s_i at row i's class and 0 elsewhere.
///
/// @tparam Scalar float or double.
/// @tparam Input  focal::Logits (default) or focal::Probabilities.
template <class Scalar = float, class Input = Logits>
class QualityFocalLoss
    : public detail::SigmoidLoss<Scalar, Input,
                                 detail::SoftKernel<Scalar, detail::Soft::quality, Input>> {
  using Base = detail::SigmoidLoss<Scalar, Input,
                                   detail::SoftKernel<Scalar, detail::Soft::quality, Input>>;

 public:
  /// @param beta the exponent β ≥ 0 of |y − σ|, finite; β = 2 is the paper's.
  /// @throws std::invalid_argument if beta is negative, infinite or NaN.
  explicit QualityFocalLoss(Scalar beta = Scalar(2))
      : Base(detail::soft_params(detail::checked_exponent("QualityFocalLoss", "beta", beta))) {}

  /// β, the exponent of |y − σ|.
  Scalar beta() const noexcept { return this->params().exponent; }
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_QUALITY_FOCAL_LOSS_HPP
