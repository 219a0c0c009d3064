// focal::dispatch in a program built with default flags (this file: -O3, no -march) against the
// header-only call built for the machine (-O3 -march=native) and for AVX2 (-O3 -mavx2 -mfma),
// and against the header-only call built with this file's own flags (SSE2), in one run.
//
//   cmake --preset bench && cmake --build --preset bench --target bench_dispatch
//   ./build/bench/benchmarks/bench_dispatch                # the variant CPUID picks
//   FOCAL_ISA=avx2 ./build/bench/benchmarks/bench_dispatch # the AVX2 variant
//
// <call>/dispatch     focal::dispatch's loss (the variant FOCAL_ISA or CPUID chose)
// <call>/native       the header's loss, built -O3 -march=native
// <call>/avx2         the header's loss, built -O3 with the AVX2 variant's flags
// <call>/default      the header's loss, built with this file's flags
// calls (arguments: anchors N, call; N × 80 logits, or N × 17 for DFL; 10^3 elements at
// N = 13, 59 for DFL):
//   0 α-FL on dense 0/1 targets, 1 α-FL on class-index labels, 2 QFL on scored labels,
//   3 softmax focal loss, 4 DFL (N × 17), 5 α-FL in double
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <string>

#include <focal/dispatch.hpp>

#include "dispatch_calls.hpp"

extern "C" double focal_bench_header_native(int call, void* batch);
extern "C" double focal_bench_header_avx2(int call, void* batch);

namespace {

using dispatch_calls::Batch;

using dispatch_calls::Dispatch;

Batch make_batch(Eigen::Index n) {
  Batch b;
  b.n = n;
  const auto size = [](Eigen::Index a, Eigen::Index c) { return std::size_t(a * c); };
  b.x.resize(size(n, b.k));
  b.y.assign(size(n, b.k), 0.f);
  b.g.resize(size(n, b.k));
  b.labels.resize(size(n, 1));
  b.softmax_labels.resize(size(n, 1));
  b.scores.resize(size(n, 1));
  b.dfl_x.resize(size(n, b.bins));
  b.dfl_g.resize(size(n, b.bins));
  b.dfl_t.resize(size(n, 1));
  std::mt19937 gen(42);
  std::normal_distribution<float> noise(0.0f, 1.5f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::uniform_int_distribution<int> cls(0, int(b.k) - 1);
  const float bias = focal::prior_bias<float>();
  for (std::size_t i = 0; i < size(n, 1); ++i) {
    const float r = u(gen);
    b.labels[i] = r < 0.01f ? cls(gen) : r < 0.10f ? focal::ignore : focal::background;
    b.softmax_labels[i] = b.labels[i] == focal::background ? 0 : b.labels[i];
    if (b.labels[i] >= 0) b.y[i * size(b.k, 1) + std::size_t(b.labels[i])] = 1;
    b.scores[i] = u(gen);
    b.dfl_t[i] = u(gen) * float(b.bins - 1);
    for (std::size_t j = 0; j < size(b.k, 1); ++j) b.x[i * size(b.k, 1) + j] = bias + noise(gen);
    for (std::size_t j = 0; j < size(b.bins, 1); ++j) {
      b.dfl_x[i * size(b.bins, 1) + j] = noise(gen) * 3;
    }
  }
  b.xd.assign(b.x.begin(), b.x.end());
  b.yd.assign(b.y.begin(), b.y.end());
  b.gd.resize(b.x.size());
  return b;
}

Batch& batch(Eigen::Index n) {
  static Eigen::Index size = -1;
  static Batch b;
  if (size != n) {
    b = make_batch(n);
    size = n;
  }
  return b;
}

template <class F>
void run(benchmark::State& state, F f) {
  Batch& b = batch(state.range(0));
  const int call = int(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(f(call, &b));
  const Eigen::Index per_row = call == 4 ? b.bins : b.k;
  state.SetItemsProcessed(state.iterations() * b.n * per_row);
}

void dispatch(benchmark::State& s) {
  run(s, [](int c, void* b) { return dispatch_calls::run<Dispatch>(c, *static_cast<Batch*>(b)); });
}
void native(benchmark::State& s) { run(s, focal_bench_header_native); }
void avx2(benchmark::State& s) {
  if (!focal::dispatch::supported(focal::dispatch::Isa::avx2)) {
    s.SkipWithError("no AVX2");
    return;
  }
  run(s, focal_bench_header_avx2);
}
void header_default(benchmark::State& s) {
  run(s, [](int c, void* b) {
    return dispatch_calls::run<dispatch_calls::Header>(c, *static_cast<Batch*>(b));
  });
}

// RetinaNet's 40,000 anchors (2 images), and 10^3 elements (the per-call overhead).
void sizes(benchmark::internal::Benchmark* b) {
  for (int call = 0; call < 6; ++call) b->Args({40000, call});
  for (int call = 0; call < 6; ++call) b->Args({call == 4 ? 59 : 13, call});
}

BENCHMARK(dispatch)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(native)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(avx2)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(header_default)->Apply(sizes)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  std::printf("focal::dispatch runs the %s variant\n",
              focal::dispatch::name(focal::dispatch::isa()));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
