#ifndef FOCAL_TESTS_SWEEP_HPP
#define FOCAL_TESTS_SWEEP_HPP

// The accuracy sweep shared by the test (test_accuracy.cpp) and the table printer
// (benchmarks/accuracy_table.cpp): errors in ulps against the quad reference over a grid that
// covers each type's whole range, with two bounds.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "reference.hpp"
#include "support.hpp"

namespace sweep {

using ref::quad;
using support::Kind;
using support::Spec;

/// The exact loss and derivative of spec s (parameters rounded to S, as the library holds
/// them) at the input x, in quad precision. α_t = 1 − α is exact here.
template <class S, class In>
ref::Result reference(const Spec& s, ref::quad x, bool positive) {
  const ref::quad alpha = static_cast<S>(s.alpha);
  const ref::quad gamma = static_cast<S>(s.gamma);
  if (s.kind == Kind::Star) return ref::focal_star(x, positive, gamma, static_cast<S>(s.beta));
  const ref::quad alpha_t = s.balanced() ? (positive ? alpha : 1 - alpha) : ref::quad(1);
  const ref::quad g = s.has_focus() ? gamma : ref::quad(0);
  if (std::is_same<In, focal::Probabilities>::value) {
    return ref::focal_probability(x, positive, alpha_t, g);
  }
  return ref::focal_logit(x, positive, alpha_t, g);
}

/// The loose bound on any error: 16 ulp, plus the condition number |x f'(x)/f(x)| where
/// rounding the input itself moves the result (non-integer γ, FL* with β ≠ 0).
constexpr double loose_bound_ulp = 16;

/// Our own, tighter bound, to catch regressions long before the loose one: 5 + ⌈γ⌉ ulp (+ the
/// condition number where it applies). It grows with integer γ because in the saturated tail
/// the loss is ≈ exp(−|z|)^(γ+1), which carries exp's half-ulp γ + 1 times.
inline double own_bound_ulp(const Spec& s) { return 5 + std::ceil(s.has_focus() ? s.gamma : 0.0); }

/// |x f'(x) / f(x)| of the reference's loss (which = 0) or derivative (which = 1), by a central
/// difference in quad with relative step 1e-12 (error ~1e-24). 0 at x = 0, ±∞ and where f is
/// 0 or ∞: there the result must be exact.
template <class S, class In>
double condition(const Spec& s, quad x, bool positive, int which) {
  if (x == 0 || isinfq(x)) return 0;
  const quad h = fabsq(x) * quad(1e-12);
  const auto f = [&](quad t) {
    const ref::Result r = sweep::reference<S, In>(s, t, positive);
    return which == 0 ? r.loss : r.grad;
  };
  const quad f0 = f(x);
  if (f0 == 0 || isinfq(f0)) return 0;
  const quad d = (f(x + h) - f(x - h)) / (2 * h);
  return static_cast<double>(fabsq(x * d / f0));
}

/// The largest error seen, where, and the least distance below each bound.
struct Worst {
  double ulp = 0;
  double x = 0;
  int y = 0;
  double margin_loose = std::numeric_limits<double>::infinity();  // min(loose bound − error)
  double margin_own = std::numeric_limits<double>::infinity();    // min(own bound − error)

  void add(double err, double bound_loose, double bound_own, double at, int target) {
    if (err > ulp || std::isnan(err)) {
      ulp = err;
      x = at;
      y = target;
    }
    margin_loose = std::min(margin_loose, bound_loose - err);
    margin_own = std::min(margin_own, bound_own - err);
  }
  bool within_loose() const { return margin_loose >= 0; }
  bool within_own() const { return margin_own >= 0; }
};

struct Result {
  Worst value, grad;
  long nan_count = 0;  // NaN loss or derivative for a non-NaN input
  long points = 0;
};

/// Any (x, y) → {loss, derivative} evaluated in S, swept against the reference of spec s.
template <class S, class In, class F>
Result run(const Spec& s, const std::vector<S>& grid, F&& evaluate) {
  Result out;
  const bool conditioned = s.input_conditioned() && std::is_same<In, focal::Logits>::value;
  for (const S x : grid) {
    for (int y = 0; y < 2; ++y) {
      S l, g;
      evaluate(x, S(y), l, g);
      if (std::isnan(l) || std::isnan(g)) ++out.nan_count;
      const ref::Result r = sweep::reference<S, In>(s, quad(x), y == 1);
      const double ev = static_cast<double>(ref::ulp_error<S>(l, r.loss));
      const double eg = static_cast<double>(ref::ulp_error<S>(g, r.grad));
      // The condition number is only worth its cost where it could matter: an error above the
      // plain bound. Elsewhere it is taken as 0, so the reported margins are lower bounds.
      const double base = own_bound_ulp(s);
      const double cv = conditioned && ev > base ? condition<S, In>(s, quad(x), y == 1, 0) : 0;
      const double cg = conditioned && eg > base ? condition<S, In>(s, quad(x), y == 1, 1) : 0;
      out.value.add(ev, loose_bound_ulp + cv, own_bound_ulp(s) + cv, double(x), y);
      out.grad.add(eg, loose_bound_ulp + cg, own_bound_ulp(s) + cg, double(x), y);
      ++out.points;
    }
  }
  return out;
}

/// The library's own loss for spec s, swept.
template <class S, class In>
Result run_library(const Spec& s, const std::vector<S>& grid) {
  Result out;
  support::with_loss<S, In>(s, [&](const auto& loss) {
    out = run<S, In>(s, grid, [&](S x, S y, S& l, S& g) {
      l = loss(x, y);
      g = loss.derivative(x, y);
    });
  });
  return out;
}

/// Largest |logit| where the losses are not yet saturated to their limits in S: about 110
/// for float and 760 for double (where exp(−|x|) leaves the subnormal range, with room).
template <class S>
S saturation() {
  return std::is_same<S, float>::value ? S(110) : S(760);
}

/// The grid for logits: every binade (support::logit_grid), a uniform grid
/// over [−saturation, saturation] (step 1/16 for float, 1/4 for double: about 3500 and 6000
/// points), 4000 pseudo-random points with full random significands, log-uniform in
/// magnitude over [2^-24, saturation], and 8000 uniform in [−16, 16]. Deterministic.
template <class S>
std::vector<S> logit_grid() {
  std::vector<S> v = support::logit_grid<S>(48, 2);
  const S top = saturation<S>();
  const S step = std::is_same<S, float>::value ? S(1) / 16 : S(1) / 4;
  for (S x = -top; x <= top; x += step) v.push_back(x);
  std::mt19937_64 gen(20170802);  // arXiv 1708.02002
  std::uniform_real_distribution<double> log_mag(-24 * std::log(2.0), std::log(double(top)));
  for (int i = 0; i < 4000; ++i) {
    const S x = S(std::exp(log_mag(gen)));
    v.push_back(i % 2 ? x : -x);
  }
  // Where the focal terms' errors peak (|x| of a few units: q^γ and the log both matter), a
  // grid of fixed step finds the worst case only by luck: 8000 more random points there.
  std::uniform_real_distribution<double> mid(-16, 16);
  for (int i = 0; i < 8000; ++i) v.push_back(S(mid(gen)));
  return v;
}

/// The grid for probabilities: support::probability_grid plus 4000 pseudo-random points in
/// (0, 1), half log-uniform towards 0 and half towards 1.
template <class S>
std::vector<S> probability_grid() {
  std::vector<S> v = support::probability_grid<S>(3, 2000);
  std::mt19937_64 gen(19950613);
  const double lo = std::log(double(std::numeric_limits<S>::denorm_min()));
  std::uniform_real_distribution<double> log_p(lo, std::log(0.5));
  for (int i = 0; i < 4000; ++i) {
    const S p = S(std::exp(log_p(gen)));
    v.push_back(i % 2 ? p : S(1) - p);
  }
  return v;
}

/// The parameter sets: CE, α-CE, FL and α-FL with γ ∈ {0, 0.5, 1, 1.5, 2, 3, 5},
/// FL* with (γ, β) ∈ {(1, 0), (2, 1), (4, 0)}.
inline std::vector<Spec> specs() { return support::all_specs(); }

}  // namespace sweep

#endif  // FOCAL_TESTS_SWEEP_HPP
