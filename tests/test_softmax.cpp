// SoftmaxFocalLoss: against an independent quad-precision reference in ulps, against finite
// differences, γ = 0 against softmax cross-entropy, row sums of the gradient, saturated rows,
// ignore, per-class α and anchor weights.

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"
#if !defined(FOCAL_TESTS_NO_QUADMATH)
#include "reference.hpp"
#endif

using Catch::Matchers::Contains;
#if !defined(FOCAL_TESTS_NO_QUADMATH)
using ref::quad;
#endif

namespace {

template <class S>
using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows that exercise the kernel: ordinary ones, a confident hit (p_t → 1, q → 0, where
// γ < 1 autograd gives NaN), a confident miss (p_t → 0), ties, huge logits, −∞ entries.
template <class S>
RowMajor<S> test_rows(int classes, Eigen::ArrayXi& labels, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::uniform_int_distribution<int> cls(0, classes - 1);
  const int n = 40;
  RowMajor<S> x(n, classes);
  labels.resize(n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < classes; ++j) x(i, j) = S(normal(gen));
    labels[i] = cls(gen);
  }
  x.row(0).setZero();                                 // uniform
  x(1, labels[1]) = S(60);                            // confident hit: q ≈ e^-60
  x(2, labels[2]) = S(-60);                           // confident miss
  x.row(3).setConstant(S(1e4));                       // huge, all tied
  x(4, labels[4]) = S(200);                           // q underflows in float
  x.row(5) *= S(50);                                  // spread-out logits
  x(6, (labels[6] + 1) % classes) = -std::numeric_limits<S>::infinity();
  x(7, labels[7]) = S(1e30);                          // beyond any exp
  // The maximum and the target in the last columns: on a row that is not a whole number of
  // packets, the packet kernel's last packet overlaps the one before it (softmax_packet.hpp).
  labels[8] = classes - 1;
  x(8, classes - 1) = S(12);
  labels[9] = std::max(classes - 2, 0);
  x(9, std::max(classes - 2, 0)) = S(9);
  x(9, classes - 1) = S(-40);
  return x;
}

#if !defined(FOCAL_TESTS_NO_QUADMATH)
// Rows in the regimes where the row's scalars lose digits (40 random rows per class
// count missed them): after the special rows of test_rows, a third ordinary rows (σ of 1, 3
// and 10), a third confident hits with q = 1 − p_t log-uniform in [1e-9, 0.3], a third
// confident misses with p_t log-uniform in [1e-13, 0.05]; the target logit is set from the
// others' log-sum-exp, the other logits normal.
template <class S>
RowMajor<S> hard_rows(int classes, int n, Eigen::ArrayXi& labels, unsigned seed) {
  Eigen::ArrayXi special;
  const RowMajor<S> head = test_rows<S>(classes, special, seed);
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> cls(0, classes - 1);
  RowMajor<S> x(head.rows() + n, classes);
  x.topRows(head.rows()) = head;
  labels.resize(x.rows());
  labels.head(head.rows()) = special;
  for (Eigen::Index i = head.rows(); i < x.rows(); ++i) {
    const int t = cls(gen);
    labels[i] = t;
    const int kind = int(i % 3);
    const double sigma = kind == 0 ? std::array<double, 3>{1, 3, 10}[std::size_t(i / 3 % 3)] : 2;
    long double others = 0;  // Σ_{c≠t} e^(x_c)
    for (int j = 0; j < classes; ++j) {
      x(i, j) = S(normal(gen) * sigma);
      if (j != t) others += std::exp((long double)x(i, j));
    }
    if (kind == 1) {  // confident hit: e^(x_t) = others·(1 − q)/q
      const double q = std::pow(10.0, -9 + unit(gen) * (9 + std::log10(0.3)));
      x(i, t) = S(std::log(others) + std::log1p(-q) - std::log(q));
    } else if (kind == 2) {  // confident miss: e^(x_t) = others·p_t/(1 − p_t)
      const double pt = std::pow(10.0, -13 + unit(gen) * (13 + std::log10(0.05)));
      x(i, t) = S(std::log(others) + std::log(pt) - std::log1p(-pt));
    }
  }
  return x;
}

struct Worst {
  double value = 0, grad = 0;
};

// The errors of the library's rows against the quad reference, in ulps of each entry, for
// each γ and both α forms: value_and_gradient on X (row-major: the packet rows in place where
// the build vectorizes; column-major: gathered into them, and value() then runs the scalar
// rows) and value(). Returns the worst errors per γ.
template <class S, class X>
std::vector<Worst> check_rows_against_reference(const X& x, const Eigen::ArrayXi& labels,
                                                const std::vector<double>& gammas) {
  using Vector = Eigen::Array<S, Eigen::Dynamic, 1>;
  const int n = int(x.rows()), k = int(x.cols());
  std::vector<quad> xq(std::size_t(k), 0), gq(std::size_t(k), 0);
  Vector class_alpha = Vector::Constant(k, S(0.25));
  class_alpha[0] = S(0.75);
  std::vector<Worst> worst(gammas.size());
  std::vector<focal::SoftmaxFocalLoss<S>> losses;
  for (const double gamma : gammas) {
    losses.emplace_back(S(0.25), S(gamma));
    losses.emplace_back(class_alpha, S(gamma));
  }
  std::vector<X> grads(losses.size(), X(n, k));
  std::vector<Vector> values(losses.size(), Vector(n));
  for (std::size_t l = 0; l < losses.size(); ++l) {
    losses[l].value_and_gradient(x, focal::labels(labels), grads[l]);
    values[l] = losses[l].value(x, focal::labels(labels));
  }
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    bool finite = true;
    for (int j = 0; j < k; ++j) {
      xq[std::size_t(j)] = x(i, j);
      finite = finite && std::isfinite(x(i, j));
    }
    if (!finite) continue;  // −∞ rows are checked for NaN-freedom below
    const int t = labels[i];
    const ref::SoftmaxRow row(xq.data(), k, t);
    for (std::size_t l = 0; l < losses.size(); ++l) {
      const auto& loss = losses[l];
      const double gamma = double(loss.gamma());
      // 5 + ⌈γ⌉ ulp, the sigmoid losses' bound: q^γ multiplies q's error by γ.
      const double bound = 5 + std::ceil(gamma);
      const quad lq = row.eval(quad(loss.alpha_of(t)), quad(loss.gamma()), gq.data());
      Worst& w = worst[l / 2];
      const double ev = double(ref::ulp_error<S>(values[l][i], lq));
      w.value = std::max(w.value, ev);
      if (ev > bound && failures++ < 10) {
        FAIL_CHECK("row " << i << " target " << t << " gamma " << gamma << ": value "
                          << values[l][i] << " vs " << ref::to_double(lq) << ", " << ev
                          << " ulp");
      }
      for (int j = 0; j < k; ++j) {
        const double eg = double(ref::ulp_error<S>(grads[l](i, j), gq[std::size_t(j)]));
        w.grad = std::max(w.grad, eg);
        if (eg > bound && failures++ < 10) {
          FAIL_CHECK("row " << i << " target " << t << " gamma " << gamma << " column " << j
                            << ": " << grads[l](i, j) << " vs "
                            << ref::to_double(gq[std::size_t(j)]) << ", " << eg << " ulp");
        }
      }
    }
  }
  CHECK(failures == 0);
  for (const X& g : grads) CHECK(g.isFinite().all());
  return worst;
}

#endif  // !FOCAL_TESTS_NO_QUADMATH

}  // namespace

#if !defined(FOCAL_TESTS_NO_QUADMATH)
TEMPLATE_TEST_CASE("softmax focal loss matches a quad reference to 5 + ceil(gamma) ulp",
                   "[softmax]", float, double) {
  // 5, 16, 17, 21, 33 and 81 classes: the scalar rows where a row is shorter than a packet,
  // whole packets and an overlapping last packet for every SIMD width (4, 8, 16 floats; 2, 4, 8
  // doubles); 1000 (fewer rows): sums of many terms per lane. Each on row-major logits and on
  // the same logits column-major (gathered; value() there runs the scalar rows, as does every
  // row of the scalar build).
  using S = TestType;
  const std::vector<double> gammas{0.0, 0.5, 1.0, 2.0, 5.0};
  for (const int k : {5, 16, 17, 21, 33, 81, 1000}) {
    const int n = k == 1000 ? 300 : (k == 5 || k == 21 || k == 81) ? 4000 : 1000;
    Eigen::ArrayXi labels;
    const RowMajor<S> x = hard_rows<S>(k, n, labels, unsigned(k));
    const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> x_cols = x;
    INFO("classes " << k);
    const std::vector<Worst> rows = check_rows_against_reference<S>(x, labels, gammas);
    const std::vector<Worst> cols = check_rows_against_reference<S>(x_cols, labels, gammas);
    for (std::size_t l = 0; l < gammas.size(); ++l) {
      std::printf("softmax %-6s K %-4d rows %-5d gamma %-4g: worst value %5.2f / %5.2f ulp, "
                  "gradient %5.2f / %5.2f ulp (row-major / column-major)\n",
                  support::type_name<S>(), k, int(x.rows()), gammas[l], rows[l].value,
                  cols[l].value, rows[l].grad, cols[l].grad);
    }
  }
}
#endif  // !FOCAL_TESTS_NO_QUADMATH

TEMPLATE_TEST_CASE("softmax rows in every layout: in place, Blocks, column-major, weights",
                   "[softmax]", float, double) {
  // With anchor weights, an ignored row and a normalizer, the row-major call's bits from: the
  // same logits column-major (a chunk of rows at a time transposed into the row-major buffer), in
  // place (grad = logits, row- and column-major), a row-major Block (an outer stride), a
  // column-major Block of a taller array; value() gives value_and_gradient's losses.
  using S = TestType;
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Array<S, Eigen::Dynamic, 1>;
  // 150: 27 rows per chunk, several chunks; 300 (float) and 600 (double): too wide for a cache
  // line of each column in the 16 KiB buffer, through the 64 KiB one, a line's rows per chunk.
  for (const int k : {6, 16, 17, 33, 81, 150, 300, 600}) {
    Eigen::ArrayXi labels;
    const RowMajor<S> x = test_rows<S>(k, labels, unsigned(100 + k));
    labels[12] = focal::ignore;
    const Vector w = Vector::LinSpaced(x.rows(), S(0.5), S(3));
    const focal::SoftmaxFocalLoss<S> loss(S(0.25), S(2));
    RowMajor<S> g(x.rows(), k);
    const S total = loss.value_and_gradient(x, focal::labels(labels, w), g, S(7));
    ColMajor gc(x.rows(), k);
    const S total_cols = loss.value_and_gradient(ColMajor(x), focal::labels(labels, w), gc, S(7));
    INFO("classes " << k);
    CHECK(total_cols == total);
    CHECK((gc == ColMajor(g)).all());
    CHECK(g.row(12).isZero(0));
    RowMajor<S> inplace = x;
    CHECK(loss.value_and_gradient(inplace, focal::labels(labels, w), inplace, S(7)) == total);
    CHECK((inplace == g).all());
    ColMajor inplace_cols = x;
    CHECK(loss.value_and_gradient(inplace_cols, focal::labels(labels, w), inplace_cols, S(7)) ==
          total);
    CHECK((inplace_cols == ColMajor(g)).all());
    ColMajor tall = ColMajor::Constant(x.rows() + 5, k, S(3));
    tall.middleRows(2, x.rows()) = x;
    ColMajor gtall = ColMajor::Constant(x.rows() + 5, k, S(42));
    auto gtall_block = gtall.middleRows(2, x.rows());
    CHECK(loss.value_and_gradient(tall.middleRows(2, x.rows()), focal::labels(labels, w),
                                  gtall_block, S(7)) == total);
    CHECK((gtall.middleRows(2, x.rows()) == ColMajor(g)).all());
    CHECK((gtall.topRows(2) == S(42)).all());
    CHECK((gtall.bottomRows(3) == S(42)).all());
    RowMajor<S> wide = RowMajor<S>::Constant(x.rows(), k + 3, S(5));
    wide.middleCols(1, k) = x;
    RowMajor<S> gwide = RowMajor<S>::Constant(x.rows(), k + 3, S(42));
    auto gblock = gwide.middleCols(2, k);
    CHECK(loss.value_and_gradient(wide.middleCols(1, k), focal::labels(labels, w), gblock, S(7)) ==
          total);
    CHECK((gwide.middleCols(2, k) == g).all());
    CHECK((gwide.col(0) == S(42)).all());
    CHECK((gwide.rightCols(1) == S(42)).all());
    const Vector v = loss.value(x, focal::labels(labels, w));
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const RowMajor<S> one_row = x.row(i);
      Eigen::ArrayXi one_label(1);
      one_label[0] = labels[i];
      const Vector one_w = Vector::Constant(1, w[i]);
      RowMajor<S> g1(1, k);
      INFO("row " << i);
      // value() and value_and_gradient run the same row kernel.
      CHECK(loss.value_and_gradient(one_row, focal::labels(one_label, one_w), g1) == v[i]);
    }
  }
}

TEMPLATE_TEST_CASE("softmax gradients match finite differences", "[softmax][gradient]", float,
                   double) {
  using S = TestType;
  const int k = 5;
  std::mt19937 gen(7);
  std::normal_distribution<double> normal(0.0, 2.0);
  const S h = std::is_same<S, float>::value ? S(1) / 32 : S(1) / 1024;
  const double rel = std::is_same<S, float>::value ? 2e-3 : 1e-8;
  for (const double gamma : {0.0, 0.5, 1.0, 2.0, 5.0}) {
    const focal::SoftmaxFocalLoss<S> loss(S(0.5), S(gamma));
    for (int trial = 0; trial < 20; ++trial) {
      RowMajor<S> x(1, k);
      for (int j = 0; j < k; ++j) x(0, j) = S(std::round(normal(gen) * 8) / 8);  // grid: x ± 2h exact
      Eigen::ArrayXi t(1);
      t[0] = trial % k;
      RowMajor<S> g(1, k);
      loss.value_and_gradient(x, focal::labels(t), g);
      const auto f = [&](int j, S dx) {
        RowMajor<S> y = x;
        y(0, j) += dx;
        return double(loss.value(y, focal::labels(t))[0]);
      };
      for (int j = 0; j < k; ++j) {
        const double fd = (f(j, -2 * h) - 8 * f(j, -h) + 8 * f(j, h) - f(j, 2 * h)) / (12.0 * h);
        const double scale = std::fabs(f(j, 0));
        INFO("gamma " << gamma << " trial " << trial << " column " << j << ": " << g(0, j)
                      << " vs finite difference " << fd);
        CHECK(std::fabs(g(0, j) - fd) <=
              rel * std::fabs(fd) + 8 * std::numeric_limits<S>::epsilon() * scale / h);
      }
    }
  }
}

TEMPLATE_TEST_CASE("softmax gamma 0 equals softmax cross-entropy", "[softmax]", float, double) {
  // Independent softmax CE in long double: loss = logsumexp(x) − x_t, grad = softmax(x) − onehot,
  // written as log1p(Σ_{c≠t} e^(x_c − x_t)) and −Σ_{c≠t} p_c so that saturated rows keep their
  // digits in the reference too.
  using S = TestType;
  Eigen::ArrayXi labels;
  const RowMajor<S> x = test_rows<S>(5, labels, 3).topRows(6);
  labels.conservativeResize(6);
  const focal::SoftmaxFocalLoss<S> loss(S(1), S(0));
  RowMajor<S> g(x.rows(), x.cols());
  loss.value_and_gradient(x, focal::labels(labels), g);
  const Eigen::Array<S, Eigen::Dynamic, 1> v = loss.value(x, focal::labels(labels));
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const int t = labels[i];
    const long double xt = x(i, t);
    long double others = 0;  // Σ_{c≠t} e^(x_c − x_t) = (1 − p_t)/p_t
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      if (j != t) others += std::exp(x(i, j) - xt);
    const long double ce = std::log1p(others);
    INFO("row " << i);
    CHECK(std::fabs(v[i] - ce) <= 4 * std::numeric_limits<S>::epsilon() * ce +
                                      std::numeric_limits<S>::denorm_min());
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      // p_c = e^(x_c − x_t) p_t, p_t = 1/(1 + others); 1 − p_t = others/(1 + others).
      const long double expected = j == t ? -others / (1 + others)
                                          : std::exp(x(i, j) - xt) / (1 + others);
      CHECK(std::fabs(g(i, j) - expected) <=
            4 * std::numeric_limits<S>::epsilon() * std::fabs(expected) +
                std::numeric_limits<S>::denorm_min());
    }
  }
}

TEMPLATE_TEST_CASE("softmax gradient rows sum to zero and stay finite", "[softmax]", float,
                   double) {
  using S = TestType;
  Eigen::ArrayXi labels;
  const RowMajor<S> x = test_rows<S>(80, labels, 5);
  for (const double gamma : {0.0, 0.25, 0.5, 2.0}) {
    const focal::SoftmaxFocalLoss<S> loss(S(0.25), S(gamma));
    RowMajor<S> g(x.rows(), x.cols());
    const S total = loss.value_and_gradient(x, focal::labels(labels), g, S(3));
    CHECK(std::isfinite(total));
    CHECK(g.isFinite().all());  // saturated rows with γ < 1 included (Detectron/mmcv: NaN)
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      long double sum = 0, size = 0;
      for (Eigen::Index j = 0; j < x.cols(); ++j) {
        sum += g(i, j);
        size = std::max<long double>(size, std::fabs(g(i, j)));
      }
      INFO("gamma " << gamma << " row " << i);
      CHECK(std::fabs(sum) <= 4 * std::numeric_limits<S>::epsilon() * size);
    }
  }
  // The saturated hit of row 1 keeps a tiny nonzero gradient for γ < 1.
  const focal::SoftmaxFocalLoss<S> half(S(1), S(0.5));
  RowMajor<S> g(x.rows(), x.cols());
  half.value_and_gradient(x, focal::labels(labels), g);
  CHECK(g(1, labels[1]) < 0);
}

TEST_CASE("softmax ignore rows and anchor weights", "[softmax]") {
  Eigen::ArrayXi labels;
  const RowMajor<double> x = test_rows<double>(4, labels, 9);
  Eigen::ArrayXi masked = labels;
  masked[10] = focal::ignore;
  Eigen::ArrayXd w = Eigen::ArrayXd::LinSpaced(x.rows(), 0.5, 2.0);
  const focal::SoftmaxFocalLoss<double> loss(0.25, 2.0);
  RowMajor<double> g(x.rows(), x.cols()), gw(x.rows(), x.cols());
  const double total = loss.value_and_gradient(x, focal::labels(masked), g, 4.0);
  const double total_w = loss.value_and_gradient(x, focal::labels(masked, w), gw, 4.0);
  CHECK(g.row(10).isZero(0));
  CHECK(gw.row(10).isZero(0));
  const Eigen::ArrayXd v = loss.value(x, focal::labels(masked));
  CHECK(v[10] == 0);
  CHECK_THAT(total, Catch::Matchers::WithinRel(v.sum() / 4, 1e-14));
  CHECK_THAT(total_w, Catch::Matchers::WithinRel((v * w).sum() / 4, 1e-14));
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      CHECK_THAT(gw(i, j), Catch::Matchers::WithinULP(g(i, j) * w[i], 2) ||
                               Catch::Matchers::WithinAbs(0.0, 1e-300));
}

TEST_CASE("Detectron's background convention is a per-class alpha", "[softmax]") {
  // Detectron's SoftmaxFocalLoss weighs the background class (index 0) by 1 − α and every other
  // class by α: class_alpha = (1 − α, α, …, α). Compare with the common-α loss, row by row.
  const int k = 4;
  Eigen::ArrayXi labels;
  const RowMajor<double> x = test_rows<double>(k, labels, 11);
  Eigen::ArrayXd class_alpha = Eigen::ArrayXd::Constant(k, 0.25);
  class_alpha[0] = 0.75;
  const focal::SoftmaxFocalLoss<double> detectron(class_alpha, 2.0);
  const focal::SoftmaxFocalLoss<double> plain(1.0, 2.0);
  const Eigen::ArrayXd vd = detectron.value(x, focal::labels(labels));
  const Eigen::ArrayXd vp = plain.value(x, focal::labels(labels));
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const double alpha_t = labels[i] == 0 ? 0.75 : 0.25;
    CHECK_THAT(vd[i], Catch::Matchers::WithinULP(alpha_t * vp[i], 1));
  }
  CHECK(detectron.alpha_of(0) == 0.75);
  CHECK(detectron.alpha_of(3) == 0.25);
}

TEST_CASE("softmax bad input is rejected and grad is untouched", "[softmax][errors]") {
  const auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "<no std::invalid_argument>";
  };
  Eigen::ArrayXi labels;
  const RowMajor<float> x = test_rows<float>(3, labels, 13);
  RowMajor<float> g = RowMajor<float>::Constant(x.rows(), x.cols(), 42.0f);
  const focal::SoftmaxFocalLoss<float> loss;
  Eigen::ArrayXi bad = labels;
  bad[x.rows() - 1] = focal::background;  // background is a class of its own in a softmax
  CHECK_THAT(message([&] { loss.value_and_gradient(x, focal::labels(bad), g); }),
             Contains("labels[39] = -1") && Contains("[0, 3)") && Contains("ignore"));
  bad[x.rows() - 1] = 3;
  CHECK_THAT(message([&] { loss.value_and_gradient(x, focal::labels(bad), g); }),
             Contains("labels[39] = 3"));
  CHECK_THROWS_AS(loss.value(x, focal::labels(bad)), std::invalid_argument);
  const Eigen::ArrayXi short_labels = labels.head(5);
  CHECK_THAT(message([&] { loss.value_and_gradient(x, focal::labels(short_labels), g); }),
             Contains("labels") && Contains("40 rows"));
  Eigen::ArrayXf class_alpha = Eigen::ArrayXf::Constant(4, 0.5f);
  const focal::SoftmaxFocalLoss<float> four(class_alpha, 2.0f);
  CHECK_THAT(message([&] { four.value_and_gradient(x, focal::labels(labels), g); }),
             Contains("class_alpha has 4 entries") && Contains("3 columns"));
  CHECK((g == 42.0f).all());
  class_alpha[2] = -0.5f;
  CHECK_THAT(message([&] { focal::SoftmaxFocalLoss<float> l(class_alpha, 2.0f); }),
             Contains("class_alpha[2] = -0.5"));
  CHECK_THROWS_AS(focal::SoftmaxFocalLoss<float>(0.25f, -1.0f), std::invalid_argument);
  CHECK_THROWS_AS(focal::SoftmaxFocalLoss<float>(0.25f, std::numeric_limits<float>::infinity()),
                  std::invalid_argument);
}

TEST_CASE("softmax on no classes or no rows, in either layout", "[softmax]") {
  const focal::SoftmaxFocalLoss<float> loss;
  Eigen::ArrayXi all_ignored = Eigen::ArrayXi::Constant(3, focal::ignore), none(0);
  Eigen::ArrayXXf cols(3, 0), g_cols(3, 0), empty(0, 5), g_empty(0, 5);
  RowMajor<float> rows(3, 0), g_rows(3, 0);
  CHECK(loss.value_and_gradient(cols, focal::labels(all_ignored), g_cols) == 0.0f);
  CHECK(loss.value_and_gradient(rows, focal::labels(all_ignored), g_rows) == 0.0f);
  CHECK(loss.value_and_gradient(empty, focal::labels(none), g_empty) == 0.0f);
  CHECK(loss.value(cols, focal::labels(all_ignored)).sum() == 0.0f);
}

TEMPLATE_TEST_CASE("softmax rows wider than the gather buffer take the scalar kernel",
                   "[softmax]", float, double) {
  // Column-major rows of more classes than the stack buffer holds (softmax_packet.hpp) run the
  // scalar kernel in place: within 16 ulp of the row-major (packet) rows, each within 4 + 2γ
  // = 8 of the exact values.
  using S = TestType;
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  const int k = int(focal::detail::wide_row_buffer<S>) + 1;
  std::mt19937 gen(21);
  std::normal_distribution<double> normal(0.0, 3.0);
  RowMajor<S> x(5, k);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < k; ++j) x(i, j) = S(normal(gen));
  x(1, 7) = S(40);  // a confident hit
  Eigen::ArrayXi labels(5);
  labels << 0, 7, k - 1, focal::ignore, 100;
  const focal::SoftmaxFocalLoss<S> loss(S(0.25), S(2));
  RowMajor<S> g(5, k);
  ColMajor gc(5, k);
  const S total = loss.value_and_gradient(x, focal::labels(labels), g, S(3));
  const S total_cols = loss.value_and_gradient(ColMajor(x), focal::labels(labels), gc, S(3));
  CHECK_THAT(total, Catch::Matchers::WithinULP(total_cols, 16));
  int bad = 0;
  for (Eigen::Index i = 0; i < 5; ++i)
    for (Eigen::Index j = 0; j < k; ++j)
      bad += !(Catch::Matchers::WithinULP(gc(i, j), 16).match(g(i, j)) ||
               std::fabs(g(i, j) - gc(i, j)) <= 2 * std::numeric_limits<S>::denorm_min());
  CHECK(bad == 0);
  CHECK(gc.row(3).isZero(0));
}

TEMPLATE_TEST_CASE("a NaN logit makes its own row NaN only; +inf logits stay finite",
                   "[softmax]", float, double) {
  using S = TestType;
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  for (const int k : {4, 17, 81}) {  // the scalar kernel, and the packet kernel's rows
    Eigen::ArrayXi labels;
    RowMajor<S> x = test_rows<S>(k, labels, 15);
    x(9, 2) = std::numeric_limits<S>::quiet_NaN();
    x(10, k - 1) = std::numeric_limits<S>::quiet_NaN();  // in the last packet only
    RowMajor<S> g(x.rows(), x.cols());
    const focal::SoftmaxFocalLoss<S> loss;
    const S total = loss.value_and_gradient(x, focal::labels(labels), g);
    INFO("classes " << k);
    CHECK(std::isnan(total));
    CHECK(g.row(9).isNaN().all());
    CHECK(g.row(10).isNaN().all());
    CHECK(g.topRows(9).isFinite().all());
    CHECK(g.bottomRows(x.rows() - 11).isFinite().all());
    // +∞ logits: the row's limit (p = 1 on the +∞ classes), as the scalar kernel computes it.
    RowMajor<S> y = test_rows<S>(k, labels, 16);
    y(11, (labels[11] + 1) % k) = std::numeric_limits<S>::infinity();  // p_t = 0: loss +∞
    y(12, labels[12]) = std::numeric_limits<S>::infinity();
    y(12, (labels[12] + 1) % k) = std::numeric_limits<S>::infinity();
    RowMajor<S> gy(y.rows(), k);
    ColMajor gc(y.rows(), k);
    const S ty = loss.value_and_gradient(y, focal::labels(labels), gy);
    const S tc = loss.value_and_gradient(ColMajor(y), focal::labels(labels), gc);
    CHECK(ty == std::numeric_limits<S>::infinity());
    CHECK(tc == ty);
    CHECK(gy.isFinite().all());
    for (const int i : {6, 11, 12}) {  // rows with a −∞ or +∞ logit: the scalar kernel's bits
      INFO("row " << i);
      CHECK((gy.row(i) == gc.row(i)).all());
    }
  }
}

TEST_CASE("every loss takes alpha before gamma and alpha in [0, 1]", "[softmax][errors]") {
  // SoftmaxFocalLoss took (γ, α) in the first release, and SoftmaxFocalLoss(0.25, 2) was read
  // as γ = 0.25, α = 2 without a word. Now the paper's order, as BalancedFocalLoss.
  const focal::SoftmaxFocalLoss<float> sfl(0.25f, 2.0f);
  CHECK(sfl.alpha() == 0.25f);
  CHECK(sfl.gamma() == 2.0f);
  const focal::BalancedFocalLoss<float> bfl(0.25f, 2.0f);
  CHECK(bfl.alpha() == sfl.alpha());
  CHECK(bfl.gamma() == sfl.gamma());
  // The old order is now an α outside [0, 1]: rejected, naming α.
  try {
    focal::SoftmaxFocalLoss<float> swapped(2.0f, 0.25f);
    FAIL("SoftmaxFocalLoss(2, 0.25) was accepted");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(std::string(e.what()), Contains("alpha = 2") && Contains("[0, 1]"));
  }
  CHECK_THROWS_AS(focal::SoftmaxFocalLoss<double>(-0.1), std::invalid_argument);
  CHECK_NOTHROW(focal::SoftmaxFocalLoss<double>(0.0, 0.0));
  CHECK_NOTHROW(focal::SoftmaxFocalLoss<double>(1.0, 5.0));
  // Per-class α stays a class weight (≥ 0 and finite, Detectron's 1 − α and α included).
  Eigen::ArrayXd weights = Eigen::ArrayXd::Constant(3, 2.5);
  const focal::SoftmaxFocalLoss<double> weighted(weights, 1.0);
  CHECK(weighted.alpha_of(1) == 2.5);
  CHECK(weighted.gamma() == 1.0);
}

TEMPLATE_TEST_CASE("softmax logits given as expressions give the array's bits", "[softmax]",
                   float, double) {
  // x * 1 (Eigen evaluates it in packets) and a unaryExpr (it cannot): both had failed to
  // compile (row_start needed coeffRef); now the gather's copies, the row-major array's bits.
  using S = TestType;
  for (const int k : {3, 17, 81}) {
    Eigen::ArrayXi labels;
    const RowMajor<S> x = test_rows<S>(k, labels, unsigned(200 + k));
    const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> x_cols = x;
    const focal::SoftmaxFocalLoss<S> loss(S(0.25), S(2));
    RowMajor<S> g(x.rows(), k), ge(x.rows(), k);
    const S total = loss.value_and_gradient(x, focal::labels(labels), g, S(3));
    INFO("classes " << k);
    CHECK(loss.value_and_gradient(x * S(1), focal::labels(labels), ge, S(3)) == total);
    CHECK((ge == g).all());
    ge.setConstant(S(42));
    CHECK(loss.value_and_gradient(x_cols.unaryExpr([](S v) { return v; }), focal::labels(labels),
                                  ge, S(3)) == total);
    CHECK((ge == g).all());
    const Eigen::Array<S, Eigen::Dynamic, 1> v = loss.value(x * S(1), focal::labels(labels));
    const Eigen::Array<S, Eigen::Dynamic, 1> v_array = loss.value(x_cols, focal::labels(labels));
    CHECK((v == v_array).all());  // both through the scalar rows of value()
  }
}
