// The soft-target losses, DFL and DETR's matching cost against the formulas detectors use
// today, transcribed from mmdetection and Deformable DETR (peer_formula.hpp) in scalar loops
// with libm, float:
//
//   focal_01              BalancedFocalLoss on the same logits with 0/1 targets: the baseline
//                         of the soft kernels' cost in the same build
//   qfl / qfl_peer        QualityFocalLoss(β = 2) value_and_gradient, N logits, 1% soft
//                         positives (IoU targets), the rest 0; against mmdetection's formula
//   vfl / vfl_peer        VarifocalLoss(0.75, 2) on the same data
//   qfl_scored            the detector form: N/80 anchors × 80 classes, scored_labels
//   dfl / dfl_peer        DistributionFocalLoss over N/17 rows of 17 bins (reg_max = 16)
//   cost / cost_peer      matching_cost(BalancedFocalLoss) of 900 queries × 91 classes against
//                         100 targets, against Deformable DETR's cost_class
//
//   cmake --preset bench && cmake --build --preset bench --target bench_soft
//   ./build/bench/benchmarks/bench_soft --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>

#include <focal/focal.hpp>

#include "peer_formula.hpp"

namespace {

using Rows = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Data {
  Eigen::ArrayXf x, y, g;
  Eigen::ArrayXi labels;  // N/80 anchors
  Eigen::ArrayXf scores;
  float num_fg = 1;
};

Data& data(Eigen::Index n) {
  static std::map<Eigen::Index, std::unique_ptr<Data>> cache;
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<Data>();
    std::mt19937_64 gen(11);
    std::normal_distribution<double> noise(-4.6, 2.0);
    std::uniform_real_distribution<double> iou(0.3, 1.0);
    std::bernoulli_distribution positive(0.01);
    slot->x.resize(n);
    slot->y.resize(n);
    slot->g.resize(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      slot->y[i] = positive(gen) ? float(iou(gen)) : 0.0f;
      slot->x[i] = float(noise(gen) + (slot->y[i] > 0 ? 4.0 : 0.0));
    }
    const Eigen::Index anchors = n / 80;
    slot->labels.resize(anchors);
    slot->scores.resize(anchors);
    std::uniform_int_distribution<int> cls(0, 79);
    std::bernoulli_distribution fg(0.05);
    for (Eigen::Index i = 0; i < anchors; ++i) {
      slot->labels[i] = fg(gen) ? cls(gen) : focal::background;
      slot->scores[i] = float(iou(gen));
    }
    slot->num_fg = std::max(1.0f, float((slot->y > 0).count()));
  }
  return *slot;
}

template <class Loss>
void fused(benchmark::State& state, const Loss& loss) {
  Data& d = data(state.range(0));
  for (auto _ : state) {
    float total = loss.value_and_gradient(d.x, d.y, d.g, d.num_fg);
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class Peer>
void peer_loop(benchmark::State& state, Peer p) {
  Data& d = data(state.range(0));
  const Eigen::Index n = state.range(0);
  for (auto _ : state) {
    double total = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      float l, g;
      p(d.x[i], d.y[i], l, g);
      total += l;
      d.g[i] = g / d.num_fg;
    }
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void qfl(benchmark::State& state) { fused(state, focal::QualityFocalLoss<float>()); }
// The α-balanced focal loss on the same logits (its targets are the soft ones rounded to 0/1
// by the check: here y > 0 as 1): what the 0/1 kernel costs in the same build.
void focal_01(benchmark::State& state) {
  Data& d = data(state.range(0));
  static const Eigen::ArrayXf y01 = (d.y > 0).cast<float>();
  const focal::BalancedFocalLoss<float> loss;
  for (auto _ : state) {
    float total = loss.value_and_gradient(d.x, y01, d.g, d.num_fg);
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
void vfl(benchmark::State& state) { fused(state, focal::VarifocalLoss<float>()); }
void qfl_peer(benchmark::State& state) { peer_loop(state, peer::MmdetQualityFocal<float>{2.0f}); }
void vfl_peer(benchmark::State& state) { peer_loop(state, peer::MmdetVarifocal<float>{0.75f, 2.0f}); }

void qfl_scored(benchmark::State& state) {
  Data& d = data(state.range(0));
  const Eigen::Index anchors = state.range(0) / 80;
  const Eigen::Map<const Rows> x(d.x.data(), anchors, 80);
  Eigen::Map<Rows> g(d.g.data(), anchors, 80);
  const focal::QualityFocalLoss<float> loss;
  for (auto _ : state) {
    float total = loss.value_and_gradient(x, focal::scored_labels(d.labels, d.scores), g, d.num_fg);
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * anchors * 80);
}

constexpr int bins = 17;

void dfl(benchmark::State& state) {
  Data& d = data(state.range(0));
  const Eigen::Index rows = state.range(0) / bins;
  const Eigen::Map<const Rows> x(d.x.data(), rows, bins);
  Eigen::Map<Rows> g(d.g.data(), rows, bins);
  const Eigen::ArrayXf t = (d.y.head(rows) * 1000).unaryExpr([](float v) { return std::fmod(v, 15.99f); });
  const focal::DistributionFocalLoss<float> loss;
  for (auto _ : state) {
    float total = loss.value_and_gradient(x, t, g, 4.0f);
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows * bins);
}

void dfl_peer(benchmark::State& state) {
  Data& d = data(state.range(0));
  const Eigen::Index rows = state.range(0) / bins;
  const Eigen::ArrayXf t = (d.y.head(rows) * 1000).unaryExpr([](float v) { return std::fmod(v, 15.99f); });
  for (auto _ : state) {
    double total = 0;
    for (Eigen::Index r = 0; r < rows; ++r) {
      total += peer::mmdet_distribution_focal(d.x.data() + r * bins, bins, t[r], d.g.data() + r * bins);
    }
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows * bins);
}

const Rows& queries() {
  static const Rows q = Rows::Random(900, 91) * 4 - 4;
  return q;
}
const Eigen::ArrayXi& targets() {
  static const Eigen::ArrayXi t = (Eigen::ArrayXf::Random(100).abs() * 90).cast<int>();
  return t;
}

void cost(benchmark::State& state) {
  Rows out(900, 100);
  const focal::BalancedFocalLoss<float> loss;
  for (auto _ : state) {
    focal::matching_cost(loss, queries(), targets(), out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * 900 * 100);
}

void cost_peer(benchmark::State& state) {
  Rows out(900, 100);
  for (auto _ : state) {
    // As the matcher: the cost of every class, then the targets' columns gathered.
    Rows all(900, 91);
    for (Eigen::Index i = 0; i < 900; ++i) {
      for (Eigen::Index c = 0; c < 91; ++c) all(i, c) = peer::detr_focal_cost(queries()(i, c), 0.25f, 2.0f);
    }
    for (Eigen::Index i = 0; i < 900; ++i) {
      for (Eigen::Index j = 0; j < 100; ++j) out(i, j) = all(i, targets()[j]);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * 900 * 100);
}

}  // namespace

BENCHMARK(focal_01)->Arg(1 << 20)->UseRealTime();
BENCHMARK(qfl)->Arg(1 << 20)->UseRealTime();
BENCHMARK(qfl_peer)->Arg(1 << 20)->UseRealTime();
BENCHMARK(vfl)->Arg(1 << 20)->UseRealTime();
BENCHMARK(vfl_peer)->Arg(1 << 20)->UseRealTime();
BENCHMARK(qfl_scored)->Arg(1 << 20)->UseRealTime();
BENCHMARK(dfl)->Arg(1 << 20)->UseRealTime();
BENCHMARK(dfl_peer)->Arg(1 << 20)->UseRealTime();
BENCHMARK(cost)->UseRealTime();
BENCHMARK(cost_peer)->UseRealTime();

BENCHMARK_MAIN();
