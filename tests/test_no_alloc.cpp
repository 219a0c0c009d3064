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
    CHECK_NOTHROW(total += fl.value_and_gradient(x * 0.5f, y, g));  // an expression, gathered
    CHECK_NOTHROW(total += fl.value(x, y).sum());
    CHECK_NOTHROW(g = fl.gradient(x, y) / 4.0f);
    count = guard.count();
  }
  CHECK(count == 0);
  CHECK(std::isfinite(total));
}

TEST_CASE("the labels and softmax paths allocate nothing", "[alloc]") {
  const Eigen::Index n = 500, k = 80;
  using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMajor x = RowMajor::Random(n, k) * 6 - 4;
  RowMajor g(n, k);
  const Eigen::ArrayXXf x_col = x;  // column-major: the labels path's column pieces
  Eigen::ArrayXXf g_col(n, k);
  Eigen::ArrayXi labels = (Eigen::ArrayXf::Random(n) * 60).cast<int>();
  labels = labels.max(focal::ignore);  // classes 0..59, background, ignore
  Eigen::ArrayXi softmax_labels = labels.max(0);
  softmax_labels[3] = focal::ignore;
  const Eigen::ArrayXf weights = Eigen::ArrayXf::Constant(n, 0.5f);
  Eigen::ArrayXf class_alpha = Eigen::ArrayXf::Constant(k, 0.25f);
  class_alpha[0] = 0.75f;
  // Few classes take the labels path's other branch (pieces across ignored rows).
  RowMajor x3 = RowMajor::Random(n, 3) * 6 - 4;
  RowMajor g3(n, 3);
  Eigen::ArrayXi labels3 = (Eigen::ArrayXf::Random(n) * 3).cast<int>().max(focal::ignore);
  const focal::BalancedFocalLoss<float> fl;
  const focal::SoftmaxFocalLoss<float> sfl(class_alpha, 2.0f);  // allocates here, not below
  float total = 0;
  long count = -1;
  {
    NoAllocations guard;
    const float num_fg = focal::foreground_normalizer<float>(labels);
    CHECK_NOTHROW(total += fl.value_and_gradient(x, focal::labels(labels), g, num_fg));
    CHECK_NOTHROW(total += fl.value_and_gradient(x, focal::labels(labels, weights), g));
    CHECK_NOTHROW(total += fl.value(x, focal::labels(labels)).sum());
    CHECK_NOTHROW(g = fl.gradient(x, focal::labels(labels)));
    CHECK_NOTHROW(total += fl.value_and_gradient(x_col, focal::labels(labels), g_col, num_fg));
    CHECK_NOTHROW(total += fl.value_and_gradient(x_col, focal::labels(labels, weights), g_col));
    CHECK_NOTHROW(total += fl.value_and_gradient(x * 0.5f, focal::labels(labels), g));
    CHECK_NOTHROW(total += fl.value_and_gradient(x3, focal::labels(labels3), g3, num_fg));
    CHECK_NOTHROW(total += fl.value_and_gradient(x3, focal::labels(labels3, weights), g3));
    CHECK_NOTHROW(total += sfl.value_and_gradient(x, focal::labels(softmax_labels), g, num_fg));
    CHECK_NOTHROW(total += sfl.value(x, focal::labels(softmax_labels, weights)).sum());
    CHECK_NOTHROW(total += sfl.value_and_gradient(x_col, focal::labels(softmax_labels), g_col));
    const focal::SoftmaxFocalLoss<float> copy = sfl;  // copies share the class weights
    CHECK_NOTHROW(total += copy.value_and_gradient(x, focal::labels(softmax_labels), g));
    count = guard.count();
  }
  CHECK(count == 0);
  CHECK(std::isfinite(total));
}

TEST_CASE("the soft-target losses, DFL, dense weights and matching_cost allocate nothing",
          "[alloc]") {
  const Eigen::Index n = 500, k = 20;
  using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMajor x = RowMajor::Random(n, k) * 6 - 4;
  RowMajor g(n, k);
  const RowMajor y = (RowMajor::Random(n, k) + 1) / 2;
  const RowMajor w = RowMajor::Random(n, k) + 1;
  const Eigen::ArrayXf row_weights = Eigen::ArrayXf::Constant(n, 0.5f);
  Eigen::ArrayXi labels = (Eigen::ArrayXf::Random(n) * 15).cast<int>().max(focal::ignore);
  const Eigen::ArrayXf scores = (Eigen::ArrayXf::Random(n) + 1) / 2;
  const Eigen::ArrayXXf x_col = x;
  Eigen::ArrayXXf g_col(n, k);
  const focal::QualityFocalLoss<float> qfl;
  const focal::VarifocalLoss<float> vfl;
  const focal::BalancedFocalLoss<float> fl;
  const RowMajor y01 = (y > 0.5f).cast<float>();
  const Eigen::ArrayXf distances = (Eigen::ArrayXf::Random(n) + 1) * 9.5f;  // DFL: 20 bins
  const Eigen::ArrayXi classes = Eigen::ArrayXi::LinSpaced(7, 0, 19);
  RowMajor cost(n, 7);
  const focal::DistributionFocalLoss<float> dfl;
  float total = 0;
  long count = -1;
  {
    NoAllocations guard;
    CHECK_NOTHROW(total += qfl.value_and_gradient(x, y, g, 3.0f));
    CHECK_NOTHROW(total += vfl.value_and_gradient(x, y, g, 3.0f, w));
    CHECK_NOTHROW(total += vfl.value_and_gradient(x, y, g, 3.0f, row_weights));
    CHECK_NOTHROW(total += fl.value_and_gradient(x, y01, g, 3.0f, w));
    CHECK_NOTHROW(total += qfl.value_and_gradient(x, focal::scored_labels(labels, scores), g));
    CHECK_NOTHROW(total += vfl.value_and_gradient(x_col, focal::scored_labels(labels, scores, row_weights), g_col));
    CHECK_NOTHROW(total += qfl.value(x, focal::scored_labels(labels, scores)).sum());
    CHECK_NOTHROW(total += vfl.value(x, y).sum());
    CHECK_NOTHROW(total += dfl.value_and_gradient(x, distances, g, 4.0f));
    CHECK_NOTHROW(total += dfl.value_and_gradient(x_col, distances, g_col, 4.0f, row_weights));
    CHECK_NOTHROW(total += dfl.value(x, distances).sum());
    CHECK_NOTHROW(focal::matching_cost(fl, x, classes, cost));
    CHECK_NOTHROW(focal::matching_cost(vfl, x_col, classes, cost));
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
