#ifndef FOCAL_PRIOR_BIAS_HPP
#define FOCAL_PRIOR_BIAS_HPP

/// @file
/// The prior-probability initialization of the classification bias (Lin et al. 2017, §4.1).

#include "detail/config.hpp"

#include <cmath>
#include <stdexcept>

#include "detail/checks.hpp"

FOCAL_NAMESPACE_BEGIN

/// The bias b = −log((1 − π)/π) that makes every anchor start with foreground probability
/// σ(b) = π, so that the many background anchors do not swamp the first iterations. The paper
/// uses π = 0.01, giving b = −log 99 ≈ −4.595. Computed as log(π) − log1p(−π), accurate also
/// for π near 0 or 1.
/// @throws std::invalid_argument if π is not in (0, 1).
template <class Scalar = float>
Scalar prior_bias(Scalar pi = Scalar(0.01)) {
  if (!(pi > Scalar(0) && pi < Scalar(1))) {
    detail::throw_parameter("prior_bias", "pi", pi, "must be a probability in (0, 1)");
  }
  return std::log(pi) - std::log1p(-pi);
}

FOCAL_NAMESPACE_END

#endif  // FOCAL_PRIOR_BIAS_HPP
