#ifndef FOCAL_EXECUTION_HPP
#define FOCAL_EXECUTION_HPP

/// @file
/// Execution options of the fused calls: focal's own threads, or the caller's thread pool.

#include "detail/config.hpp"

#include <cstddef>
#include <thread>
#include <type_traits>
#include <utility>

FOCAL_NAMESPACE_BEGIN

/// Runs a fused value_and_gradient call on several threads. The work is cut into fixed
/// chunks (about 8,192 elements, or whole softmax rows) whose partial sums are added in a
/// fixed order, so the result is bitwise the same for any thread count, 1 included. Threads
/// are started per call (a std::thread each, and a small vector of partial sums): worth it
/// from about 10^5 elements. If a thread cannot be started, its share of the chunks runs on
/// the calling thread: the result is the same. Inside a framework that has its own thread
/// pool, prefer focal::parallel, which does not add threads to it.
struct Threads {
  unsigned count = 1;  ///< number of threads; 0 means std::thread::hardware_concurrency()

  /// The number of threads a call uses: count, or the hardware's concurrency for 0.
  unsigned resolved() const noexcept {
    if (count != 0) return count;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1u : hw;
  }
};

/// Threads{count}; threads() uses every hardware thread.
inline Threads threads(unsigned count = 0) noexcept { return Threads{count}; }

/// Runs a fused call's chunks on the caller's thread pool: `parallel_for(n, task)` must call
/// `task(k)` exactly once for every k in [0, n), from any threads and in any order, and return
/// once every call has returned. n is the number of chunks (each about 8,192 elements, some
/// microseconds of work); `task` is cheap to copy and never throws. The result is bitwise the
/// same as with focal::threads(1). If parallel_for throws a std::exception or returns with tasks
/// not run, those tasks run on the calling thread and the call completes normally (the result
/// is the same); other exceptions propagate.
///
/// E.g. with oneTBB: `focal::parallel([](std::size_t n, const auto& task) {
/// tbb::parallel_for(std::size_t(0), n, task); })`; with PyTorch's pool:
/// `[](std::size_t n, const auto& task) { at::parallel_for(0, int64_t(n), 1,
/// [&](int64_t b, int64_t e) { for (int64_t k = b; k < e; ++k) task(std::size_t(k)); }); }`.
template <class ParallelFor>
struct Parallel {
  ParallelFor parallel_for;  ///< called as parallel_for(std::size_t n, const Task& task)
};

/// Wraps the caller's `parallel_for(n, task)` (see Parallel) as an execution option.
template <class ParallelFor>
Parallel<std::decay_t<ParallelFor>> parallel(ParallelFor&& parallel_for) {
  return Parallel<std::decay_t<ParallelFor>>{std::forward<ParallelFor>(parallel_for)};
}

FOCAL_NAMESPACE_END

#endif  // FOCAL_EXECUTION_HPP
