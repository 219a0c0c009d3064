// The fused α-balanced focal loss (α = 0.25, γ = 2) against the baselines users have, float and
// double, N from 10^3 to 10^8 logits with 1% positives:
//
//   fused            loss.value_and_gradient(x, y, g, n)                  (validation included)
//   fused_unchecked  the same pass without the target check, to measure what the check costs
//   fused_2threads   the same with focal::threads(2)
//   expressions      g = loss.gradient(x, y) / n; loss.value(x, y).sum()   (two lazy passes)
//   naive            torchvision's formula in a scalar loop with libm (peer_formula.hpp)
//   stream           g = x * y: the memory-bandwidth bound of a pass reading two arrays and
//                    writing one
//   probabilities_*  the same loss on p = σ(x): the fused call (the packet kernel on AVX-512)
//                    against the scalar formulas that builds without AVX-512 run, 10^6 and 4M
//   fused_block      the fused call on a Block: the 4M logits as a row-major array of 81
//                    columns without its first (runs of 80 contiguous elements), per element
//   fused_expr       the fused call on an expression of the logits (x * 1, the same values):
//                    read through Eigen's evaluator, a packet at a time, 4M
//   kernel_block     the packet kernel alone (detail API) over 1024 logits that stay in L1:
//                    the arithmetic without memory traffic, validation or summation, and the
//                    least noisy measure of a change to the kernel (repeats agree to ~0.5%)
//   fused_hugepages  the fused call on copies of the same arrays in memory advised for
//                    transparent huge pages (Linux, 4M): what 4 KiB pages cost the pass. The
//                    counter huge_MiB says how much of it the kernel actually backed by them
//
//   cmake --preset bench && cmake --build --preset bench --target bench_fused
//   ./build/bench/benchmarks/bench_fused --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true --benchmark_format=json > fused.json
//   python3 benchmarks/report.py fused.json
//
// The float 10^8 run also reports `sum_rel_error`: the total's relative error against a long
// double sum of the same per-element losses.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <focal/focal.hpp>

#include "peer_formula.hpp"

namespace {

template <class S>
struct Data {
  Eigen::Array<S, Eigen::Dynamic, 1> x, y, g;
  S num_fg = 1;
};

// One data set per (type, size), built once: a detector's logits around the prior bias, 1% of
// targets positive.
template <class S>
Data<S>& data(Eigen::Index n) {
  static std::map<Eigen::Index, std::unique_ptr<Data<S>>> cache;
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<Data<S>>();
    std::mt19937_64 gen(7);
    std::normal_distribution<double> noise(-4.6, 2.0);
    std::bernoulli_distribution positive(0.01);
    slot->x.resize(n);
    slot->y.resize(n);
    slot->g.resize(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      slot->y[i] = positive(gen) ? S(1) : S(0);
      slot->x[i] = S(noise(gen) + (slot->y[i] == S(1) ? 4.0 : 0.0));
    }
    slot->num_fg = std::max(S(1), slot->y.sum());
  }
  return *slot;
}

const focal::BalancedFocalLoss<float>& loss(float) {
  static const focal::BalancedFocalLoss<float> l;
  return l;
}
const focal::BalancedFocalLoss<double>& loss(double) {
  static const focal::BalancedFocalLoss<double> l;
  return l;
}

template <class S>
void fused(benchmark::State& state) {
  Data<S>& d = data<S>(state.range(0));
  const auto& l = loss(S());
  S total = 0;
  for (auto _ : state) {
    total = l.value_and_gradient(d.x, d.y, d.g, d.num_fg);
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  if (std::is_same<S, float>::value && state.range(0) >= 100'000'000) {
    const Eigen::Array<S, Eigen::Dynamic, 1> each = l.value(d.x, d.y);
    long double exact = 0;
    for (Eigen::Index i = 0; i < each.size(); ++i) exact += each[i];
    exact /= d.num_fg;
    state.counters["sum_rel_error"] = double(std::fabs(total - exact) / exact);
  }
}

template <class S>
void fused_unchecked(benchmark::State& state) {
  // The internal pass value_and_gradient runs after its checks (detail API: measurement only).
  Data<S>& d = data<S>(state.range(0));
  const focal::detail::SpanPass<S, focal::detail::SigmoidKernel<S>> pass{
      focal::detail::SigmoidKernel<S>(focal::detail::focal_params(S(0.25), S(2))),
      d.num_fg};
  for (auto _ : state) {
    benchmark::DoNotOptimize(focal::detail::fused_dense<S>(pass, d.x, d.y, d.g, focal::threads(1)));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class S>
void fused_2threads(benchmark::State& state) {
  Data<S>& d = data<S>(state.range(0));
  const auto& l = loss(S());
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.value_and_gradient(d.x, d.y, d.g, d.num_fg, focal::threads(2)));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class S>
void expressions(benchmark::State& state) {
  Data<S>& d = data<S>(state.range(0));
  const auto& l = loss(S());
  for (auto _ : state) {
    d.g = l.gradient(d.x, d.y) / d.num_fg;
    benchmark::DoNotOptimize(l.value(d.x, d.y).sum() / d.num_fg);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// A scalar loop as users write it: f(i, loss, grad) per element, the losses summed in double
// (what a careful user does), each gradient divided by the foreground count.
template <class S, class F>
void scalar_loop(benchmark::State& state, Data<S>& d, F&& f) {
  const Eigen::Index n = state.range(0);
  for (auto _ : state) {
    double total = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      S l, g;
      f(i, l, g);
      total += l;
      d.g[i] = g / d.num_fg;
    }
    benchmark::DoNotOptimize(total / d.num_fg);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

template <class S>
void naive(benchmark::State& state) {
  Data<S>& d = data<S>(state.range(0));
  const peer::TorchvisionFocal<S> tv{S(0.25), S(2)};
  // tv by value: its constant γ stays visible to the compiler, which folds pow(b, 2) as it
  // does in a hand-written loop (captured by reference it does not, and the loop runs 2× slower).
  scalar_loop(state, d, [tv, &d](Eigen::Index i, S& l, S& g) { tv(d.x[i], d.y[i], l, g); });
}

// Probabilities p = σ(x) of the same data: the packet kernel (AVX-512 builds) against the
// scalar kernel that builds without it run (detail API: measurement only).
template <class S>
Eigen::Array<S, Eigen::Dynamic, 1>& probabilities(Eigen::Index n) {
  static std::map<Eigen::Index, Eigen::Array<S, Eigen::Dynamic, 1>> cache;
  auto& p = cache[n];
  if (p.size() != n) p = S(1) / (S(1) + (-data<S>(n).x).exp());
  return p;
}

template <class S>
void probabilities_fused(benchmark::State& state) {
  Data<S>& d = data<S>(state.range(0));
  const auto& p = probabilities<S>(state.range(0));
  const focal::BalancedFocalLoss<S, focal::Probabilities> l;
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.value_and_gradient(p, d.y, d.g, d.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class S>
void probabilities_scalar(benchmark::State& state) {
  // The kernel instantiated on plain scalars (what a build without SIMD runs), in the same
  // plain loop.
  Data<S>& d = data<S>(state.range(0));
  const auto& p = probabilities<S>(state.range(0));
  const focal::detail::SigmoidKernel<S, focal::Probabilities, S> kernel(
      focal::detail::focal_params(S(0.25), S(2)));
  scalar_loop(state, d, [&](Eigen::Index i, S& l, S& g) {
    const auto r = kernel.at(p[i], d.y[i]);
    l = r.first;
    g = r.second;
  });
}

template <class S>
void kernel_block(benchmark::State& state) {
  namespace simd = focal::detail::simd;
  if constexpr (simd::vectorized<S>) {
    const Eigen::Index n = state.range(0);
    Data<S>& d = data<S>(n);
    const focal::detail::SigmoidKernel<S> kernel(focal::detail::focal_params(S(0.25), S(2)));
    constexpr int packets = simd::block_packets;
    constexpr Eigen::Index group = packets * Eigen::internal::packet_traits<S>::size;
    Eigen::Array<S, Eigen::Dynamic, 1> l(n);  // aligned, as eval_block's outputs must be
    // The focusing mode dispatched once, outside the timed loop, as the fused pass does per span.
    kernel.dispatch([&](auto mode) {
      for (auto _ : state) {
        for (Eigen::Index i = 0; i + group <= n; i += group) {
          kernel.template eval_block<decltype(mode)::value>(d.x.data() + i, d.y.data() + i,
                                                            packets, l.data() + i,
                                                            d.g.data() + i);
        }
        benchmark::DoNotOptimize(l.data());
        benchmark::DoNotOptimize(d.g.data());
        benchmark::ClobberMemory();
      }
    });
    state.SetItemsProcessed(state.iterations() * (n / group * group));
  } else {
    state.SkipWithError("the packet kernel needs a vectorized build");
  }
}

template <class S>
void fused_expr(benchmark::State& state) {
  Data<S>& d = data<S>(state.range(0));
  const auto& l = loss(S());
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.value_and_gradient(d.x * S(1), d.y, d.g, d.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

template <class S>
void fused_block(benchmark::State& state) {
  // The same logits and targets as a row-major rows x 81 array, and the call on its Block
  // without the first column (a detector's background column): gathered through stack buffers
  // run by run (a row's 80 contiguous elements at a time). Items are the Block's elements.
  Data<S>& d = data<S>(state.range(0));
  using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Index rows = state.range(0) / 81;
  const Eigen::Map<const RowMajor> x(d.x.data(), rows, 81), y(d.y.data(), rows, 81);
  Eigen::Map<RowMajor> g(d.g.data(), rows, 81);
  auto gb = g.rightCols(80);
  const auto& l = loss(S());
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.value_and_gradient(x.rightCols(80), y.rightCols(80), gb, d.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows * 80);
}

template <class S>
void stream(benchmark::State& state) {
  Data<S>& d = data<S>(state.range(0));
  for (auto _ : state) {
    d.g = d.x * d.y;
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

#if defined(__linux__)
// Anonymous memory advised for transparent huge pages, 2 MiB aligned; unmapped on destruction.
class HugePageBuffer {
 public:
  explicit HugePageBuffer(std::size_t bytes) {
    constexpr std::size_t huge = std::size_t(1) << 21;
    length_ = (bytes + huge - 1) / huge * huge + huge;
    void* p = mmap(nullptr, length_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<char*>(p);
    aligned_ = base_ + (huge - reinterpret_cast<std::uintptr_t>(base_) % huge) % huge;
    madvise(aligned_, length_ - huge, MADV_HUGEPAGE);  // before the first touch
  }
  ~HugePageBuffer() { munmap(base_, length_); }
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  template <class S>
  S* data() const {
    return reinterpret_cast<S*>(aligned_);
  }

 private:
  char *base_ = nullptr, *aligned_ = nullptr;
  std::size_t length_ = 0;
};

// This process's anonymous memory in huge pages, in MiB (/proc/self/smaps_rollup).
double anon_huge_mib() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string key;
  double kib = 0;
  while (in >> key) {
    if (key == "AnonHugePages:") {
      in >> kib;
      break;
    }
  }
  return kib / 1024;
}

template <class S>
void fused_hugepages(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  Data<S>& d = data<S>(n);
  const double before = anon_huge_mib();
  HugePageBuffer bx(std::size_t(n) * sizeof(S)), by(std::size_t(n) * sizeof(S)),
      bg(std::size_t(n) * sizeof(S));
  using Map = Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>, Eigen::Aligned64>;
  Map x(bx.data<S>(), n), y(by.data<S>(), n), g(bg.data<S>(), n);
  x = d.x;
  y = d.y;
  g.setZero();
  state.counters["huge_MiB"] = anon_huge_mib() - before;
  const auto& l = loss(S());
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.value_and_gradient(x, y, g, d.num_fg));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
#endif

void sizes(benchmark::internal::Benchmark* b) {
  for (const long n : {1'000L, 10'000L, 100'000L, 1'000'000L, 4'194'304L, 10'000'000L,
                       100'000'000L}) {
    b->Arg(n);
  }
  b->UseRealTime();
}

}  // namespace

BENCHMARK_TEMPLATE(fused, float)->Apply(sizes);
BENCHMARK_TEMPLATE(fused_unchecked, float)->Apply(sizes);
BENCHMARK_TEMPLATE(fused_2threads, float)->Apply(sizes);
BENCHMARK_TEMPLATE(expressions, float)->Apply(sizes);
BENCHMARK_TEMPLATE(naive, float)->Apply(sizes);
BENCHMARK_TEMPLATE(stream, float)->Apply(sizes);
BENCHMARK_TEMPLATE(kernel_block, float)->Arg(1024)->UseRealTime();
BENCHMARK_TEMPLATE(fused_block, float)->Arg(4'194'304)->UseRealTime();
BENCHMARK_TEMPLATE(fused_expr, float)->Arg(4'194'304)->UseRealTime();
BENCHMARK_TEMPLATE(probabilities_fused, float)->Arg(1'000'000)->Arg(4'194'304)->UseRealTime();
BENCHMARK_TEMPLATE(probabilities_scalar, float)->Arg(1'000'000)->Arg(4'194'304)->UseRealTime();
BENCHMARK_TEMPLATE(fused, double)->Apply(sizes);
BENCHMARK_TEMPLATE(fused_unchecked, double)->Apply(sizes);
BENCHMARK_TEMPLATE(fused_2threads, double)->Apply(sizes);
BENCHMARK_TEMPLATE(expressions, double)->Apply(sizes);
BENCHMARK_TEMPLATE(naive, double)->Apply(sizes);
BENCHMARK_TEMPLATE(stream, double)->Apply(sizes);
BENCHMARK_TEMPLATE(kernel_block, double)->Arg(1024)->UseRealTime();
BENCHMARK_TEMPLATE(probabilities_fused, double)->Arg(1'000'000)->Arg(4'194'304)->UseRealTime();
BENCHMARK_TEMPLATE(probabilities_scalar, double)->Arg(1'000'000)->Arg(4'194'304)->UseRealTime();
#if defined(__linux__)
BENCHMARK_TEMPLATE(fused_hugepages, float)->Arg(4'194'304)->UseRealTime();
BENCHMARK_TEMPLATE(fused_hugepages, double)->Arg(4'194'304)->UseRealTime();
#endif
BENCHMARK_MAIN();
