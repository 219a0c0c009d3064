// Class-index labels against the dense one-hot path users build today, on the RetinaNet shape
// of examples/retinanet_head.cpp: 2 images × 20,000 anchors × 80 classes, float, row-major,
// ~1% foreground and ~9% ignored anchors; and the same 3.2M logits as N × K for other numbers
// of classes K (the benchmark's argument).
//
//   cmake --preset bench && cmake --build --preset bench --target bench_labels
//   ./build/bench/benchmarks/bench_labels
//
// labels:            value_and_gradient(logits, focal::labels(v), G, n)
// dense_onehot:      value_and_gradient(logits, Y, G, n) with a prebuilt one-hot Y (4·N·K bytes)
// dense_build_onehot the same, building Y from the labels each step (what users write)
// labels_block:      labels, with the logits and G the Blocks of row-major arrays with one more
//                    column in front (a background column): gathered piece by piece
// labels_colmajor:   labels, with the logits and G column-major (Eigen's default layout): run
//                    a column at a time
// softmax:           SoftmaxFocalLoss (γ = 2, α = 0.25) on the same logits, background anchors
//                    labelled class 0: the packet row kernel (row-major rows)
// softmax_colmajor:  the same, logits and G column-major: gathered a few rows at a time into
//                    a row-major stack buffer for the packet row kernel
// softmax_double:    softmax on the same logits in double (row-major): the row's scalars in
//                    double-word arithmetic
// softmax_scalar:    the scalar row kernel that every layout ran before the packet one (detail
//                    API: measurement only), on the row-major logits
// softmax_naive:     the softmax focal loss and its gradient as users write them by hand:
//                    float, libm, one exp per logit (the README's gradient formula)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>

#include <focal/focal.hpp>

namespace {

using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Batch {
  Eigen::Index n, k;
  RowMajor x{n, k}, g{n, k}, onehot{n, k};
  Eigen::ArrayXi labels{n};
  float num_fg = 1;

  explicit Batch(Eigen::Index classes) : n(3200000 / classes), k(classes) {
    std::mt19937 gen(42);
    std::normal_distribution<float> noise(0.0f, 1.5f);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::uniform_int_distribution<int> cls(0, int(k) - 1);
    const float bias = focal::prior_bias<float>();
    for (Eigen::Index i = 0; i < n; ++i) {
      const float r = u(gen);
      labels[i] = r < 0.01f ? cls(gen) : r < 0.10f ? focal::ignore : focal::background;
      for (Eigen::Index j = 0; j < k; ++j) x(i, j) = bias + noise(gen);
    }
    build_onehot();
    num_fg = focal::foreground_normalizer<float>(labels);
  }

  void build_onehot() {
    onehot.setZero();
    for (Eigen::Index i = 0; i < n; ++i)
      if (labels[i] >= 0) onehot(i, labels[i]) = 1.0f;
  }
};

Batch& batch(Eigen::Index classes) {
  static std::map<Eigen::Index, std::unique_ptr<Batch>> batches;
  auto& b = batches[classes];
  if (!b) b = std::make_unique<Batch>(classes);
  return *b;
}

// The batch's logits as the right-hand Block of an array with one more column, and a G alike.
struct WideBatch {
  RowMajor x, g;
  explicit WideBatch(const Batch& b) : x(b.n, b.k + 1), g(RowMajor::Zero(b.n, b.k + 1)) {
    x.col(0).setZero();
    x.rightCols(b.k) = b.x;
  }
};

WideBatch& wide_batch(Eigen::Index classes) {
  static std::map<Eigen::Index, std::unique_ptr<WideBatch>> batches;
  auto& w = batches[classes];
  if (!w) w = std::make_unique<WideBatch>(batch(classes));
  return *w;
}

void labels(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  const focal::BalancedFocalLoss<float> loss;
  for (auto _ : state) {
    benchmark::DoNotOptimize(loss.value_and_gradient(b.x, focal::labels(b.labels), b.g, b.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

void dense_onehot(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  const focal::BalancedFocalLoss<float> loss;
  for (auto _ : state) {
    benchmark::DoNotOptimize(loss.value_and_gradient(b.x, b.onehot, b.g, b.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

void dense_build_onehot(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  const focal::BalancedFocalLoss<float> loss;
  for (auto _ : state) {
    b.build_onehot();
    benchmark::DoNotOptimize(loss.value_and_gradient(b.x, b.onehot, b.g, b.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

void labels_block(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  WideBatch& w = wide_batch(state.range(0));
  const focal::BalancedFocalLoss<float> loss;
  auto g = w.g.rightCols(b.k);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        loss.value_and_gradient(w.x.rightCols(b.k), focal::labels(b.labels), g, b.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

// The batch's logits and a G in column-major arrays.
struct ColumnBatch {
  Eigen::ArrayXXf x, g;
  explicit ColumnBatch(const Batch& b) : x(b.x), g(Eigen::ArrayXXf::Zero(b.n, b.k)) {}
};

void labels_colmajor(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  static std::map<Eigen::Index, std::unique_ptr<ColumnBatch>> batches;
  auto& c = batches[state.range(0)];
  if (!c) c = std::make_unique<ColumnBatch>(b);
  const focal::BalancedFocalLoss<float> loss;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        loss.value_and_gradient(c->x, focal::labels(b.labels), c->g, b.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

// Labels for the softmax: the background is class 0 of the K; ignored anchors stay ignored.
const Eigen::ArrayXi& softmax_labels(const Batch& b) {
  static std::map<Eigen::Index, Eigen::ArrayXi> cache;
  Eigen::ArrayXi& l = cache[b.k];
  if (l.size() != b.n) l = (b.labels == focal::background).select(0, b.labels);
  return l;
}

void softmax(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  const Eigen::ArrayXi& l = softmax_labels(b);
  const focal::SoftmaxFocalLoss<float> loss(0.25f, 2.0f);
  for (auto _ : state) {
    benchmark::DoNotOptimize(loss.value_and_gradient(b.x, focal::labels(l), b.g, b.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

void softmax_colmajor(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  const Eigen::ArrayXi& l = softmax_labels(b);
  static std::map<Eigen::Index, std::unique_ptr<ColumnBatch>> batches;
  auto& c = batches[state.range(0)];
  if (!c) c = std::make_unique<ColumnBatch>(b);
  const focal::SoftmaxFocalLoss<float> loss(0.25f, 2.0f);
  for (auto _ : state) {
    benchmark::DoNotOptimize(loss.value_and_gradient(c->x, focal::labels(l), c->g, b.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

// The same logits in double: rows whose scalars are kept in double-word arithmetic.
void softmax_double(benchmark::State& state) {
  Batch& b = batch(state.range(0));
  const Eigen::ArrayXi& l = softmax_labels(b);
  using RowMajorDouble = Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  static std::map<Eigen::Index, std::unique_ptr<RowMajorDouble>> logits;
  auto& x = logits[state.range(0)];
  if (!x) x = std::make_unique<RowMajorDouble>(b.x.template cast<double>());
  RowMajorDouble g(b.n, b.k);
  const focal::SoftmaxFocalLoss<double> loss(0.25, 2.0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(loss.value_and_gradient(*x, focal::labels(l), g, double(b.num_fg)));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

// The loop of the per-row baselines: row(x, g, t, k) returns row t's loss and writes its
// gradient; ignored rows get a zero gradient.
template <class Row>
void softmax_rows(benchmark::State& state, Row&& row) {
  Batch& b = batch(state.range(0));
  const Eigen::ArrayXi& l = softmax_labels(b);
  for (auto _ : state) {
    focal::detail::CompensatedSum total;
    for (Eigen::Index i = 0; i < b.n; ++i) {
      float* g = b.g.data() + i * b.k;
      if (l[i] == focal::ignore) {
        std::fill(g, g + b.k, 0.0f);
        continue;
      }
      total.add(row(b.x.data() + i * b.k, g, l[i], b.k, b.num_fg));
    }
    benchmark::DoNotOptimize(total.total());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * b.n * b.k);
}

void softmax_scalar(benchmark::State& state) {
  const focal::SoftmaxFocalLoss<float> loss(0.25f, 2.0f);
  softmax_rows(state, [&](const float* x, float* g, int t, Eigen::Index k, float n) {
    return focal::detail::softmax_focal_row<true>(
        [&](Eigen::Index j) { return x[j]; }, k, t, loss.alpha_of(t), loss.gamma(), 2, 1.0f, n,
        [&](Eigen::Index j) -> float& { return g[j]; });
  });
}

void softmax_naive(benchmark::State& state) {
  const float alpha = 0.25f, gamma = 2.0f;
  softmax_rows(state, [&](const float* x, float* g, int t, Eigen::Index k, float n) {
    const float m = *std::max_element(x, x + k);
    float sum = 0;
    for (Eigen::Index j = 0; j < k; ++j) sum += g[j] = std::exp(x[j] - m);
    const float log_pt = x[t] - m - std::log(sum), pt = std::exp(log_pt), q = 1 - pt;
    const float qg = std::pow(q, gamma);
    const float w = -alpha * qg * (1 + gamma * pt * (q > 0 ? -log_pt / q : 1.0f));
    for (Eigen::Index j = 0; j < k; ++j) g[j] = -w * (g[j] / sum) / n;
    g[t] = w * q / n;
    return double(-alpha * qg * log_pt);
  });
}

}  // namespace

BENCHMARK(labels)->Arg(80)->Arg(1)->Arg(4)->Arg(20)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(dense_onehot)->Arg(80)->Arg(1)->Arg(4)->Arg(20)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(dense_build_onehot)->Arg(80)->Unit(benchmark::kMillisecond);
BENCHMARK(labels_block)->Arg(80)->Unit(benchmark::kMillisecond);
BENCHMARK(labels_colmajor)->Arg(80)->Arg(4)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(softmax)->Arg(81)->Arg(21)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(softmax_colmajor)->Arg(81)->Arg(21)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(softmax_double)->Arg(81)->Arg(21)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(softmax_scalar)->Arg(81)->Arg(21)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(softmax_naive)->Arg(81)->Arg(21)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
