// value_and_gradient and the lazy expressions allocate nothing. Two nets: every global
// operator new in this program is counted, and Eigen's own heap allocations (which call
// malloc directly) are forbidden through EIGEN_RUNTIME_NO_MALLOC, with eigen_assert made to
// throw so that a violation is a test failure rather than an abort.
#include <stdexcept>

#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x) \
  do {                  \
    if (!(x)) throw std::logic_error("eigen_assert: " #x); \
  } while (false)

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include <focal/focal.hpp>

namespace {
std::atomic<long> allocations{0};

// Counts operator new calls and forbids Eigen mallocs for the lifetime of the guard.
struct NoAllocations {
  long before = allocations.load();
  NoAllocations() { Eigen::internal::set_is_malloc_allowed(false); }
  ~NoAllocations() { Eigen::internal::set_is_malloc_allowed(true); }
  long count() const { return allocations.load() - before; }
};
}  // namespace

// The replacements pair malloc with free by design; GCC cannot see that they are the
// program's only new/delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

TEST_CASE("the fused call and the expressions allocate nothing", "[alloc]") {
  const Eigen::Index n = 1000, k = 8;
  Eigen::ArrayXXf x = Eigen::ArrayXXf::Random(n, k) * 8;
  Eigen::ArrayXXf y = (Eigen::ArrayXXf::Random(n, k) > 0.8f).cast<float>();
  Eigen::ArrayXXf g(n, k);
  std::vector<float> buf(static_cast<std::size_t>(n * k));
  const focal::BalancedFocalLoss<float> fl;
  const focal::BalancedFocalLoss<float> fl_half(0.25f, 0.5f);
  const focal::FocalLossStar<float> star;
  const focal::FocalLoss<float, focal::Probabilities> fp;
  const Eigen::ArrayXXf p = (x.abs() / 8).min(1.0f);

  float total = 0;
  long count = -1;
  {
    NoAllocations guard;
    CHECK_NOTHROW(total += fl.value_and_gradient(x, y, g, 3.0f));
    CHECK_NOTHROW(total += fl_half.value_and_gradient(x, y, g));
    CHECK_NOTHROW(total += star.value_and_gradient(x.col(3), y.col(3), g.col(1)));
    CHECK_NOTHROW(total += fl.value_and_gradient(x, y, Eigen::Map<Eigen::ArrayXXf>(buf.data(), n, k)));
    CHECK_NOTHROW(total += fp.value_and_gradient(p, y, g));
    CHECK_NOTHROW(total += fl.value(x, y).sum());
    CHECK_NOTHROW(g = fl.gradient(x, y) / 4.0f);
    count = guard.count();
  }
  CHECK(count == 0);
  CHECK(std::isfinite(total));
}

TEST_CASE("the allocation nets catch allocations", "[alloc]") {
  // Guards the test above against nets that cannot catch anything.
  NoAllocations guard;
  std::vector<float> v(1000);
  CHECK(guard.count() > 0);
  CHECK_THROWS_AS(Eigen::ArrayXf(1000), std::logic_error);
}
