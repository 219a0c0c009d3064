#ifndef FOCAL_INPUT_HPP
#define FOCAL_INPUT_HPP

/// @file
/// The two input spaces a loss can be defined on.

#include "detail/config.hpp"

FOCAL_NAMESPACE_BEGIN

/// Input space tag: the input x is a logit and p = σ(x) = 1 / (1 + exp(−x)).
/// This is what a detector head produces and the numerically preferred space: every
/// loss and derivative is computed from x without ever rounding p.
struct Logits {};

/// Input space tag: the input x is the probability p itself, p ∈ [0, 1].
/// Derivatives are taken with respect to p. Endpoints 0 and 1 are legal.
struct Probabilities {};

FOCAL_NAMESPACE_END

#endif  // FOCAL_INPUT_HPP
