// Accuracy in ulps against the quad-precision reference (reference.hpp), over the whole range
// of float and double: every binade, a uniform grid across the unsaturated range, random
// full-significand points, ±∞, and probabilities from 0 through subnormals to 1 − 2^-p and 1.
//
// Two bounds (sweep.hpp): a loose 16 ulp (plus the condition number where the
// input's own rounding matters), and our tighter 5 + ⌈γ⌉ ulp, which catches regressions early.
// The sweep prints its table: worst errors and the least distance below each bound.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "support.hpp"
#include "sweep.hpp"

using ref::quad;
using support::Spec;

namespace {

template <class S, class In>
void run_sweep(const std::vector<S>& grid) {
  std::printf("%-7s %-13s %-20s %9s %9s %13s %13s\n", support::type_name<S>(),
              support::input_name<In>(), "loss", "value ulp", "grad ulp", "below 16+c",
              "below own");
  for (const Spec& s : sweep::specs()) {
    if (s.kind == support::Kind::Star && !std::is_same<In, focal::Logits>::value) continue;
    const sweep::Result r = sweep::run_library<S, In>(s, grid);
    std::printf("%-7s %-13s %-20s %9.2f %9.2f %13.2f %13.2f\n", support::type_name<S>(),
                support::input_name<In>(), s.name().c_str(), r.value.ulp, r.grad.ulp,
                std::min(r.value.margin_loose, r.grad.margin_loose),
                std::min(r.value.margin_own, r.grad.margin_own));
    INFO(support::type_name<S>() << " " << support::input_name<In>() << " " << s.name() << " over "
                                 << r.points << " points: worst value error " << r.value.ulp
                                 << " ulp at x = " << r.value.x << " y = " << r.value.y
                                 << "; worst derivative error " << r.grad.ulp << " ulp at x = "
                                 << r.grad.x << " y = " << r.grad.y);
    CHECK(r.nan_count == 0);
    CHECK(r.value.within_loose());
    CHECK(r.grad.within_loose());
    CHECK(r.value.within_own());
    CHECK(r.grad.within_own());
  }
}

}  // namespace

TEMPLATE_TEST_CASE("logit losses are accurate to a few ulp over the whole range",
                   "[accuracy][sweep]", float, double) {
  run_sweep<TestType, focal::Logits>(sweep::logit_grid<TestType>());
}

TEMPLATE_TEST_CASE("probability losses are accurate to a few ulp on the unit interval",
                   "[accuracy][sweep]", float, double) {
  run_sweep<TestType, focal::Probabilities>(sweep::probability_grid<TestType>());
}

TEST_CASE("the sweep detects a wrong result", "[accuracy]") {
  // Guards the sweep against checks that cannot fail: a loss off by 32 to 64 ulp (2^-18 relative in
  // float) and a NaN must both be reported.
  const Spec ce{support::Kind::CE};
  const std::vector<float> grid{-3.0f, 0.5f, 7.0f};
  const focal::CrossEntropy<float> loss;
  const sweep::Result off = sweep::run<float, focal::Logits>(ce, grid, [&](float x, float y, float& l, float& g) {
    l = loss(x, y) * (1 + std::ldexp(1.0f, -18));
    g = loss.derivative(x, y);
  });
  CHECK_FALSE(off.value.within_own());
  CHECK_FALSE(off.value.within_loose());
  CHECK(off.grad.within_own());
  const sweep::Result nan = sweep::run<float, focal::Logits>(ce, grid, [&](float x, float y, float& l, float& g) {
    l = loss(x, y);
    g = x > 5 ? std::numeric_limits<float>::quiet_NaN() : loss.derivative(x, y);
  });
  CHECK(nan.nan_count == 2);
  CHECK_FALSE(nan.grad.within_loose());
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
  // At logit 20 with γ = 2, α = 0.25 the loss is 2.2e-27 (float included).
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
    // Confidently wrong: infinite loss, slope −s α_t (the limit of (10)).
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
    for (const S y : {S(0), S(1)}) {
      support::with_loss<S, focal::Logits>(s, [&](const auto& loss) {
        CHECK(std::isnan(loss(nan, y)));
        CHECK(std::isnan(loss.derivative(nan, y)));
      });
      support::with_loss<S, focal::Probabilities>(s, [&](const auto& loss) {
        CHECK(std::isnan(loss(nan, y)));
        CHECK(std::isnan(loss.derivative(nan, y)));
      });
    }
  }
  // Also where α_t = 0: NaN is not silently turned into 0.
  const focal::BalancedFocalLoss<S> off(S(0), S(2));
  CHECK(std::isnan(off(nan, S(1))));
}

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>

TEMPLATE_TEST_CASE("with flush-to-zero and denormals-are-zero the losses stay safe",
                   "[accuracy][ftz]", float, double) {
  // Frameworks may set FTZ/DAZ (torch.set_flush_denormal(True)). Then a subnormal input reads
  // as 0 and subnormal results and intermediates become 0. Over the logit and probability
  // grids, with both bits set around each call: no NaN, every result whose exact value (at the
  // input as the CPU reads it) lies above the subnormal range by a margin within the usual
  // bound, and every smaller one at most that margin. A subnormal probability is 0: with
  // y = 1 its loss is +∞ (documented).
  using S = TestType;
  const int digits = std::numeric_limits<S>::digits;
  const quad margin = ldexpq(1, std::numeric_limits<S>::min_exponent - 1 + digits);
  const auto check = [&](const Spec& s, const auto& loss, const std::vector<S>& grid,
                         auto input_space) {
    using In = decltype(input_space);
    long nan = 0, bad = 0;
    double worst = 0;
    for (const S x : grid) {
      const S read = std::fpclassify(x) == FP_SUBNORMAL ? S(0) : x;  // what DAZ makes of x
      for (int y = 0; y < 2; ++y) {
        const unsigned csr = _mm_getcsr();
        _mm_setcsr(csr | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
        const S l = loss(x, S(y)), g = loss.derivative(x, S(y));
        _mm_setcsr(csr);
        nan += std::isnan(l) || std::isnan(g);
        const ref::Result r = sweep::reference<S, In>(s, quad(read), y == 1);
        for (const auto& [got, exact] : {std::pair<S, quad>{l, r.loss}, {g, r.grad}}) {
          if (fabsq(exact) >= margin || isinfq(exact)) {
            const double e = double(ref::ulp_error<S>(got, exact));
            worst = std::max(worst, e);
            bad += !(e <= sweep::own_bound_ulp(s));
          } else {
            bad += !(fabsq(quad(got)) <= margin);
          }
        }
      }
    }
    INFO(support::type_name<S>() << " " << support::input_name<In>() << " " << s.name()
                                 << ": worst error above the margin " << worst << " ulp");
    CHECK(nan == 0);
    CHECK(bad == 0);
  };
  const std::vector<S> logits = sweep::logit_grid<S>();
  const std::vector<S> probabilities = sweep::probability_grid<S>();
  for (const Spec& s : {Spec{support::Kind::CE}, Spec{support::Kind::BalancedFL, 0.25, 2},
                        Spec{support::Kind::FL, 0, 5}, Spec{support::Kind::Star, 0, 4, 0}}) {
    support::with_loss<S, focal::Logits>(
        s, [&](const auto& loss) { check(s, loss, logits, focal::Logits{}); });
    support::with_loss<S, focal::Probabilities>(
        s, [&](const auto& loss) { check(s, loss, probabilities, focal::Probabilities{}); });
  }
  volatile S subnormal = std::numeric_limits<S>::denorm_min();  // not folded at compile time
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u);
  const S subnormal_loss = focal::CrossEntropy<S, focal::Probabilities>()(subnormal, S(1));
  _mm_setcsr(csr);
  CHECK(subnormal_loss == std::numeric_limits<S>::infinity());
}
#endif
