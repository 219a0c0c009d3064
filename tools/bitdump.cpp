// Prints a 64-bit hash of every result focal computes over the accuracy sweep's inputs, one
// line per (scalar, input kind, loss, entry point): per-element values and derivatives, lazy
// expressions, the fused dense and labels passes (totals and gradients) and the softmax loss.
// Build it before and after a change that must not move a bit, in each instruction set, and
// diff the outputs (tools/bitdump.sh does both).

#include <focal/focal.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../tests/sweep.hpp"

namespace {

struct Hash {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  template <class S>
  void add(S v) {
    unsigned char b[sizeof(S)];
    std::memcpy(b, &v, sizeof(S));
    for (unsigned char c : b) h = (h ^ c) * 1099511628211ull;
  }
  template <class D>
  void add_all(const D& a) {
    for (Eigen::Index j = 0; j < a.cols(); ++j)
      for (Eigen::Index i = 0; i < a.rows(); ++i) add(a(i, j));
  }
};

void line(const std::string& what, const Hash& h) {
  std::printf("%-60s %016llx\n", what.c_str(), static_cast<unsigned long long>(h.h));
}

template <class S, class In>
void sigmoid(const char* sname) {
  using A = Eigen::Array<S, Eigen::Dynamic, 1>;
  using M = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const bool logits = std::is_same<In, focal::Logits>::value;
  const std::vector<S> grid = logits ? sweep::logit_grid<S>() : sweep::probability_grid<S>();
  const Eigen::Index n = Eigen::Index(grid.size());
  A x(2 * n), y(2 * n);
  for (Eigen::Index i = 0; i < n; ++i) {
    x[i] = x[n + i] = grid[std::size_t(i)];
    y[i] = S(0);
    y[n + i] = S(1);
  }
  // Labels: the grid as rows of 5 classes, labels cycling through every class, background and
  // ignore, with anchor weights.
  const Eigen::Index k = 5, rows = n / k;
  const M xl = Eigen::Map<const M>(grid.data(), rows, k);
  Eigen::Array<int, Eigen::Dynamic, 1> lab(rows);
  A w(rows);
  for (Eigen::Index i = 0; i < rows; ++i) {
    lab[i] = int(i % (k + 2)) - 2;
    w[i] = S(0.5) + S(i % 3);
  }
  for (const support::Spec& s : sweep::specs()) {
    support::with_loss<S, In>(s, [&](const auto& loss) {
      const std::string tag =
          std::string(sname) + " " + support::input_name<In>() + " " + s.name() + ": ";
      Hash one, lazy_v, lazy_g, fused, lab_v, lab_fused, lab_lazy;
      for (Eigen::Index i = 0; i < 2 * n; ++i) {
        one.add(loss(x[i], y[i]));
        one.add(loss.derivative(x[i], y[i]));
      }
      line(tag + "per element", one);
      const A v = loss.value(x, y), g = loss.gradient(x, y);
      lazy_v.add_all(v);
      lazy_g.add_all(g);
      line(tag + "value(x, y)", lazy_v);
      line(tag + "gradient(x, y)", lazy_g);
      A gf(2 * n);
      fused.add(loss.value_and_gradient(x, y, gf, S(7)));
      fused.add_all(gf);
      line(tag + "value_and_gradient(x, y)", fused);
      M gl(rows, k);
      lab_fused.add(loss.value_and_gradient(xl, focal::labels(lab, w), gl, S(3)));
      lab_fused.add_all(gl);
      line(tag + "value_and_gradient(x, labels)", lab_fused);
      const M vl = loss.value(xl, focal::labels(lab, w));
      const M dl = loss.gradient(xl, focal::labels(lab, w));
      lab_lazy.add_all(vl);
      lab_lazy.add_all(dl);
      line(tag + "value/gradient(x, labels)", lab_lazy);
    });
  }
}

template <class S>
void softmax(const char* sname) {
  using A = Eigen::Array<S, Eigen::Dynamic, 1>;
  using M = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<S> grid = sweep::logit_grid<S>();
  for (const Eigen::Index k : {Eigen::Index(3), Eigen::Index(21), Eigen::Index(81)}) {
    const Eigen::Index rows = Eigen::Index(grid.size()) / k;
    const M x = Eigen::Map<const M>(grid.data(), rows, k);
    Eigen::Array<int, Eigen::Dynamic, 1> lab(rows);
    A w(rows);
    for (Eigen::Index i = 0; i < rows; ++i) {
      lab[i] = i % 11 == 0 ? focal::ignore : int((i * 7) % k);
      w[i] = S(1) + S(i % 4) / S(4);
    }
    for (const double gamma : {0.0, 0.5, 1.0, 2.0, 5.0}) {
      const focal::SoftmaxFocalLoss<S> loss(S(0.25), S(gamma));
      Hash fused, lazy;
      M g(rows, k);
      fused.add(loss.value_and_gradient(x, focal::labels(lab, w), g, S(5)));
      fused.add_all(g);
      const A v = loss.value(x, focal::labels(lab, w));
      lazy.add_all(v);
      const std::string tag = std::string(sname) + " softmax K=" + std::to_string(k) +
                              " g=" + std::to_string(gamma) + ": ";
      line(tag + "value_and_gradient", fused);
      line(tag + "value", lazy);
    }
    std::rotate(grid.begin(), grid.begin() + 1, grid.end());  // other neighbours per row
  }
}

}  // namespace

int main() {
  std::printf("# %s\n", focal::instruction_set());
  sigmoid<float, focal::Logits>("float");
  sigmoid<double, focal::Logits>("double");
  sigmoid<float, focal::Probabilities>("float");
  sigmoid<double, focal::Probabilities>("double");
  softmax<float>("float");
  softmax<double>("double");
}
