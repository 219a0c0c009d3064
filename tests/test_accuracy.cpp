// Accuracy in ulps against the quad-precision reference (reference.hpp), over every binade of
// float and double, ±∞, and probabilities from 0 through subnormals to 1 − 2^-p and 1.
//
// Bounds: 5 + ⌈γ⌉ ulp for every loss. Integer γ is applied by multiplication, so exp's own
// half-ulp error is raised to the power γ + 1 in the saturated tail (the loss is ≈ e^(γ+1)
// there): that, not sloppiness, is why the bound grows with γ. Where rounding the input
// itself moves the result (non-integer γ on logits, FL* with β ≠ 0), the function's condition
// number |x f'(x)/f(x)| is added, as math.md prescribes.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "support.hpp"

using ref::quad;
using support::Spec;

namespace {

struct Worst {
  double ulp = 0;        // largest error seen
  double margin = 1e30;  // smallest (bound − error) seen
  double x = 0;
  int y = 0;
};

struct SweepResult {
  Worst value, grad;
  long nan_count = 0;
  long failures = 0;
  double first_failure_x = 0;
  int first_failure_y = 0;
};

// |x f'(x) / f(x)| for f = the reference's loss (which = 0) or derivative (which = 1), by a
// central difference in quad (relative step 1e-12, error ~1e-24).
template <class S, class In>
double condition(const Spec& s, quad x, bool positive, int which) {
  if (x == 0 || isinfq(x)) return 0;  // 0 and the limits at ±∞ must be exact
  const quad h = fabsq(x) * quad(1e-12);
  const auto f = [&](quad t) {
    const ref::Result r = support::reference<S, In>(s, t, positive);
    return which == 0 ? r.loss : r.grad;
  };
  const quad f0 = f(x);
  if (f0 == 0 || isinfq(f0)) return 0;
  const quad d = (f(x + h) - f(x - h)) / (2 * h);
  return static_cast<double>(fabsq(x * d / f0));
}

template <class S, class In>
SweepResult sweep(const Spec& s, const std::vector<S>& grid) {
  SweepResult out;
  const double base = 5 + std::ceil(s.has_focus() ? s.gamma : 0.0);
  support::with_loss<S, In>(s, [&](const auto& loss) {
    for (const S x : grid) {
      for (int y = 0; y < 2; ++y) {
        const S l = loss(x, S(y));
        const S g = loss.derivative(x, S(y));
        if (std::isnan(l) || std::isnan(g)) ++out.nan_count;
        const ref::Result r = support::reference<S, In>(s, quad(x), y == 1);
        const double ev = static_cast<double>(ref::ulp_error<S>(l, r.loss));
        const double eg = static_cast<double>(ref::ulp_error<S>(g, r.grad));
        double bv = base, bg = base;
        if (s.input_conditioned() && std::is_same<In, focal::Logits>::value) {
          bv += condition<S, In>(s, quad(x), y == 1, 0);
          bg += condition<S, In>(s, quad(x), y == 1, 1);
        }
        const auto track = [&](Worst& w, double e, double b) {
          if (e > w.ulp) w = {e, w.margin, double(x), y};
          w.margin = std::min(w.margin, b - e);
          if (!(e <= b)) {
            if (out.failures++ == 0) {
              out.first_failure_x = double(x);
              out.first_failure_y = y;
            }
          }
        };
        track(out.value, ev, bv);
        track(out.grad, eg, bg);
      }
    }
  });
  return out;
}

template <class S, class In>
void run_accuracy(const std::vector<S>& grid) {
  std::printf("%-8s %-13s %-22s %12s %12s\n", support::type_name<S>(), support::input_name<In>(),
              "loss", "value ulp", "grad ulp");
  for (const Spec& s : support::all_specs()) {
    if (s.kind == support::Kind::Star && !std::is_same<In, focal::Logits>::value) continue;
    const SweepResult r = sweep<S, In>(s, grid);
    std::printf("%-8s %-13s %-22s %12.2f %12.2f\n", support::type_name<S>(),
                support::input_name<In>(), s.name().c_str(), r.value.ulp, r.grad.ulp);
    INFO(support::type_name<S>() << " " << support::input_name<In>() << " " << s.name()
                                 << ": worst value error " << r.value.ulp << " ulp at x = "
                                 << r.value.x << " y = " << r.value.y << "; worst derivative error "
                                 << r.grad.ulp << " ulp at x = " << r.grad.x << " y = " << r.grad.y
                                 << "; first failure at x = " << r.first_failure_x
                                 << " y = " << r.first_failure_y);
    CHECK(r.nan_count == 0);
    CHECK(r.failures == 0);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("logit losses are accurate to a few ulp over the whole range", "[accuracy]",
                   float, double) {
  // Dense where the losses change, every binade elsewhere, ±20, ±100, ±1000, ±max, ±∞.
  run_accuracy<TestType, focal::Logits>(support::logit_grid<TestType>(48, 2));
}

TEMPLATE_TEST_CASE("probability losses are accurate to a few ulp on [0, 1]", "[accuracy]", float,
                   double) {
  // 0, subnormals, every binade, 1 − tiny, 1 and a uniform grid.
  run_accuracy<TestType, focal::Probabilities>(support::probability_grid<TestType>(3, 2000));
}

TEMPLATE_TEST_CASE("saturated tails keep their exact tiny values", "[accuracy]", float, double) {
  // Every peer computing 1 − σ(x) returns exactly 0 here; the true values are representable.
  using S = TestType;
  const focal::BalancedFocalLoss<S> fl;  // α = 0.25, γ = 2
  for (const S x : {S(20), S(30), S(40)}) {
    const ref::Result r = ref::focal_logit(quad(x), true, quad(0.25), 2);
    if (static_cast<S>(r.loss) == 0) continue;  // below S's range: 0 is then the right answer
    INFO("x = " << x << " exact loss " << ref::to_double(r.loss));
    CHECK(fl(x, S(1)) > 0);
    CHECK(fl.derivative(x, S(1)) < 0);
    CHECK(static_cast<double>(ref::ulp_error<S>(fl(x, S(1)), r.loss)) <= 7);
  }
  // math.md: at logit 20 with γ = 2, α = 0.25 the loss is 2.2e-27 (float included).
  CHECK_THAT(double(fl(S(20), S(1))), Catch::Matchers::WithinRel(2.2e-27, 0.01));
}

TEMPLATE_TEST_CASE("infinite inputs give the mathematical limits", "[accuracy]", float, double) {
  using S = TestType;
  const S inf = std::numeric_limits<S>::infinity();
  for (const double gamma : {0.0, 0.5, 1.0, 2.0, 5.0}) {
    const focal::BalancedFocalLoss<S> fl(S(0.25), S(gamma));
    INFO("gamma = " << gamma);
    // Confidently right: no loss, no gradient.
    CHECK(fl(inf, S(1)) == 0);
    CHECK(fl.derivative(inf, S(1)) == 0);
    CHECK(fl(-inf, S(0)) == 0);
    CHECK(fl.derivative(-inf, S(0)) == 0);
    // Confidently wrong: infinite loss, slope −s α_t (math.md).
    CHECK(fl(-inf, S(1)) == inf);
    CHECK(fl.derivative(-inf, S(1)) == S(-0.25));
    CHECK(fl(inf, S(0)) == inf);
    CHECK(fl.derivative(inf, S(0)) == S(0.75));
    // The same on probabilities: p_t = 1 gives 0 and slope 0 (γ > 0) or −α_t (γ = 0);
    // p_t = 0 gives +∞ and −∞.
    const focal::BalancedFocalLoss<S, focal::Probabilities> fp(S(0.25), S(gamma));
    CHECK(fp(S(1), S(1)) == 0);
    CHECK(fp.derivative(S(1), S(1)) == (gamma == 0 ? S(-0.25) : S(0)));
    CHECK(fp(S(0), S(1)) == inf);
    CHECK(fp.derivative(S(0), S(1)) == -inf);
    CHECK(fp(S(0), S(0)) == 0);
    CHECK(fp.derivative(S(0), S(0)) == (gamma == 0 ? S(0.75) : S(0)));
    CHECK(fp(S(1), S(0)) == inf);
    CHECK(fp.derivative(S(1), S(0)) == inf);
  }
  const focal::FocalLossStar<S> star(S(2), S(1));
  CHECK(star(inf, S(1)) == 0);
  CHECK(star.derivative(inf, S(1)) == 0);
  CHECK(star(-inf, S(1)) == inf);
  CHECK(star.derivative(-inf, S(1)) == -1);
  // γ x_t overflows for a finite x_t near the top of the range: the loss is finite, ≈ −x_t − β/γ.
  const S big = std::numeric_limits<S>::max() / 2;
  CHECK(star(-big, S(1)) == big);
  CHECK(star.derivative(-big, S(1)) == -1);
}

TEMPLATE_TEST_CASE("alpha = 0 and alpha = 1 switch a class off exactly", "[accuracy]", float,
                   double) {
  using S = TestType;
  const S inf = std::numeric_limits<S>::infinity();
  const focal::BalancedFocalLoss<S> only_negatives(S(0), S(2));
  const focal::BalancedFocalLoss<S> only_positives(S(1), S(2));
  for (const S x : {-inf, S(-50), S(0), S(50), inf}) {
    INFO("x = " << x);
    CHECK(only_negatives(x, S(1)) == 0);
    CHECK(only_negatives.derivative(x, S(1)) == 0);
    CHECK(only_positives(x, S(0)) == 0);
    CHECK(only_positives.derivative(x, S(0)) == 0);
  }
  const focal::BalancedCrossEntropy<S, focal::Probabilities> ce(S(0));
  CHECK(ce(S(0), S(1)) == 0);  // 0·∞ is 0 when the weight is exactly 0
  CHECK(ce.derivative(S(0), S(1)) == 0);
}

TEMPLATE_TEST_CASE("NaN inputs give NaN and no exception", "[accuracy]", float, double) {
  using S = TestType;
  const S nan = std::numeric_limits<S>::quiet_NaN();
  for (const Spec& s : support::all_specs()) {
    INFO(s.name());
    support::with_loss<S, focal::Logits>(s, [&](const auto& loss) {
      CHECK(std::isnan(loss(nan, S(1))));
      CHECK(std::isnan(loss.derivative(nan, S(0))));
    });
    support::with_loss<S, focal::Probabilities>(s, [&](const auto& loss) {
      CHECK(std::isnan(loss(nan, S(0))));
      CHECK(std::isnan(loss.derivative(nan, S(1))));
    });
  }
  // Also where α_t = 0: NaN is not silently turned into 0.
  const focal::BalancedFocalLoss<S> off(S(0), S(2));
  CHECK(std::isnan(off(nan, S(1))));
}
