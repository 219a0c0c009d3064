// Built with -mavx512f -mfma and nothing more (no AVX512DQ, BW or VL): focal's AVX-512 code
// must compile with AVX512F alone, as in builds that ask for no more than that. Where the CPU
// has AVX512F it also runs: the fused passes (dense targets and labels with few and many
// classes, float and double) against the per-element calls, bit for bit; the softmax packet
// rows in place (row-major) against the same rows through the gather buffer (column-major),
// bit for bit, and against the scalar kernel (detail API), to 16 ulp.
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include <focal/focal.hpp>

namespace {

template <class S>
using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class S>
int check(Eigen::Index n, Eigen::Index k) {
  std::mt19937 gen(5);
  std::normal_distribution<S> noise(S(-3), S(3));
  std::uniform_real_distribution<double> u(0, 1);
  RowMajor<S> x(n, k), g(n, k), y = RowMajor<S>::Zero(n, k);
  Eigen::ArrayXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double r = u(gen);
    labels[i] = r < 0.1 ? int(i % k) : r < 0.25 ? focal::ignore : focal::background;
    if (labels[i] >= 0) y(i, labels[i]) = S(1);
    for (Eigen::Index j = 0; j < k; ++j) x(i, j) = noise(gen);
  }
  const focal::BalancedFocalLoss<S> loss;
  int failures = 0;
  loss.value_and_gradient(x, y, g, S(3));
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < k; ++j) failures += g(i, j) != loss.derivative(x(i, j), y(i, j)) / S(3);
  loss.value_and_gradient(x, focal::labels(labels), g, S(3));
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < k; ++j) {
      const S expected = labels[i] == focal::ignore ? S(0) : loss.derivative(x(i, j), y(i, j)) / S(3);
      failures += g(i, j) != expected;
    }
  }
  return failures;
}

template <class S>
int check_softmax(Eigen::Index n, Eigen::Index k) {
  using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;
  std::mt19937 gen(7);
  std::normal_distribution<S> noise(S(0), S(3));
  RowMajor<S> x(n, k), g(n, k);
  Eigen::ArrayXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    labels[i] = int((i * 7) % k);
    for (Eigen::Index j = 0; j < k; ++j) x(i, j) = noise(gen);
  }
  const focal::SoftmaxFocalLoss<S> loss(S(0.25), S(2));
  ColMajor gc(n, k);
  const S total = loss.value_and_gradient(x, focal::labels(labels), g, S(3));
  const S total_cols = loss.value_and_gradient(ColMajor(x), focal::labels(labels), gc, S(3));
  const S eps = std::numeric_limits<S>::epsilon();
  int failures = total != total_cols;
  for (Eigen::Index i = 0; i < n; ++i) {
    const Eigen::Index t = labels[i];
    RowMajor<S> gs(1, k);
    focal::detail::softmax_focal_row<true>(
        [&](Eigen::Index j) { return x(i, j); }, k, t, loss.alpha_of(t), loss.gamma(), 2, S(1),
        S(3), [&](Eigen::Index j) -> S& { return gs(0, j); });
    for (Eigen::Index j = 0; j < k; ++j) {
      failures += g(i, j) != gc(i, j);
      failures += !(std::fabs(g(i, j) - gs(0, j)) <=
                    16 * eps * std::fabs(gs(0, j)) + 2 * std::numeric_limits<S>::denorm_min());
    }
  }
  return failures;
}

__attribute__((noinline)) int run() {
  return check<float>(3000, 1) + check<float>(900, 3) + check<float>(300, 80) +
         check<double>(900, 3) + check<double>(300, 80) + check_softmax<float>(200, 81) +
         check_softmax<float>(200, 17) + check_softmax<double>(200, 81) +
         check_softmax<double>(200, 13);
}

}  // namespace

int main() {
  if (!__builtin_cpu_supports("avx512f")) {
    std::puts("no AVX512F on this CPU: built, not run");
    return 0;
  }
  const int failures = run();
  std::printf("%d mismatches\n", failures);
  return failures == 0 ? 0 : 1;
}
