// Every derivative against a fourth-order central finite difference of the library's own loss:
// a gradient that does not match its loss (dlib's multibinary loss is one) fails here.
//
// Stencil: f'(x) ≈ (f(x−2h) − 8 f(x−h) + 8 f(x+h) − f(x+2h)) / 12h, truncation error
// h⁴ f⁽⁵⁾/30. h is a power of two and the points are on a grid where x ± 2h is exact, so the
// only noise is f's own rounding, about 1.5·ε·max|f|/h; the tolerance is that plus a relative
// term well above the truncation error.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "support.hpp"

using support::Kind;
using support::Spec;

namespace {

std::vector<Spec> gradient_specs() {
  std::vector<Spec> specs{{Kind::CE}};
  for (double a : {0.25, 0.5, 0.75}) specs.push_back({Kind::BalancedCE, a});
  for (double g : {0.0, 0.5, 1.0, 2.0, 5.0}) {
    specs.push_back({Kind::FL, 0, g});
    for (double a : {0.25, 0.5, 0.75}) specs.push_back({Kind::BalancedFL, a, g});
  }
  specs.push_back({Kind::Star, 0, 1, 0});
  specs.push_back({Kind::Star, 0, 2, 1});
  specs.push_back({Kind::Star, 0, 4, 0});
  return specs;
}

template <class S>
struct Tolerance;
template <>
struct Tolerance<float> {
  static constexpr float rel = 2e-4f;
};
template <>
struct Tolerance<double> {
  static constexpr double rel = 1e-8;
};

template <class S, class Loss>
void check_point(const Loss& loss, S x, S h, int y) {
  const S ys = S(y);
  const S f[4] = {loss(x - 2 * h, ys), loss(x - h, ys), loss(x + h, ys), loss(x + 2 * h, ys)};
  const double fd = (double(f[0]) - 8.0 * f[1] + 8.0 * f[2] - double(f[3])) / (12.0 * h);
  const double scale = std::max({std::fabs(double(f[0])), std::fabs(double(f[1])),
                                 std::fabs(double(f[2])), std::fabs(double(f[3]))});
  const double g = loss.derivative(x, ys);
  // f's rounding: ε·|f|, and never less than the subnormal spacing once f underflows.
  const double tol = Tolerance<S>::rel * std::fabs(g) +
                     4.0 * (std::numeric_limits<S>::epsilon() * scale +
                            double(std::numeric_limits<S>::denorm_min())) / h;
  INFO("x = " << x << " y = " << y << " h = " << h << ": derivative " << g
              << ", finite difference " << fd);
  CHECK(std::isfinite(g));
  CHECK(std::fabs(g - fd) <= tol);
}

}  // namespace

TEMPLATE_TEST_CASE("logit derivatives match finite differences", "[gradient]", float, double) {
  using S = TestType;
  // h = 2^-5 (float), 2^-10 (double); x on multiples of 1/8 in [−30, 30], plus points off it.
  const S h = std::is_same<S, float>::value ? S(1) / 32 : S(1) / 1024;
  std::vector<S> xs;
  for (int i = -240; i <= 240; ++i) xs.push_back(S(i) / 8);
  for (S x : {S(0.3125), S(-1.4375), S(2.71875), S(-7.15625)}) xs.push_back(x);
  for (const Spec& s : gradient_specs()) {
    INFO(s.name());
    support::with_loss<S, focal::Logits>(s, [&](const auto& loss) {
      for (const S x : xs)
        for (int y = 0; y < 2; ++y) check_point(loss, x, h, y);
    });
  }
}

TEMPLATE_TEST_CASE("probability derivatives match finite differences", "[gradient]", float,
                   double) {
  using S = TestType;
  std::vector<S> ps;
  for (int j = 1; j < 64; ++j) ps.push_back(S(j) / 64);
  // Down to 2^-16 (float) or 2^-20 (double) from either end, where h stays on the grid.
  const int kmax = std::is_same<S, float>::value ? 16 : 20;
  for (int k = 7; k <= kmax; ++k) {
    ps.push_back(std::ldexp(S(1), -k));
    ps.push_back(S(1) - std::ldexp(S(1), -k));
  }
  // h = 2^-5 (float) or 2^-8 (double) of the distance to the nearer end of [0, 1], rounded
  // down to a power of two so that p ± 2h is exact.
  const int shift = std::is_same<S, float>::value ? 5 : 8;
  for (const Spec& s : gradient_specs()) {
    INFO(s.name());
    support::with_loss<S, focal::Probabilities>(s, [&](const auto& loss) {
      for (const S p : ps) {
        const S room = std::min(p, S(1) - p);
        const S h = std::ldexp(S(1), std::ilogb(room) - shift);
        for (int y = 0; y < 2; ++y) check_point(loss, p, h, y);
      }
    });
  }
}

TEMPLATE_TEST_CASE("logit and probability derivatives agree through the chain rule",
                   "[gradient]", float, double) {
  // dL/dx = dL/dp · p (1 − p): the two input spaces are two views of one function. p = σ(x) is
  // rounded to S, which moves the loss on p by its condition number times S's rounding: float
  // stays where 1 − p keeps its digits (|x| ≤ 5) with a looser tolerance.
  using S = TestType;
  constexpr bool is_float = std::is_same<S, float>::value;
  const int range = is_float ? 20 : 40;  // quarters
  const double rel_value = is_float ? 1e-4 : 1e-10, rel_grad = is_float ? 3e-4 : 1e-9;
  for (double g : {0.0, 0.5, 2.0}) {
    const focal::BalancedFocalLoss<S> on_logits(S(0.25), S(g));
    const focal::BalancedFocalLoss<S, focal::Probabilities> on_probs(S(0.25), S(g));
    for (int i = -range; i <= range; ++i) {
      const S x = S(i) / 4;
      const S p = S(1 / (1 + std::exp(-static_cast<long double>(x))));
      for (int y = 0; y < 2; ++y) {
        INFO("gamma = " << g << " x = " << x << " y = " << y);
        CHECK_THAT(double(on_logits(x, S(y))),
                   Catch::Matchers::WithinRel(double(on_probs(p, S(y))), rel_value));
        const double chain = double(on_probs.derivative(p, S(y))) * double(p) * (1 - double(p));
        CHECK_THAT(double(on_logits.derivative(x, S(y))),
                   Catch::Matchers::WithinRel(chain, rel_grad));
      }
    }
  }
}
