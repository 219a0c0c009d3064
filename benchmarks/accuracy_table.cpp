// Prints the accuracy table of the README: for every loss, type and γ, the worst error in ulps
// of focal and of torchvision's formula (peer_formula.hpp) against the binary128 reference of
// tests/reference.hpp, over the accuracy sweep's grid (tests/sweep.hpp: every binade, a
// uniform grid across the unsaturated range, random points, ±∞), both targets.
//
//   cmake --preset bench && cmake --build --preset bench --target accuracy_table
//   ./build/bench/benchmarks/accuracy_table
//
// Columns: worst error among non-NaN results (value / derivative), the share of points where
// either is off by more than 16 ulp, and the number of points with a NaN result.

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "peer_formula.hpp"
#include "sweep.hpp"

namespace {

using ref::quad;
using support::Kind;
using support::Spec;

struct Stats {
  double worst_value = 0, worst_grad = 0;
  long bad = 0, nan = 0, points = 0;
};

template <class S, class In, class F>
Stats measure(const Spec& s, const std::vector<S>& grid, F&& evaluate) {
  Stats st;
  for (const S x : grid) {
    for (int y = 0; y < 2; ++y) {
      S l, g;
      evaluate(x, S(y), l, g);
      const ref::Result r = sweep::reference<S, In>(s, quad(x), y == 1);
      ++st.points;
      if (std::isnan(l) || std::isnan(g)) {
        ++st.nan;
        ++st.bad;
        continue;
      }
      const double ev = static_cast<double>(ref::ulp_error<S>(l, r.loss));
      const double eg = static_cast<double>(ref::ulp_error<S>(g, r.grad));
      st.worst_value = std::max(st.worst_value, ev);
      st.worst_grad = std::max(st.worst_grad, eg);
      if (ev > 16 || eg > 16) ++st.bad;
    }
  }
  return st;
}

std::string ulps(double e) {
  char buf[32];
  if (std::isinf(e)) return "inf";
  std::snprintf(buf, sizeof buf, e < 100 ? "%.1f" : "%.1e", e);
  return buf;
}

std::string cells(const Stats& st) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s / %s | %.1f%% | %ld", ulps(st.worst_value).c_str(),
                ulps(st.worst_grad).c_str(), 100.0 * double(st.bad) / double(st.points), st.nan);
  return buf;
}

template <class S>
void logit_rows() {
  const std::vector<S> grid = sweep::logit_grid<S>();
  for (const Spec& s : sweep::specs()) {
    if (s.kind == Kind::FL) continue;  // the α-balanced rows carry the same information
    Stats ours;
    support::with_loss<S, focal::Logits>(s, [&](const auto& loss) {
      ours = measure<S, focal::Logits>(s, grid, [&](S x, S y, S& l, S& g) {
        l = loss(x, y);
        g = loss.derivative(x, y);
      });
    });
    std::string theirs = "— | — | —";
    if (s.kind != Kind::Star) {
      const peer::TorchvisionFocal<S> tv{s.balanced() ? S(s.alpha) : S(-1),
                                          s.has_focus() ? S(s.gamma) : S(0)};
      theirs = cells(measure<S, focal::Logits>(s, grid, tv));
    }
    std::printf("| %s | %s | %s | %s |\n", support::type_name<S>(), s.name().c_str(),
                cells(ours).c_str(), theirs.c_str());
  }
}

template <class S>
void probability_rows() {
  const std::vector<S> grid = sweep::probability_grid<S>();
  for (const Spec& s : sweep::specs()) {
    if (s.kind == Kind::FL || s.kind == Kind::Star) continue;
    support::with_loss<S, focal::Probabilities>(s, [&](const auto& loss) {
      const Stats st = measure<S, focal::Probabilities>(s, grid, [&](S x, S y, S& l, S& g) {
        l = loss(x, y);
        g = loss.derivative(x, y);
      });
      std::printf("| %s | %s | %s |\n", support::type_name<S>(), s.name().c_str(),
                  cells(st).c_str());
    });
  }
}

}  // namespace

int main() {
  std::printf("Logits: %zu float and %zu double points, each with y = 0 and y = 1.\n\n",
              sweep::logit_grid<float>().size(), sweep::logit_grid<double>().size());
  std::printf("| type | loss | focal worst ulp (value / grad) | focal > 16 ulp | focal NaN "
              "| torchvision worst ulp (value / grad) | torchvision > 16 ulp | torchvision NaN |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  logit_rows<float>();
  logit_rows<double>();
  std::printf("\nProbabilities: %zu float and %zu double points.\n\n",
              sweep::probability_grid<float>().size(), sweep::probability_grid<double>().size());
  std::printf("| type | loss | focal worst ulp (value / grad) | focal > 16 ulp | focal NaN |\n");
  std::printf("|---|---|---|---|---|\n");
  probability_rows<float>();
  probability_rows<double>();
  return 0;
}
