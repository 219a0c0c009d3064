#ifndef FOCAL_TESTS_REFERENCE_HPP
#define FOCAL_TESTS_REFERENCE_HPP

// An independent reference for every loss in binary128 (__float128, libquadmath): 113-bit
// significands, so float and double results can be judged to a small fraction of an ulp.
// Written from the paper's definitions, not from focal's kernel; the only care taken is to
// evaluate σ and log σ without overflow, which quad precision needs as much as any type.

#include <quadmath.h>

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace ref {

using quad = __float128;

inline quad sigmoid(quad z) {  // σ(z) = 1/(1 + exp(−z))
  if (z >= 0) return 1 / (1 + expq(-z));
  const quad e = expq(z);
  return e / (1 + e);
}

inline quad log_sigmoid(quad z) {  // log σ(z) = −log(1 + exp(−z))
  if (z >= 0) return -log1pq(expq(-z));
  return z - log1pq(expq(z));
}

// q^γ with 0^0 = 1.
inline quad power(quad q, quad gamma) {
  if (gamma == 0) return 1;
  if (q == 0) return 0;
  return powq(q, gamma);
}

struct Result {
  quad loss;
  quad grad;  // ∂loss/∂input
};

// α_t-weighted focal loss on a logit, eq. (4)/(5); derivative eq. (10) times α_t.
inline Result focal_logit(quad x, bool positive, quad alpha_t, quad gamma) {
  const quad s = positive ? 1 : -1;
  const quad z = s * x;
  const quad pt = sigmoid(z);
  const quad q = sigmoid(-z);  // 1 − p_t without cancellation
  const quad log_pt = log_sigmoid(z);
  const quad qg = power(q, gamma);
  Result r;
  r.loss = alpha_t == 0 ? 0 : -alpha_t * qg * log_pt;
  // (10): s (1 − p_t)^γ (γ p_t log p_t + p_t − 1), with p_t − 1 = −q.
  const quad pt_log_pt = pt == 0 ? 0 : pt * log_pt;
  r.grad = alpha_t == 0 ? 0 : s * alpha_t * qg * (gamma * pt_log_pt - q);
  return r;
}

// α_t-weighted focal loss on a probability p; derivative w.r.t. p.
inline Result focal_probability(quad p, bool positive, quad alpha_t, quad gamma) {
  const quad s = positive ? 1 : -1;
  const quad pt = positive ? p : 1 - p;
  const quad q = positive ? 1 - p : p;
  // 1 − p is not exact even in quad once p < 1e-34: take log(1 − p) as log1p(−p).
  const quad log_pt = positive ? logq(p) : log1pq(-p);
  const quad qg = power(q, gamma);
  Result r;
  if (alpha_t == 0) return {0, 0};
  r.loss = -alpha_t * qg * log_pt;
  if (pt == 0) {
    r.grad = -s * alpha_t * ref::quad(std::numeric_limits<double>::infinity());
  } else if (q == 0) {  // the limit p_t → 1 of γ q^(γ−1) log p_t − q^γ / p_t
    r.grad = gamma == 0 ? -s * alpha_t : quad(0);
  } else {
    // d/dp_t [−q^γ log p_t] = γ q^(γ−1) log p_t − q^γ / p_t
    r.grad = s * alpha_t * (gamma * power(q, gamma - 1) * log_pt - qg / pt);
  }
  return r;
}

// FL*, App. A: −log σ(γ x_t + β)/γ, derivative (11): s (σ(γ x_t + β) − 1).
inline Result focal_star(quad x, bool positive, quad gamma, quad beta) {
  const quad s = positive ? 1 : -1;
  const quad u = gamma * (s * x) + beta;
  return {-log_sigmoid(u) / gamma, -s * sigmoid(-u)};
}

// Softmax focal loss of one row x[0..K) with target t: p = softmax(x), loss = −α_t q^γ log p_t
// with q = Σ_{c≠t} p_c, and ∂loss/∂x_c = dFL/dp_t · dp_t/dx_c
//   = α_t (γ q^(γ−1) log p_t − q^γ / p_t) · p_t (δ_ct − p_c),
// multiplied out as α_t (γ q^(γ−1) p_t log p_t − q^γ)(δ_ct − p_c). Everything relative to x_t:
// with u = Σ_{c≠t} e^(x_c − x_t), p_t = 1/(1 + u), log p_t = −log1p(u), q = u/(1 + u),
// p_c = e^(x_c − x_t) p_t. (Even quad loses a saturated row's loss in log(1 + 1e-87).)
// Rows must be finite, with x_c − x_t below quad's exp overflow (~11356). The row's
// exponentials are computed once, for any number of (α_t, γ).
class SoftmaxRow {
 public:
  SoftmaxRow(const quad* x, int classes, int t) : e_(std::size_t(classes)), t_(t) {
    for (int c = 0; c < classes; ++c) {
      e_[std::size_t(c)] = c == t ? quad(1) : expq(x[c] - x[t]);
      if (c != t) u_ += e_[std::size_t(c)];
    }
  }

  /// The loss, and with grad the K derivatives.
  quad eval(quad alpha_t, quad gamma, quad* grad) const {
    const quad pt = 1 / (1 + u_);
    const quad log_pt = -log1pq(u_);
    const quad q = u_ / (1 + u_);
    const quad qg = power(q, gamma);
    if (grad != nullptr) {
      quad outer;
      if (q == 0) {
        outer = gamma == 0 ? -1 : 0;
      } else {
        outer = (gamma == 0 ? quad(0) : gamma * power(q, gamma - 1) * pt * log_pt) - qg;
      }
      for (std::size_t c = 0; c < e_.size(); ++c) {
        const quad delta_minus_p = int(c) == t_ ? q : -e_[c] * pt;
        grad[c] = alpha_t * outer * delta_minus_p;
      }
    }
    return -alpha_t * qg * log_pt;
  }

 private:
  std::vector<quad> e_;
  quad u_ = 0;
  int t_;
};

inline quad softmax_focal(const quad* x, int classes, int t, quad alpha_t, quad gamma,
                          quad* grad) {
  return SoftmaxRow(x, classes, t).eval(alpha_t, gamma, grad);
}

// The soft-target losses (QFL, VFL) on a logit x or a probability, with target y ∈ [0, 1],
// written from their papers' definitions and differentiated term by term:
//   QFL = |y − σ|^β ce,  ce = −y log σ − (1 − y) log(1 − σ),
//   dQFL/dσ = −β |d|^(β−1) sgn(d) ce + |d|^β (−y/σ + (1 − y)/(1 − σ)),  d = y − σ,
//   VFL = y ce (y > 0),  α σ^γ (−log(1 − σ)) (y = 0),
// with dσ/dx = σ(1 − σ) on logits. `shift` moves σ inside d = y − (σ + shift) only: the test
// measures with it how much σ's own last-bit error can move a result (where y ≈ σ).
struct SoftLoss {
  bool varifocal;
  quad exponent;  // β of QFL, γ of VFL
  quad alpha;     // VFL's α
};

inline quad sgn(quad v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

// |d|^(β−1)·sgn(d)·β, 0 where d = 0 or β = 0 (the kernel's convention at d = 0).
inline quad soft_slope(quad d, quad beta) {
  if (beta == 0 || d == 0) return 0;
  return beta * powq(fabsq(d), beta - 1) * sgn(d);
}

inline Result soft_logit(const SoftLoss& f, quad x, quad y, quad shift = 0) {
  const quad sig = sigmoid(x), comp = sigmoid(-x);  // σ, 1 − σ
  const quad sp_pos = -log_sigmoid(-x), sp_neg = -log_sigmoid(x);  // −log(1 − σ), −log σ
  const quad ce = (y == 0 ? 0 : y * sp_neg) + (y == 1 ? 0 : (1 - y) * sp_pos);
  const quad ss = sig * comp;
  // y − σ without quad's own cancellation (1 − σ(x) is 0 in quad for x > 78, and y − σ(x)
  // near 1/2 loses what lies below 2^-113): (y − 1) + σ(−x) for x ≥ 1, y − σ(x) for x ≤ −1,
  // (y − 1/2) − tanh(x/2)/2 between (y − 1 and y − 1/2 are exact).
  const quad d = (x >= 1 ? (y - 1) + comp : x <= -1 ? y - sig : (y - quad(0.5)) - tanhq(x / 2) / 2) - shift;
  const quad dce = -d;  // dce/dx = σ − y
  if (!f.varifocal) {
    const quad dp = power(fabsq(d), f.exponent);
    const quad slope = soft_slope(d, f.exponent);
    return {dp * ce, -slope * ss * (isinfq(ce) ? 0 : ce) + dp * dce};
  }
  if (y > 0) return {y * ce, -y * d};
  const quad pg = power(sig, f.exponent);
  // d/dx σ^γ = γ σ^γ (1 − σ)
  const quad term = sp_pos == 0 || comp == 0 ? 0 : f.exponent * pg * comp * sp_pos;
  return {f.alpha * pg * sp_pos, f.alpha * (term + pg * sig)};
}

inline Result soft_probability(const SoftLoss& f, quad p, quad y) {
  const quad inf = quad(std::numeric_limits<double>::infinity());
  const quad nlp = p == 0 ? inf : -logq(p), nlq = p == 1 ? inf : -log1pq(-p);
  const quad ce = (y == 0 ? 0 : y * nlp) + (y == 1 ? 0 : (1 - y) * nlq);
  // dce/dp = −y/p + (1 − y)/(1 − p), each term only where its weight is not 0.
  const quad dce = (y == 0 ? 0 : p == 0 ? -inf : -y / p) + (y == 1 ? 0 : p == 1 ? inf : (1 - y) / (1 - p));
  const quad d = y - p;
  if (!f.varifocal) {
    const quad dp = power(fabsq(d), f.exponent);
    const quad slope = soft_slope(d, f.exponent);
    // dp·dce at d = 0: 0 inside, the cross-entropy's one-sided slope ±1 at p = y ∈ {0, 1}.
    quad direct = dp == 0 ? 0 : dp * dce;
    if (d == 0 && f.exponent == 0) direct = p == 0 ? 1 : p == 1 ? -1 : 0;
    return {dp * ce, (slope == 0 ? 0 : -slope * ce) + direct};
  }
  if (y > 0) return {y * ce, (d == 0 && p == 1) ? -y : y * dce};
  const quad pg = power(p, f.exponent);
  const quad term = f.exponent == 0 || p == 0 ? 0 : f.exponent * power(p, f.exponent - 1) * nlq;
  return {f.alpha * pg * nlq, f.alpha * (term + (p == 1 ? inf : pg / (1 - p)))};
}

// GFL's Distribution Focal Loss of one row x[0..bins) at target t ∈ [0, bins − 1], from its
// definition: with i = ⌊t⌋ and log S_c = x_c − logsumexp(x),
//   DFL = −(i + 1 − t) log S_i − (t − i) log S_{i+1},  ∂DFL/∂x_c = S_c − (i + 1 − t) δ_ci − (t − i) δ_c,i+1
// (a term of weight 0 omitted). Writes the gradient into grad.
inline quad distribution_focal(const double* x, int bins, quad t, quad* grad) {
  // log S_c = (x_c − m) − log1p(R), R = Σ_{c≠a} exp(x_c − m): (m + log Σ) − x_c would lose in
  // quad itself what lies below m's last bit.
  int a = 0;
  for (int c = 1; c < bins; ++c) a = x[c] > x[a] ? c : a;
  const quad m = x[a];
  quad r = 0;
  for (int c = 0; c < bins; ++c) r += c == a ? quad(0) : expq(quad(x[c]) - m);
  const quad log_sum = log1pq(r);
  const auto neg_log_s = [&](int c) { return (m - quad(x[c])) + log_sum; };
  const int i = int(floorq(t));
  const quad wl = quad(i + 1) - t, wr = t - quad(i);
  quad loss = wl == 0 ? quad(0) : wl * neg_log_s(i);
  if (wr != 0) loss += wr * neg_log_s(i + 1);
  for (int c = 0; c < bins; ++c) {
    grad[c] = expq(-neg_log_s(c)) - (c == i ? wl : 0) - (c == i + 1 ? wr : 0);
  }
  return loss;
}

// Distance from a computed S to the exact value, in units of the spacing of S at the exact
// value (subnormal spacing below the normal range). An exact value beyond S's range must be
// computed as the matching infinity; NaN is never accurate.
template <class S>
quad ulp_error(S computed, quad exact) {
  const quad inf = quad(std::numeric_limits<double>::infinity());
  if (std::isnan(computed) || isnanq(exact)) return inf;
  const S rounded = static_cast<S>(exact);
  if (std::isinf(rounded) || std::isinf(computed)) return computed == rounded ? 0 : inf;
  const quad a = fabsq(exact);
  int e = a == 0 ? std::numeric_limits<int>::min() : ilogbq(a);
  const int emin = std::numeric_limits<S>::min_exponent - 1;  // exponent of the least normal
  if (e < emin) e = emin;
  const quad ulp = ldexpq(1, e - (std::numeric_limits<S>::digits - 1));
  return fabsq(static_cast<quad>(computed) - exact) / ulp;
}

inline double to_double(quad v) { return static_cast<double>(v); }

}  // namespace ref

#endif  // FOCAL_TESTS_REFERENCE_HPP
