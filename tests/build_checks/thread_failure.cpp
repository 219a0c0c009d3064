// focal::threads(n) where the system cannot start n threads: an address-space limit (as
// `ulimit -v` sets it) leaves room for a few 8 MiB thread stacks, and the call asks for 200
// threads. Before, the threads already running were destroyed joinable (std::terminate) with G
// half-written; now the ranges of the threads that could not start run on the calling thread,
// and the result is the one-thread result, bit for bit. Not under the sanitizers, which reserve
// terabytes of address space.
#include <focal/focal.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <system_error>
#include <thread>
#include <vector>

int main() {
  const Eigen::Index n = 1 << 21;  // 256 chunks: enough for 200 threads
  const Eigen::ArrayXf x = Eigen::ArrayXf::LinSpaced(n, -30.0f, 30.0f).sin() * 8.0f;
  const Eigen::ArrayXf y = (x > 2.0f).cast<float>();
  Eigen::ArrayXf g1(n), g = Eigen::ArrayXf::Constant(n, 42.0f);
  const focal::BalancedFocalLoss<float> loss;
  const float one = loss.value_and_gradient(x, y, g1, 7.0f);

  // The address space in use, and a limit 64 MiB above it.
  std::size_t pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  rlimit old{};
  if (pages == 0 || getrlimit(RLIMIT_AS, &old) != 0) {
    std::puts("cannot read or limit the address space: skipped");
    return 77;
  }
  const rlim_t used = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE));
  rlimit tight = old;
  tight.rlim_cur = used + (rlim_t(64) << 20);
  if (setrlimit(RLIMIT_AS, &tight) != 0) {
    std::puts("cannot limit the address space: skipped");
    return 77;
  }
  // Under the same limit, how many of 199 threads can start (checks the failure is real).
  int failed = 0;
  {
    std::vector<std::thread> probe;
    probe.reserve(199);
    for (int k = 0; k < 199; ++k) {
      try {
        probe.emplace_back([] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); });
      } catch (const std::system_error&) {
        ++failed;
      }
    }
    for (std::thread& t : probe) t.join();
  }
  const float many = loss.value_and_gradient(x, y, g, 7.0f, focal::threads(200));
  setrlimit(RLIMIT_AS, &old);
  std::printf("%d of 199 threads could not start under the limit; total %.9g, one thread %.9g\n",
              failed, double(many), double(one));
  if (failed == 0) {
    std::puts("every thread started: the limit did not bite, nothing was tested");
    return 1;
  }
  const bool ok = many == one && (g == g1).all();
  std::puts(ok ? "same bits as one thread" : "FAILED: the result differs from one thread's");
  return ok ? 0 : 1;
}
