#ifndef FOCAL_DETAIL_PARALLEL_HPP
#define FOCAL_DETAIL_PARALLEL_HPP

// The one runner of the fused passes' chunks (sigmoid losses, softmax rows): serially, on
// threads of its own, or on the caller's pool. Whoever computes a chunk, its total is the
// same, and totals are added in chunk order: the result does not depend on the execution.

#include "config.hpp"

#include <algorithm>
#include <cstddef>
#include <exception>
#include <new>
#include <thread>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "../execution.hpp"
#include "summation.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {

/// Elements per chunk of the fused passes: the unit of summation and of threading.
inline constexpr Eigen::Index chunk_elements = 8192;

/// f(c) for c in [0, n), each chunk's total added in order, with compensation.
template <class F>
double run_serial(Eigen::Index n, F& f) {
  CompensatedSum total;
  for (Eigen::Index c = 0; c < n; ++c) total.add(f(c));
  return total.total();
}

/// Joins every thread it holds when it goes out of scope, however the scope is left: a
/// std::thread still joinable at its destruction calls std::terminate.
struct Joiner {
  std::vector<std::thread> threads;
  Joiner() = default;
  Joiner(const Joiner&) = delete;
  Joiner& operator=(const Joiner&) = delete;
  ~Joiner() {
    for (std::thread& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

/// f(c) → chunk c's total for c in [0, n), on `threads` threads, each a contiguous range of
/// chunks, this one included. A thread that cannot be started (std::system_error, or no memory
/// for its stack) leaves its range, and every later one, to this thread.
template <class F>
double run_chunks(Eigen::Index n, const Threads& threads, F&& f) {
  const unsigned wanted = threads.resolved();
  if (wanted <= 1 || n < 2) return run_serial(n, f);
  const Eigen::Index t = std::min<Eigen::Index>(wanted, n);
  std::vector<double> results;
  Joiner joiner;
  try {
    results.resize(static_cast<std::size_t>(n));
    // Reserved first: a reallocation that failed after a thread was constructed in the new
    // storage would destroy it joinable.
    joiner.threads.reserve(static_cast<std::size_t>(t - 1));
  } catch (const std::bad_alloc&) {
    return run_serial(n, f);
  }
  const auto work = [&](Eigen::Index k) {
    for (Eigen::Index c = n * k / t; c < n * (k + 1) / t; ++c) {
      results[static_cast<std::size_t>(c)] = f(c);
    }
  };
  Eigen::Index started = 1;  // ranges [1, started) run on threads
  for (; started < t; ++started) {
    try {
      joiner.threads.emplace_back(work, started);
    } catch (const std::exception&) {  // std::system_error: no more threads
      break;
    }
  }
  for (Eigen::Index k = started; k < t; ++k) work(k);
  work(0);
  for (std::thread& th : joiner.threads) th.join();
  CompensatedSum total;
  for (const double r : results) total.add(r);
  return total.total();
}

/// The same on the caller's pool: parallel_for(n, task) runs the chunks; any it did not run
/// (it threw a std::exception, or returned early) run here afterwards.
template <class PF, class F>
double run_chunks(Eigen::Index n, const Parallel<PF>& pool, F&& f) {
  if (n < 2) return run_serial(n, f);
  std::vector<double> results;
  std::vector<unsigned char> done;
  try {
    results.resize(static_cast<std::size_t>(n));
    done.resize(static_cast<std::size_t>(n), 0);
  } catch (const std::bad_alloc&) {
    return run_serial(n, f);
  }
  const auto task = [&results, &done, &f](std::size_t c) {
    results[c] = f(static_cast<Eigen::Index>(c));
    done[c] = 1;
  };
  try {
    pool.parallel_for(static_cast<std::size_t>(n), task);
  } catch (const std::exception&) {
    // The pool failed to run its share: it is run below, with the same result.
  }
  CompensatedSum total;
  for (std::size_t c = 0; c < results.size(); ++c) {
    if (done[c] == 0) task(c);
    total.add(results[c]);
  }
  return total.total();
}

/// An execution chosen at run time, for code compiled before the caller's execution type is
/// known (the dispatch library, src/dispatch/variant.hpp): focal's threads where parallel_for
/// is null, else the caller's pool behind a function pointer, which runs task k as
/// run(task, k). One instantiation of a pass serves both, with the bits of either.
struct RuntimeExec {
  Threads threads;                   ///< used where parallel_for is null
  const void* pool = nullptr;        ///< the caller's pool, passed back to parallel_for
  /// parallel_for(pool, n, task, run) calls run(task, k) once for every k in [0, n).
  void (*parallel_for)(const void* pool, std::size_t n, const void* task,
                       void (*run)(const void* task, std::size_t k)) = nullptr;
};

/// run_chunks on a RuntimeExec: one of the two above.
template <class F>
double run_chunks(Eigen::Index n, const RuntimeExec& exec, F&& f) {
  if (exec.parallel_for == nullptr) return run_chunks(n, exec.threads, f);
  const auto pool = [&exec](std::size_t count, const auto& task) {
    using Task = std::decay_t<decltype(task)>;
    exec.parallel_for(exec.pool, count, &task, [](const void* t, std::size_t k) {
      (*static_cast<const Task*>(t))(k);
    });
  };
  return run_chunks(n, Parallel<decltype(pool)>{pool}, f);
}

}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_PARALLEL_HPP
