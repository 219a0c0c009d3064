#ifndef FOCAL_EXECUTION_HPP
#define FOCAL_EXECUTION_HPP

/// @file
/// Execution options of the fused calls.

#include <thread>

namespace focal {

/// Runs a fused value_and_gradient call on several threads. The work is cut into fixed
/// chunks whose partial sums are added in a fixed order, so the result is bitwise the same for
/// any thread count, 1 included. Threads are started per call (a std::thread each, and a
/// small vector of partial sums): worth it from about 10^5 elements.
struct Threads {
  unsigned count = 1;  ///< number of threads; 0 means std::thread::hardware_concurrency()

  unsigned resolved() const noexcept {
    if (count != 0) return count;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1u : hw;
  }
};

/// Threads{count}; threads() uses every hardware thread.
inline Threads threads(unsigned count = 0) noexcept { return Threads{count}; }

}  // namespace focal

#endif  // FOCAL_EXECUTION_HPP
