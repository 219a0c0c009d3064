#ifndef FOCAL_CROSS_ENTROPY_HPP
#define FOCAL_CROSS_ENTROPY_HPP

/// @file
/// Binary cross-entropy, eq. (1)-(2) of Lin et al. 2017.

#include "detail/config.hpp"

#include "detail/sigmoid_loss.hpp"
#include "input.hpp"

FOCAL_NAMESPACE_BEGIN

/// Binary cross-entropy, eq. (1)-(2): CE(p_t) = −log p_t, with p_t = p for y = 1 and 1 − p for
/// y = 0, and p = σ(x) (Logits) or x itself (Probabilities).
///
/// Derivative, eq. (9): dCE/dx = s (p_t − 1) on logits, s = +1 for y = 1 and −1 for y = 0;
/// dCE/dp = −s / p_t on probabilities. Computed as softplus(−s·x) and −s·σ(−s·x): accurate to a
/// few ulp for every finite logit, the exact limits at ±∞.
///
/// @tparam Scalar float or double.
/// @tparam Input  focal::Logits (default) or focal::Probabilities.
///
/// Members (from the shared base): `operator()(x, y)`, `derivative(x, y)`, `value(X, Y)`,
/// `gradient(X, Y)`, `value_and_gradient(X, Y, G, normalizer = 1)`; they throw
/// std::invalid_argument for targets other than 0/1, probabilities outside [0, 1], shape
/// mismatches and a normalizer that is not positive and finite.
template <class Scalar = float, class Input = Logits>
class CrossEntropy : public detail::SigmoidLoss<Scalar, Input> {
 public:
  CrossEntropy() : detail::SigmoidLoss<Scalar, Input>(detail::focal_params(Scalar(0))) {}
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_CROSS_ENTROPY_HPP
