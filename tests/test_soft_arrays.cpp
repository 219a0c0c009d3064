// The soft-target losses (QualityFocalLoss, VarifocalLoss) on arrays, scored labels and dense
// weights: finite differences, the papers' values and their relations to the 0/1 losses, the
// detector form against the dense targets it stands for, bad input, threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "../benchmarks/peer_formula.hpp"
#include "support.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

using RowMajor = Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class Loss>
void check_finite_differences(const Loss& loss, double lo, double hi) {
  for (int i = 0; i <= 40; ++i) {
    const double x = lo + (hi - lo) * i / 40.0;
    for (const double y : {0.0, 0.05, 0.3, 0.5, 0.77, 1.0}) {
      const double h = 1e-6 * std::max(1.0, std::abs(x));
      if (x - h <= 0 && lo >= 0) continue;  // probabilities: stay inside (0, 1)
      if (x + h >= 1 && hi <= 1) continue;
      const double fd = (loss(x + h, y) - loss(x - h, y)) / (2 * h);
      INFO("x = " << x << " y = " << y);
      CHECK_THAT(loss.derivative(x, y), WithinAbs(fd, 1e-6 * std::max(1.0, std::abs(fd))));
    }
  }
}

}  // namespace

TEST_CASE("soft-target derivatives match finite differences", "[soft]") {
  for (const double beta : {0.0, 1.0, 2.0, 2.5}) {
    check_finite_differences(focal::QualityFocalLoss<double>(beta), -8, 8);
    check_finite_differences(focal::QualityFocalLoss<double, focal::Probabilities>(beta), 0.02,
                             0.98);
  }
  for (const double gamma : {0.0, 1.0, 2.0, 1.5}) {
    check_finite_differences(focal::VarifocalLoss<double>(0.75, gamma), -8, 8);
    check_finite_differences(focal::VarifocalLoss<double, focal::Probabilities>(0.6, gamma),
                             0.02, 0.98);
  }
}

TEST_CASE("the papers' values", "[soft]") {
  const double ln2 = std::log(2.0);
  const focal::QualityFocalLoss<double> qfl;  // β = 2 (GFL)
  CHECK(qfl.beta() == 2);
  CHECK_THAT(qfl(0, 0), WithinRel(0.25 * ln2, 1e-15));  // |0 − 1/2|² · log 2
  CHECK(qfl(0, 0.5) == 0);                              // the target met: no loss
  CHECK(qfl.derivative(0, 0.5) == 0);
  // GFL, eq. (5), at σ = 0.8, y = 0.6: |0.6 − 0.8|² (−0.4 log 0.2 − 0.6 log 0.8).
  const double x = std::log(4.0);  // σ(x) = 0.8
  CHECK_THAT(qfl(x, 0.6), WithinRel(0.04 * (-0.4 * std::log(0.2) - 0.6 * std::log(0.8)), 1e-14));
  const focal::VarifocalLoss<double> vfl;  // α = 0.75, γ = 2 (VFNet)
  CHECK(vfl.alpha() == 0.75);
  CHECK(vfl.gamma() == 2);
  CHECK_THAT(vfl(0, 0), WithinRel(0.75 * 0.25 * ln2, 1e-15));  // α p^γ (−log(1 − p))
  CHECK_THAT(vfl(0, 0.5), WithinRel(0.5 * ln2, 1e-15));       // q·BCE(q)
  CHECK_THAT(vfl(x, 0.6), WithinRel(-0.6 * (0.6 * std::log(0.8) + 0.4 * std::log(0.2)), 1e-14));
  CHECK_THAT(vfl.derivative(x, 0.6), WithinRel(0.6 * (0.8 - 0.6), 1e-14));  // q (p − q)
}

TEMPLATE_TEST_CASE("the soft losses meet the 0/1 losses at y in {0, 1}", "[soft]", float, double) {
  using S = TestType;
  // VFL at q = 0 is α-FL's negative term with α_t = α: the same formula, the same bits.
  const focal::VarifocalLoss<S> vfl(S(0.75), S(2));
  const focal::BalancedFocalLoss<S> fl(S(0.25), S(2));
  // QFL at y ∈ {0, 1} is FL with γ = β; VFL at q = 1 is CE.
  const focal::QualityFocalLoss<S> qfl(S(2));
  const focal::FocalLoss<S> fl2(S(2));
  const focal::CrossEntropy<S> ce;
  for (const S x : support::logit_grid<S>(4, 1)) {
    INFO("x = " << x);
    CHECK(vfl(x, S(0)) == fl(x, S(0)));
    CHECK(vfl.derivative(x, S(0)) == fl.derivative(x, S(0)));
    if (std::abs(x) < 80) {
      // Relative 1e-5, or a few subnormal spacings where the results are subnormal.
      const auto close = [](S a, S b) {
        return std::abs(double(a) - double(b)) <=
               1e-5 * std::abs(double(b)) + 8 * double(std::numeric_limits<S>::denorm_min());
      };
      CHECK(close(vfl(x, S(1)), ce(x, S(1))));
      CHECK(close(vfl.derivative(x, S(1)), ce.derivative(x, S(1))));
      for (const S y : {S(0), S(1)}) {
        CHECK(close(qfl(x, y), fl2(x, y)));
        CHECK(close(qfl.derivative(x, y), fl2.derivative(x, y)));
      }
    }
  }
}

TEST_CASE("soft losses: infinite and NaN inputs", "[soft]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const focal::QualityFocalLoss<double> qfl;
  const focal::VarifocalLoss<double> vfl;
  CHECK(qfl(inf, 1) == 0);
  CHECK(qfl.derivative(inf, 1) == 0);
  CHECK(qfl(inf, 0.5) == inf);
  CHECK(qfl.derivative(inf, 0.5) == 0.125);  // −sgn(d)|d|³ at d = −1/2
  CHECK(qfl(-inf, 1e-300) == inf);            // |d|^β underflows, the loss does not
  CHECK(vfl(-inf, 0.5) == inf);
  CHECK(vfl.derivative(-inf, 0.5) == -0.25);  // q (p − q)
  CHECK(vfl(-inf, 0) == 0);
  CHECK(std::isnan(qfl(nan, 0.5)));
  CHECK(std::isnan(qfl.derivative(nan, 0.5)));
  CHECK(std::isnan(vfl.derivative(nan, 0)));
  CHECK(std::isnan(vfl.derivative(nan, 0.3)));
  // β < 1: the derivative at y = σ is taken as 0 (one-sided slopes ±∞), never NaN.
  CHECK(focal::QualityFocalLoss<double>(0.5).derivative(0, 0.5) == 0);
}

TEMPLATE_TEST_CASE("scored labels equal the dense soft targets they stand for", "[soft][labels]",
                   float, double) {
  using S = TestType;
  using Dense = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  using Rows = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vec = Eigen::Array<S, Eigen::Dynamic, 1>;
  for (const Eigen::Index k : {Eigen::Index(1), Eigen::Index(3), Eigen::Index(40)}) {
    const Eigen::Index n = 700;
    const Dense x = Dense::Random(n, k) * 6;
    Eigen::ArrayXi labels(n);
    Vec scores(n), w(n);
    Dense y = Dense::Zero(n, k), wd(n, k);
    for (Eigen::Index i = 0; i < n; ++i) {
      labels[i] = int(i * 7 % (k + 2)) - 2;  // ignore, background, every class
      scores[i] = S(i % 11) / 10;
      w[i] = S(i % 4) / 2;
      if (labels[i] >= 0) y(i, labels[i]) = scores[i];
      wd.row(i).setConstant(labels[i] == focal::ignore ? S(0) : w[i]);
    }
    const focal::QualityFocalLoss<S> qfl;
    const focal::VarifocalLoss<S> vfl;
    const auto compare = [&](const auto& loss) {
      Dense g_dense(n, k), g(n, k);
      const S dense = loss.value_and_gradient(x, y, g_dense, S(5), wd);
      const S scored = loss.value_and_gradient(x, focal::scored_labels(labels, scores, w), g, S(5));
      INFO("k = " << k);
      CHECK_THAT(double(scored), WithinRel(double(dense), 1e-5));
      CHECK((g - g_dense).abs().maxCoeff() == 0);  // elementwise the same kernel calls
      Rows xr = x, gr(n, k);
      const S row_major =
          loss.value_and_gradient(xr, focal::scored_labels(labels, scores, w), gr, S(5));
      CHECK_THAT(double(row_major), WithinRel(double(scored), 1e-6));  // summed in another order
      CHECK((gr - g_dense).abs().maxCoeff() == 0);
      const Dense lazy = loss.value(x, focal::scored_labels(labels, scores, w));
      // Materialized first: inside one expression -ffp-contract may fuse v·w into the
      // subtraction, and the comparison would see the fused rounding, not the loss's.
      const Dense dense_lazy = loss.value(x, y) * wd;
      CHECK((lazy - dense_lazy).abs().maxCoeff() == 0);
      const Dense lazy_g = loss.gradient(x, focal::scored_labels(labels, scores));
      const Dense keep = (labels != focal::ignore).template cast<S>().replicate(1, k);
      const Dense dense_g = loss.gradient(x, y) * keep;
      CHECK((lazy_g - dense_g).abs().maxCoeff() == 0);
      // Threads do not change a bit.
      Dense g2(n, k);
      CHECK(loss.value_and_gradient(x, focal::scored_labels(labels, scores, w), g2, S(5),
                                    focal::threads(3)) == scored);
      CHECK((g2 - g).abs().maxCoeff() == 0);
    };
    compare(qfl);
    compare(vfl);
  }
}

TEMPLATE_TEST_CASE("dense weights: a weight per element or per row, fused", "[soft][weights]",
                   float, double) {
  using S = TestType;
  using Dense = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Array<S, Eigen::Dynamic, 1>;
  const Eigen::Index n = 3000, k = 7;  // several chunks
  const Dense x = Dense::Random(n, k) * 5;
  const Dense y = (Dense::Random(n, k) + 1) / 2;
  const Dense y01 = (y > S(0.5)).template cast<S>();
  const Vec rows = Vec::Random(n) + 1;
  const Dense w = rows.replicate(1, k);
  const auto check = [&](const auto& loss, const Dense& t) {
    Dense g(n, k), g_row(n, k), g_t(n, k), g_ref(n, k);
    const S full = loss.value_and_gradient(x, t, g, S(4), w);
    const S per_row = loss.value_and_gradient(x, t, g_row, S(4), rows);
    const S per_row_t = loss.value_and_gradient(x, t, g_t, S(4), rows.transpose(), focal::threads(2));
    CHECK(full == per_row);  // the same elements, the same chunks: the same bits
    CHECK(per_row_t == per_row);
    CHECK((g - g_row).abs().maxCoeff() == 0);
    CHECK((g - g_t).abs().maxCoeff() == 0);
    g_ref = loss.gradient(x, t) * w / S(4);
    CHECK((g - g_ref).abs().maxCoeff() <= 4 * std::numeric_limits<S>::epsilon() * g_ref.abs().maxCoeff());
    CHECK_THAT(double(full), WithinRel(double((loss.value(x, t) * w).sum() / 4), 1e-4));
    // A zero weight drops the element, infinite loss included.
    Dense xi = x, wz = w;
    xi(5, 2) = std::numeric_limits<S>::infinity();
    wz(5, 2) = 0;
    Dense g_inf(n, k);
    CHECK(std::isfinite(loss.value_and_gradient(xi, y01, g_inf, S(1), wz)));
    CHECK(g_inf(5, 2) == 0);
  };
  check(focal::QualityFocalLoss<S>(), y);
  check(focal::VarifocalLoss<S>(), y);
  check(focal::BalancedFocalLoss<S>(), y01);
  check(focal::FocalLossStar<S>(), y01);
}

TEST_CASE("soft losses reject bad targets, scores and weights, and leave grad untouched",
          "[soft][errors]") {
  const focal::QualityFocalLoss<float> qfl;
  const focal::VarifocalLoss<float> vfl;
  Eigen::ArrayXXf x = Eigen::ArrayXXf::Random(20, 3), y = (Eigen::ArrayXXf::Random(20, 3) + 1) / 2;
  Eigen::ArrayXXf g = Eigen::ArrayXXf::Constant(20, 3, 7.0f);
  const auto untouched = [&] { return (g == 7.0f).all(); };
  for (const float bad : {1.5f, -0.25f, std::nanf("")}) {
    Eigen::ArrayXXf yb = y;
    yb(4, 1) = bad;
    CHECK_THROWS_WITH(qfl.value_and_gradient(x, yb, g), Contains("targets(4, 1)") && Contains("[0, 1]"));
    CHECK_THROWS_AS(vfl.value(x, yb), std::invalid_argument);
    CHECK_THROWS_AS(qfl(0.0f, bad), std::invalid_argument);
    CHECK_THROWS_AS(vfl.derivative(0.0f, bad), std::invalid_argument);
    CHECK(untouched());
  }
  Eigen::ArrayXi labels = Eigen::ArrayXi::Zero(20);
  Eigen::ArrayXf scores = Eigen::ArrayXf::Constant(20, 0.5f);
  scores[9] = 1.25f;
  CHECK_THROWS_WITH(qfl.value_and_gradient(x, focal::scored_labels(labels, scores), g),
                    Contains("scores[9] = 1.25"));
  scores[9] = 0.5f;
  CHECK_THROWS_WITH(vfl.value_and_gradient(x, focal::scored_labels(labels, scores.head(19)), g),
                    Contains("scores"));
  CHECK(untouched());
  Eigen::ArrayXXf w = Eigen::ArrayXXf::Ones(20, 3);
  w(2, 2) = -1;
  CHECK_THROWS_WITH(qfl.value_and_gradient(x, y, g, 1.0f, w), Contains("weights(2, 2) = -1"));
  w(2, 2) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(vfl.value_and_gradient(x, y, g, 1.0f, w), Contains("finite"));
  CHECK_THROWS_WITH(qfl.value_and_gradient(x, y, g, 1.0f, Eigen::ArrayXf::Ones(19).eval()),
                    Contains("weights has shape 19x1"));
  CHECK(untouched());
  CHECK_THROWS_WITH(focal::QualityFocalLoss<float>(-1.0f), Contains("beta = -1"));
  CHECK_THROWS_WITH(focal::VarifocalLoss<float>(1.5f), Contains("alpha = 1.5"));
  CHECK_THROWS_WITH(focal::VarifocalLoss<float>(0.75f, std::nanf("")), Contains("gamma"));
}

TEMPLATE_TEST_CASE("matching_cost is loss(x, 1) - loss(x, 0) at each query and target class",
                   "[matching]", float, double) {
  using S = TestType;
  using Rows = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index q = 45, k = 11;  // 45 queries: whole groups and a partial one
  const Rows logits = Rows::Random(q, k) * 8;
  Eigen::ArrayXi classes(6);
  classes << 3, 0, 10, 3, 7, 0;
  const auto check = [&](const auto& loss) {
    const auto cost = focal::matching_cost(loss, logits, classes);
    REQUIRE(cost.rows() == q);
    REQUIRE(cost.cols() == 6);
    for (Eigen::Index i = 0; i < q; ++i) {
      for (Eigen::Index j = 0; j < 6; ++j) {
        const S x = logits(i, classes[j]);
        CHECK(cost(i, j) == loss(x, S(1)) - loss(x, S(0)));  // the same kernel, the same bits
      }
    }
    // Into the caller's array (a Block of a row-major one), and from column-major logits.
    Rows out = Rows::Constant(q + 2, 8, S(-7));
    const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> col_major = logits;
    focal::matching_cost(loss, col_major, classes, out.block(1, 1, q, 6));
    CHECK((out.block(1, 1, q, 6) - cost).abs().maxCoeff() == 0);
    CHECK(out(0, 0) == S(-7));
  };
  check(focal::BalancedFocalLoss<S>());
  check(focal::FocalLoss<S>(S(0.5)));
  check(focal::CrossEntropy<S>());
  check(focal::QualityFocalLoss<S>());
  check(focal::VarifocalLoss<S>());
  // Deformable DETR's cost_class, transcribed, where its 1e-8 does not matter.
  const auto cost = focal::matching_cost(focal::BalancedFocalLoss<S>(S(0.25), S(2)), logits, classes);
  for (Eigen::Index i = 0; i < q; ++i) {
    for (Eigen::Index j = 0; j < 6; ++j) {
      const S x = logits(i, classes[j]);
      if (std::abs(x) > 4) continue;
      const S peer = peer::detr_focal_cost(x, S(0.25), S(2));
      CHECK_THAT(double(cost(i, j)), WithinAbs(double(peer), 1e-6 + 1e-4 * std::abs(double(peer))));
    }
  }
  // Bad class indices and a cost of the wrong shape: invalid_argument, nothing written.
  Eigen::ArrayXi bad = classes;
  bad[4] = 11;
  Rows out = Rows::Constant(q, 6, S(-7));
  CHECK_THROWS_WITH(focal::matching_cost(focal::FocalLoss<S>(), logits, bad, out),
                    Contains("classes[4] = 11"));
  bad[4] = -1;
  CHECK_THROWS_WITH(focal::matching_cost(focal::FocalLoss<S>(), logits, bad), Contains("classes[4] = -1"));
  Rows small(q, 5);
  CHECK_THROWS_WITH(focal::matching_cost(focal::FocalLoss<S>(), logits, classes, small),
                    Contains("cost has shape"));
  CHECK((out == S(-7)).all());
  const Rows p = (logits + 8) / 16;  // probabilities
  const auto cost_p = focal::matching_cost(focal::BalancedFocalLoss<S, focal::Probabilities>(), p, classes);
  CHECK(cost_p(2, 1) == focal::BalancedFocalLoss<S, focal::Probabilities>()(p(2, 0), S(1)) -
                            focal::BalancedFocalLoss<S, focal::Probabilities>()(p(2, 0), S(0)));
  Rows p_bad = p;
  p_bad(3, 3) = S(1.5);
  CHECK_THROWS_WITH(focal::matching_cost(focal::BalancedFocalLoss<S, focal::Probabilities>(), p_bad, classes),
                    Contains("probabilities(3, 3)"));
}

TEMPLATE_TEST_CASE("the mmdetection formulas agree with focal where they are well conditioned",
                   "[peer][soft]", float, double) {
  using S = TestType;
  const double tol = std::is_same<S, float>::value ? 1e-4 : 1e-10;
  const peer::MmdetQualityFocal<S> mq{S(2)};
  const peer::MmdetVarifocal<S> mv{S(0.75), S(2)};
  const focal::QualityFocalLoss<S> qfl;
  const focal::VarifocalLoss<S> vfl;
  for (int i = -32; i <= 32; ++i) {
    const S x = S(i) / 8;
    for (const S y : {S(0), S(0.2), S(0.6), S(1)}) {
      S l, g;
      INFO("x = " << x << " y = " << y);
      mq(x, y, l, g);
      CHECK_THAT(double(l), WithinAbs(double(qfl(x, y)), tol * std::max(1e-3, double(l))));
      CHECK_THAT(double(g), WithinAbs(double(qfl.derivative(x, y)), tol * std::max(1e-3, std::abs(double(g)))));
      mv(x, y, l, g);
      CHECK_THAT(double(l), WithinRel(double(vfl(x, y)), tol));
      CHECK_THAT(double(g), WithinRel(double(vfl.derivative(x, y)), tol));
    }
  }
  // DFL: GFL's two cross-entropies against focal's fused row.
  using Rows = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Rows x = Rows::Random(50, 8) * 3;
  Eigen::Array<S, Eigen::Dynamic, 1> t = (Eigen::Array<S, Eigen::Dynamic, 1>::Random(50) + 1) * S(3.49);
  Rows g(50, 8), g_peer(50, 8);
  const S total = focal::DistributionFocalLoss<S>().value_and_gradient(x, t, g);
  double peer_total = 0;
  for (Eigen::Index r = 0; r < 50; ++r) {
    peer_total += double(peer::mmdet_distribution_focal(&x(r, 0), 8, t[r], &g_peer(r, 0)));
  }
  CHECK_THAT(double(total), WithinRel(peer_total, tol));
  CHECK((g - g_peer).abs().maxCoeff() <= S(tol));
}

TEST_CASE("the mmdetection formulas fail where focal does not", "[peer][soft]") {
  // σ(x) rounds to 1 at x = 17 in float: |y − σ|^β is 0, the true loss is not.
  const peer::MmdetQualityFocal<float> mq{2.0f};
  float l, g;
  mq(20.0f, 1.0f, l, g);
  CHECK(l == 0.0f);
  CHECK(focal::QualityFocalLoss<float>()(20.0f, 1.0f) > 0.0f);
  // β < 1 where y = σ exactly: pow's derivative 0^(β−1) = ∞ times 0: NaN.
  const peer::MmdetQualityFocal<float> half{0.5f};
  half(0.0f, 0.5f, l, g);
  CHECK(std::isnan(g));
  CHECK(focal::QualityFocalLoss<float>(0.5f).derivative(0.0f, 0.5f) == 0.0f);
  // VFL's negatives at γ = 0.5 and x → −∞: p^(γ−1) overflows: NaN where focal is finite.
  const peer::MmdetVarifocal<float> v{0.75f, 0.5f};
  v(-200.0f, 0.0f, l, g);
  CHECK(std::isnan(g));
  CHECK(std::isfinite(focal::VarifocalLoss<float>(0.75f, 0.5f).derivative(-200.0f, 0.0f)));
}

TEMPLATE_TEST_CASE("DistributionFocalLoss: fused, weighted, threads, limits, bad targets",
                   "[dfl]", float, double) {
  using S = TestType;
  using Rows = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vec = Eigen::Array<S, Eigen::Dynamic, 1>;
  const Eigen::Index n = 2000, bins = 17;  // reg_max = 16; several chunks
  const Rows x = Rows::Random(n, bins) * 4;
  Vec t = (Vec::Random(n) + 1) * S(8);
  t[0] = 0;
  t[1] = 16;  // the last bin alone
  t[2] = 5;   // an integer: bin 5 alone
  const Vec w = Vec::Random(n).abs();
  const focal::DistributionFocalLoss<S> dfl;
  Rows g(n, bins), g2(n, bins);
  const S total = dfl.value_and_gradient(x, t, g, S(4), w);
  CHECK(dfl.value_and_gradient(x, t, g2, S(4), w, focal::threads(3)) == total);
  CHECK((g - g2).abs().maxCoeff() == 0);
  CHECK_THAT(double(total), WithinRel(double((dfl.value(x, t) * w).sum() / 4), 1e-5));
  // Column-major logits and a Map give the same bits.
  const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> xc = x;
  Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> gc(n, bins);
  CHECK(dfl.value_and_gradient(xc, t, gc, S(4), w) == total);
  CHECK((gc - g).abs().maxCoeff() == 0);
  // Rows sum to 0 in the gradient (softmax minus weights summing to 1).
  CHECK((g.rowwise().sum().abs() <= S(64) * std::numeric_limits<S>::epsilon()).all());
  // The row of one bin's target: −log S_t; finite differences of the row.
  const Eigen::Array<S, 1, Eigen::Dynamic> row = x.row(2);
  const S lse = std::log((row - row.maxCoeff()).exp().sum()) + row.maxCoeff();
  CHECK_THAT(double(dfl(row, S(5))), WithinRel(double(lse - row(5)), 1e-5));
  if constexpr (std::is_same<S, double>::value) {
    Rows one(1, bins), g1(1, bins);
    one = x.row(7);
    dfl.value_and_gradient(one, Vec::Constant(1, t[7]), g1);
    for (Eigen::Index c = 0; c < bins; ++c) {
      Rows up = one, down = one;
      up(0, c) += 1e-6;
      down(0, c) -= 1e-6;
      const double fd = (dfl(up.row(0), t[7]) - dfl(down.row(0), t[7])) / 2e-6;
      CHECK_THAT(g1(0, c), WithinAbs(fd, 1e-7));
    }
  }
  // Limits: a −∞ logit at the target bin gives ∞, elsewhere nothing; NaN stays in its row.
  Rows xi = x.topRows(4);
  const Vec ti = t.head(4);
  Rows gi(4, bins);
  xi(2, 3) = -std::numeric_limits<S>::infinity();  // t[2] = 5: not a target bin
  xi(0, 0) = -std::numeric_limits<S>::infinity();  // t[0] = 0: the target bin
  xi(3, 1) = std::nan("");
  dfl.value_and_gradient(xi, ti, gi);
  CHECK(dfl.value(xi, ti)(0) == std::numeric_limits<S>::infinity());
  CHECK(std::isfinite(dfl.value(xi, ti)(2)));
  CHECK(gi(2, 3) == 0);
  CHECK(std::isnan(gi(3, 0)));
  CHECK(std::isfinite(gi(1, 0)));
  // Bad targets, weights, shapes: invalid_argument naming the index, grad untouched.
  Rows gb = Rows::Constant(n, bins, S(7));
  Vec tb = t;
  tb[9] = S(16.5);
  CHECK_THROWS_WITH(dfl.value_and_gradient(x, tb, gb), Contains("targets[9] = 16.5") && Contains("[0, 16]"));
  tb[9] = -S(0.25);
  CHECK_THROWS_AS(dfl.value_and_gradient(x, tb, gb), std::invalid_argument);
  tb[9] = std::nan("");
  CHECK_THROWS_AS(dfl.value(x, tb), std::invalid_argument);
  CHECK_THROWS_WITH(dfl.value_and_gradient(x, t.head(n - 1), gb), Contains("targets"));
  Vec wb = w;
  wb[4] = -1;
  CHECK_THROWS_WITH(dfl.value_and_gradient(x, t, gb, S(1), wb), Contains("weights[4] = -1"));
  CHECK_THROWS_AS(dfl(row, S(17)), std::invalid_argument);
  CHECK((gb == S(7)).all());
}
