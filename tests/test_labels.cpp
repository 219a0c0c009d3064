// Class-index labels for the sigmoid losses: the same numbers as the dense path with one-hot
// targets, with background rows negative for every class, ignored rows contributing nothing,
// anchor weights, and the detector helpers (foreground count, normalizer, prior bias).

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::WithinULP;

namespace {

template <class S, int Order = Eigen::ColMajor>
using Logits = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Order>;

// Labels like a RetinaNet matcher's: mostly background, some ignored, a few foreground.
Eigen::ArrayXi random_labels(Eigen::Index n, int classes, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int> cls(0, classes - 1);
  Eigen::ArrayXi v(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double r = u(gen);
    v[i] = r < 0.1 ? cls(gen) : r < 0.25 ? focal::ignore : focal::background;
  }
  v[0] = classes - 1;  // the edges of the legal set, always present
  v[1] = focal::background;
  v[2] = focal::ignore;
  v[3] = 0;
  return v;
}

template <class S, int Order = Eigen::ColMajor>
Logits<S, Order> random_logits(Eigen::Index n, Eigen::Index k, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(-4.0, 3.0);  // around the prior bias
  Logits<S, Order> x(n, k);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < k; ++j) x(i, j) = S(normal(gen));
  if (n > 6 && k > 1) {
    x(5, 1) = S(40);
    x(6, 0) = S(-40);
  }
  return x;
}

// One-hot targets of the labels; ignored rows get 0 (their gradient is compared separately).
template <class S>
Logits<S> one_hot(const Eigen::ArrayXi& labels, Eigen::Index k) {
  Logits<S> y = Logits<S>::Zero(labels.size(), k);
  for (Eigen::Index i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0) y(i, labels[i]) = S(1);
  return y;
}

// labels path == dense path on non-ignored rows (bit for bit: the same kernel, the same
// division); ignored rows are zero; the total is the dense total without the ignored rows.
template <class Loss, class X>
void check_against_dense(const Loss& loss, const X& x, const Eigen::ArrayXi& labels,
                         typename Loss::scalar_type normalizer) {
  using S = typename Loss::scalar_type;
  const Eigen::Index n = x.rows(), k = x.cols();
  Logits<S> g_labels = Logits<S>::Constant(n, k, S(42));
  Logits<S> g_dense(n, k);
  const Logits<S> y = one_hot<S>(labels, k);
  const S total = loss.value_and_gradient(x, focal::labels(labels), g_labels, normalizer);
  loss.value_and_gradient(x, y, g_dense, normalizer);
  long double expected = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < k; ++j) {
      INFO("row " << i << " label " << labels[i] << " column " << j);
      if (labels[i] == focal::ignore) {
        REQUIRE(g_labels(i, j) == S(0));
      } else {
        REQUIRE(g_labels(i, j) == g_dense(i, j));
        expected += loss(x(i, j), y(i, j));
        if (labels[i] == focal::background) {  // negative for every class
          REQUIRE(g_labels(i, j) == loss.derivative(x(i, j), S(0)) / normalizer);
        }
      }
    }
  }
  expected /= normalizer;
  if (std::isinf(expected)) {  // e.g. a probability of exactly 0 for a positive
    CHECK(total == std::numeric_limits<S>::infinity());
  } else {
    CHECK(std::fabs(static_cast<long double>(total) - expected) <=
          4 * std::numeric_limits<S>::epsilon() * std::fabs(expected));
  }
  // The lazy expressions agree element by element.
  const Logits<S> v = loss.value(x, focal::labels(labels));
  const Logits<S> d = loss.gradient(x, focal::labels(labels));
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < k; ++j) {
      const bool ignored = labels[i] == focal::ignore;
      REQUIRE(v(i, j) == (ignored ? S(0) : loss(x(i, j), y(i, j))));
      REQUIRE(d(i, j) == (ignored ? S(0) : loss.derivative(x(i, j), y(i, j))));
    }
  }
}

}  // namespace

TEMPLATE_TEST_CASE("labels give the dense one-hot results for every sigmoid loss", "[labels]",
                   float, double) {
  using S = TestType;
  const Eigen::Index n = 60, k = 7;
  const Eigen::ArrayXi labels = random_labels(n, int(k), 1);
  const Logits<S> x_col = random_logits<S>(n, k, 2);
  const Logits<S, Eigen::RowMajor> x_row = x_col;
  for (const support::Spec& s : support::all_specs()) {
    INFO(s.name());
    support::with_loss<S, focal::Logits>(s, [&](const auto& loss) {
      check_against_dense(loss, x_col, labels, S(1));
      check_against_dense(loss, x_row, labels, S(3));
    });
  }
}

TEMPLATE_TEST_CASE("labels match the dense path for any number of classes and run of rows",
                   "[labels]", float, double) {
  // The row-major labels path runs the kernel in pieces of 1024 elements, per chunk of rows
  // either over the runs of rows between ignored ones (long runs: shorter and longer than a
  // piece, pieces that end inside a row, rows longer than a piece with the class on either
  // side of the cut) or across ignored rows with a mask (short runs: few classes, or every
  // other row ignored). Column-major logits run in pieces within a column. Ignored rows hold
  // NaN and infinite logits, which must not show.
  using S = TestType;
  const focal::BalancedFocalLoss<S> fl;
  struct Shape {
    Eigen::Index n, k;
  };
  for (const Shape shape : {Shape{3000, 1}, Shape{900, 3}, Shape{2500, 5}, Shape{1000, 20},
                            Shape{600, 40}, Shape{300, 64}, Shape{250, 80}, Shape{6, 1500},
                            Shape{4, 2100}}) {
    const Eigen::Index n = shape.n, k = shape.k;
    INFO(n << " x " << k);
    Eigen::ArrayXi labels = random_labels(n, int(k), 21);
    for (Eigen::Index i = n / 4; i < n / 2; ++i) {  // a long run: no ignored row
      if (labels[i] == focal::ignore) labels[i] = focal::background;
    }
    for (Eigen::Index i = n / 2; i < n && i < n / 2 + 40; i += 2) {  // runs of one row
      labels[i] = focal::ignore;
    }
    if (k == 40) {  // whole chunks of one-row runs, with enough classes to skip ignored rows
      for (Eigen::Index i = 0; i < n / 2; ++i) labels[i] = i % 2 ? focal::background : focal::ignore;
      labels[1] = 39;
      labels[3] = 0;
    }
    if (k >= 32 && k <= 1024) {  // 1s on the last element of a piece and of a run
      labels[n / 4 - 1] = focal::ignore;  // the long run starts at row n / 4
      labels[n / 4 + 1023 / k] = int(1023 % k);
      labels[n / 2 - 1] = int(k) - 1;  // row n / 2 is ignored (below)
    }
    if (k > 1024) {  // classes on both sides of the first piece boundary inside a row
      labels[0] = int(k) - 1;
      labels[1] = 1023;
      labels[3] = 1024;
    }
    Logits<S, Eigen::RowMajor> x = random_logits<S, Eigen::RowMajor>(n, k, 22);
    for (Eigen::Index i = 0; i < n; ++i) {
      if (labels[i] == focal::ignore) {
        x(i, 0) = std::numeric_limits<S>::quiet_NaN();
        x(i, k - 1) = -std::numeric_limits<S>::infinity();
      }
    }
    check_against_dense(fl, x, labels, S(7));
    // The same on a Block of a larger array (`inner` of `big`, the rest of big 5 and of its G
    // −3): the flat array's total and G bits, G's elements outside the Block untouched.
    const auto same_on_block = [&](const auto& flat, auto big, auto inner) {
      using A = decltype(big);
      inner(big) = flat;
      A g_big = A::Constant(big.rows(), big.cols(), S(-3));
      A g_flat(n, k);
      auto g_block = inner(g_big);
      CHECK(fl.value_and_gradient(inner(big), focal::labels(labels), g_block, S(7)) ==
            fl.value_and_gradient(flat, focal::labels(labels), g_flat, S(7)));
      CHECK((inner(g_big) == g_flat).all());
      inner(g_big).setConstant(S(-3));
      CHECK((g_big == S(-3)).all());
    };
    // Rows of a wider array (a column on either side): gathered piece by piece.
    using Wide = Logits<S, Eigen::RowMajor>;
    same_on_block(x, Wide(Wide::Constant(n, k + 2, S(5))),
                  [&](auto& a) { return a.middleCols(1, k); });
    // Column-major logits: a column at a time, in pieces within a column (2,500 rows: several
    // pieces, across chunks; columns that end inside a chunk), in place; the same on a Block
    // of a taller array (a row above and below).
    const Logits<S> x_col = x;
    check_against_dense(fl, x_col, labels, S(7));
    same_on_block(x_col, Logits<S>(Logits<S>::Constant(n + 2, k, S(5))),
                  [&](auto& a) { return a.middleRows(1, n); });
    // Anchor weights, one per row, per element inside a piece.
    Eigen::Array<S, Eigen::Dynamic, 1> w =
        Eigen::Array<S, Eigen::Dynamic, 1>::LinSpaced(n, S(0.5), S(3));
    {  // Expressions of the logits (read a packet at a time where Eigen can, in pieces), in
       // either layout, with and without weights: the arrays' bits.
      Logits<S, Eigen::RowMajor> g_expr(n, k), g_plain(n, k);
      CHECK(fl.value_and_gradient(x * S(1), focal::labels(labels), g_expr, S(7)) ==
            fl.value_and_gradient(x, focal::labels(labels), g_plain, S(7)));
      CHECK((g_expr == g_plain).all());
      CHECK(fl.value_and_gradient(x * S(1), focal::labels(labels, w), g_expr, S(7)) ==
            fl.value_and_gradient(x, focal::labels(labels, w), g_plain, S(7)));
      CHECK((g_expr == g_plain).all());
      Logits<S> g_expr_col(n, k), g_plain_col(n, k);
      CHECK(fl.value_and_gradient(x_col * S(1), focal::labels(labels), g_expr_col, S(7)) ==
            fl.value_and_gradient(x_col, focal::labels(labels), g_plain_col, S(7)));
      CHECK((g_expr_col == g_plain_col).all());
      // Without packet access (and in the scalar build, where nothing has it): element by
      // element, in the same pieces.
      const auto same = [](S v) { return v; };
      CHECK(fl.value_and_gradient(x.unaryExpr(same), focal::labels(labels, w), g_expr, S(7)) ==
            fl.value_and_gradient(x, focal::labels(labels, w), g_plain, S(7)));
      CHECK((g_expr == g_plain).all());
      CHECK(fl.value_and_gradient(x_col.unaryExpr(same), focal::labels(labels), g_expr_col,
                                  S(7)) ==
            fl.value_and_gradient(x_col, focal::labels(labels), g_plain_col, S(7)));
      CHECK((g_expr_col == g_plain_col).all());
    }
    Logits<S, Eigen::RowMajor> gw(n, k), g(n, k);
    const S total_w = fl.value_and_gradient(x, focal::labels(labels, w), gw, S(7));
    Logits<S> gw_col(n, k);
    const S total_w_col = fl.value_and_gradient(x_col, focal::labels(labels, w), gw_col, S(7));
    CHECK((gw_col == gw).all());
    CHECK(std::fabs(total_w_col - total_w) <= 4 * std::numeric_limits<S>::epsilon() * total_w);
    fl.value_and_gradient(x, focal::labels(labels), g, S(1));
    long double expected = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < k; ++j) {
        INFO("row " << i << " column " << j);
        REQUIRE(gw(i, j) == S(w[i] * g(i, j)) / S(7));
        if (labels[i] != focal::ignore) {
          expected += static_cast<long double>(w[i]) * fl(x(i, j), labels[i] == j ? S(1) : S(0));
        }
      }
    }
    CHECK(std::fabs(static_cast<long double>(total_w) - expected / 7) <=
          4 * std::numeric_limits<S>::epsilon() * expected / 7);
  }
}

TEST_CASE("the labels path reads a piece in place only where it lies in one run", "[labels]") {
  // Runs of 10 elements 12 apart (a Block's rows), and runs that make one contiguous array.
  std::vector<float> buffer(120);
  const float* p = buffer.data();
  const focal::detail::RunsReader<float> block{{p, 10, 12}};
  CHECK(block.at(0, 10) == p);
  CHECK(block.at(5, 5) == p + 5);
  CHECK(block.at(5, 6) == nullptr);  // crosses into the next run
  CHECK(block.at(9, 2) == nullptr);
  CHECK(block.at(10, 10) == p + 12);
  CHECK(block.at(23, 7) == p + 27);
  CHECK(block.at(23, 8) == nullptr);
  const focal::detail::RunsReader<float> flat{{p, 10, 10}};
  CHECK(flat.at(5, 30) == p + 5);
  for (int k = 0; k < 12; ++k) buffer[std::size_t(k)] = float(k);
  buffer[12] = 100;
  buffer[13] = 101;
  float out[4];
  block.read(8, 4, out);  // the rest of run 0, then the start of run 1
  CHECK((out[0] == 8 && out[1] == 9 && out[2] == 100 && out[3] == 101));
}

TEST_CASE("labels work on row-major Maps over raw buffers with int64 labels", "[labels]") {
  const Eigen::Index n = 33, k = 5;
  using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajor x = random_logits<float, Eigen::RowMajor>(n, k, 3);
  std::vector<float> xbuf(x.data(), x.data() + x.size()), gbuf(xbuf.size(), 7.0f);
  const Eigen::ArrayXi lab32 = random_labels(n, int(k), 4);
  std::vector<std::int64_t> lab64(lab32.data(), lab32.data() + n);  // PyTorch's label dtype
  const focal::BalancedFocalLoss<float> fl;
  const float num_fg = focal::foreground_normalizer<float>(lab32);
  const float total = fl.value_and_gradient(
      Eigen::Map<const RowMajor>(xbuf.data(), n, k),
      focal::labels(Eigen::Map<const Eigen::Array<std::int64_t, Eigen::Dynamic, 1>>(lab64.data(), n)),
      Eigen::Map<RowMajor>(gbuf.data(), n, k), num_fg);
  Logits<float> g(n, k);
  CHECK(total == fl.value_and_gradient(x, focal::labels(lab32), g, num_fg));
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < k; ++j) REQUIRE(gbuf[std::size_t(i * k + j)] == g(i, j));
}

TEST_CASE("labels give the same bits whatever their integer type and layout", "[labels]") {
  // With few classes the pieces list their rows that are not background: 16 or 8 at a time
  // from contiguous 32- or 64-bit labels on AVX-512 (with a masked tail), one at a time from
  // other types and strided views. Every route must give the int32 array's bits.
  using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const focal::BalancedFocalLoss<float> fl;
  for (const Eigen::Index k : {2, 3, 6}) {
    const Eigen::Index n = 1237;  // rows per piece not a multiple of 8 or 16
    INFO(k << " classes");
    const Eigen::ArrayXi lab32 = random_labels(n, int(k), 30 + int(k));
    const RowMajor x = random_logits<float, Eigen::RowMajor>(n, k, 31);
    const float num_fg = focal::foreground_normalizer<float>(lab32);
    RowMajor g_ref(n, k);
    const float total = fl.value_and_gradient(x, focal::labels(lab32), g_ref, num_fg);
    const auto same = [&](const auto& labels, const char* what) {
      INFO(what);
      RowMajor g = RowMajor::Constant(n, k, 7.0f);
      CHECK(fl.value_and_gradient(x, labels, g, num_fg) == total);
      CHECK((g == g_ref).all());
    };
    const Eigen::Array<std::int64_t, Eigen::Dynamic, 1> lab64 = lab32.cast<std::int64_t>();
    const Eigen::Array<std::int16_t, Eigen::Dynamic, 1> lab16 = lab32.cast<std::int16_t>();
    Eigen::ArrayXi spread(2 * n);
    for (Eigen::Index i = 0; i < n; ++i) spread[2 * i] = lab32[i], spread[2 * i + 1] = 9999;
    const Eigen::Map<const Eigen::ArrayXi, 0, Eigen::InnerStride<2>> strided(spread.data(), n);
    same(focal::labels(lab64), "int64");
    same(focal::labels(lab16), "int16");
    same(focal::labels(strided), "every other int of a buffer");
    same(focal::labels(lab32.segment(0, n)), "a segment");
  }
}

TEST_CASE("labels on probabilities match the dense path", "[labels]") {
  const Eigen::Index n = 40, k = 4;
  const Eigen::ArrayXi labels = random_labels(n, int(k), 5);
  const Logits<double> x = random_logits<double>(n, k, 6);
  const Logits<double> p = 1 / (1 + (-x).exp());
  check_against_dense(focal::BalancedFocalLoss<double, focal::Probabilities>(0.25, 2.0), p,
                      labels, 2.0);
}

TEMPLATE_TEST_CASE("anchor weights scale each row's loss and gradient", "[labels]", float,
                   double) {
  using S = TestType;
  const Eigen::Index n = 30, k = 6;
  const Eigen::ArrayXi labels = random_labels(n, int(k), 7);
  const Logits<S> x = random_logits<S>(n, k, 8);
  Eigen::Array<S, Eigen::Dynamic, 1> w = Eigen::Array<S, Eigen::Dynamic, 1>::LinSpaced(n, S(0), S(2));
  w[4] = S(0);  // a zero weight switches a row off, even where its loss is large
  const focal::BalancedFocalLoss<S> fl(S(0.25), S(0.5));
  Logits<S> gw(n, k), g(n, k);
  const S total_w = fl.value_and_gradient(x, focal::labels(labels, w), gw, S(5));
  fl.value_and_gradient(x, focal::labels(labels), g, S(5));
  long double expected = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < k; ++j) {
      INFO("row " << i << " column " << j);
      if (labels[i] == focal::ignore) {
        REQUIRE(gw(i, j) == S(0));
        continue;
      }
      const S y = labels[i] == j ? S(1) : S(0);
      expected += static_cast<long double>(w[i]) * fl(x(i, j), y);
      REQUIRE_THAT(gw(i, j), WithinULP(w[i] * fl.derivative(x(i, j), y) / S(5), 1));
    }
  }
  CHECK(gw.row(4).isZero(0));
  CHECK(std::fabs(total_w - expected / 5) <= 4 * std::numeric_limits<S>::epsilon() * expected / 5);
  const Logits<S> v = fl.value(x, focal::labels(labels, w));
  CHECK(std::fabs(v.sum() - expected) <= 1e-5L * expected);
}

TEST_CASE("FL* and CE accept labels too", "[labels]") {
  const Eigen::ArrayXi labels = random_labels(25, 3, 9);
  const Logits<double> x = random_logits<double>(25, 3, 10);
  check_against_dense(focal::FocalLossStar<double>(2.0, 1.0), x, labels, 1.0);
  check_against_dense(focal::CrossEntropy<double>(), x, labels, 1.0);
}

TEST_CASE("bad labels and weights are rejected and grad is untouched", "[labels][errors]") {
  const Eigen::Index n = 8, k = 4;
  const Logits<float> x = random_logits<float>(n, k, 11);
  Logits<float> g = Logits<float>::Constant(n, k, 42.0f);
  const focal::BalancedFocalLoss<float> fl;
  const auto message = [&](auto&& call) -> std::string {
    try {
      call();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "<no std::invalid_argument>";
  };
  Eigen::ArrayXi labels = Eigen::ArrayXi::Constant(n, focal::background);
  for (const int bad : {4, -3, 1000}) {
    labels[n - 1] = bad;  // last: a one-pass check would already have written the rest
    INFO("label " << bad);
    CHECK_THAT(message([&] { fl.value_and_gradient(x, focal::labels(labels), g); }),
               Contains("labels[7] = " + std::to_string(bad)) && Contains("[0, 4)"));
    CHECK((g == 42.0f).all());
    CHECK_THROWS_AS(fl.value(x, focal::labels(labels)), std::invalid_argument);
    CHECK_THROWS_AS(fl.gradient(x, focal::labels(labels)), std::invalid_argument);
  }
  // The first sweep runs in the labels' own width (32-bit lanes for int and narrower): every
  // integer type's extremes, and labels just outside the legal range, are still caught.
  const auto rejects = [&](auto bad, const std::string& shown) {
    using T = decltype(bad);
    Eigen::Array<T, Eigen::Dynamic, 1> typed = Eigen::Array<T, Eigen::Dynamic, 1>::Zero(n);
    typed[5] = bad;
    INFO("label type of " << sizeof(T) << " bytes, " << shown);
    CHECK_THAT(message([&] { fl.value_and_gradient(x, focal::labels(typed), g); }),
               Contains("labels[5] = " + shown));
    CHECK((g == 42.0f).all());
  };
  rejects(std::numeric_limits<std::int8_t>::min(), "-128");
  rejects(std::int16_t(-3), "-3");
  rejects(std::int16_t(4), "4");
  rejects(std::numeric_limits<std::int32_t>::min(), "-2147483648");
  rejects(std::numeric_limits<std::int32_t>::max(), "2147483647");
  rejects(std::numeric_limits<std::int64_t>::min(), "-9223372036854775808");
  rejects(std::int64_t(1) << 40, "1099511627776");
  rejects(std::uint8_t(4), "4");
  rejects(std::numeric_limits<std::uint32_t>::max(), "4294967295");
  // 64-bit unsigned labels had wrapped to −1 and −2 (background and ignore) in long long.
  rejects(std::numeric_limits<std::uint64_t>::max(), "18446744073709551615");
  rejects(std::uint64_t(std::numeric_limits<std::uint64_t>::max() - 1), "18446744073709551614");
  rejects(std::uint64_t(std::numeric_limits<std::int64_t>::max()) + 1, "9223372036854775808");
  rejects(std::size_t(4), "4");
  labels[n - 1] = focal::ignore;
  const Eigen::ArrayXi short_labels = Eigen::ArrayXi::Zero(n - 1);
  CHECK_THAT(message([&] { fl.value_and_gradient(x, focal::labels(short_labels), g); }),
             Contains("labels") && Contains("7") && Contains("8 rows"));
  CHECK((g == 42.0f).all());
  Eigen::ArrayXf w = Eigen::ArrayXf::Ones(n);
  for (const float bad : {-1.0f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity()}) {
    w[6] = bad;
    INFO("weight " << bad);
    CHECK_THAT(message([&] { fl.value_and_gradient(x, focal::labels(labels, w), g); }),
               Contains("weights[6]"));
    CHECK((g == 42.0f).all());
  }
  const Eigen::ArrayXf short_w = Eigen::ArrayXf::Ones(n + 1);
  CHECK_THAT(message([&] { fl.value_and_gradient(x, focal::labels(labels, short_w), g); }),
             Contains("weights") && Contains("9"));
  CHECK((g == 42.0f).all());
  CHECK_THAT(message([&] { fl.value_and_gradient(x, focal::labels(labels), g, 0.0f); }),
             Contains("normalizer"));
  Logits<float> g_bad(n, k + 1);
  CHECK_THAT(message([&] { fl.value_and_gradient(x, focal::labels(labels), g_bad); }),
             Contains("grad"));
}

TEST_CASE("foreground count and RetinaNet normalizer", "[labels]") {
  Eigen::ArrayXi labels(7);
  labels << 3, focal::background, 0, focal::ignore, focal::ignore, 79, focal::background;
  CHECK(focal::num_foreground(labels) == 3);
  CHECK(focal::num_foreground(focal::labels(labels)) == 3);
  CHECK(focal::foreground_normalizer<float>(labels) == 3.0f);
  const Eigen::ArrayXi none = Eigen::ArrayXi::Constant(5, focal::background);
  CHECK(focal::foreground_normalizer<double>(none) == 1.0);  // max(1, 0)
}

TEMPLATE_TEST_CASE("the prior bias gives sigma(b) = pi", "[labels][paper]", float, double) {
  using S = TestType;
  // §4.1: π = 0.01 gives b = −log((1 − π)/π) = −log 99.
  CHECK_THAT(focal::prior_bias<S>(), WithinULP(-std::log(S(99)), 2));
  for (const double pi : {0.5, 0.01, 1e-6, 0.999}) {
    const S b = focal::prior_bias<S>(S(pi));
    const long double p = 1 / (1 + std::exp(-static_cast<long double>(b)));
    INFO("pi = " << pi << " b = " << b);
    CHECK(std::fabs(p - static_cast<long double>(S(pi))) <=
          8 * std::numeric_limits<S>::epsilon() * std::min(p, 1 - p) * (1 + std::fabs(b)));
  }
  CHECK(focal::prior_bias<S>(S(0.5)) == S(0));
  for (const S bad : {S(0), S(1), S(-0.1), std::numeric_limits<S>::quiet_NaN()}) {
    CHECK_THROWS_AS(focal::prior_bias<S>(bad), std::invalid_argument);
  }
}

TEST_CASE("unsigned labels give the same bits as int labels", "[labels]") {
  const Eigen::Index n = 300, k = 7;
  const Logits<float> x = random_logits<float>(n, k, 61);
  Eigen::ArrayXi labels = random_labels(n, int(k), 62).max(0);  // no background or ignore
  const Eigen::Array<std::uint64_t, Eigen::Dynamic, 1> wide = labels.cast<std::uint64_t>();
  const Eigen::Array<std::uint32_t, Eigen::Dynamic, 1> narrow = labels.cast<std::uint32_t>();
  const focal::BalancedFocalLoss<float> fl;
  Logits<float> g(n, k), g64(n, k), g32(n, k);
  const float total = fl.value_and_gradient(x, focal::labels(labels), g, 5.0f);
  CHECK(fl.value_and_gradient(x, focal::labels(wide), g64, 5.0f) == total);
  CHECK(fl.value_and_gradient(x, focal::labels(narrow), g32, 5.0f) == total);
  CHECK((g64 == g).all());
  CHECK((g32 == g).all());
}

TEMPLATE_TEST_CASE("per-image normalization equals torchvision's loop over images",
                   "[labels][images]", float, double) {
  // torchvision's RetinaNetClassificationHead.compute_loss: for each image, the sum of the
  // sigmoid focal loss over its non-ignored anchors divided by max(1, its foreground count);
  // then the mean over images. Here as a loop of per-image calls with that normalizer, the
  // gradient of the mean being each image's gradient divided by the number of images.
  using S = TestType;
  const Eigen::Index k = 9;
  Eigen::ArrayXi sizes(5);
  sizes << 700, 0, 1300, 1, 450;  // an empty image, and one of a single anchor
  const Eigen::Index n = sizes.sum();
  const Logits<S> x = random_logits<S>(n, k, 71);
  Eigen::ArrayXi labels = random_labels(n, int(k), 72);
  labels.segment(2000, 1).setConstant(focal::background);  // image 3: no foreground
  const Eigen::Array<S, Eigen::Dynamic, 1> w =
      Eigen::Array<S, Eigen::Dynamic, 1>::LinSpaced(n, S(0.5), S(1.5));
  const focal::BalancedFocalLoss<S> fl;
  const auto check = [&](const auto& lab, const auto& part_labels) {
    Logits<S> g(n, k), g_loop = Logits<S>::Constant(n, k, S(42));
    const S total = fl.value_and_gradient(x, lab, g, focal::per_image(sizes));
    long double expected = 0;
    for (Eigen::Index b = 0, first = 0; b < sizes.size(); first += sizes[b], ++b) {
      const auto image_labels = part_labels(first, sizes[b]);
      const Eigen::ArrayXi image_indices = labels.segment(first, sizes[b]);
      const S normalizer = focal::foreground_normalizer<S>(image_indices);
      Logits<S> gb(sizes[b], k);
      expected += fl.value_and_gradient(x.middleRows(first, sizes[b]), image_labels, gb,
                                        normalizer);
      g_loop.middleRows(first, sizes[b]) = gb / S(sizes.size());
    }
    expected /= sizes.size();
    CHECK(std::fabs(total - expected) <= 4 * std::numeric_limits<S>::epsilon() * expected);
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < k; ++j) {
        INFO("row " << i << " column " << j);
        REQUIRE_THAT(g(i, j), WithinULP(g_loop(i, j), 1));
      }
    for (const unsigned t : {2u, 3u}) {
      Logits<S> gt(n, k);
      CHECK(fl.value_and_gradient(x, lab, gt, focal::per_image(sizes), focal::threads(t)) == total);
      CHECK((gt == g).all());
    }
  };
  check(focal::labels(labels), [&](Eigen::Index first, Eigen::Index m) {
    return focal::labels(labels.segment(first, m));
  });
  check(focal::labels(labels, w), [&](Eigen::Index first, Eigen::Index m) {
    return focal::labels(labels.segment(first, m), w.segment(first, m));
  });
}

TEST_CASE("bad image sizes are rejected and grad is untouched", "[labels][images][errors]") {
  const Eigen::Index n = 10, k = 3;
  const Logits<float> x = random_logits<float>(n, k, 81);
  const Eigen::ArrayXi labels = Eigen::ArrayXi::Constant(n, focal::background);
  Logits<float> g = Logits<float>::Constant(n, k, 42.0f);
  const focal::BalancedFocalLoss<float> fl;
  const auto message = [&](const Eigen::ArrayXi& sizes) -> std::string {
    try {
      fl.value_and_gradient(x, focal::labels(labels), g, focal::per_image(sizes));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "<no std::invalid_argument>";
  };
  Eigen::ArrayXi sizes(3);
  sizes << 4, 4, 1;
  CHECK_THAT(message(sizes), Contains("images add up to 9 anchors") && Contains("10 rows"));
  sizes << 4, -1, 7;
  CHECK_THAT(message(sizes), Contains("images[1] = -1"));
  sizes << 4, 11, 0;
  CHECK_THAT(message(sizes), Contains("images[1] = 11"));
  CHECK_THAT(message(Eigen::ArrayXi(0)), Contains("at least one image"));
  CHECK((g == 42.0f).all());
  sizes << 4, 6, 0;
  CHECK(message(sizes) == "<no std::invalid_argument>");
}
