// The array API on the Eigen types a detector codebase holds: every per-element result equals
// the scalar call, whatever the container, layout or expression.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "support.hpp"

namespace {

// Plausible detector logits: mostly easy negatives, some hard ones, a few saturated.
template <class S>
Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> random_logits(Eigen::Index rows, Eigen::Index cols,
                                                             unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(-3.0, 4.0);
  Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> x(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) x(i, j) = S(normal(gen));
  if (x.size() > 3) {
    x(0, 0) = S(60);
    x(x.rows() - 1, x.cols() - 1) = S(-60);
  }
  return x;
}

template <class S>
Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> random_targets(Eigen::Index rows,
                                                              Eigen::Index cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::bernoulli_distribution positive(0.2);
  Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> y(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) y(i, j) = positive(gen) ? S(1) : S(0);
  return y;
}

// Σ loss in long double, element by element through the scalar API.
template <class Loss, class X, class Y>
long double scalar_sum(const Loss& loss, const X& x, const Y& y) {
  long double s = 0;
  for (Eigen::Index j = 0; j < x.cols(); ++j)
    for (Eigen::Index i = 0; i < x.rows(); ++i) s += loss(x(i, j), y(i, j));
  return s;
}

// value_and_gradient on (x, y) into g must equal the scalar calls: G bit for bit
// (derivative / normalizer is one correctly rounded division), the total to the last bits.
template <class Loss, class X, class Y, class G>
void check_fused(const Loss& loss, const X& x, const Y& y, G&& g,
                 typename Loss::scalar_type normalizer) {
  using S = typename Loss::scalar_type;
  const S total = loss.value_and_gradient(x, y, g, normalizer);
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      INFO("element (" << i << ", " << j << ")");
      REQUIRE(g(i, j) == loss.derivative(x(i, j), y(i, j)) / normalizer);
    }
  }
  const long double expected = scalar_sum(loss, x, y) / normalizer;
  CHECK(std::fabs(static_cast<long double>(total) - expected) <=
        4 * std::numeric_limits<S>::epsilon() * std::fabs(expected));
}

}  // namespace

TEMPLATE_TEST_CASE("fused call on ArrayXf and ArrayXXd equals the scalar calls", "[arrays]",
                   float, double) {
  using S = TestType;
  const focal::BalancedFocalLoss<S> fl;
  const auto x2 = random_logits<S>(37, 5, 1);
  const auto y2 = random_targets<S>(37, 5, 2);
  Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> g2(37, 5);
  check_fused(fl, x2, y2, g2, S(1));
  check_fused(fl, x2, y2, g2, S(7));  // RetinaNet: divide by the foreground count
  // Column vectors (ArrayXf / ArrayXd).
  const Eigen::Array<S, Eigen::Dynamic, 1> x1 = x2.col(1), y1 = y2.col(1);
  Eigen::Array<S, Eigen::Dynamic, 1> g1(x1.size());
  check_fused(fl, x1, y1, g1, S(3));
  // Every loss type through the same path.
  for (const support::Spec& s : support::all_specs()) {
    INFO(s.name());
    support::with_loss<S, focal::Logits>(s, [&](const auto& loss) { check_fused(loss, x2, y2, g2, S(2)); });
  }
}

TEST_CASE("row-major Maps over std::vector buffers work in and out", "[arrays]") {
  // A detector's N anchors × K classes logits in a flat row-major buffer.
  const Eigen::Index n = 50, k = 7;
  using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajor xs = random_logits<float>(n, k, 3);
  const RowMajor ys = random_targets<float>(n, k, 4);
  std::vector<float> xbuf(xs.data(), xs.data() + xs.size());
  std::vector<float> ybuf(ys.data(), ys.data() + ys.size());
  std::vector<float> gbuf(xbuf.size(), -7.0f);
  const Eigen::Map<const RowMajor> x(xbuf.data(), n, k);
  const Eigen::Map<const RowMajor> y(ybuf.data(), n, k);
  const focal::BalancedFocalLoss<float> fl;
  // An rvalue Map as the output, the way a caller hands over a raw buffer.
  check_fused(fl, x, y, Eigen::Map<RowMajor>(gbuf.data(), n, k), 5.0f);
  for (std::size_t i = 0; i < gbuf.size(); ++i) {
    INFO("flat index " << i);
    REQUIRE(gbuf[i] == fl.derivative(xbuf[i], ybuf[i]) / 5.0f);
  }
  // Row-major logits with column-major targets and output: same per-element results.
  Eigen::ArrayXXf g(n, k);
  const Eigen::ArrayXXf y_col = ys;
  check_fused(fl, x, y_col, g, 1.0f);
}

TEST_CASE("blocks and strided Maps work as inputs and outputs", "[arrays]") {
  const focal::FocalLoss<double> fl(2.0);
  Eigen::ArrayXXd x = random_logits<double>(20, 6, 5);
  Eigen::ArrayXXd y = random_targets<double>(20, 6, 6);
  Eigen::ArrayXXd g = Eigen::ArrayXXd::Constant(20, 6, 99.0);
  // .col() blocks in, a .col() block out: the other columns stay as they were.
  check_fused(fl, x.col(2), y.col(2), g.col(4), 1.0);
  CHECK((g.col(0) == 99.0).all());
  CHECK((g.col(3) == 99.0).all());
  // A block of rows.
  check_fused(fl, x.middleRows(3, 10), y.middleRows(3, 10), g.middleRows(5, 10), 2.0);
  // Every other element of a buffer, through an InnerStride Map.
  std::vector<double> buf(40, 0.0);
  Eigen::Map<Eigen::ArrayXd, 0, Eigen::InnerStride<2>> strided(buf.data(), 20);
  check_fused(fl, x.col(0), y.col(0), strided, 1.0);
  for (int i = 0; i < 20; ++i) CHECK(buf[2 * i + 1] == 0.0);
}

TEMPLATE_TEST_CASE("Blocks of larger arrays give the contiguous call's bits", "[arrays]", float,
                   double) {
  // Row-major 300 x 81 with the first column dropped (a background column): runs of 80
  // elements, 81 apart, that cross the 256-element gather blocks and the 8192-element chunks;
  // and a column-major block of rows. The same chunks, lanes and bits as a contiguous copy.
  using S = TestType;
  using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const focal::BalancedFocalLoss<S> fl;
  const RowMajor x = random_logits<S>(300, 81, 11), y = random_targets<S>(300, 81, 12);
  RowMajor g = RowMajor::Constant(300, 81, S(99));
  const RowMajor xc = x.rightCols(80), yc = y.rightCols(80);
  RowMajor gc(300, 80);
  const S expected = fl.value_and_gradient(xc, yc, gc, S(7));
  auto gb = g.rightCols(80);
  CHECK(fl.value_and_gradient(x.rightCols(80), y.rightCols(80), gb, S(7)) == expected);
  CHECK((g.rightCols(80) == gc).all());
  CHECK((g.col(0) == S(99)).all());
  // Column-major, rows 5 to 294 of 12 columns: runs of 290, 300 apart.
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  const ColMajor xt = x.leftCols(12), yt = y.leftCols(12);
  ColMajor gt = ColMajor::Constant(300, 12, S(99));
  const ColMajor xm = xt.middleRows(5, 290), ym = yt.middleRows(5, 290);
  ColMajor gm(290, 12);
  auto gtb = gt.middleRows(5, 290);
  CHECK(fl.value_and_gradient(xt.middleRows(5, 290), yt.middleRows(5, 290), gtb, S(3)) ==
        fl.value_and_gradient(xm, ym, gm, S(3)));
  CHECK((gt.middleRows(5, 290) == gm).all());
  CHECK((gt.topRows(5) == S(99)).all());
  CHECK((gt.bottomRows(5) == S(99)).all());
  // One column of the row-major array as a Block of dynamic size: a vector with an inner
  // stride of 1 whose elements are 81 apart (read as contiguous, it gave wrong values and wrote
  // over the neighbouring columns of G).
  RowMajor g1 = RowMajor::Constant(300, 81, S(99));
  const Eigen::Array<S, Eigen::Dynamic, 1> x1 = x.col(5), y1 = y.col(5);
  Eigen::Array<S, Eigen::Dynamic, 1> gc1(300);
  auto g1b = g1.middleCols(5, 1);
  CHECK(fl.value_and_gradient(x.middleCols(5, 1), y.middleCols(5, 1), g1b, S(7)) ==
        fl.value_and_gradient(x1, y1, gc1, S(7)));
  CHECK((g1.col(5) == gc1).all());
  CHECK((g1.leftCols(5) == S(99)).all());
  CHECK((g1.rightCols(75) == S(99)).all());
}

TEMPLATE_TEST_CASE("expression inputs give the evaluated arrays' bits", "[arrays]", float,
                   double) {
  // Expressions that Eigen evaluates in packets are read a packet at a time in their storage
  // order (tails element by element); in the other order (mixed layouts), or without packet
  // access (a unaryExpr with a lambda), element by element. Every route gives the bits of the
  // same call on the evaluated arrays: 300 x 81 crosses gather blocks and chunks and ends in a
  // partial packet; the vector of 1,001 too.
  using S = TestType;
  using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  const focal::BalancedFocalLoss<S> fl;
  const RowMajor x = random_logits<S>(300, 81, 13), y = random_targets<S>(300, 81, 14);
  const ColMajor x_col = x, y_col = y;
  const RowMajor xe = x * S(0.5);
  RowMajor ge(300, 81);
  const S expected = fl.value_and_gradient(xe, y, ge, S(7));
  const auto same = [&](const auto& xs, const auto& ys, const char* what) {
    INFO(what);
    RowMajor g = RowMajor::Constant(300, 81, S(99));
    CHECK(fl.value_and_gradient(xs, ys, g, S(7)) == expected);
    CHECK((g == ge).all());
  };
  same(x * S(0.5), y, "x an expression");
  same(x * S(0.5), y * S(1), "x and y expressions");
  same(x * S(0.5), y_col * S(1), "y an expression in the other order");
  same(x.unaryExpr([](S v) { return v * S(0.5); }), y, "x without packet access");
  ColMajor gc(300, 81);
  const S expected_col = fl.value_and_gradient((x_col * S(0.5)).eval(), y_col, gc, S(7));
  ColMajor g_col = ColMajor::Constant(300, 81, S(99));
  CHECK(fl.value_and_gradient(x_col * S(0.5), y_col, g_col, S(7)) == expected_col);
  CHECK((g_col == gc).all());
  const Eigen::Index n = 1001;
  const Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>> xv(x.data(), n), yv(y.data(), n);
  Eigen::Array<S, Eigen::Dynamic, 1> gv(n), gv_expr(n);
  const S expected_v = fl.value_and_gradient((xv * S(0.5)).eval(), yv, gv, S(3));
  CHECK(fl.value_and_gradient(xv * S(0.5), yv * S(1), gv_expr, S(3)) == expected_v);
  CHECK((gv_expr == gv).all());
}

TEST_CASE("Matrix arguments and mixed Matrix and Array arguments work", "[arrays]") {
  const focal::BalancedCrossEntropy<float> ce(0.6f);
  const Eigen::MatrixXf x = random_logits<float>(9, 4, 7).matrix();
  const Eigen::ArrayXXf y = random_targets<float>(9, 4, 8);
  Eigen::MatrixXf g(9, 4);
  check_fused(ce, x, y, g, 1.0f);
  const Eigen::ArrayXXf v = ce.value(x, y);  // an array expression even from a Matrix
  for (Eigen::Index j = 0; j < 4; ++j)
    for (Eigen::Index i = 0; i < 9; ++i) CHECK(v(i, j) == ce(x(i, j), y(i, j)));
}

TEMPLATE_TEST_CASE("value and gradient expressions equal the scalar calls", "[arrays]", float,
                   double) {
  using S = TestType;
  using A = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  const focal::BalancedFocalLoss<S> fl(S(0.25), S(0.5));
  const A x = random_logits<S>(16, 3, 9);
  const A y = random_targets<S>(16, 3, 10);
  const A v = fl.value(x, y);
  const A d = fl.gradient(x, y) / S(4);
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      CHECK(v(i, j) == fl(x(i, j), y(i, j)));
      CHECK(d(i, j) == fl.derivative(x(i, j), y(i, j)) / S(4));
    }
  }
  // Reductions straight off the expression.
  const long double expected = scalar_sum(fl, x, y);
  CHECK(std::fabs(fl.value(x, y).sum() - expected) <= 1e-5L * expected);
  // An expression as input: the lazy result holds the expression by value, so it stays valid
  // after the full-expression that built it.
  const auto scaled = fl.value(x * S(2), y);
  const A evaluated = scaled;
  for (Eigen::Index j = 0; j < x.cols(); ++j)
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      CHECK(evaluated(i, j) == fl(S(2) * x(i, j), y(i, j)));
  // The fused call on an expression input.
  A g(16, 3);
  check_fused(fl, (x * S(2)).eval(), y, g, S(1));
  A g2(16, 3);
  fl.value_and_gradient(x * S(2), y, g2);
  CHECK((g2 == g).all());
  // Loss functors are Eigen binary functors themselves.
  const A direct = x.binaryExpr(y, fl);
  CHECK((direct == v).all());
}

TEST_CASE("the gradient may overwrite the logits in place", "[arrays]") {
  const focal::BalancedFocalLoss<float> fl;
  Eigen::ArrayXXf x = random_logits<float>(11, 4, 11);
  const Eigen::ArrayXXf y = random_targets<float>(11, 4, 12);
  const Eigen::ArrayXXf x0 = x;
  Eigen::ArrayXXf g(11, 4);
  const float expected = fl.value_and_gradient(x0, y, g, 3.0f);
  const float total = fl.value_and_gradient(x, y, x, 3.0f);
  CHECK(total == expected);
  CHECK((x == g).all());
}

TEST_CASE("empty arrays give a zero loss", "[arrays]") {
  const focal::FocalLoss<float> fl;
  Eigen::ArrayXf x(0), y(0), g(0);
  CHECK(fl.value_and_gradient(x, y, g) == 0.0f);
  CHECK(fl.value(x, y).sum() == 0.0f);
  Eigen::ArrayXXf x2(0, 80), y2(0, 80), g2(0, 80);
  CHECK(fl.value_and_gradient(x2, y2, g2, 1.0f) == 0.0f);
}

TEST_CASE("probability inputs through the array API", "[arrays]") {
  const focal::BalancedFocalLoss<double, focal::Probabilities> fp(0.25, 2.0);
  Eigen::ArrayXd p(7), y(7), g(7);
  p << 0.0, 1e-300, 0.25, 0.5, 0.75, 1 - 1e-16, 1.0;
  y << 0, 1, 1, 0, 1, 0, 1;
  check_fused(fp, p, y, g, 1.0);
  CHECK(g.isFinite().all());
}

TEST_CASE("temporary views of the caller's arrays are accepted as grad", "[arrays]") {
  // grad by forwarding reference: rvalue Blocks, Maps, Refs and Matrix::array() write into the
  // caller's storage (a const or temporary Array or Matrix does not compile: tests/misuse.cpp).
  const focal::BalancedFocalLoss<float> fl;
  const Eigen::ArrayXXf x = random_logits<float>(30, 5, 41);
  const Eigen::ArrayXXf y = random_targets<float>(30, 5, 42);
  Eigen::ArrayXXf expected(30, 5);
  const float total = fl.value_and_gradient(x, y, expected);
  Eigen::ArrayXXf g = Eigen::ArrayXXf::Constant(40, 5, 99.0f);
  CHECK(fl.value_and_gradient(x, y, g.middleRows(5, 30)) == total);
  CHECK((g.middleRows(5, 30) == expected).all());
  CHECK((g.topRows(5) == 99.0f).all());
  std::vector<float> buffer(150, 99.0f);
  CHECK(fl.value_and_gradient(x, y, Eigen::Map<Eigen::ArrayXXf>(buffer.data(), 30, 5)) == total);
  CHECK((Eigen::Map<Eigen::ArrayXXf>(buffer.data(), 30, 5) == expected).all());
  Eigen::ArrayXXf h(30, 5);
  CHECK(fl.value_and_gradient(x, y, Eigen::Ref<Eigen::ArrayXXf>(h)) == total);
  CHECK((h == expected).all());
  Eigen::MatrixXf m(30, 5);
  CHECK(fl.value_and_gradient(x, y, m.array()) == total);
  CHECK((m.array() == expected).all());
  const auto view = g.middleRows(5, 30);  // a const view: its elements are still the caller's
  g.setConstant(99.0f);
  CHECK(fl.value_and_gradient(x, y, view) == total);
  CHECK((g.middleRows(5, 30) == expected).all());
  const Eigen::ArrayXi labels = Eigen::ArrayXi::Zero(30);
  const focal::SoftmaxFocalLoss<float> softmax;
  Eigen::ArrayXXf gs(30, 5);
  const float softmax_total = softmax.value_and_gradient(x, focal::labels(labels), gs);
  g.setConstant(99.0f);
  CHECK(softmax.value_and_gradient(x, focal::labels(labels), g.middleRows(5, 30)) ==
        softmax_total);
  CHECK((g.middleRows(5, 30) == gs).all());
}
