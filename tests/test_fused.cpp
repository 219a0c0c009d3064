// The vectorized fused passes: the packet body and the padded tail at every size around the
// packet width, chunk boundaries, bitwise-identical results for any thread count or the
// caller's pool (failing part-way included), an accurate total at 10^7 elements, in either
// storage order and beyond the float range, and probabilities of −0.

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <thread>
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
  // (the speed targets' bound), and in fact within an ulp or two of it.
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

namespace {

// A caller's pool as focal::parallel expects it: parallel_for(n, task) runs task(k) for every
// k in [0, n) on `workers` threads that pull indices from a shared counter.
struct SpawningPool {
  unsigned workers = 3;
  template <class Task>
  void operator()(std::size_t n, const Task& task) const {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < workers; ++w) {
      threads.emplace_back([&] {
        for (std::size_t k; (k = next++) < n;) task(k);
      });
    }
    for (std::thread& t : threads) t.join();
  }
};

}  // namespace

TEMPLATE_TEST_CASE("the caller's pool runs the chunks with the same bits", "[fused][threads]",
                   float, double) {
  using S = TestType;
  using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::Index n = 2001, k = 41;
  const RowMajor x = Eigen::Map<const RowMajor>(logits<S>(n * k, 21).data(), n, k);
  const RowMajor y = Eigen::Map<const RowMajor>(targets<S>(n * k, 22).data(), n, k);
  const ColMajor x_col = x;
  Eigen::ArrayXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) labels[i] = int(i % (k + 2)) - 2;
  const focal::BalancedFocalLoss<S> fl(S(0.25), S(2));
  Eigen::ArrayXi classes = labels.max(0);  // the softmax takes no background
  const focal::SoftmaxFocalLoss<S> sfl(S(0.25), S(2));
  RowMajor g1(n, k), gp(n, k);
  ColMajor g1_col(n, k), gp_col(n, k);
  // A pool that runs everything in order on this thread, and one with three threads.
  const auto in_order = focal::parallel([](std::size_t count, const auto& task) {
    for (std::size_t c = 0; c < count; ++c) task(c);
  });
  const auto spawning = focal::parallel(SpawningPool{});
  const auto same = [](const auto& a, const auto& b) { return (a == b).all(); };
  for (int pass = 0; pass < 2; ++pass) {
    INFO((pass == 0 ? "in order" : "three threads"));
    const auto run = [&](auto&& call_1, auto&& call_p) {
      const S one = call_1();
      const S pooled = pass == 0 ? call_p(in_order) : call_p(spawning);
      CHECK(one == pooled);
    };
    run([&] { return fl.value_and_gradient(x, y, g1, S(7)); },
        [&](const auto& exec) { return fl.value_and_gradient(x, y, gp, S(7), exec); });
    CHECK(same(g1, gp));
    run([&] { return fl.value_and_gradient(x_col, y, g1_col, S(7)); },
        [&](const auto& exec) { return fl.value_and_gradient(x_col, y, gp_col, S(7), exec); });
    CHECK(same(g1_col, gp_col));
    run([&] { return fl.value_and_gradient(x, focal::labels(labels), g1, S(7)); },
        [&](const auto& exec) {
          return fl.value_and_gradient(x, focal::labels(labels), gp, S(7), exec);
        });
    CHECK(same(g1, gp));
    run([&] { return sfl.value_and_gradient(x, focal::labels(classes), g1, S(7)); },
        [&](const auto& exec) {
          return sfl.value_and_gradient(x, focal::labels(classes), gp, S(7), exec);
        });
    CHECK(same(g1, gp));
    run([&] { return sfl.value_and_gradient(x_col, focal::labels(classes), g1_col, S(7)); },
        [&](const auto& exec) {
          return sfl.value_and_gradient(x_col, focal::labels(classes), gp_col, S(7), exec);
        });
    CHECK(same(g1_col, gp_col));
  }
  // focal's own threads give the softmax the same bits as well.
  const S softmax_one = sfl.value_and_gradient(x_col, focal::labels(classes), g1_col, S(7));
  for (const unsigned t : {2u, 3u, 0u}) {
    CHECK(sfl.value_and_gradient(x_col, focal::labels(classes), gp_col, S(7), focal::threads(t)) ==
          softmax_one);
    CHECK(same(g1_col, gp_col));
  }
}

TEST_CASE("a pool that fails part-way leaves its chunks to the calling thread", "[fused][threads]") {
  // parallel_for that throws on its second task, or returns having run only some: the missing
  // chunks run on the calling thread, and the call returns the same bits as on one thread.
  const Eigen::Index n = 100'000;
  const Eigen::ArrayXf x = logits<float>(n, 31);
  const Eigen::ArrayXf y = targets<float>(n, 32);
  const focal::BalancedFocalLoss<float> fl;
  Eigen::ArrayXf g1(n), g(n);
  const float one = fl.value_and_gradient(x, y, g1, 3.0f);
  std::size_t ran = 0;
  const auto throws_on_second = focal::parallel([&](std::size_t count, const auto& task) {
    for (std::size_t c = 0; c < count; ++c) {
      if (c == 1) throw std::runtime_error("pool shut down");
      task(c);
      ++ran;
    }
  });
  g.setConstant(42.0f);
  CHECK(fl.value_and_gradient(x, y, g, 3.0f, throws_on_second) == one);
  CHECK(ran == 1);
  CHECK((g == g1).all());
  const auto evens_only = focal::parallel([](std::size_t count, const auto& task) {
    for (std::size_t c = 0; c < count; c += 2) task(c);
  });
  g.setConstant(42.0f);
  CHECK(fl.value_and_gradient(x, y, g, 3.0f, evens_only) == one);
  CHECK((g == g1).all());
  Eigen::ArrayXi classes = (y * 3).cast<int>();
  Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xs =
      Eigen::Map<const Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          x.data(), n / 4, 4);
  Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> gs1(n / 4, 4), gs(n / 4, 4);
  const Eigen::ArrayXi rows_classes = classes.head(n / 4);
  const focal::SoftmaxFocalLoss<float> sfl;
  const float softmax_one = sfl.value_and_gradient(xs, focal::labels(rows_classes), gs1);
  CHECK(sfl.value_and_gradient(xs, focal::labels(rows_classes), gs, 1.0f, throws_on_second) ==
        softmax_one);
  CHECK((gs == gs1).all());
}

TEMPLATE_TEST_CASE("a float total beyond the largest float still divides to the right value",
                   "[fused][sum]", float, double) {
  // Σ loss over FLT_MAX with Σ / normalizer finite: the float block sums would overflow, and
  // the total became ∞ (CE on 16 logits of FLT_MAX, targets 0, normalizer FLT_MAX: 16).
  using S = TestType;
  const S big = std::numeric_limits<float>::max();
  const focal::CrossEntropy<S> ce;
  for (const Eigen::Index n : {16, 17, 1000, 20000}) {
    const Eigen::Array<S, Eigen::Dynamic, 1> x = Eigen::Array<S, Eigen::Dynamic, 1>::Constant(n, big);
    const Eigen::Array<S, Eigen::Dynamic, 1> y = Eigen::Array<S, Eigen::Dynamic, 1>::Zero(n);
    Eigen::Array<S, Eigen::Dynamic, 1> g(n);
    INFO("n = " << n);
    CHECK(ce.value_and_gradient(x, y, g, big) == S(n));  // each loss is exactly FLT_MAX
    CHECK(ce.value_and_gradient(x, y, g, big, focal::threads(2)) == S(n));
    Eigen::ArrayXi labels = Eigen::ArrayXi::Constant(n, focal::background);
    Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> g2(n, 1);
    CHECK(ce.value_and_gradient(x.matrix(), focal::labels(labels), g2, big) == S(n));
    // Mixed with ordinary losses and an infinite one.
    Eigen::Array<S, Eigen::Dynamic, 1> mixed = logits<S>(n, 41);
    mixed.head(n / 2).setConstant(big);
    const Eigen::Array<S, Eigen::Dynamic, 1> each = ce.value(mixed, y);
    long double exact = 0;
    for (Eigen::Index i = 0; i < n; ++i) exact += each[i];
    const S total = ce.value_and_gradient(mixed, y, g, big);
    CHECK(std::fabs(total - exact / big) <= 4 * std::numeric_limits<S>::epsilon() * (exact / big));
    mixed[n - 1] = std::numeric_limits<S>::infinity();
    CHECK(ce.value_and_gradient(mixed, y, g, big) == std::numeric_limits<S>::infinity());
  }
}

TEMPLATE_TEST_CASE("the total is within 4 ulp of the exact sum in either storage order",
                   "[fused][sum]", float, double) {
  // Chunks follow the logits' storage order, so the same values row-major and column-major
  // are summed in another order and may differ in the last bit (a column-major array against
  // a row-major one with an inner-strided Map as G, found by the differential run): both are
  // within the bound of the exact sum of the per-element losses.
  using S = TestType;
  using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  const focal::BalancedFocalLoss<S> fl;
  for (const unsigned seed : {1u, 2u, 3u, 4u, 5u}) {
    const Eigen::Index n = 613, k = 97;
    const RowMajor x = Eigen::Map<const RowMajor>(logits<S>(n * k, seed).data(), n, k);
    const RowMajor y = Eigen::Map<const RowMajor>(targets<S>(n * k, seed + 100).data(), n, k);
    const ColMajor x_col = x, y_col = y;
    const RowMajor each = fl.value(x, y);
    long double exact = 0;
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < k; ++j) exact += each(i, j);
    exact /= 3;
    std::vector<S> buffer(std::size_t(2 * n * k));
    Eigen::Map<RowMajor, 0, Eigen::Stride<Eigen::Dynamic, 2>> g_strided(
        buffer.data(), n, k, Eigen::Stride<Eigen::Dynamic, 2>(2 * k, 2));
    RowMajor g(n, k);
    ColMajor g_col(n, k);
    const S totals[] = {fl.value_and_gradient(x, y, g, S(3)),
                        fl.value_and_gradient(x_col, y_col, g_col, S(3)),
                        fl.value_and_gradient(x_col, y_col, g_strided, S(3))};
    const long double ulp = std::nextafter(S(exact), std::numeric_limits<S>::infinity()) - S(exact);
    for (const S t : totals) {
      INFO("seed " << seed << ": total " << t << ", exact " << double(exact));
      CHECK(std::fabs(t - exact) <= 4 * ulp);
    }
    CHECK((g_col == ColMajor(g)).all());
    CHECK((g_strided == g).all());
  }
}

TEMPLATE_TEST_CASE("a probability of -0 is the probability 0", "[fused][probabilities]", float,
                   double) {
  // −0 ≥ 0 is a legal probability: its loss and derivative are those of +0, signs included
  // (−0 had given NaN, or +∞ for −∞).
  using S = TestType;
  const auto bits = [](S a, S b) { return std::memcmp(&a, &b, sizeof(S)) == 0; };
  for (const double gamma : {0.0, 0.5, 1.0, 2.0, 3.0}) {
    const focal::BalancedFocalLoss<S, focal::Probabilities> fl(S(0.25), S(gamma));
    for (int y = 0; y < 2; ++y) {
      INFO("gamma " << gamma << " y " << y);
      CHECK(bits(fl(S(-0.0), S(y)), fl(S(0), S(y))));
      CHECK(bits(fl.derivative(S(-0.0), S(y)), fl.derivative(S(0), S(y))));
      CHECK(!std::isnan(fl.derivative(S(-0.0), S(y))));
    }
    Eigen::Array<S, Eigen::Dynamic, 1> p = Eigen::Array<S, Eigen::Dynamic, 1>::Constant(37, S(-0.0));
    p[5] = S(0.5);
    const Eigen::Array<S, Eigen::Dynamic, 1> y = targets<S>(37, 51);
    Eigen::Array<S, Eigen::Dynamic, 1> g(37), g_zero(37);
    const S total = fl.value_and_gradient(p, y, g);
    const Eigen::Array<S, Eigen::Dynamic, 1> zero = p + S(0);
    CHECK(bits(total, fl.value_and_gradient(zero, y, g_zero)));
    CHECK(std::memcmp(g.data(), g_zero.data(), sizeof(S) * 37) == 0);
  }
  CHECK(focal::CrossEntropy<float, focal::Probabilities>().derivative(-0.0f, 1.0f) ==
        -std::numeric_limits<float>::infinity());
}
