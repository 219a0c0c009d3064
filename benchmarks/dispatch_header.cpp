// The header-only calls bench_dispatch.cpp compares focal::dispatch with, compiled with other
// flags than it (benchmarks/CMakeLists.txt: -O3 -march=native, and -O3 with the AVX2 variant's
// flags), each made one object whose symbols are local but its entry point, as the variants.
#include "dispatch_calls.hpp"

#define FOCAL_BENCH_CAT_(a, b) a##b
#define FOCAL_BENCH_CAT(a, b) FOCAL_BENCH_CAT_(a, b)

extern "C" double FOCAL_BENCH_CAT(focal_bench_header_, FOCAL_BENCH_BUILD)(int call, void* batch) {
  return dispatch_calls::run<dispatch_calls::Header>(call, *static_cast<dispatch_calls::Batch*>(batch));
}
