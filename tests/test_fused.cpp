// The vectorized fused passes: the packet body and the padded tail at every size around the
// packet width, chunk boundaries, bitwise-identical results for any thread count, and an
// accurate total at 10^7 elements.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "support.hpp"

namespace {

template <class S>
Eigen::Array<S, Eigen::Dynamic, 1> logits(Eigen::Index n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(-3.0, 5.0);
  Eigen::Array<S, Eigen::Dynamic, 1> x(n);
  for (Eigen::Index i = 0; i < n; ++i) x[i] = S(normal(gen));
  return x;
}

template <class S>
Eigen::Array<S, Eigen::Dynamic, 1> targets(Eigen::Index n, unsigned seed) {
  std::mt19937 gen(seed);
  std::bernoulli_distribution positive(0.1);
  Eigen::Array<S, Eigen::Dynamic, 1> y(n);
  for (Eigen::Index i = 0; i < n; ++i) y[i] = positive(gen) ? S(1) : S(0);
  return y;
}

// Equal, or both NaN (p = 0 with y = 1 gives ±∞ and the like, never NaN, but say so).
template <class S>
bool same_bits(S a, S b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

}  // namespace

TEMPLATE_TEST_CASE("the fused pass equals the per-element calls at every size", "[fused]", float,
                   double) {
  // 0, 1, around one packet (4/8/16 lanes), around the 8-packet groups and 256-element gather
  // blocks, and across the 8192-element chunks.
  using S = TestType;
  for (const Eigen::Index n : {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 127, 128, 129, 255,
                               256, 257, 1000, 8191, 8192, 8193, 20000}) {
    const auto x = logits<S>(n, unsigned(n) + 1);
    const auto y = targets<S>(n, unsigned(n) + 2);
    for (const double gamma : {0.0, 0.5, 2.0, 3.0}) {
      const focal::BalancedFocalLoss<S> fl(S(0.25), S(gamma));
      Eigen::Array<S, Eigen::Dynamic, 1> g(n);
      const S normalizer = S(3);
      const S total = fl.value_and_gradient(x, y, g, normalizer);
      long double expected = 0;
      for (Eigen::Index i = 0; i < n; ++i) {
        INFO("n = " << n << " gamma = " << gamma << " i = " << i);
        REQUIRE(g[i] == fl.derivative(x[i], y[i]) / normalizer);
        expected += fl(x[i], y[i]);
      }
      expected /= normalizer;
      INFO("n = " << n << " gamma = " << gamma);
      CHECK(std::fabs(total - expected) <= 2 * std::numeric_limits<S>::epsilon() * expected);
      // The same through the gather path (every other element of a buffer).
      std::vector<S> xs(std::size_t(2 * n)), ys(std::size_t(2 * n)), gs(std::size_t(2 * n), S(-1));
      for (Eigen::Index i = 0; i < n; ++i) {
        xs[std::size_t(2 * i)] = x[i];
        ys[std::size_t(2 * i)] = y[i];
      }
      using Strided = Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>, 0, Eigen::InnerStride<2>>;
      const S total_strided = fl.value_and_gradient(Strided(xs.data(), n), Strided(ys.data(), n),
                                                    Strided(gs.data(), n), normalizer);
      CHECK(total_strided == total);  // same chunks, same lanes, same bits
      for (Eigen::Index i = 0; i < n; ++i) {
        REQUIRE(gs[std::size_t(2 * i)] == g[i]);
        REQUIRE(gs[std::size_t(2 * i + 1)] == S(-1));  // untouched between the elements
      }
    }
  }
}

TEMPLATE_TEST_CASE("the fused pass on probabilities equals the per-element calls at every size",
                   "[fused]", float, double) {
  // The packet kernel on probabilities (AVX-512 builds; elsewhere the scalar kernel): packet
  // body and padded tail, integer γ (packets) and non-integer γ (scalar lanes), p = 0 and 1.
  using S = TestType;
  for (const Eigen::Index n : {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 127, 128, 129, 257, 1000}) {
    Eigen::Array<S, Eigen::Dynamic, 1> p(n);
    std::mt19937 gen(unsigned(n) + 3);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (Eigen::Index i = 0; i < n; ++i) p[i] = S(std::pow(unit(gen), 4.0));  // many near 0
    if (n > 2) {
      p[0] = S(0);
      p[1] = S(1);
      p[2] = std::numeric_limits<S>::denorm_min();
    }
    const auto y = targets<S>(n, unsigned(n) + 4);
    for (const double gamma : {0.0, 0.5, 2.0, 3.0}) {
      const focal::BalancedFocalLoss<S, focal::Probabilities> fl(S(0.25), S(gamma));
      Eigen::Array<S, Eigen::Dynamic, 1> g(n);
      const S normalizer = S(3);
      fl.value_and_gradient(p, y, g, normalizer);
      for (Eigen::Index i = 0; i < n; ++i) {
        INFO("n = " << n << " gamma = " << gamma << " p = " << p[i] << " y = " << y[i]);
        REQUIRE(same_bits(g[i], fl.derivative(p[i], y[i]) / normalizer));
      }
      const Eigen::Array<S, Eigen::Dynamic, 1> v = fl.value(p, y);
      for (Eigen::Index i = 0; i < n; ++i) REQUIRE(same_bits(v[i], fl(p[i], y[i])));
    }
  }
}

TEMPLATE_TEST_CASE("the fused gradient is derivative / normalizer bit for bit over the whole range",
                   "[fused]", float, double) {
  // Every binade, a grid through the saturated tails (where gradients go subnormal), and both
  // targets, for every loss: the fused pass divides by the normalizer with a reciprocal and a
  // correction, which must round exactly as the division does, subnormal results included.
  using S = TestType;
  std::vector<S> grid = support::logit_grid<S>(8, 1);
  for (S x = -S(800); x <= S(800); x += S(1) / 8) grid.push_back(x);
  const Eigen::Index n = Eigen::Index(grid.size());
  Eigen::Array<S, Eigen::Dynamic, 1> x(2 * n), y(2 * n), g(2 * n);
  for (Eigen::Index i = 0; i < n; ++i) {
    x[2 * i] = x[2 * i + 1] = grid[std::size_t(i)];
    y[2 * i] = S(0);
    y[2 * i + 1] = S(1);
  }
  for (const support::Spec& spec : support::all_specs()) {
    support::with_loss<S, focal::Logits>(spec, [&](const auto& loss) {
      // Also normalizers at the ends of the range, whose quotients overflow or go subnormal.
      const S tiny = std::numeric_limits<S>::min(), huge = std::numeric_limits<S>::max();
      for (const S normalizer : {S(1), S(3), S(7), S(0.3), S(1000), S(123457), S(3) * tiny,
                                 S(1) / huge * S(1.5), huge / S(3), huge, S(1e-20), S(1e20)}) {
        loss.value_and_gradient(x, y, g, normalizer);
        // The first mismatch, if any, reported with its context (an INFO per element would
        // cost more than the check).
        Eigen::Index bad = -1;
        for (Eigen::Index i = 0; i < 2 * n && bad < 0; ++i) {
          if (!(g[i] == loss.derivative(x[i], y[i]) / normalizer)) bad = i;
        }
        if (bad >= 0) {
          INFO(spec.name() << ", normalizer " << normalizer << ", x = " << x[bad]
                           << ", y = " << y[bad]);
          REQUIRE(g[bad] == loss.derivative(x[bad], y[bad]) / normalizer);
        }
      }
    });
  }
}

TEMPLATE_TEST_CASE("huge anchor weights over a small normalizer give ±inf gradients, not NaN",
                   "[fused]", float, double) {
  // w·d finite, w·d / normalizer past the largest finite value: the division overflows to ±∞,
  // and so must the fused pass (a reciprocal estimate that overflows first would give NaN).
  using S = TestType;
  const Eigen::Index n = 40, k = 7;
  Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x(n, k), g(n, k);
  Eigen::ArrayXi labels(n);
  Eigen::Array<S, Eigen::Dynamic, 1> w(n);
  std::mt19937 gen(3);
  std::normal_distribution<double> normal(-2.0, 3.0);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < k; ++j) x(i, j) = S(normal(gen));
    labels[i] = int(i % (k + 1)) - 1;  // background and every class
    w[i] = std::numeric_limits<S>::max() / S(8) / S(1 + i % 5);
  }
  const focal::BalancedFocalLoss<S> fl;
  for (const S normalizer : {S(1e-3), S(0.25), S(1), S(3)}) {
    fl.value_and_gradient(x, focal::labels(labels, w), g, normalizer);
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < k; ++j) {
        const S y = labels[i] == j ? S(1) : S(0);
        INFO("normalizer " << normalizer << " row " << i << " column " << j);
        REQUIRE_FALSE(std::isnan(g(i, j)));
        REQUIRE(g(i, j) == S(w[i] * fl.derivative(x(i, j), y)) / normalizer);
      }
    }
  }
}

TEMPLATE_TEST_CASE("results are bitwise identical for any thread count", "[fused][threads]",
                   float, double) {
  using S = TestType;
  using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index n = 3001, k = 37;  // chunks that do not divide evenly among threads
  const RowMajor x = Eigen::Map<const RowMajor>(logits<S>(n * k, 5).data(), n, k);
  const RowMajor y = Eigen::Map<const RowMajor>(targets<S>(n * k, 6).data(), n, k);
  const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> x_col = x, y_col = y;
  Eigen::ArrayXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) labels[i] = int(i % (k + 2)) - 2;  // ignore, background, classes
  const Eigen::Array<S, Eigen::Dynamic, 1> w = Eigen::Array<S, Eigen::Dynamic, 1>::LinSpaced(n, S(0), S(2));
  const focal::BalancedFocalLoss<S> fl(S(0.25), S(0.5));
  RowMajor g1(n, k), gt(n, k);
  Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> g1_col(n, k), gt_col(n, k);
  const S dense = fl.value_and_gradient(x, y, g1, S(7));
  const S gathered = fl.value_and_gradient(x_col, y, g1_col, S(7));  // mixed orders: gather path
  const S by_labels = fl.value_and_gradient(x, focal::labels(labels, w), g1, S(7));
  const RowMajor g_labels = g1;
  const S by_labels_col = fl.value_and_gradient(x_col, focal::labels(labels), g1_col, S(7));
  const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> g_labels_col = g1_col;
  fl.value_and_gradient(x, y, g1, S(7));
  fl.value_and_gradient(x_col, y, g1_col, S(7));
  for (const unsigned t : {2u, 3u, 7u, 0u}) {
    INFO(t << " threads");
    CHECK(fl.value_and_gradient(x, y, gt, S(7), focal::threads(t)) == dense);
    CHECK((gt == g1).all());
    CHECK(fl.value_and_gradient(x_col, y, gt_col, S(7), focal::threads(t)) == gathered);
    CHECK((gt_col == g1_col).all());
    CHECK(fl.value_and_gradient(x, focal::labels(labels, w), gt, S(7), focal::threads(t)) ==
          by_labels);
    CHECK((gt == g_labels).all());
    CHECK(fl.value_and_gradient(x_col, focal::labels(labels), gt_col, S(7), focal::threads(t)) ==
          by_labels_col);
    CHECK((gt_col == g_labels_col).all());
  }
  // Probabilities (the packet kernel on AVX-512, the scalar one elsewhere), the same chunks.
  const focal::FocalLoss<S, focal::Probabilities> fp;
  const RowMajor p = 1 / (1 + (-x).exp());
  const S one = fp.value_and_gradient(p, y, g1);
  CHECK(fp.value_and_gradient(p, y, gt, S(1), focal::threads(3)) == one);
  CHECK((gt == g1).all());
}

TEST_CASE("the float total is accurate at ten million elements", "[fused][sum]") {
  // Relative error against a long double sum of the very same per-element losses below 1e-6
  // (the bound), and in fact within an ulp or two of it.
  const Eigen::Index n = 10'000'000;
  const Eigen::ArrayXf x = logits<float>(n, 11);
  const Eigen::ArrayXf y = targets<float>(n, 12);
  const focal::BalancedFocalLoss<float> fl;
  Eigen::ArrayXf g(n);
  const float total = fl.value_and_gradient(x, y, g);
  const Eigen::ArrayXf each = fl.value(x, y);  // the same bits as the fused pass computes
  long double exact = 0;
  for (Eigen::Index i = 0; i < n; ++i) exact += each[i];
  const long double rel = std::fabs(total - exact) / exact;
  INFO("total " << total << ", long double sum " << double(exact) << ", relative error "
                << double(rel));
  CHECK(rel < 1e-6L);
  CHECK(rel <= 2 * std::numeric_limits<float>::epsilon());
  // A naive float accumulation of the same values is far off: what the compensation buys.
  float naive = 0;
  for (Eigen::Index i = 0; i < n; ++i) naive += each[i];
  CHECK(std::fabs(naive - exact) / exact > 10 * rel);
}

TEMPLATE_TEST_CASE("infinite and NaN losses give infinite and NaN totals", "[fused][sum]", float,
                   double) {
  using S = TestType;
  auto x = logits<S>(5000, 13);
  auto y = targets<S>(5000, 14);
  Eigen::Array<S, Eigen::Dynamic, 1> g(5000);
  const focal::BalancedFocalLoss<S> fl;
  y[1234] = S(1);
  x[1234] = -std::numeric_limits<S>::infinity();  // a confidently wrong positive: loss +∞
  CHECK(fl.value_and_gradient(x, y, g) == std::numeric_limits<S>::infinity());
  CHECK(g.isFinite().all());
  CHECK(fl.value_and_gradient(x, y, g, S(1), focal::threads(2)) ==
        std::numeric_limits<S>::infinity());
  x[4321] = std::numeric_limits<S>::quiet_NaN();
  CHECK(std::isnan(fl.value_and_gradient(x, y, g)));
  CHECK(std::isnan(g[4321]));
  CHECK(std::isfinite(g[4320]));
}
