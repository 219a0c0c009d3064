#ifndef FOCAL_DETAIL_CHECKS_HPP
#define FOCAL_DETAIL_CHECKS_HPP

// Input validation. Training data is input, not a programmer's invariant: every check throws
// std::invalid_argument naming the argument, the index and the value, and runs before any
// output is written (strong guarantee).

#include "config.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include "../input.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

template <class Scalar>
std::string format_value(Scalar v) {
  std::ostringstream os;
  os.precision(std::numeric_limits<Scalar>::max_digits10);  // the exact value, round-trippable
  os << v;
  return os.str();
}

/// "name[i]" for vectors, "name(i, j)" otherwise.
inline std::string format_index(const char* name, Eigen::Index i, Eigen::Index j,
                                Eigen::Index rows, Eigen::Index cols) {
  std::ostringstream os;
  os << name;
  if (cols == 1) {
    os << '[' << i << ']';
  } else if (rows == 1) {
    os << '[' << j << ']';
  } else {
    os << '(' << i << ", " << j << ')';
  }
  return os.str();
}

template <class Scalar>
[[noreturn]] void throw_element(const char* name, Eigen::Index i, Eigen::Index j,
                                Eigen::Index rows, Eigen::Index cols, Scalar v,
                                const char* requirement) {
  throw std::invalid_argument("focal: " + format_index(name, i, j, rows, cols) + " = " +
                              format_value(v) + ", " + requirement);
}

template <class Scalar>
[[noreturn]] void throw_parameter(const char* type, const char* name, Scalar v,
                                  const char* requirement) {
  throw std::invalid_argument(std::string("focal: ") + type + ": " + name + " = " +
                              format_value(v) + ", " + requirement);
}

/// Constructor arguments: α ∈ [0, 1]; γ ≥ 0 finite (γ > 0 for FL*); β finite.
template <class Scalar>
Scalar checked_alpha(const char* type, Scalar alpha) {
  if (!(alpha >= Scalar(0) && alpha <= Scalar(1))) {
    throw_parameter(type, "alpha", alpha, "must be in [0, 1]");
  }
  return alpha;
}

template <class Scalar>
Scalar checked_gamma(const char* type, Scalar gamma) {
  if (!(gamma >= Scalar(0) && gamma <= std::numeric_limits<Scalar>::max())) {
    throw_parameter(type, "gamma", gamma, "must be finite and >= 0");
  }
  return gamma;
}

/// An exponent ≥ 0, finite, under its own name (QFL's beta).
template <class Scalar>
Scalar checked_exponent(const char* type, const char* name, Scalar v) {
  if (!(v >= Scalar(0) && v <= std::numeric_limits<Scalar>::max())) {
    throw_parameter(type, name, v, "must be finite and >= 0");
  }
  return v;
}

template <class Scalar>
Scalar checked_positive_gamma(const char* type, Scalar gamma) {
  if (!(gamma > Scalar(0) && gamma <= std::numeric_limits<Scalar>::max())) {
    throw_parameter(type, "gamma", gamma, "must be finite and > 0");
  }
  return gamma;
}

template <class Scalar>
Scalar checked_beta(const char* type, Scalar beta) {
  if (!(std::abs(beta) <= std::numeric_limits<Scalar>::max())) {
    throw_parameter(type, "beta", beta, "must be finite");
  }
  return beta;
}

template <class Scalar>
inline bool is_target(Scalar y) noexcept {
  return y == Scalar(0) || y == Scalar(1);  // false for NaN
}

/// A soft target: y in [0, 1] (false for NaN).
template <class Scalar>
inline bool is_soft_target(Scalar y) noexcept {
  return y >= Scalar(0) && y <= Scalar(1);
}

template <class Scalar>
inline bool is_probability(Scalar p) noexcept {
  return !(p < Scalar(0) || p > Scalar(1));  // NaN is not an error: it propagates
}

inline const char* target_requirement() { return "must be 0 or 1"; }
inline const char* soft_target_requirement() { return "must be a soft target in [0, 1]"; }
inline const char* probability_requirement() { return "must be a probability in [0, 1]"; }

template <class Input>
constexpr const char* input_name() {
  return std::is_same<Input, Probabilities>::value ? "probabilities" : "logits";
}

/// Per-element entry points: the same rules, without an index. Soft: targets in [0, 1].
template <class Input, bool Soft = false, class Scalar>
void check_element(Scalar x, Scalar y) {
  if (Soft ? !is_soft_target(y) : !is_target(y)) {
    throw std::invalid_argument("focal: targets = " + format_value(y) + ", " +
                                (Soft ? soft_target_requirement() : target_requirement()));
  }
  if (std::is_same<Input, Probabilities>::value && !is_probability(x)) {
    throw std::invalid_argument("focal: probabilities = " + format_value(x) + ", " +
                                probability_requirement());
  }
}

inline void check_shape(const char* name, Eigen::Index rows, Eigen::Index cols,
                        const char* ref_name, Eigen::Index ref_rows, Eigen::Index ref_cols) {
  if (rows != ref_rows || cols != ref_cols) {
    std::ostringstream os;
    os << "focal: " << name << " has shape " << rows << "x" << cols << " but " << ref_name
       << " has shape " << ref_rows << "x" << ref_cols << "; they must match";
    throw std::invalid_argument(os.str());
  }
}

template <class Scalar>
void check_normalizer(Scalar normalizer) {
  if (!(normalizer > Scalar(0) && normalizer <= std::numeric_limits<Scalar>::max())) {
    throw std::invalid_argument("focal: normalizer = " + format_value(normalizer) +
                                ", must be positive and finite");
  }
}

/// The gradient output as the object to write: G may be a non-const lvalue (an Array, a
/// Matrix, a view), or a view passed as a temporary or const (an rvalue Map, G.middleRows(…),
/// a Ref), whose elements are the caller's. A const plain object, or a temporary one whose
/// gradient would be lost, does not compile, nor does a read-only view (Map<const …>).
template <class Scalar, class G>
std::remove_const_t<std::remove_reference_t<G>>& writable_grad(G&& grad) {
  using T = std::remove_reference_t<G>;
  using D = std::remove_const_t<T>;
  static_assert(std::is_base_of<Eigen::DenseBase<D>, D>::value,
                "focal: grad must be an Eigen dense object (Array, Matrix, Block, Map, Ref)");
  static_assert(std::is_same<typename D::Scalar, Scalar>::value,
                "focal: grad must have the loss's Scalar type (float for a loss<float>)");
  static_assert((int(Eigen::internal::traits<D>::Flags) & Eigen::LvalueBit) != 0,
                "focal: grad must be writable: an Array, a Matrix, a Block or a non-const Map");
  constexpr bool plain = std::is_base_of<Eigen::PlainObjectBase<D>, D>::value;
  static_assert(!plain || !std::is_const<T>::value,
                "focal: grad is a const Array/Matrix: pass a writable one");
  static_assert(!plain || std::is_lvalue_reference<G>::value,
                "focal: grad is a temporary Array/Matrix, whose gradient would be lost: pass "
                "a named one, or a Block or Map of one");
  return const_cast<D&>(grad);
}

/// Visits every coefficient of a dense expression in its storage order, stopping at the
/// first for which ok(v) is false and throwing for it.
template <class Derived, class Pred>
void check_all(const char* name, const Eigen::DenseBase<Derived>& a, Pred ok,
               const char* requirement) {
  using Scalar = typename Derived::Scalar;
  const Eigen::internal::evaluator<Derived> ev(a.derived());
  const Eigen::Index rows = a.rows(), cols = a.cols();
  if (Derived::IsRowMajor) {
    for (Eigen::Index i = 0; i < rows; ++i)
      for (Eigen::Index j = 0; j < cols; ++j) {
        const Scalar v = ev.coeff(i, j);
        if (!ok(v)) throw_element(name, i, j, rows, cols, v, requirement);
      }
  } else {
    for (Eigen::Index j = 0; j < cols; ++j)
      for (Eigen::Index i = 0; i < rows; ++i) {
        const Scalar v = ev.coeff(i, j);
        if (!ok(v)) throw_element(name, i, j, rows, cols, v, requirement);
      }
  }
}

template <bool Soft = false, class Derived>
void check_targets(const Eigen::DenseBase<Derived>& targets) {
  if constexpr (Soft) {
    check_all("targets", targets, [](auto y) { return is_soft_target(y); },
              soft_target_requirement());
  } else {
    check_all("targets", targets, [](auto y) { return is_target(y); }, target_requirement());
  }
}

template <class Input, class Derived>
void check_inputs(const Eigen::DenseBase<Derived>& x) {
  if constexpr (std::is_same<Input, Probabilities>::value) {
    check_all("probabilities", x, [](auto p) { return is_probability(p); },
              probability_requirement());
  }
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_CHECKS_HPP
