// The soft-target losses (QualityFocalLoss, VarifocalLoss): accuracy in ulps against the quad
// reference (reference.hpp) over logits of every binade and probabilities from 0 to 1, with
// targets 0, 1, subnormal, tiny, in between, 1 − ε, and targets next to σ(x) itself, where
// y − σ cancels; finite differences; the papers' values; bad targets.
//
// Bound: `soft_bound_ulp` + where y ≈ σ the error that σ's own last bits cause: the
// reference's change when σ moves by 2 ulp of min(σ, 1 − σ) (logits only: a probability is
// exact, and y − p is formed exactly).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "reference.hpp"
#include "support.hpp"

using ref::quad;

namespace {

struct Config {
  bool varifocal;
  double exponent;
  double alpha;
  const char* name() const {
    static char buf[64];
    std::snprintf(buf, sizeof buf, varifocal ? "VFL a=%.2g g=%g" : "QFL b=%g", varifocal ? alpha : exponent, exponent);
    return buf;
  }
};

std::vector<Config> configs() {
  std::vector<Config> c;
  for (double b : {0.0, 0.5, 1.0, 2.0, 3.0}) c.push_back({false, b, 0});
  for (double g : {0.0, 0.5, 1.0, 2.0, 3.0}) c.push_back({true, g, 0.75});
  return c;
}

/// Our bound for the soft losses: 6 + ⌈exponent⌉ ulp plus σ's conditioning.
double soft_bound_ulp(const Config& c) { return 6 + std::ceil(c.exponent); }

template <class S>
std::vector<S> targets() {
  return {S(0), S(1), std::numeric_limits<S>::denorm_min(), std::numeric_limits<S>::min(),
          S(1e-30), S(1e-6), S(0.1), S(0.25), S(0.5), S(0.7), S(0.9),
          S(1) - std::numeric_limits<S>::epsilon() / 2};
}

template <class S>
std::vector<S> soft_logit_grid() {
  std::vector<S> v = support::logit_grid<S>(8, 1);
  std::mt19937_64 gen(2006);  // GFL: arXiv 2006.04388
  std::uniform_real_distribution<double> mid(-20, 20);
  for (int i = 0; i < 1500; ++i) v.push_back(S(mid(gen)));
  return v;
}

template <class S>
std::vector<S> soft_probability_grid() {
  std::vector<S> v = support::probability_grid<S>(1, 300);
  std::mt19937_64 gen(2008);  // VFNet: arXiv 2008.13367
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < 500; ++i) v.push_back(S(u(gen)));
  return v;
}

struct Worst {
  double value = 0, grad = 0, value_x = 0, value_y = 0, grad_x = 0, grad_y = 0;
  long nans = 0, points = 0;
};

/// Error in ulps beyond what σ's own last bits account for (logits: the reference's change
/// when σ moves), never negative.
template <class S>
double excess(S computed, quad exact, quad moved_up, quad moved_down) {
  const double e = static_cast<double>(ref::ulp_error<S>(computed, exact));
  if (!(e > 0) || std::isinf(e)) return e;
  const quad slack = fmaxq(fabsq(moved_up - exact), fabsq(moved_down - exact));
  const quad distance = fabsq(quad(computed) - exact);
  return e * std::max(0.0, static_cast<double>((distance - slack) / distance));
}

template <class S, class In, class Loss>
Worst sweep_soft(const Config& c, const Loss& loss) {
  Worst w;
  const ref::SoftLoss f{c.varifocal, quad(S(c.exponent)), quad(S(c.alpha))};
  constexpr bool logits = std::is_same<In, focal::Logits>::value;
  const std::vector<S> grid = logits ? soft_logit_grid<S>() : soft_probability_grid<S>();
  std::vector<S> ys = targets<S>();
  const auto one = [&](S x, S y) {
    const S l = loss(x, y), g = loss.derivative(x, y);
    ++w.points;
    if (std::isnan(l) || std::isnan(g)) ++w.nans;
    ref::Result r, up, down;
    if constexpr (logits) {
      r = ref::soft_logit(f, x, y);
      // σ moved by 2 ulp of min(σ, 1 − σ): what σ's last bits can do to y − σ.
      const quad u = ldexpq(1, 1 - std::numeric_limits<S>::digits);
      const quad h = 2 * u * fminq(ref::sigmoid(quad(x)), ref::sigmoid(-quad(x)));
      up = ref::soft_logit(f, x, y, h);
      down = ref::soft_logit(f, x, y, -h);
    } else {
      r = up = down = ref::soft_probability(f, x, y);
    }
    const double ev = excess<S>(l, r.loss, up.loss, down.loss);
    // For 0 < β < 1 the QFL derivative is unbounded as y − σ → 0 (|y − σ|^(β−1)): not judged
    // where σ's error could reach y − σ.
    const bool singular = !c.varifocal && c.exponent > 0 && c.exponent < 1 &&
                          (up.grad > 0) != (down.grad > 0);
    const double eg = singular ? 0 : excess<S>(g, r.grad, up.grad, down.grad);
    if (ev > w.value || std::isnan(ev)) w.value = ev, w.value_x = double(x), w.value_y = double(y);
    if (eg > w.grad || std::isnan(eg)) w.grad = eg, w.grad_x = double(x), w.grad_y = double(y);
  };
  for (const S x : grid) {
    for (const S y : ys) one(x, y);
    // Targets at σ(x) and next to it, where y − σ cancels.
    if (logits && std::isfinite(x) && std::abs(x) < 40) {
      const S s = static_cast<S>(ref::sigmoid(quad(x)));
      for (const S y : {s, std::nextafter(s, S(0)), std::nextafter(s, S(1))}) one(x, y);
    } else if (!logits) {
      for (const S y : {x, std::nextafter(x, S(0)), std::nextafter(x, S(1))}) one(x, y);
    }
  }
  return w;
}

template <class S, class In>
void run_soft_sweep() {
  for (const Config& c : configs()) {
    Worst w;
    if (c.varifocal) {
      w = sweep_soft<S, In>(c, focal::VarifocalLoss<S, In>(S(c.alpha), S(c.exponent)));
    } else {
      w = sweep_soft<S, In>(c, focal::QualityFocalLoss<S, In>(S(c.exponent)));
    }
    std::printf("%-7s %-13s %-16s %8.2f %8.2f   (%ld points)\n", support::type_name<S>(),
                support::input_name<In>(), c.name(), w.value, w.grad, w.points);
    INFO(support::type_name<S>() << " " << support::input_name<In>() << " " << c.name()
                                 << ": value " << w.value << " ulp at x = " << w.value_x
                                 << " y = " << w.value_y << "; derivative " << w.grad
                                 << " ulp at x = " << w.grad_x << " y = " << w.grad_y);
    CHECK(w.nans == 0);
    CHECK(w.value <= soft_bound_ulp(c));
    CHECK(w.grad <= soft_bound_ulp(c));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("soft-target losses are accurate on logits over the whole range",
                   "[soft][accuracy]", float, double) {
  run_soft_sweep<TestType, focal::Logits>();
}

TEMPLATE_TEST_CASE("soft-target losses are accurate on probabilities", "[soft][accuracy]",
                   float, double) {
  run_soft_sweep<TestType, focal::Probabilities>();
}

TEMPLATE_TEST_CASE("DistributionFocalLoss is accurate to a few ulp", "[dfl][accuracy]", float,
                   double) {
  using S = TestType;
  using Rows = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::mt19937_64 gen(2011);
  const focal::DistributionFocalLoss<S> dfl;
  const quad u = ldexpq(1, 1 - std::numeric_limits<S>::digits);
  for (const int bins : {2, 8, 17}) {
    for (const double scale : {0.5, 4.0, 40.0, std::is_same<S, float>::value ? 80.0 : 600.0}) {
      const Eigen::Index rows = 600;
      std::uniform_real_distribution<double> logit(-scale, scale);
      std::uniform_real_distribution<double> target(0, bins - 1);
      Rows x(rows, bins), g(rows, bins);
      Eigen::Array<S, Eigen::Dynamic, 1> t(rows);
      for (Eigen::Index r = 0; r < rows; ++r) {
        for (int c = 0; c < bins; ++c) x(r, c) = S(logit(gen));
        // Fractional, integer, the ends, and just off an integer.
        const int kind = int(r % 5);
        const S v = S(target(gen));
        t[r] = kind == 0 ? std::floor(v) : kind == 1 ? S(bins - 1) : kind == 2 ? S(0)
               : kind == 3 ? std::min(S(bins - 1), std::floor(v) + std::numeric_limits<S>::epsilon() * 4) : v;
      }
      const S total = dfl.value_and_gradient(x, t, g);  // float rows: in batches of rows
      const auto losses = dfl.value(x, t).eval();       // row by row
      double worst_value = 0, worst_grad = 0;
      quad exact_total = 0;
      for (Eigen::Index r = 0; r < rows; ++r) {
        double xs[17];
        quad grad[17];
        for (int c = 0; c < bins; ++c) xs[c] = double(x(r, c));
        const quad exact = ref::distribution_focal(xs, bins, quad(t[r]), grad);
        exact_total += exact;
        worst_value = std::max(worst_value, double(ref::ulp_error<S>(losses[r], exact)));
        const int i = int(t[r]);
        const quad wl = quad(i + 1) - quad(t[r]), wr = quad(t[r]) - quad(i);
        for (int c = 0; c < bins; ++c) {
          // S_c − w cancels where S_c ≈ w: S_c's own rounding (2 ulp of S_c) is allowed for.
          const quad p = grad[c] + (c == i ? wl : 0) + (c == i + 1 ? wr : 0);
          const double e = double(ref::ulp_error<S>(g(r, c), grad[c]));
          const quad d = fabsq(quad(g(r, c)) - grad[c]);
          if (e > 0 && !std::isinf(e)) {
            worst_grad = std::max(worst_grad, e * std::max(0.0, double((d - 2 * u * fabsq(p)) / d)));
          } else {
            worst_grad = std::max(worst_grad, e);
          }
        }
      }
      std::printf("%-7s DFL bins=%-3d |x|<=%-5g value %6.2f ulp  gradient %6.2f ulp\n",
                  support::type_name<S>(), bins, scale, worst_value, worst_grad);
      INFO("bins " << bins << " scale " << scale);
      // The fused total (its rows' losses from the batched pass) against the exact sum.
      CHECK(double(ref::ulp_error<S>(total, exact_total)) <= 2);
      CHECK(worst_value <= 2);
      CHECK(worst_grad <= 2);
    }
  }
}
