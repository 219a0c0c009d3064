// Trains a small one-stage dense detector from scratch with each of focal's losses, on
// synthetic images it generates itself, and prints a table in the layout of Table 1 of
// Lin et al. 2017: average precision on held-out images, over seeds, with the wall time.
//
// The task is RetinaNet's regime: one anchor per pixel of a 64 × 64 image (4,096 anchors),
// objects of 3 kinds (square, ring, cross) on cluttered background, and a centre-rule matcher:
// the anchor at an object's centre is foreground, its 8 neighbours are ignored, every other
// anchor is background: about 1 foreground anchor in 2,000. The head sees the 9 × 9 patch
// around its anchor (a 9 × 9 convolution with 16 filters, ReLU, a 1 × 1 convolution to the
// class logits) and is trained by Adam from focal's gradients alone.
//
//   cmake --workflow --preset train       # builds it and runs every loss, 3 seeds (under a minute)
//   ./build/train/examples/train_detector --help
//
// What a detector engineer copies from here: the head's logits in a raw buffer viewed with
// Eigen::Map, focal::labels with background and ignore, the foreground-count normalizer,
// and the gradient fed back through the head (train_step). Results: docs/training.md.
#include <focal/focal.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kSide = 64;                // image side, pixels
constexpr int kAnchors = kSide * kSide;  // one anchor per pixel
constexpr int kClasses = 3;              // square, ring, cross
constexpr int kPatch = 9;                // the head's receptive field
constexpr int kInputs = kPatch * kPatch;
constexpr int kHidden = 16;

using RowMajor = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// --- Data -------------------------------------------------------------------------------------

struct Object {
  int x, y, cls;
};

struct Image {
  std::vector<float> pixels;  // kSide × kSide, row-major
  std::vector<Object> objects;
  std::vector<int> labels;  // per anchor: a class, focal::background or focal::ignore
};

// 1–3 objects (5 × 5 square, ring of radius 3, cross of arm 3) at least 10 pixels apart, on
// noise with clutter: strokes, dots, and decoys that share parts with the objects (a 3 × 3
// square, a ring of radius 2, a T), so that some negatives are hard; most are easy.
Image make_image(std::mt19937& gen) {
  Image im;
  im.pixels.assign(kAnchors, 0.0f);
  std::normal_distribution<float> noise(0.0f, 0.35f);
  std::uniform_int_distribution<int> pos(5, kSide - 6), cls(0, kClasses - 1), count(1, 3);
  std::uniform_int_distribution<int> any(0, kSide - 1), len(2, 6), dir(0, 3);
  const auto put = [&](int x, int y, float v) {
    if (x >= 0 && y >= 0 && x < kSide && y < kSide) im.pixels[std::size_t(y * kSide + x)] = v;
  };
  for (int s = 0; s < 6; ++s) {  // strokes
    int x = any(gen), y = any(gen);
    const int d = dir(gen), n = len(gen);
    for (int k = 0; k < n; ++k,
             x += d == 0            ? 1
                           : d == 2 ? 1
                                    : 0,
             y += d == 1            ? 1
                           : d == 2 ? 1
                                    : 0) {
      put(x, y, 1.0f);
    }
  }
  for (int s = 0; s < 10; ++s) put(any(gen), any(gen), 1.0f);  // dots
  for (int s = 0; s < 8; ++s) {  // decoys: near misses of the three shapes, and small ones
    const int x = any(gen), y = any(gen), kind = cls(gen);
    const bool near = s % 2 == 0;
    for (int dy = -3; dy <= 3; ++dy) {
      for (int dx = -3; dx <= 3; ++dx) {
        const int r2 = dx * dx + dy * dy, ax = std::abs(dx), ay = std::abs(dy);
        bool on;
        if (near) {  // a hollow square, a ring with a gap, a cross without its lower arm
          on = kind == 0   ? std::max(ax, ay) == 2
               : kind == 1 ? r2 >= 6 && r2 <= 12 && !(dy > 1 && ax <= 1)
                           : (dx == 0 && dy <= 0) || dy == 0;
        } else {  // a 3 × 3 square, a ring of radius 2, a T
          on = kind == 0   ? ax <= 1 && ay <= 1
               : kind == 1 ? r2 >= 3 && r2 <= 5
                           : (dy == -2 && ax <= 2) || (dx == 0 && dy > -2 && dy < 2);
        }
        if (on) put(x + dx, y + dy, 1.0f);
      }
    }
  }
  const int n = count(gen);
  while (int(im.objects.size()) < n) {
    const Object o{pos(gen), pos(gen), cls(gen)};
    bool apart = true;
    for (const Object& p : im.objects)
      apart = apart && std::max(std::abs(p.x - o.x), std::abs(p.y - o.y)) >= 10;
    if (!apart) continue;
    im.objects.push_back(o);
    for (int dy = -3; dy <= 3; ++dy) {
      for (int dx = -3; dx <= 3; ++dx) {
        const int r2 = dx * dx + dy * dy;
        const bool on = o.cls == 0   ? std::abs(dx) <= 2 && std::abs(dy) <= 2
                        : o.cls == 1 ? r2 >= 6 && r2 <= 12
                                     : (dx == 0 || dy == 0);
        if (on) put(o.x + dx, o.y + dy, 1.0f);
      }
    }
  }
  for (float& p : im.pixels) p += noise(gen);
  // The matcher: centre anchor foreground, its neighbours ignored, the rest background.
  im.labels.assign(kAnchors, focal::background);
  for (const Object& o : im.objects) {
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx)
        im.labels[std::size_t((o.y + dy) * kSide + o.x + dx)] = focal::ignore;
    im.labels[std::size_t(o.y * kSide + o.x)] = o.cls;
  }
  return im;
}

std::vector<Image> make_set(int count, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<Image> set;
  for (int i = 0; i < count; ++i) set.push_back(make_image(gen));
  return set;
}

// The 9 × 9 patches of every anchor of an image, zero-padded: rows [0, kAnchors) of out
// (im2col, so that the convolution is one matrix product).
void patches(const Image& im, float* out) {
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x, out += kInputs) {
      for (int dy = 0; dy < kPatch; ++dy) {
        for (int dx = 0; dx < kPatch; ++dx) {
          const int sx = x + dx - kPatch / 2, sy = y + dy - kPatch / 2;
          const bool in = sx >= 0 && sy >= 0 && sx < kSide && sy < kSide;
          out[dy * kPatch + dx] = in ? im.pixels[std::size_t(sy * kSide + sx)] : 0.0f;
        }
      }
    }
  }
}

// --- The losses -------------------------------------------------------------------------------

struct LossSpec {
  std::string name;  // as in the table
  std::string kind;  // ce, alpha-ce, fl, alpha-fl, fl-star, softmax
  float alpha = 0.25f, gamma = 0.0f;
  bool prior = true;  // focal::prior_bias(0.01) initialization of the class biases
};

std::vector<LossSpec> all_losses() {
  std::vector<LossSpec> v;
  v.push_back({"CE, no prior init", "ce", 0, 0, false});
  v.push_back({"CE", "ce"});
  for (float a : {0.5f, 0.75f, 0.9f, 0.99f})
    v.push_back({"a-CE a=" + std::to_string(a).substr(0, 4), "alpha-ce", a});
  for (float g : {0.5f, 1.0f, 2.0f, 5.0f})
    v.push_back({"FL g=" + std::to_string(g).substr(0, 3), "fl", 0, g});
  v.push_back({"a-FL a=0.25 g=2", "alpha-fl", 0.25f, 2.0f});
  v.push_back({"FL* g=4 b=0", "fl-star", 0, 4.0f});
  v.push_back({"softmax FL g=2", "softmax", 0.25f, 2.0f});
  return v;
}

// Calls f(loss) with the focal object of a sigmoid spec.
template <class F>
void with_sigmoid_loss(const LossSpec& s, F&& f) {
  if (s.kind == "ce")
    f(focal::CrossEntropy<float>());
  else if (s.kind == "alpha-ce")
    f(focal::BalancedCrossEntropy<float>(s.alpha));
  else if (s.kind == "fl")
    f(focal::FocalLoss<float>(s.gamma));
  else if (s.kind == "alpha-fl")
    f(focal::BalancedFocalLoss<float>(s.alpha, s.gamma));
  else
    f(focal::FocalLossStar<float>(s.gamma, 0.0f));
}

// --- The model --------------------------------------------------------------------------------

struct Model {
  Matrix w1, w2;  // kInputs × kHidden, kHidden × outputs
  Matrix b1, b2;            // 1 × kHidden, 1 × outputs
  int outputs() const { return int(w2.cols()); }
};

Model init_model(int outputs, bool softmax, bool prior, std::mt19937& gen) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  Model m;
  m.w1 = Matrix::NullaryExpr(kInputs, kHidden, [&] { return n(gen) * std::sqrt(2.0f / kInputs); });
  m.b1 = Matrix::Zero(1, kHidden);
  m.w2 = Matrix::NullaryExpr(kHidden, outputs, [&] { return n(gen) * 0.01f; });
  m.b2 = Matrix::Zero(1, outputs);
  if (prior) {
    // Every anchor starts at foreground probability π = 0.01 (§3.3, "Initialization"). For the
    // softmax, column 0 is the background: the others start at π/K each.
    if (softmax) {
      m.b2.rightCols(outputs - 1).setConstant(std::log(0.01f / kClasses) - std::log(0.99f));
    } else {
      m.b2.setConstant(focal::prior_bias(0.01f));
    }
  }
  return m;
}

// The logits of rows of patches: relu(P·W1 + b1)·W2 + b2; keeps the hidden layer for the
// backward pass.
void forward(const Model& m, const Eigen::Ref<const Matrix>& p, Matrix& hidden, Matrix& logits) {
  hidden.noalias() = p * m.w1;
  hidden.rowwise() += m.b1.row(0);
  hidden = hidden.cwiseMax(0.0f);
  logits.noalias() = hidden * m.w2;
  logits.rowwise() += m.b2.row(0);
}

struct Adam {
  std::vector<Matrix> m, v;
  int t = 0;
  void step(std::vector<Matrix*> params, const std::vector<Matrix>& grads, float lr) {
    if (m.empty()) {
      for (const Matrix* p : params) {
        m.push_back(Matrix::Zero(p->rows(), p->cols()));
        v.push_back(Matrix::Zero(p->rows(), p->cols()));
      }
    }
    ++t;
    const float c1 = 1.0f - std::pow(0.9f, float(t)), c2 = 1.0f - std::pow(0.999f, float(t));
    for (std::size_t k = 0; k < params.size(); ++k) {
      m[k] = 0.9f * m[k] + 0.1f * grads[k];
      v[k] = 0.999f * v[k] + 0.001f * grads[k].cwiseAbs2();
      params[k]->array() -= lr * (m[k].array() / c1) / ((v[k].array() / c2).sqrt() + 1e-8f);
    }
  }
};

// --- Training -----------------------------------------------------------------------------------

struct Config {
  int iterations = 300, batch = 4, train_images = 200, test_images = 50;
  float lr = 3e-3f;
};

struct Run {
  Model model;
  std::vector<float> losses;  // the training loss per iteration
  double seconds = 0;
};

// One step on a batch: the head's logits, focal's loss and gradient over the batch's anchors
// (labels as the matcher gave them, normalized by the batch's foreground count), and the
// gradient back through the head. Returns the loss.
float train_step(const LossSpec& spec, Model& model, Adam& adam, const Matrix& p,
                 const std::vector<int>& labels, float lr) {
  const Eigen::Index n = p.rows();
  Matrix hidden, logits;
  forward(model, p, hidden, logits);
  // The logits as a detector hands them over: a raw row-major buffer, N anchors × outputs.
  const Eigen::Map<const RowMajor> x(logits.data(), n, model.outputs());
  const Eigen::Map<const Eigen::ArrayXi> y(labels.data(), n);
  Matrix grad(n, model.outputs());
  Eigen::Map<RowMajor> g(grad.data(), n, model.outputs());
  float loss = 0;
  if (spec.kind == "softmax") {
    // Background is class 0 of the softmax; the matcher's classes shift by one, ignore stays.
    const Eigen::ArrayXi shifted = (y == focal::ignore).select(y, y + 1);
    const focal::SoftmaxFocalLoss<float> softmax(spec.alpha, spec.gamma);
    loss = softmax.value_and_gradient(x, focal::labels(shifted), g,
                                      focal::foreground_normalizer<float>(y));
  } else {
    with_sigmoid_loss(spec, [&](const auto& l) {
      loss = l.value_and_gradient(x, focal::labels(y), g, focal::foreground_normalizer<float>(y));
    });
  }
  // Backward through the head: the gradient of the loss with respect to the logits is g.
  const Matrix d_w2 = hidden.transpose() * grad;
  const Matrix d_b2 = grad.colwise().sum();
  const Matrix d_hidden =
      ((grad * model.w2.transpose()).array() * (hidden.array() > 0).cast<float>()).matrix();
  const Matrix d_w1 = p.transpose() * d_hidden;
  const Matrix d_b1 = d_hidden.colwise().sum();
  adam.step({&model.w1, &model.b1, &model.w2, &model.b2}, {d_w1, d_b1, d_w2, d_b2}, lr);
  return loss;
}

Run train(const LossSpec& spec, const Config& cfg, const std::vector<Image>& set, unsigned seed) {
  const auto t0 = std::chrono::steady_clock::now();
  std::mt19937 gen(seed);
  const bool softmax = spec.kind == "softmax";
  Run run;
  run.model = init_model(softmax ? kClasses + 1 : kClasses, softmax, spec.prior, gen);
  Adam adam;
  Matrix p(Eigen::Index(cfg.batch) * kAnchors, kInputs);
  std::vector<int> labels(std::size_t(cfg.batch) * kAnchors);
  std::uniform_int_distribution<int> pick(0, int(set.size()) - 1);
  for (int it = 0; it < cfg.iterations; ++it) {
    for (int b = 0; b < cfg.batch; ++b) {
      const Image& im = set[std::size_t(pick(gen))];
      patches(im, p.data() + Eigen::Index(b) * kAnchors * kInputs);
      std::copy(im.labels.begin(), im.labels.end(), labels.begin() + std::ptrdiff_t(b) * kAnchors);
    }
    run.losses.push_back(train_step(spec, run.model, adam, p, labels, cfg.lr));
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

// --- Evaluation ---------------------------------------------------------------------------------

// Per anchor and class, the probability of the class: σ of the logit, or the softmax's p_c.
Matrix scores(const Model& m, const Image& im) {
  Matrix p(kAnchors, kInputs), hidden, logits;
  patches(im, p.data());
  forward(m, p, hidden, logits);
  if (m.outputs() == kClasses) return (1.0f / (1.0f + (-logits.array()).exp())).matrix();
  const Eigen::ArrayXXf e = (logits.colwise() - logits.rowwise().maxCoeff()).array().exp();
  const Eigen::ArrayXf sum = e.rowwise().sum();
  return (e.rightCols(kClasses).colwise() / sum).matrix();
}

// Average precision per class, averaged over classes (the paper's AP at one matching rule):
// detections are the local maxima (3 × 3) of each class's score map above 0.001; a detection
// is a true positive if it lies within one pixel (Chebyshev) of a not yet matched object of
// its class, taking detections in descending score over the whole test set; AP is the area
// under the precision–recall curve with precision made non-increasing (all-point
// interpolation, as PASCAL VOC 2010+ and COCO compute it).
std::vector<double> average_precision(const Model& m, const std::vector<Image>& test) {
  struct Det {
    float score;
    int image, x, y;
  };
  std::vector<std::vector<Det>> dets(kClasses);
  std::vector<int> positives(kClasses, 0);
  for (std::size_t i = 0; i < test.size(); ++i) {
    const Matrix s = scores(m, test[i]);
    for (const Object& o : test[i].objects) ++positives[std::size_t(o.cls)];
    for (int c = 0; c < kClasses; ++c) {
      for (int y = 0; y < kSide; ++y) {
        for (int x = 0; x < kSide; ++x) {
          const float v = s(y * kSide + x, c);
          if (v < 0.001f) continue;
          bool peak = true;
          for (int dy = -1; dy <= 1 && peak; ++dy)
            for (int dx = -1; dx <= 1 && peak; ++dx) {
              const int sx = x + dx, sy = y + dy;
              if ((dx || dy) && sx >= 0 && sy >= 0 && sx < kSide && sy < kSide)
                peak = s(sy * kSide + sx, c) < v ||
                       (s(sy * kSide + sx, c) == v && (dy > 0 || (dy == 0 && dx > 0)));
            }
          if (peak) dets[std::size_t(c)].push_back({v, int(i), x, y});
        }
      }
    }
  }
  std::vector<double> ap(kClasses, 0.0);
  for (int c = 0; c < kClasses; ++c) {
    auto& d = dets[std::size_t(c)];
    std::sort(d.begin(), d.end(), [](const Det& a, const Det& b) { return a.score > b.score; });
    std::vector<std::vector<bool>> used(test.size());
    for (std::size_t i = 0; i < test.size(); ++i) used[i].assign(test[i].objects.size(), false);
    std::vector<double> precision, recall;
    int tp = 0;
    for (std::size_t k = 0; k < d.size(); ++k) {
      const auto& objs = test[std::size_t(d[k].image)].objects;
      for (std::size_t j = 0; j < objs.size(); ++j) {
        if (objs[j].cls == c && !used[std::size_t(d[k].image)][j] &&
            std::max(std::abs(objs[j].x - d[k].x), std::abs(objs[j].y - d[k].y)) <= 1) {
          used[std::size_t(d[k].image)][j] = true;
          ++tp;
          break;
        }
      }
      precision.push_back(double(tp) / double(k + 1));
      recall.push_back(positives[std::size_t(c)] ? double(tp) / positives[std::size_t(c)] : 0.0);
    }
    for (std::size_t k = precision.size(); k-- > 1;)
      precision[k - 1] = std::max(precision[k - 1], precision[k]);
    double prev = 0;
    for (std::size_t k = 0; k < precision.size(); ++k) {
      ap[std::size_t(c)] += (recall[k] - prev) * precision[k];
      prev = recall[k];
    }
  }
  return ap;
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

double stddev(const std::vector<double>& v) {
  const double mu = mean(v);
  double s = 0;
  for (double x : v) s += (x - mu) * (x - mu);
  return v.size() > 1 ? std::sqrt(s / double(v.size() - 1)) : 0.0;
}

bool finite(const Model& m) {
  return m.w1.allFinite() && m.w2.allFinite() && m.b1.allFinite() && m.b2.allFinite();
}

// --- Figures ------------------------------------------------------------------------------------

// Figure 1: the loss against p_t for γ ∈ {0, 0.5, 1, 2, 5}, from focal's per-element loss on
// probabilities.
void write_figure1(const std::string& path) {
  std::ofstream f(path);
  f << "p_t,gamma,loss\n";
  for (double g : {0.0, 0.5, 1.0, 2.0, 5.0}) {
    const focal::FocalLoss<double, focal::Probabilities> fl(g);
    for (int i = 1; i <= 200; ++i) {
      const double pt = i / 200.0;
      f << pt << ',' << g << ',' << fl(pt, 1.0) << '\n';
    }
  }
}

// Figure 4: the cumulative distribution of the normalized loss of positive and of negative
// elements (anchor × class, ignored anchors left out) on the test images, under a converged
// model (trained with γ = 2), for several γ: sorted ascending, the fraction of the total loss
// carried by the smallest fraction of the samples.
void write_figure4(const std::string& path, const Model& m, const std::vector<Image>& test) {
  std::ofstream f(path);
  f << "gamma,samples,fraction,cumulative_loss\n";
  // The model's logits, once per image; each γ evaluates its loss on them.
  std::vector<Matrix> logits(test.size());
  Matrix p(kAnchors, kInputs), hidden;
  for (std::size_t i = 0; i < test.size(); ++i) {
    patches(test[i], p.data());
    forward(m, p, hidden, logits[i]);
  }
  for (double g : {0.0, 0.5, 1.0, 2.0}) {
    const focal::FocalLoss<float> fl{static_cast<float>(g)};
    std::vector<double> pos, neg;
    for (std::size_t i = 0; i < test.size(); ++i) {
      const Eigen::Map<const RowMajor> x(logits[i].data(), kAnchors, kClasses);
      const Eigen::Map<const Eigen::ArrayXi> y(test[i].labels.data(), kAnchors);
      const RowMajor l = fl.value(x, focal::labels(y));
      for (int a = 0; a < kAnchors; ++a) {
        if (y[a] == focal::ignore) continue;
        for (int c = 0; c < kClasses; ++c) (y[a] == c ? pos : neg).push_back(l(a, c));
      }
    }
    for (auto* v : {&pos, &neg}) {
      std::sort(v->begin(), v->end());
      const double total = std::accumulate(v->begin(), v->end(), 0.0);
      double run = 0;
      std::size_t next = 0;
      for (int q = 0; q <= 100; ++q) {
        const std::size_t upto = std::size_t(double(v->size()) * q / 100.0);
        for (; next < upto; ++next) run += (*v)[next];
        f << g << ',' << (v == &pos ? "positive" : "negative") << ',' << q / 100.0 << ','
          << (total > 0 ? run / total : 0.0) << '\n';
      }
    }
  }
}

// --- The command line ---------------------------------------------------------------------------

void usage() {
  std::printf(
      "train_detector: trains a dense detector with each of focal's losses (Table 1 of Lin et "
      "al. 2017, on synthetic images)\n"
      "  --out DIR       write table.csv, figure1.csv and figure4.csv there (default: results)\n"
      "  --seeds N       seeds 0..N-1 per loss (default 3)\n"
      "  --seed S        one seed, S (instead of --seeds)\n"
      "  --iters N       training iterations per run (default 300)\n"
      "  --loss NAME     only the losses whose name contains NAME (e.g. 'FL g=2', 'softmax')\n"
      "  --threads N     runs in parallel (default 2)\n"
      "  --smoke         a seconds-long check: the a-FL loss falls, no parameter is NaN, and the\n"
      "                  trained model's AP is clearly above the untrained one's (exit 1 if not)\n"
      "  --help          this text\n");
}

int smoke() {
  Config cfg;
  cfg.iterations = 150;
  cfg.train_images = 32;
  cfg.test_images = 16;
  const std::vector<Image> set = make_set(cfg.train_images, 100),
                           test = make_set(cfg.test_images, 200);
  const LossSpec spec{"a-FL a=0.25 g=2", "alpha-fl", 0.25f, 2.0f};
  std::mt19937 gen(7);
  const Model untrained = init_model(kClasses, false, true, gen);
  const Run run = train(spec, cfg, set, 7);
  const auto avg = [&](int from, int to) {
    return std::accumulate(run.losses.begin() + from, run.losses.begin() + to, 0.0) / (to - from);
  };
  const double first = avg(0, 10), last = avg(cfg.iterations - 10, cfg.iterations);
  const double ap0 = mean(average_precision(untrained, test)),
               ap1 = mean(average_precision(run.model, test));
  std::printf("smoke: loss %.4f -> %.4f, AP %.3f untrained -> %.3f trained, %.1f s\n", first, last,
              ap0, ap1, run.seconds);
  bool ok = true;
  if (!(last < 0.5 * first))
    ok = false, std::printf("FAIL: the training loss did not fall by half\n");
  if (!finite(run.model)) ok = false, std::printf("FAIL: a parameter is not finite\n");
  if (!(ap1 > ap0 + 0.2))
    ok = false, std::printf("FAIL: the trained AP is not 0.2 above the untrained\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "results", only;
  int seeds = 3, first_seed = 0, threads = 2;
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") return usage(), 0;
    if (a == "--smoke") return smoke();
    if (a == "--out")
      out = value();
    else if (a == "--seeds")
      seeds = std::stoi(value());
    else if (a == "--seed")
      first_seed = std::stoi(value()), seeds = 1;
    else if (a == "--iters")
      cfg.iterations = std::stoi(value());
    else if (a == "--loss")
      only = value();
    else if (a == "--threads")
      threads = std::max(1, std::stoi(value()));
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      usage();
      return 2;
    }
  }
  std::filesystem::create_directories(out);
  std::vector<LossSpec> losses;
  for (const LossSpec& s : all_losses())
    if (only.empty() || s.name.find(only) != std::string::npos) losses.push_back(s);

  // Every (loss, seed) run, on `threads` threads; each seed has its own training and test sets.
  struct Job {
    std::size_t loss;
    int seed;
    std::vector<double> ap;
    double seconds = 0, first_loss = 0, final_loss = 0;  // training loss: first, last 10 steps
    bool finite = true;
  };
  std::vector<Job> jobs;
  for (std::size_t l = 0; l < losses.size(); ++l)
    for (int s = first_seed; s < first_seed + seeds; ++s) jobs.push_back({l, s, {}, 0, 0, 0, true});
  std::map<int, std::pair<std::vector<Image>, std::vector<Image>>> sets;
  for (int s = first_seed; s < first_seed + seeds; ++s)
    sets[s] = {make_set(cfg.train_images, 1000u + unsigned(s)),
               make_set(cfg.test_images, 2000u + unsigned(s))};
  std::mutex lock;
  std::size_t next = 0;
  Model figure_model;
  bool have_figure_model = false;
  const auto worker = [&] {
    for (;;) {
      std::size_t j;
      {
        std::lock_guard<std::mutex> g(lock);
        if (next == jobs.size()) return;
        j = next++;
      }
      Job& job = jobs[j];
      const auto& data = sets[job.seed];
      const Run run = train(losses[job.loss], cfg, data.first, unsigned(job.seed));
      job.ap = average_precision(run.model, data.second);
      job.seconds = run.seconds;
      job.finite = finite(run.model);
      const auto tail = [&](std::size_t from) {
        const std::size_t n = std::min<std::size_t>(10, run.losses.size() - from);
        return std::accumulate(run.losses.begin() + std::ptrdiff_t(from),
                               run.losses.begin() + std::ptrdiff_t(from + n), 0.0) /
               double(n);
      };
      job.first_loss = tail(0);
      job.final_loss = tail(run.losses.size() - std::min<std::size_t>(10, run.losses.size()));
      std::lock_guard<std::mutex> g(lock);
      std::printf("  %-20s seed %d  AP %.3f  %.1f s\n", losses[job.loss].name.c_str(), job.seed,
                  mean(job.ap), job.seconds);
      if (losses[job.loss].kind == "fl" && losses[job.loss].gamma == 2.0f &&
          job.seed == first_seed) {
        figure_model = run.model;
        have_figure_model = true;
      }
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Table 1's layout: the loss, AP as mean ± std over seeds (×100, as the paper prints it).
  std::ofstream csv(out + "/table.csv");
  csv << "loss,seed,AP,AP_square,AP_ring,AP_cross,seconds,first_loss,final_loss,finite\n";
  std::printf(
      "\n| loss | AP (mean ± std over %d seeds, ×100) | time per run (s) |\n|---|---|---|\n",
      seeds);
  for (std::size_t l = 0; l < losses.size(); ++l) {
    std::vector<double> aps, secs;
    bool all_finite = true;
    for (const Job& j : jobs) {
      if (j.loss != l) continue;
      aps.push_back(100 * mean(j.ap));
      secs.push_back(j.seconds);
      all_finite = all_finite && j.finite;
      csv << '"' << losses[l].name << "\"," << j.seed << ',' << mean(j.ap) << ',' << j.ap[0] << ','
          << j.ap[1] << ',' << j.ap[2] << ',' << j.seconds << ',' << j.first_loss << ','
          << j.final_loss << ',' << j.finite << '\n';
    }
    std::printf("| %s | %.1f ± %.1f%s | %.1f |\n", losses[l].name.c_str(), mean(aps), stddev(aps),
                all_finite ? "" : " (NaN parameters)", mean(secs));
  }
  std::printf("\n%zu runs in %.1f s on %d threads (%d iterations of %d images each)\n", jobs.size(),
              total, threads, cfg.iterations, cfg.batch);
  write_figure1(out + "/figure1.csv");
  if (have_figure_model) write_figure4(out + "/figure4.csv", figure_model, sets[first_seed].second);
  std::printf("wrote %s/table.csv, %s/figure1.csv%s\n", out.c_str(), out.c_str(),
              have_figure_model ? (", " + out + "/figure4.csv").c_str() : "");
  return 0;
}
