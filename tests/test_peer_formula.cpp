// The torchvision formula of benchmarks/peer_formula.hpp is the baseline of the accuracy table
// and the benchmarks, so it must be faithful: it agrees with focal where that formula is
// well-conditioned, and shows the failures users report (README, Conventions) where it is not.
#include <catch2/catch.hpp>

#include <cmath>

#include "../benchmarks/peer_formula.hpp"
#include "support.hpp"

using Catch::Matchers::WithinRel;

TEMPLATE_TEST_CASE("the torchvision formula agrees with focal on moderate logits", "[peer]",
                   float, double) {
  using S = TestType;
  const double tol = std::is_same<S, float>::value ? 1e-4 : 1e-11;
  for (const double g : {0.0, 1.0, 2.0, 0.5}) {
    const peer::TorchvisionFocal<S> tv{S(0.25), S(g)};
    const focal::BalancedFocalLoss<S> fl(S(0.25), S(g));
    for (int i = -32; i <= 32; ++i) {
      const S x = S(i) / 8;
      for (int y = 0; y < 2; ++y) {
        S l, d;
        tv(x, S(y), l, d);
        INFO("gamma = " << g << " x = " << x << " y = " << y);
        CHECK_THAT(double(l), WithinRel(double(fl(x, S(y))), tol));
        CHECK_THAT(double(d), WithinRel(double(fl.derivative(x, S(y))), tol));
      }
    }
  }
}

TEST_CASE("the torchvision formula fails where users report it", "[peer]") {
  // kornia#918 and others: NaN gradient for 0 < γ < 1 once σ(x) rounds to 1.
  const peer::TorchvisionFocal<float> half{0.25f, 0.5f};
  float l, d;
  half(20.0f, 1.0f, l, d);
  CHECK(std::isnan(d));
  CHECK(std::isfinite(focal::BalancedFocalLoss<float>(0.25f, 0.5f).derivative(20.0f, 1.0f)));
  // Saturated tails flushed to exactly 0: at logit 20, γ = 2 the true loss is 2.2e-27.
  const peer::TorchvisionFocal<float> two{0.25f, 2.0f};
  two(20.0f, 1.0f, l, d);
  CHECK(l == 0.0f);
  CHECK(focal::BalancedFocalLoss<float>()(20.0f, 1.0f) > 0.0f);
  // An infinite logit: 0·∞ in (1 − t)·x.
  two(std::numeric_limits<float>::infinity(), 1.0f, l, d);
  CHECK(std::isnan(l));
}
