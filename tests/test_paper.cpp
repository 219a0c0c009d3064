// The paper's formulas and facts (Lin et al. 2017, arXiv:1708.02002), checked against the
// library. Closed forms are evaluated here in long double, directly as printed in the paper,
// at logits where that naive evaluation is itself accurate (|x| ≤ 8).

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "support.hpp"

using Catch::Matchers::WithinRel;
using Catch::Matchers::WithinULP;

namespace {

long double sigmoid(long double x) { return 1.0L / (1.0L + std::exp(-x)); }

// Appendix B, with x_t = s·x, s = ±1 for y = 1/0 and p_t = σ(x_t).
long double dce_paper(long double x, int y) {  // (9)
  const long double s = y ? 1 : -1, pt = sigmoid(s * x);
  return s * (pt - 1);
}
long double dfl_paper(long double x, int y, long double gamma) {  // (10)
  const long double s = y ? 1 : -1, pt = sigmoid(s * x);
  return s * std::pow(1 - pt, gamma) * (gamma * pt * std::log(pt) + pt - 1);
}
long double dflstar_paper(long double x, int y, long double gamma, long double beta) {  // (11)
  const long double s = y ? 1 : -1, pst = sigmoid(gamma * s * x + beta);
  return s * (pst - 1);
}

template <class S>
double rel_tol() {
  return std::is_same<S, float>::value ? 2e-6 : 1e-13;
}

}  // namespace

TEMPLATE_TEST_CASE("derivatives equal the Appendix B closed forms", "[paper]", float, double) {
  using S = TestType;
  const focal::CrossEntropy<S> ce;
  for (int i = -64; i <= 64; ++i) {
    const S x = S(i) / 8;
    for (int y = 0; y < 2; ++y) {
      INFO("x = " << x << " y = " << y);
      CHECK_THAT(double(ce.derivative(x, S(y))),
                 WithinRel(double(dce_paper(x, y)), rel_tol<S>()));
      for (const double g : {0.0, 0.5, 1.0, 2.0, 5.0}) {
        const focal::FocalLoss<S> fl{S(g)};
        const focal::BalancedFocalLoss<S> afl(S(0.25), S(g));
        const double alpha_t = y ? 0.25 : 0.75;
        INFO("gamma = " << g);
        CHECK_THAT(double(fl.derivative(x, S(y))),
                   WithinRel(double(dfl_paper(x, y, g)), rel_tol<S>()));
        CHECK_THAT(double(afl.derivative(x, S(y))),
                   WithinRel(alpha_t * double(dfl_paper(x, y, g)), rel_tol<S>()));
      }
      for (const auto& gb : {std::pair<double, double>{2, 1}, {4, 0}, {1, 0}}) {
        if (std::fabs(gb.first * x + gb.second) > 8) continue;  // keep (11) itself accurate
        const focal::FocalLossStar<S> star(S(gb.first), S(gb.second));
        CHECK_THAT(double(star.derivative(x, S(y))),
                   WithinRel(double(dflstar_paper(x, y, gb.first, gb.second)), rel_tol<S>()));
      }
    }
  }
}

TEST_CASE("CE/FL is 100 at p_t = 0.9 and 1000 at p_t = 1 - 1/sqrt(1000) for gamma 2",
          "[paper]") {
  // Section 3.2: with γ = 2, an example with p_t = 0.9 has 100× lower loss than with CE, and
  // 1000× lower at p_t ≈ 0.968. The ratio is exactly 1/(1 − p_t)²; with p_t rounded to double
  // it is within a few ulp of that for the rounded p_t, hence the tolerances.
  const focal::CrossEntropy<double, focal::Probabilities> ce;
  const focal::FocalLoss<double, focal::Probabilities> fl(2.0);
  CHECK_THAT(ce(0.9, 1) / fl(0.9, 1), WithinRel(100.0, 1e-14));
  const double pt = 1 - 1 / std::sqrt(1000.0);
  CHECK_THAT(ce(pt, 1) / fl(pt, 1), WithinRel(1000.0, 1e-13));
  // At exactly 0.968 the ratio is 1/0.032² = 976.5625.
  CHECK_THAT(ce(0.968, 1) / fl(0.968, 1), WithinRel(976.5625, 1e-13));
  // Same facts through y = 0 (p_t = 1 − p) and on logits (p_t = σ(x)).
  CHECK_THAT(ce(0.1, 0) / fl(0.1, 0), WithinRel(100.0, 1e-14));
  const focal::CrossEntropy<double> ce_x;
  const focal::FocalLoss<double> fl_x(2.0);
  const double x = std::log(9.0);  // σ(log 9) = 0.9
  CHECK_THAT(ce_x(x, 1) / fl_x(x, 1), WithinRel(100.0, 1e-14));
}

TEST_CASE("for p_t at most 0.5 the loss is scaled down by at most 4x", "[paper]") {
  const focal::CrossEntropy<double, focal::Probabilities> ce;
  const focal::FocalLoss<double, focal::Probabilities> fl(2.0);
  for (int i = 1; i <= 500; ++i) {
    const double pt = i / 1000.0;
    INFO("p_t = " << pt);
    const double ratio = ce(pt, 1) / fl(pt, 1);
    CHECK(ratio >= 1);
    CHECK(ratio <= 4 * (1 + 1e-15));
  }
  CHECK_THAT(ce(0.5, 1) / fl(0.5, 1), WithinRel(4.0, 1e-15));
}

TEMPLATE_TEST_CASE("gamma 0 equals CE exactly and FL* with gamma 1 beta 0 equals CE", "[paper]",
                   float, double) {
  // Bit for bit, the signs of zeros included (saturated gradients are −0 for y = 1 in every
  // loss and build): the same kernel, γ = 0 multiplies by nothing, γ x_t + β = x_t is exact.
  using S = TestType;
  const focal::CrossEntropy<S> ce;
  const focal::FocalLoss<S> fl0(S(0));
  const focal::FocalLossStar<S> star(S(1), S(0));
  const focal::BalancedCrossEntropy<S> bce(S(0.3));
  const focal::BalancedFocalLoss<S> bfl0(S(0.3), S(0));
  const focal::CrossEntropy<S, focal::Probabilities> ce_p;
  const focal::FocalLoss<S, focal::Probabilities> fl0_p(S(0));
  const auto bits = [](S a, S b) { return std::memcmp(&a, &b, sizeof(S)) == 0; };
  const std::vector<S> xs = support::logit_grid<S>(8, 1);
  for (const S x : xs) {
    for (int y = 0; y < 2; ++y) {
      INFO("x = " << x << " y = " << y);
      CHECK(bits(fl0(x, S(y)), ce(x, S(y))));
      CHECK(bits(fl0.derivative(x, S(y)), ce.derivative(x, S(y))));
      CHECK(bits(star(x, S(y)), ce(x, S(y))));
      CHECK(bits(star.derivative(x, S(y)), ce.derivative(x, S(y))));
      CHECK(bits(bfl0(x, S(y)), bce(x, S(y))));
      CHECK(bits(bfl0.derivative(x, S(y)), bce.derivative(x, S(y))));
    }
  }
  // The fused pass too: G bit for bit, and the total.
  using Vector = Eigen::Array<S, Eigen::Dynamic, 1>;
  const Eigen::Index n = Eigen::Index(xs.size());
  const Vector x = Eigen::Map<const Vector>(xs.data(), n);
  for (int y = 0; y < 2; ++y) {
    const Vector targets = Vector::Constant(n, S(y));
    Vector g_ce(n), g_star(n);
    const S t_ce = ce.value_and_gradient(x, targets, g_ce);
    const S t_star = star.value_and_gradient(x, targets, g_star);
    CHECK(bits(t_ce, t_star));
    CHECK(std::memcmp(g_ce.data(), g_star.data(), sizeof(S) * std::size_t(n)) == 0);
  }
  for (const S p : support::probability_grid<S>(1, 100)) {
    for (int y = 0; y < 2; ++y) {
      INFO("p = " << p << " y = " << y);
      CHECK(bits(fl0_p(p, S(y)), ce_p(p, S(y))));
      CHECK(bits(fl0_p.derivative(p, S(y)), ce_p.derivative(p, S(y))));
    }
  }
}

TEMPLATE_TEST_CASE("the prior bias -log 99 gives p = 0.01", "[paper]", float, double) {
  // Section 4.1: b = −log((1 − π)/π) with π = 0.01 makes σ(b) = 0.01, so the CE of a
  // positive at the initial logit is −log 0.01 = log 100, its slope σ(b) − 1 = −0.99, and a
  // negative's slope is σ(b) = 0.01.
  using S = TestType;
  const S b = -std::log(S(99));
  const focal::CrossEntropy<S> ce;
  const int ulps = 4;  // b itself is rounded to S; its condition number here is ≈ 1
  CHECK_THAT(ce(b, S(1)), WithinULP(std::log(S(100)), ulps));
  CHECK_THAT(ce.derivative(b, S(1)), WithinULP(S(-0.99), ulps));
  CHECK_THAT(ce.derivative(b, S(0)), WithinRel(S(0.01), S(50) * std::numeric_limits<S>::epsilon()));
  // Probabilities: the loss at p = 0.01 is the same number.
  const focal::CrossEntropy<S, focal::Probabilities> ce_p;
  CHECK_THAT(ce_p(S(0.01), S(1)), WithinULP(std::log(S(100)), ulps));
}
