// Bad input: std::invalid_argument naming the argument, the index and the value, and
// the caller's output untouched. NaN logits are not errors.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "support.hpp"

using Catch::Matchers::Contains;

namespace {

constexpr float sentinel = 42.0f;

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (...) {
    return "<wrong exception type>";
  }
  return "<no exception>";
}

bool untouched(const Eigen::ArrayXXf& g) { return (g == sentinel).all(); }

}  // namespace

TEST_CASE("constructors reject parameters outside their domain", "[errors]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const float a : {-0.1f, 1.1f, nan, inf, -inf}) {
    INFO("alpha = " << a);
    CHECK_THROWS_AS(focal::BalancedCrossEntropy<float>(a), std::invalid_argument);
    CHECK_THROWS_AS((focal::BalancedFocalLoss<float>(a, 2.0f)), std::invalid_argument);
    CHECK_THAT(message_of([&] { focal::BalancedFocalLoss<float> l(a, 2.0f); }),
               Contains("alpha") && Contains("BalancedFocalLoss") &&
                   Contains(focal::detail::format_value(a)));
  }
  for (const double g : {-1.0, -1e-300, double(nan), double(inf)}) {
    INFO("gamma = " << g);
    CHECK_THROWS_AS(focal::FocalLoss<double>(g), std::invalid_argument);
    CHECK_THROWS_AS((focal::BalancedFocalLoss<double>(0.25, g)), std::invalid_argument);
    CHECK_THROWS_AS(focal::FocalLossStar<double>(g), std::invalid_argument);
    CHECK_THAT(message_of([&] { focal::FocalLoss<double> l(g); }), Contains("gamma"));
  }
  CHECK_THROWS_AS(focal::FocalLossStar<double>(0.0), std::invalid_argument);  // FL* needs γ > 0
  for (const double b : {double(nan), double(inf), -double(inf)}) {
    CHECK_THAT(message_of([&] { focal::FocalLossStar<double> l(2.0, b); }), Contains("beta"));
  }
  // The edges of the domain are legal.
  CHECK_NOTHROW(focal::BalancedFocalLoss<float>(0.0f, 0.0f));
  CHECK_NOTHROW(focal::BalancedFocalLoss<float>(1.0f, 0.0f));
  CHECK_NOTHROW(focal::FocalLossStar<float>(1e-30f, -1e30f));
}

TEST_CASE("parameter accessors return what was given", "[errors]") {
  const focal::BalancedFocalLoss<double> fl(0.3, 1.5);
  CHECK(fl.alpha() == 0.3);
  CHECK(fl.gamma() == 1.5);
  CHECK(focal::FocalLoss<float>().gamma() == 2.0f);
  CHECK(focal::BalancedCrossEntropy<float>().alpha() == 0.75f);
  CHECK(focal::BalancedFocalLoss<float>().alpha() == 0.25f);
  const focal::FocalLossStar<float> star;
  CHECK(star.gamma() == 4.0f);
  CHECK(star.beta() == 0.0f);
}

TEST_CASE("per-element calls reject bad targets and probabilities", "[errors]") {
  const focal::FocalLoss<float> fl;
  const focal::FocalLoss<float, focal::Probabilities> fp;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const float y : {0.5f, 2.0f, -1.0f, nan}) {
    INFO("y = " << y);
    CHECK_THROWS_AS(fl(0.0f, y), std::invalid_argument);
    CHECK_THROWS_AS(fl.derivative(0.0f, y), std::invalid_argument);
    CHECK_THAT(message_of([&] { (void)fl(0.0f, y); }),
               Contains("targets") && Contains(focal::detail::format_value(y)));
  }
  for (const float p : {-0.0001f, 1.0001f, -std::numeric_limits<float>::infinity()}) {
    INFO("p = " << p);
    CHECK_THROWS_AS(fp(p, 1.0f), std::invalid_argument);
    CHECK_THROWS_AS(fp.derivative(p, 0.0f), std::invalid_argument);
    CHECK_THAT(message_of([&] { (void)fp(p, 1.0f); }), Contains("probabilities"));
  }
  // NaN inputs are not errors; ±∞ logits and p = 0, 1 are legal.
  CHECK_NOTHROW(fl(nan, 1.0f));
  CHECK_NOTHROW(fl(std::numeric_limits<float>::infinity(), 0.0f));
  CHECK_NOTHROW(fp(nan, 1.0f));
  CHECK_NOTHROW(fp(0.0f, 1.0f));
  CHECK_NOTHROW(fp(1.0f, 1.0f));
}

TEST_CASE("array calls reject bad targets and leave grad untouched", "[errors]") {
  const focal::BalancedFocalLoss<float> fl;
  Eigen::ArrayXXf x = Eigen::ArrayXXf::Random(4, 5) * 5;
  Eigen::ArrayXXf y = Eigen::ArrayXXf::Zero(4, 5);
  Eigen::ArrayXXf g = Eigen::ArrayXXf::Constant(4, 5, sentinel);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // The bad element last in storage order: a one-pass implementation would already have
  // written every other gradient.
  for (const float bad : {0.5f, 2.0f, -1.0f, nan}) {
    y(3, 4) = bad;
    INFO("bad target " << bad);
    const std::string msg = message_of([&] { fl.value_and_gradient(x, y, g); });
    CHECK_THAT(msg, Contains("targets(3, 4)") && Contains(focal::detail::format_value(bad)));
    CHECK(untouched(g));
    CHECK_THROWS_AS(fl.value(x, y), std::invalid_argument);
    CHECK_THROWS_AS(fl.gradient(x, y), std::invalid_argument);
  }
  // Vectors name a single index.
  Eigen::ArrayXf xv = Eigen::ArrayXf::Zero(6), yv = Eigen::ArrayXf::Ones(6);
  Eigen::ArrayXf gv = Eigen::ArrayXf::Constant(6, sentinel);
  yv[2] = 3.0f;
  CHECK_THAT(message_of([&] { fl.value_and_gradient(xv, yv, gv); }), Contains("targets[2] = 3"));
  CHECK((gv == sentinel).all());
}

TEST_CASE("array calls reject probabilities outside the unit interval and leave grad untouched",
          "[errors]") {
  const focal::FocalLoss<double, focal::Probabilities> fp;
  Eigen::ArrayXd p = Eigen::ArrayXd::LinSpaced(8, 0.1, 0.8);
  Eigen::ArrayXd y = Eigen::ArrayXd::Ones(8);
  Eigen::ArrayXd g = Eigen::ArrayXd::Constant(8, sentinel);
  for (const double bad : {-1e-300, 1.0000000000000002, std::numeric_limits<double>::infinity()}) {
    p[7] = bad;
    INFO("bad probability " << bad);
    CHECK_THAT(message_of([&] { fp.value_and_gradient(p, y, g); }),
               Contains("probabilities[7]") && Contains(focal::detail::format_value(bad)));
    CHECK((g == sentinel).all());
    CHECK_THROWS_AS(fp.value(p, y), std::invalid_argument);
  }
  p[7] = std::numeric_limits<double>::quiet_NaN();  // not an error: NaN propagates
  CHECK_NOTHROW(fp.value_and_gradient(p, y, g));
  CHECK(std::isnan(g[7]));
  CHECK(g.head(7).isFinite().all());
}

// Contiguous arrays are first checked by a vectorized scan (packets, then a scalar tail) and
// only on failure by the exact scan that names the offender: every value class at every
// position of the packets and of the tail must give the exact scan's verdict.
TEMPLATE_TEST_CASE("the vectorized checks agree with the rules at every position", "[errors]",
                   float, double) {
  using S = TestType;
  using Array = Eigen::Array<S, Eigen::Dynamic, 1>;
  const S inf = std::numeric_limits<S>::infinity(), nan = std::numeric_limits<S>::quiet_NaN();
  const S tiny = std::numeric_limits<S>::denorm_min();
  const S values[] = {S(0), S(-0.0), S(1), S(0.5), S(2), S(-1), tiny, -tiny,
                      std::nextafter(S(1), S(2)), std::nextafter(S(1), S(0)),
                      std::numeric_limits<S>::max(), inf, -inf, nan};
  const focal::FocalLoss<S> logits;
  const focal::FocalLoss<S, focal::Probabilities> probs;
  for (const Eigen::Index n : {1, 7, 16, 17, 40}) {
    for (Eigen::Index pos = 0; pos < n; ++pos) {
      for (const S v : values) {
        INFO("n = " << n << ", position " << pos << ", value " << v);
        const std::string where = "[" + std::to_string(pos) + "]";
        Array x = Array::Zero(n), y = Array::Zero(n), g = Array::Constant(n, S(sentinel));
        for (Eigen::Index i = 0; i < n; i += 3) y[i] = S(1);
        y[pos] = v;
        // As arrays and as expressions (scanned a packet at a time by linear index).
        if (v == S(0) || v == S(1)) {
          CHECK_NOTHROW(logits.value_and_gradient(x, y, g));
          CHECK_NOTHROW(logits.value_and_gradient(x, y * S(1), g));
        } else {
          g.setConstant(S(sentinel));
          CHECK_THAT(message_of([&] { logits.value_and_gradient(x, y, g); }),
                     Contains("targets" + where));
          CHECK_THAT(message_of([&] { logits.value_and_gradient(x, y * S(1), g); }),
                     Contains("targets" + where));
          CHECK((g == S(sentinel)).all());
        }
        Array p = Array::Constant(n, S(0.25));
        y.setOnes();
        p[pos] = v;
        g.setConstant(S(sentinel));
        if (v < S(0) || v > S(1)) {
          CHECK_THAT(message_of([&] { probs.value_and_gradient(p, y, g); }),
                     Contains("probabilities" + where));
          CHECK_THAT(message_of([&] { probs.value_and_gradient(p * S(1), y, g); }),
                     Contains("probabilities" + where));
          CHECK((g == S(sentinel)).all());
          Eigen::Array<int, Eigen::Dynamic, 1> labels = Eigen::Array<int, Eigen::Dynamic, 1>::Zero(n);
          CHECK_THAT(message_of([&] { probs.value_and_gradient(p, focal::labels(labels), g); }),
                     Contains("probabilities" + where));
        } else {  // in [0, 1], or NaN, which propagates
          CHECK_NOTHROW(probs.value_and_gradient(p, y, g));
          CHECK_NOTHROW(probs.value_and_gradient(p * S(1), y, g));
        }
      }
    }
  }
}

// A contiguous matrix is scanned as one run whatever its shape (rows shorter than a packet
// included), in either storage order: a bad value anywhere, the tail after the last whole
// packet included, is found and named by its row and column.
TEMPLATE_TEST_CASE("the vectorized checks of contiguous matrices cover every element", "[errors]",
                   (Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>),
                   Eigen::ArrayXXf, Eigen::ArrayXXd,
                   (Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>)) {
  using Array = TestType;
  using S = typename Array::Scalar;
  const S nan = std::numeric_limits<S>::quiet_NaN();
  const focal::FocalLoss<S> logits;
  const focal::FocalLoss<S, focal::Probabilities> probs;
  const std::pair<Eigen::Index, Eigen::Index> shapes[] = {{5, 4}, {4, 5}, {3, 7}, {9, 3}, {2, 21}};
  for (const auto& [rows, cols] : shapes) {
    for (Eigen::Index i = 0; i < rows; ++i) {
      for (Eigen::Index j = 0; j < cols; ++j) {
        INFO(rows << " x " << cols << ", element (" << i << ", " << j << ")");
        const std::string where = "(" + std::to_string(i) + ", " + std::to_string(j) + ")";
        Array x = Array::Zero(rows, cols), y = Array::Zero(rows, cols);
        Array g = Array::Constant(rows, cols, S(sentinel));
        y(rows - 1, cols - 1) = S(1);
        CHECK_NOTHROW(logits.value_and_gradient(x, y, g));
        g.setConstant(S(sentinel));
        y(i, j) = S(0.5);
        CHECK_THAT(message_of([&] { logits.value_and_gradient(x, y, g); }),
                   Contains("targets" + where + " = 0.5"));
        CHECK((g == S(sentinel)).all());
        Array p = Array::Constant(rows, cols, S(0.25));
        y.setOnes();
        p(i, j) = S(-1);
        CHECK_THAT(message_of([&] { probs.value_and_gradient(p, y, g); }),
                   Contains("probabilities" + where + " = -1"));
        CHECK((g == S(sentinel)).all());
        p(i, j) = nan;  // propagates, not an error
        CHECK_NOTHROW(probs.value_and_gradient(p, y, g));
      }
    }
  }
}

TEST_CASE("bad values inside a Block are found and named", "[errors]") {
  // Blocks are scanned run by run (their rows here); the offender is named in the Block's own
  // indices, and the larger array's other elements are never looked at.
  using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const focal::FocalLoss<float> fl;
  const focal::FocalLoss<float, focal::Probabilities> fp;
  RowMajor x = RowMajor::Zero(40, 21), y = RowMajor::Zero(40, 21);
  RowMajor p = RowMajor::Constant(40, 21, 0.5f), g = RowMajor::Constant(40, 21, sentinel);
  y.col(0).setConstant(7.0f);  // outside the Block: not an error
  p.col(0).setConstant(-7.0f);
  auto gb = g.rightCols(20);
  CHECK_NOTHROW(fl.value_and_gradient(x.rightCols(20), y.rightCols(20), gb));
  CHECK_NOTHROW(fp.value_and_gradient(p.rightCols(20), y.rightCols(20), gb));
  CHECK((g.col(0) == sentinel).all());
  g.setConstant(sentinel);
  y(33, 17) = 0.5f;  // (33, 16) of the Block
  CHECK_THAT(message_of([&] { fl.value_and_gradient(x.rightCols(20), y.rightCols(20), gb); }),
             Contains("targets(33, 16) = 0.5"));
  y(33, 17) = 1.0f;
  p(39, 20) = 1.5f;  // the Block's last element
  CHECK_THAT(message_of([&] { fp.value_and_gradient(p.rightCols(20), y.rightCols(20), gb); }),
             Contains("probabilities(39, 19) = 1.5"));
  CHECK(untouched(g));
}

TEST_CASE("shape mismatches are rejected and grad is untouched", "[errors]") {
  const focal::CrossEntropy<float> ce;
  Eigen::ArrayXXf x = Eigen::ArrayXXf::Zero(3, 4);
  Eigen::ArrayXXf y_bad = Eigen::ArrayXXf::Zero(4, 3);  // same size, transposed shape
  Eigen::ArrayXXf y = Eigen::ArrayXXf::Zero(3, 4);
  Eigen::ArrayXXf g_bad = Eigen::ArrayXXf::Constant(3, 5, sentinel);
  Eigen::ArrayXXf g = Eigen::ArrayXXf::Constant(3, 4, sentinel);
  CHECK_THAT(message_of([&] { ce.value_and_gradient(x, y_bad, g); }),
             Contains("targets") && Contains("4x3") && Contains("3x4"));
  CHECK(untouched(g));
  CHECK_THAT(message_of([&] { ce.value_and_gradient(x, y, g_bad); }),
             Contains("grad") && Contains("3x5"));
  CHECK(untouched(g_bad));
  CHECK_THROWS_AS(ce.value(x, y_bad), std::invalid_argument);
  CHECK_THROWS_AS(ce.gradient(x, y_bad), std::invalid_argument);
}

TEST_CASE("the normalizer must be positive and finite", "[errors]") {
  const focal::FocalLoss<float> fl;
  Eigen::ArrayXXf x = Eigen::ArrayXXf::Zero(2, 2), y = Eigen::ArrayXXf::Ones(2, 2);
  Eigen::ArrayXXf g = Eigen::ArrayXXf::Constant(2, 2, sentinel);
  for (const float n : {0.0f, -0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(),
                        std::numeric_limits<float>::infinity()}) {
    INFO("normalizer = " << n);
    CHECK_THAT(message_of([&] { fl.value_and_gradient(x, y, g, n); }),
               Contains("normalizer") && Contains(focal::detail::format_value(n)));
    CHECK(untouched(g));
  }
  // The smallest positive normalizer is legal and gives no NaN even where gradients are 0.
  x(0, 0) = std::numeric_limits<float>::infinity();
  const float tiny = std::numeric_limits<float>::denorm_min();
  CHECK_NOTHROW(fl.value_and_gradient(x, y, g, tiny));
  CHECK(g(0, 0) == 0);
  CHECK_FALSE(g.isNaN().any());
}

TEST_CASE("NaN logits propagate to their own element only", "[errors]") {
  const focal::BalancedFocalLoss<float> fl(0.25f, 0.5f);
  Eigen::ArrayXf x = Eigen::ArrayXf::LinSpaced(9, -40.0f, 40.0f);
  Eigen::ArrayXf y = Eigen::ArrayXf::Zero(9);
  y.head(4).setOnes();
  x[5] = std::numeric_limits<float>::quiet_NaN();
  Eigen::ArrayXf g(9);
  const float total = fl.value_and_gradient(x, y, g);
  CHECK(std::isnan(total));
  CHECK(std::isnan(g[5]));
  for (int i = 0; i < 9; ++i) {
    if (i != 5) CHECK(std::isfinite(g[i]));
  }
  const Eigen::ArrayXf v = fl.value(x, y);
  CHECK(std::isnan(v[5]));
  CHECK(v.head(5).isFinite().all());
  CHECK(v.tail(3).isFinite().all());
}
