// A consumer with strict warnings (-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion
// -Wshadow -Wold-style-cast -Werror), focal as a plain -I include (not SYSTEM: as
// add_subdirectory, FetchContent or a vendored copy bring it), Eigen as SYSTEM. Warnings in
// templates appear only where they are instantiated, so this instantiates every public entry
// point on every kind of argument. Built for several instruction sets (tests/CMakeLists.txt).
#include <focal/focal.hpp>
#include <focal/dispatch.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

template <class S>
using RowMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using ColMajor = Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic>;

template <class Loss, class S, class In>
S sigmoid_calls(const Loss& loss) {
  const Eigen::Index n = 40, k = 5;
  ColMajor<S> x = ColMajor<S>::Constant(n, k, S(0.25));
  RowMajor<S> xr = x;
  ColMajor<S> y = ColMajor<S>::Zero(n, k);
  ColMajor<S> g(n, k);
  RowMajor<S> gr(n, k);
  S total = loss(S(0.5), S(1)) + loss.derivative(S(0.5), S(0));
  total += loss.value(x, y).sum() + loss.gradient(x, y).sum();
  total += loss.value_and_gradient(x, y, g);
  total += loss.value_and_gradient(xr, y, gr, S(2), focal::threads(2));
  total += loss.value_and_gradient(x.middleRows(1, 30), y.middleRows(1, 30), g.middleRows(2, 30));
  total += loss.value_and_gradient(x * S(1), y, g);
  total += loss.value_and_gradient(x.unaryExpr([](S v) { return v; }), y, gr);
  std::vector<S> buffer(std::size_t(2 * n * k));
  Eigen::Map<RowMajor<S>, 0, Eigen::Stride<Eigen::Dynamic, 2>> strided(
      buffer.data(), n, k, Eigen::Stride<Eigen::Dynamic, 2>(2 * k, 2));
  total += loss.value_and_gradient(x, y, strided);
  total += loss.value_and_gradient(
      x, y, g, S(1), focal::parallel([](std::size_t count, const auto& task) {
        for (std::size_t c = 0; c < count; ++c) task(c);
      }));
  // Class-index labels of several integer types, weights, images.
  Eigen::ArrayXi labels = Eigen::ArrayXi::Constant(n, focal::background);
  labels[3] = 2;
  labels[4] = focal::ignore;
  const Eigen::Array<std::int64_t, Eigen::Dynamic, 1> wide = labels.cast<std::int64_t>();
  const Eigen::Array<std::uint64_t, Eigen::Dynamic, 1> unsigned_labels =
      labels.max(0).cast<std::uint64_t>();
  const Eigen::Array<std::uint8_t, Eigen::Dynamic, 1> narrow = labels.max(0).cast<std::uint8_t>();
  const Eigen::Array<S, Eigen::Dynamic, 1> w = Eigen::Array<S, Eigen::Dynamic, 1>::Ones(n);
  total += loss.value_and_gradient(x, focal::labels(labels), g,
                                   focal::foreground_normalizer<S>(labels));
  total += loss.value_and_gradient(xr, focal::labels(wide, w), gr, S(1), focal::threads(2));
  total += loss.value_and_gradient(x, focal::labels(unsigned_labels), g);
  total += loss.value_and_gradient(xr, focal::labels(narrow), gr);
  total += loss.value_and_gradient(x * S(1), focal::labels(labels), g);
  total += loss.value(x, focal::labels(labels)).sum() + loss.gradient(xr, focal::labels(labels)).sum();
  Eigen::ArrayXi sizes(2);
  sizes << 15, 25;
  total += loss.value_and_gradient(x, focal::labels(labels, w), g, focal::per_image(sizes));
  (void)sizeof(In);
  return total;
}

template <class S>
S softmax_calls() {
  const Eigen::Index n = 40, k = 21;
  RowMajor<S> x = RowMajor<S>::Constant(n, k, S(0.5));
  ColMajor<S> xc = x;
  RowMajor<S> g(n, k);
  ColMajor<S> gc(n, k);
  Eigen::ArrayXi labels = Eigen::ArrayXi::Zero(n);
  labels[1] = focal::ignore;
  Eigen::Array<S, Eigen::Dynamic, 1> class_alpha = Eigen::Array<S, Eigen::Dynamic, 1>::Ones(k);
  const focal::SoftmaxFocalLoss<S> loss(S(0.25), S(2));
  const focal::SoftmaxFocalLoss<S> weighted(class_alpha, S(0.5));
  S total = loss.value_and_gradient(x, focal::labels(labels), g);
  total += weighted.value_and_gradient(xc, focal::labels(labels), gc, S(3), focal::threads(2));
  total += loss.value_and_gradient(x * S(1), focal::labels(labels), gc);
  total += loss.value_and_gradient(xc.unaryExpr([](S v) { return v; }), focal::labels(labels), g);
  total += loss.value(x, focal::labels(labels)).sum() + loss.value(xc * S(2), focal::labels(labels)).sum();
  const Eigen::Array<std::uint64_t, Eigen::Dynamic, 1> unsigned_labels = Eigen::Array<std::uint64_t, Eigen::Dynamic, 1>::Zero(n);
  total += loss.value_and_gradient(x, focal::labels(unsigned_labels), g);
  return total;
}

// The soft-target losses' own entry points, dense weights, matching_cost and DFL.
template <class S, class In>
S soft_calls() {
  const Eigen::Index n = 40, k = 5;
  RowMajor<S> x = RowMajor<S>::Constant(n, k, S(0.25));
  ColMajor<S> xc = x;
  RowMajor<S> y = RowMajor<S>::Constant(n, k, S(0.5));
  RowMajor<S> g(n, k), w = RowMajor<S>::Ones(n, k);
  ColMajor<S> gc(n, k);
  Eigen::ArrayXi labels = Eigen::ArrayXi::Zero(n);
  labels[1] = focal::ignore;
  labels[2] = focal::background;
  const Eigen::Array<S, Eigen::Dynamic, 1> scores = Eigen::Array<S, Eigen::Dynamic, 1>::Constant(n, S(0.5));
  const focal::QualityFocalLoss<S, In> qfl;
  const focal::VarifocalLoss<S, In> vfl(S(0.75), S(0.5));
  S total = qfl.value_and_gradient(x, focal::scored_labels(labels, scores), g);
  total += vfl.value_and_gradient(xc, focal::scored_labels(labels, scores, scores), gc, S(2),
                                  focal::threads(2));
  total += qfl.value(x, focal::scored_labels(labels, scores)).sum();
  total += vfl.value_and_gradient(x, y, g, S(1), w);
  total += qfl.value_and_gradient(xc, y, gc, S(1), scores, focal::threads(2));
  Eigen::ArrayXi classes = Eigen::ArrayXi::Zero(3);
  RowMajor<S> cost(n, 3);
  focal::matching_cost(qfl, x, classes, cost);
  total += focal::matching_cost(focal::BalancedFocalLoss<S, In>(), xc, classes).sum();
  return total + cost.sum();
}

template <class S>
S dfl_calls() {
  const Eigen::Index n = 40, bins = 17;
  RowMajor<S> x = RowMajor<S>::Constant(n, bins, S(0.25));
  ColMajor<S> gc(n, bins);
  RowMajor<S> g(n, bins);
  const Eigen::Array<S, Eigen::Dynamic, 1> t = Eigen::Array<S, Eigen::Dynamic, 1>::Constant(n, S(3.5));
  const focal::DistributionFocalLoss<S> dfl;
  S total = dfl.value_and_gradient(x, t, g, S(4));
  total += dfl.value_and_gradient(x, t, gc, S(4), t, focal::threads(2));
  total += dfl.value(x, t).sum() + dfl(x.row(0), S(16));
  return total;
}

template <class S, class In>
S all_sigmoid() {
  S total = sigmoid_calls<focal::CrossEntropy<S, In>, S, In>(focal::CrossEntropy<S, In>());
  total += sigmoid_calls<focal::BalancedCrossEntropy<S, In>, S, In>(
      focal::BalancedCrossEntropy<S, In>(S(0.25)));
  for (const S gamma : {S(0), S(0.5), S(2), S(3)}) {
    total += sigmoid_calls<focal::FocalLoss<S, In>, S, In>(focal::FocalLoss<S, In>(gamma));
    total += sigmoid_calls<focal::BalancedFocalLoss<S, In>, S, In>(
        focal::BalancedFocalLoss<S, In>(S(0.25), gamma));
  }
  return total;
}

// focal::dispatch's forwarding (compiled, not linked: the library is not needed here), on
// the arguments it forwards and on those it runs inline.
template <class S>
S dispatch_calls() {
  const Eigen::Index n = 40, k = 5;
  ColMajor<S> x = ColMajor<S>::Constant(n, k, S(0.25));
  RowMajor<S> xr = x;
  ColMajor<S> y = ColMajor<S>::Zero(n, k);
  ColMajor<S> g(n, k);
  RowMajor<S> gr(n, k);
  const Eigen::Array<S, Eigen::Dynamic, 1> w = Eigen::Array<S, Eigen::Dynamic, 1>::Ones(n);
  const Eigen::Array<std::int64_t, Eigen::Dynamic, 1> l64 =
      Eigen::Array<std::int64_t, Eigen::Dynamic, 1>::Zero(n);
  const Eigen::ArrayXi l32 = Eigen::ArrayXi::Zero(n);
  const auto pool = focal::parallel([](std::size_t m, const auto& task) {
    for (std::size_t c = 0; c < m; ++c) task(c);
  });
  const focal::dispatch::BalancedFocalLoss<S> bfl;
  const focal::dispatch::QualityFocalLoss<S, focal::Probabilities> qfl;
  const focal::dispatch::SoftmaxFocalLoss<S> softmax(S(0.25), S(2));
  const focal::dispatch::DistributionFocalLoss<S> dfl;
  S total = bfl.value_and_gradient(x, y, g) + bfl.value_and_gradient(x * S(2), y, g);
  total += bfl.value_and_gradient(xr, focal::labels(l64, w), gr, S(2), focal::threads(2));
  total += bfl.value_and_gradient(x, y, g, S(1), w, pool);
  total += qfl.value_and_gradient(x, focal::scored_labels(l32, w), g);
  total += softmax.value_and_gradient(xr, focal::labels(l32), gr, S(1), pool);
  total += dfl.value_and_gradient(x, w - S(1), g) + dfl.value_and_gradient(x, w, g, S(3), w);
  return total + S(focal::dispatch::isa() == focal::dispatch::Isa::sse2);
}

}  // namespace

int strict_consumer() {
  double total = double(all_sigmoid<float, focal::Logits>()) + all_sigmoid<double, focal::Logits>();
  total += double(all_sigmoid<float, focal::Probabilities>()) +
           all_sigmoid<double, focal::Probabilities>();
  total += double(sigmoid_calls<focal::FocalLossStar<float>, float, focal::Logits>(
      focal::FocalLossStar<float>(2.0f, 1.0f)));
  total += sigmoid_calls<focal::FocalLossStar<double>, double, focal::Logits>(
      focal::FocalLossStar<double>());
  total += double(softmax_calls<float>()) + softmax_calls<double>();
  total += double(soft_calls<float, focal::Logits>()) + soft_calls<double, focal::Probabilities>();
  total += double(dfl_calls<float>()) + dfl_calls<double>();
  total += double(dispatch_calls<float>()) + dispatch_calls<double>();
  total += double(focal::prior_bias<float>()) + focal::prior_bias<double>(0.02);
  total += double(focal::num_foreground(Eigen::ArrayXi::Zero(3)));
  return total > 0 && focal::instruction_set()[0] == 'i' ? 0 : 1;
}
