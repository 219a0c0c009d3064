#ifndef FOCAL_DETAIL_PARAMS_HPP
#define FOCAL_DETAIL_PARAMS_HPP

// The parameters of the shared sigmoid-family kernel, in scalar and packet form alike.

#include "config.hpp"

#include <cmath>

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Integer γ up to this value is computed by multiplication; larger or fractional γ use the
/// compensated exp. (γ = 64 already sends q^γ below float's range for q ≤ 0.25.)
inline constexpr int max_int_gamma = 64;

/// −1 if γ is not an integer in [0, max_int_gamma], else γ.
template <class Scalar>
inline int integer_gamma(Scalar gamma) noexcept {
  if (gamma >= Scalar(0) && gamma <= Scalar(max_int_gamma) && gamma == std::floor(gamma)) {
    return static_cast<int>(gamma);
  }
  return -1;
}

/// Parameters of the shared kernel. The public loss types fill them in; the kernel never
/// validates (the constructors and the array entry points do).
template <class Scalar>
struct SigmoidParams {
  Scalar alpha_neg = Scalar(1);  // α_t for y = 0 (1 − α in the balanced losses)
  Scalar alpha_pos = Scalar(1);  // α_t for y = 1 (α)
  Scalar gamma = Scalar(0);      // focusing exponent γ of (1 − p_t)^γ
  int int_gamma = 0;             // γ if integer (see integer_gamma), else −1
  bool star = false;             // FL*: loss = −log σ(γ*·z + β) / γ*
  Scalar star_gamma = Scalar(1);  // γ* of FL*
  Scalar star_beta = Scalar(0);   // β of FL*
};

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_PARAMS_HPP
