#ifndef FOCAL_TESTS_SUPPORT_HPP
#define FOCAL_TESTS_SUPPORT_HPP

// Test support: a value-level description of every loss configuration, a way to build the
// matching focal type, and input grids over the whole range. (The quad-precision reference of
// a configuration is in sweep.hpp: it needs __float128.)

#include <focal/focal.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>


namespace support {

enum class Kind { CE, BalancedCE, FL, BalancedFL, Star };

struct Spec {
  Kind kind;
  double alpha = 0.25;  // BalancedCE, BalancedFL
  double gamma = 0;     // FL, BalancedFL: focusing γ; Star: γ of σ(γ x_t + β)
  double beta = 0;      // Star

  std::string name() const {
    char buf[96];
    switch (kind) {
      case Kind::CE: return "CE";
      case Kind::BalancedCE: std::snprintf(buf, sizeof buf, "a-CE a=%g", alpha); break;
      case Kind::FL: std::snprintf(buf, sizeof buf, "FL g=%g", gamma); break;
      case Kind::BalancedFL: std::snprintf(buf, sizeof buf, "a-FL a=%g g=%g", alpha, gamma); break;
      case Kind::Star: std::snprintf(buf, sizeof buf, "FL* g=%g b=%g", gamma, beta); break;
    }
    return buf;
  }
  bool has_focus() const { return kind == Kind::FL || kind == Kind::BalancedFL; }
  bool balanced() const { return kind == Kind::BalancedCE || kind == Kind::BalancedFL; }
  // Where rounding the input itself moves the result (its condition number): non-integer γ of a
  // focusing term, or FL*'s argument γ x_t + β with β ≠ 0.
  bool input_conditioned() const {
    return (has_focus() && gamma != std::floor(gamma)) || (kind == Kind::Star && beta != 0);
  }
};

/// Calls f(loss) with the focal object for spec s. FL* exists on logits only: for
/// Probabilities it is skipped (returns false).
template <class S, class In, class F>
bool with_loss(const Spec& s, F&& f) {
  switch (s.kind) {
    case Kind::CE: f(focal::CrossEntropy<S, In>()); return true;
    case Kind::BalancedCE: f(focal::BalancedCrossEntropy<S, In>(S(s.alpha))); return true;
    case Kind::FL: f(focal::FocalLoss<S, In>(S(s.gamma))); return true;
    case Kind::BalancedFL: f(focal::BalancedFocalLoss<S, In>(S(s.alpha), S(s.gamma))); return true;
    case Kind::Star:
      if constexpr (std::is_same<In, focal::Logits>::value) {
        f(focal::FocalLossStar<S>(S(s.gamma), S(s.beta)));
        return true;
      } else {
        return false;
      }
  }
  return false;
}

/// Every binade of S from the least subnormal to the largest finite value, both signs, with
/// `dense` points per binade where the losses change (|x| in [2^-12, 2^11)) and `sparse`
/// elsewhere, plus 0, ±max and ±∞. Includes ±20, ±100 and ±1000 exactly.
template <class S>
std::vector<S> logit_grid(int dense, int sparse) {
  std::vector<S> v{S(0), S(20), S(-20), S(100), S(-100), S(1000), S(-1000)};
  const int emin = std::numeric_limits<S>::min_exponent - std::numeric_limits<S>::digits;
  const int emax = std::numeric_limits<S>::max_exponent;
  for (int e = emin; e < emax; ++e) {
    const int n = (e >= -12 && e < 11) ? dense : sparse;
    for (int k = 0; k < n; ++k) {
      const S x = std::ldexp(S(1) + S(k) / S(n), e);
      if (x > 0 && std::isfinite(x)) {
        v.push_back(x);
        v.push_back(-x);
      }
    }
  }
  const S mx = std::numeric_limits<S>::max(), inf = std::numeric_limits<S>::infinity();
  v.insert(v.end(), {mx, -mx, inf, -inf});
  return v;
}

/// Probabilities: 0, 1, 1/2, every binade below 1/2 down to the least subnormal, 1 − 2^-k
/// up to the last representable one below 1, and a uniform grid.
template <class S>
std::vector<S> probability_grid(int per_binade, int uniform) {
  std::vector<S> v{S(0), S(1), S(0.5), std::numeric_limits<S>::denorm_min(),
                   S(1) - std::numeric_limits<S>::epsilon() / 2};
  const int emin = std::numeric_limits<S>::min_exponent - std::numeric_limits<S>::digits;
  for (int e = emin; e < -1; ++e) {
    for (int k = 0; k < per_binade; ++k) {
      const S p = std::ldexp(S(1) + S(k) / S(per_binade), e);
      v.push_back(p);
      v.push_back(S(1) - p);  // 1 − tiny: rounds, and the rounded value is the input
    }
  }
  for (int i = 1; i < uniform; ++i) v.push_back(S(i) / S(uniform));
  return v;
}

template <class S>
const char* type_name() {
  return std::is_same<S, float>::value ? "float" : "double";
}

template <class In>
const char* input_name() {
  return std::is_same<In, focal::Logits>::value ? "logits" : "probabilities";
}

/// The parameter sets every test runs over.
inline std::vector<Spec> all_specs() {
  std::vector<Spec> specs{{Kind::CE}, {Kind::BalancedCE, 0.25}, {Kind::BalancedCE, 0.75}};
  for (double g : {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0}) {
    specs.push_back({Kind::FL, 0, g});
    specs.push_back({Kind::BalancedFL, 0.25, g});
  }
  specs.push_back({Kind::Star, 0, 1, 0});
  specs.push_back({Kind::Star, 0, 2, 1});
  specs.push_back({Kind::Star, 0, 4, 0});
  return specs;
}

}  // namespace support

#endif  // FOCAL_TESTS_SUPPORT_HPP
