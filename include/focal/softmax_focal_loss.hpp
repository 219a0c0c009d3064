#ifndef FOCAL_SOFTMAX_FOCAL_LOSS_HPP
#define FOCAL_SOFTMAX_FOCAL_LOSS_HPP

/// @file
/// Softmax focal loss over the K classes of each row (Detectron's SoftmaxFocalLoss), with
/// class-index labels.

#include "detail/config.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "detail/checks.hpp"
#include "detail/sigmoid_kernel.hpp"
#include "detail/softmax_loss.hpp"
#include "execution.hpp"
#include "labels.hpp"

FOCAL_NAMESPACE_BEGIN


/// Softmax focal loss: for a row x of K logits with label t, p = softmax(x) and
/// FL = −α_t (1 − p_t)^γ log p_t; γ = 0 is softmax cross-entropy (times α_t).
///
/// Gradient: ∂FL/∂x_c = w (δ_ct − p_c), w = −α_t q^γ (1 + γ p_t (−log p_t)/q), q = 1 − p_t
/// computed as Σ_{c≠t} p_c. No (1 − p_t)^(γ−1) appears, so it is finite for every γ ≥ 0 on
/// saturated rows, where Detectron, mmcv and NeoML give NaN for γ < 1. Each gradient row sums
/// to 0. Stable log-sum-exp with exact differences x_c − max x; row sums compensated and
/// reduced in double. Rows run a SIMD packet at a time: in place where logits and grad are
/// row-major (e.g. an N × K `Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic,
/// Eigen::RowMajor>` or a Map over a framework's [N, K] tensor), fastest; other layouts through
/// a row-major stack buffer, with the same bits. Rows shorter than a packet, with a NaN or an
/// infinite logit, or (outside row-major) of more than 16,384 float or 8,192 double classes go
/// element by element, to the same accuracy.
///
/// α_t is one α for every class, or a per-class vector of K weights (Detectron's "background
/// gets 1 − α" is class_alpha = (1 − α, α, …, α) with the background as a class; mmcv's
/// convention is one α for all).
///
/// Labels: focal::labels(v) with v[i] ∈ [0, K) or focal::ignore (no loss, zero gradient row).
/// focal::background is not legal here: in a softmax the background is a class of its own.
///
/// @tparam Scalar float or double.
template <class Scalar = float>
class SoftmaxFocalLoss {
  static_assert(detail::is_supported_scalar_v<Scalar>, "focal: Scalar must be float or double");

 public:
  using scalar_type = Scalar;  ///< float or double
  /// Per-class α: K weights.
  using ClassWeights = Eigen::Array<Scalar, Eigen::Dynamic, 1>;

  /// @param alpha α_t of every class, in [0, 1] (mmcv's convention: one α for all).
  /// @param gamma focusing γ ≥ 0, finite.
  /// The paper's order, α before γ, as every focal loss here takes them.
  /// @throws std::invalid_argument otherwise.
  explicit SoftmaxFocalLoss(Scalar alpha = Scalar(1), Scalar gamma = Scalar(2))
      : gamma_(detail::checked_gamma("SoftmaxFocalLoss", gamma)),
        alpha_(detail::checked_alpha("SoftmaxFocalLoss", alpha)) {}

  /// @param class_alpha α_t of each of the K classes, each ≥ 0 and finite (class weights, e.g.
  /// Detectron's (1 − α, α, …, α)); its length must equal the logits' column count at each
  /// call. @param gamma focusing γ ≥ 0, finite.
  /// @throws std::invalid_argument naming the class and the value.
  explicit SoftmaxFocalLoss(ClassWeights class_alpha, Scalar gamma = Scalar(2))
      : gamma_(detail::checked_gamma("SoftmaxFocalLoss", gamma)),
        alpha_(Scalar(1)),
        class_alpha_(std::make_shared<const ClassWeights>(std::move(class_alpha))) {
    alpha_data_ = class_alpha_->data();
    alpha_size_ = class_alpha_->size();
    check_class_alpha();
  }

  /// Per-class α held by the caller, who keeps it alive and unchanged while the loss and its
  /// copies are used (the dispatch library's view of a loss built in another translation
  /// unit: nothing is allocated). Checks and throws as the constructor above.
  SoftmaxFocalLoss(detail::BorrowedClassAlpha<Scalar> class_alpha, Scalar gamma)
      : gamma_(detail::checked_gamma("SoftmaxFocalLoss", gamma)),
        alpha_(Scalar(1)),
        alpha_data_(class_alpha.data),
        alpha_size_(class_alpha.size) {
    check_class_alpha();
  }

  /// γ, the focusing parameter.
  Scalar gamma() const noexcept { return gamma_; }
  /// The α of every class (1 when per-class weights were given).
  Scalar alpha() const noexcept { return alpha_; }
  /// The per-class α, or an empty array when one α applies to all classes (or the per-class α
  /// is borrowed).
  const ClassWeights& class_alpha() const noexcept {
    static const ClassWeights none;
    return class_alpha_ ? *class_alpha_ : none;
  }
  /// α_t of class c.
  Scalar alpha_of(Eigen::Index c) const { return alpha_data_ != nullptr ? alpha_data_[c] : alpha_; }

  /// Per-row losses (N-vector) as a lazy Eigen expression: w_i·FL of row i, 0 for ignored rows.
  /// Each coefficient costs one pass over its row. Plain arrays passed in must outlive it.
  /// @throws std::invalid_argument as value_and_gradient (but for grad and normalizer).
  template <class DX, class Indices, class Weights>
  auto value(const Eigen::DenseBase<DX>& logits, const Labels<Indices, Weights>& labels) const {
    check(logits, labels);
    using Op = detail::softmax_row_op<Scalar, DX, Indices, Weights>;
    return Eigen::CwiseNullaryOp<Op, const Eigen::Array<Scalar, Eigen::Dynamic, 1>>(
        logits.rows(), 1, Op{*this, logits.derived(), labels});
  }

  /// The fused pass over N × K logits: returns Σ_i w_i FL_i / normalizer over non-ignored rows
  /// and writes grad = its derivative (zero rows for ignored anchors), allocating nothing (on
  /// one thread). grad may be the logits object itself; a const or temporary Array or Matrix
  /// does not compile. exec: focal::threads(n) or focal::parallel(pool), chunks of whole rows;
  /// the result is the same bits with any.
  /// @throws std::invalid_argument on labels of the wrong length or outside [0, K) ∪ {ignore},
  /// anchor weights that are negative, not finite or of the wrong length, class_alpha of a
  /// length other than K, a grad of another shape, or a normalizer that is not positive and
  /// finite; grad is then untouched.
  template <class DX, class Indices, class Weights, class G, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& logits, const Labels<Indices, Weights>& labels,
                            G&& grad, Scalar normalizer = Scalar(1),
                            const Exec& exec = Exec{}) const {
    auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
    detail::check_normalizer(normalizer);
    check(logits, labels);
    detail::check_shape("grad", out.rows(), out.cols(), "logits", logits.rows(), logits.cols());
    const double total = detail::softmax_fused(*this, logits.derived(), labels, out, normalizer,
                                               exec);
    return static_cast<Scalar>(total / static_cast<double>(normalizer));
  }

  /// The weighted loss of row i (0 if ignored), unchecked: for the expressions of value().
  template <class DX, class Indices, class Weights>
  Scalar row_loss(const DX& logits, const Labels<Indices, Weights>& labels, Eigen::Index i) const {
    return detail::softmax_row_loss(*this, logits, labels, i);
  }

 private:
  static Scalar checked_weight(const char* name, Scalar a) {
    if (!(a >= Scalar(0) && a <= std::numeric_limits<Scalar>::max())) {
      detail::throw_parameter("SoftmaxFocalLoss", name, a, "must be finite and >= 0");
    }
    return a;
  }

  template <class DX, class Indices, class Weights>
  void check(const Eigen::DenseBase<DX>& logits, const Labels<Indices, Weights>& labels) const {
    static_assert(std::is_same<typename DX::Scalar, Scalar>::value,
                  "focal: logits must have the loss's Scalar type "
                  "(float arrays for SoftmaxFocalLoss<float>)");
    if (alpha_data_ != nullptr && alpha_size_ != logits.cols()) {
      std::ostringstream os;
      os << "focal: class_alpha has " << alpha_size_ << " entries but logits has "
         << logits.cols() << " columns (classes); they must match";
      throw std::invalid_argument(os.str());
    }
    detail::check_labels<Scalar>(labels, logits.rows(), logits.cols(), "logits", false);
  }

  // The name of a weight built only for the one that fails: the dispatch library builds a
  // loss per call, and "class_alpha[100]" no longer fits std::string's inline buffer.
  void check_class_alpha() const {
    for (Eigen::Index c = 0; c < alpha_size_; ++c) {
      const Scalar a = alpha_data_[c];
      if (!(a >= Scalar(0) && a <= std::numeric_limits<Scalar>::max())) {
        checked_weight(("class_alpha[" + std::to_string(c) + "]").c_str(), a);
      }
    }
  }

  Scalar gamma_;
  Scalar alpha_;
  std::shared_ptr<const ClassWeights> class_alpha_;  // shared: copies allocate nothing
  const Scalar* alpha_data_ = nullptr;  // the per-class α (class_alpha_'s or borrowed), or null
  Eigen::Index alpha_size_ = 0;
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_SOFTMAX_FOCAL_LOSS_HPP
