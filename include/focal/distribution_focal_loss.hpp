#ifndef FOCAL_DISTRIBUTION_FOCAL_LOSS_HPP
#define FOCAL_DISTRIBUTION_FOCAL_LOSS_HPP

/// @file
/// Distribution Focal Loss of Li et al. 2020 (Generalized Focal Loss, GFL), the box-regression
/// loss of GFL, NanoDet, YOLOv8 and their descendants.

#include "detail/config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "detail/checks.hpp"
#include "detail/distribution_row.hpp"
#include "detail/layout.hpp"
#include "detail/parallel.hpp"
#include "detail/scan.hpp"
#include "detail/sigmoid_kernel.hpp"
#include "detail/summation.hpp"
#include "execution.hpp"
#include "labels.hpp"

FOCAL_NAMESPACE_BEGIN

/// Distribution Focal Loss (GFL, eq. (6) of Li et al. 2020). Each row holds the n + 1 logits
/// of one box side's distance over the bins 0, 1, …, n; its target is the continuous distance
/// t ∈ [0, n]. With i = ⌊t⌋ and S = softmax(row):
/// DFL = −((i + 1 − t) log S_i + (t − i) log S_{i+1}), a term of weight 0 omitted (so t = n
/// is legal), computed as log Σ exp(x_c − m) + (i + 1 − t)(m − x_i) + (t − i)(m − x_{i+1}),
/// m = max x, every term ≥ 0 (the softmax focal loss's exact log-softmax).
///
/// Derivative: ∂DFL/∂x_c = S_c − (i + 1 − t) δ_ci − (t − i) δ_c,i+1, fused with the value.
/// A NaN logit makes its row's loss and gradient NaN; infinite logits give the limits.
///
/// @tparam Scalar float or double.
template <class Scalar = float>
class DistributionFocalLoss {
  static_assert(detail::is_supported_scalar_v<Scalar>, "focal: Scalar must be float or double");

 public:
  using scalar_type = Scalar;  ///< float or double

  /// DFL has no parameters (the number of bins is the logits' number of columns).
  DistributionFocalLoss() = default;

  /// Loss of one row (a vector of n + 1 logits) at target t.
  /// @throws std::invalid_argument if t is outside [0, n] or NaN, or the row is empty.
  template <class DX>
  Scalar operator()(const Eigen::DenseBase<DX>& row, Scalar target) const {
    check_type<DX>();
    if (row.size() == 0) {
      throw std::invalid_argument("focal: row is empty; DFL needs n + 1 >= 1 bins");
    }
    check_target(target, row.size(), "target", -1);
    Scalar unused = 0;
    const auto& r = row.derived();
    return static_cast<Scalar>(detail::distribution_row<false>(
        [&](Eigen::Index c) { return r.coeff(c); }, row.size(), target, Scalar(1), Scalar(1),
        [&](Eigen::Index) -> Scalar& { return unused; }));
  }

  /// Per-row losses (N-vector) of N × (n + 1) logits against N targets, as a lazy Eigen
  /// expression; each coefficient costs a pass over its row. Plain arrays passed in must
  /// outlive it.
  /// @throws std::invalid_argument as value_and_gradient (but for grad and normalizer).
  template <class DX, class DT>
  auto value(const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DT>& targets) const {
    check(logits, targets);
    using Op = row_op<DX, DT>;
    return Eigen::CwiseNullaryOp<Op, const Eigen::Array<Scalar, Eigen::Dynamic, 1>>(
        logits.rows(), 1, Op{logits.derived(), targets.derived()});
  }

  /// The fused pass: returns Σ_i DFL_i / normalizer over the N rows and writes grad = its
  /// derivative, in one pass per row, allocating nothing (on one thread). grad: any writable
  /// dense object of the logits' shape, possibly the logits themselves. exec:
  /// focal::threads(n) or focal::parallel(pool) (chunks of whole rows; the same bits with any).
  /// mmdetection's `avg_factor` is the normalizer (GFL passes 4 × the foreground weight sum).
  /// @throws std::invalid_argument on targets that are not a vector of N values in [0, n],
  /// a grad of another shape, or a normalizer that is not positive and finite; grad is then
  /// untouched.
  template <class DX, class DT, class G, class Exec = Threads,
            class = std::enable_if_t<!std::is_base_of<Eigen::EigenBase<Exec>, Exec>::value>>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DT>& targets,
                            G&& grad, Scalar normalizer = Scalar(1),
                            const Exec& exec = Exec{}) const {
    auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
    detail::check_normalizer(normalizer);
    check(logits, targets);
    detail::check_shape("grad", out.rows(), out.cols(), "logits", logits.rows(), logits.cols());
    return fused(logits.derived(), targets.derived(), out, normalizer,
                 static_cast<const std::nullptr_t*>(nullptr), exec);
  }

  /// The same with one weight per row (mmdetection's `weight`; GFL weights each side by its
  /// box's quality score): Σ_i w_i DFL_i / normalizer and its derivative.
  /// @throws std::invalid_argument as above, or on weights that are not a vector of N finite
  /// values ≥ 0; grad is then untouched.
  template <class DX, class DT, class G, class DW, class Exec = Threads>
  Scalar value_and_gradient(const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DT>& targets,
                            G&& grad, Scalar normalizer, const Eigen::DenseBase<DW>& weights,
                            const Exec& exec = Exec{}) const {
    static_assert(std::is_same<typename DW::Scalar, Scalar>::value,
                  "focal: weights must have the loss's Scalar type");
    auto& out = detail::writable_grad<Scalar>(std::forward<G>(grad));
    detail::check_normalizer(normalizer);
    check(logits, targets);
    detail::check_shape("grad", out.rows(), out.cols(), "logits", logits.rows(), logits.cols());
    detail::check_vector_length("weights", weights.rows(), weights.cols(), "logits",
                                logits.rows(), "rows");
    detail::check_dense_weights(weights, logits.rows(), 1, "logits");
    return fused(logits.derived(), targets.derived(), out, normalizer, &weights.derived(), exec);
  }

 private:
  template <class DX, class DT>
  struct row_op {
    typename Eigen::internal::ref_selector<DX>::type logits;
    typename Eigen::internal::ref_selector<DT>::type targets;
    Scalar operator()(Eigen::Index i) const {
      Scalar unused = 0;
      return static_cast<Scalar>(detail::distribution_row<false>(
          [&](Eigen::Index c) { return logits.coeff(i, c); }, logits.cols(), targets.coeff(i),
          Scalar(1), Scalar(1), [&](Eigen::Index) -> Scalar& { return unused; }));
    }
  };

  template <class DX>
  static constexpr void check_type() {
    static_assert(std::is_same<typename DX::Scalar, Scalar>::value,
                  "focal: logits must have the loss's Scalar type");
  }

  static void check_target(Scalar t, Eigen::Index bins, const char* name, Eigen::Index i) {
    const Scalar n = Scalar(bins - 1);
    if (!(t >= Scalar(0) && t <= n)) {
      std::ostringstream os;
      os << "focal: " << name;
      if (i >= 0) os << "[" << i << "]";
      os << " = " << detail::format_value(t) << ", must be a distance in [0, " << bins - 1
         << "] (the logits have " << bins << " bins)";
      throw std::invalid_argument(os.str());
    }
  }

  template <class DX, class DT>
  static void check(const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DT>& targets) {
    check_type<DX>();
    static_assert(std::is_same<typename DT::Scalar, Scalar>::value,
                  "focal: targets must have the loss's Scalar type");
    if (logits.cols() == 0 && logits.rows() != 0) {
      throw std::invalid_argument("focal: logits has 0 columns; DFL needs n + 1 >= 1 bins");
    }
    detail::check_vector_length("targets", targets.rows(), targets.cols(), "logits",
                                logits.rows(), "rows");
    for (Eigen::Index i = 0; i < targets.size(); ++i) {
      check_target(targets.derived().coeff(i), logits.cols(), "targets", i);
    }
  }

  template <class DX, class DT, class DG, class DW, class Exec>
  Scalar fused(const DX& x, const DT& t, DG& g, Scalar normalizer, const DW* w,
               const Exec& exec) const {
    const Eigen::Index rows = x.rows(), bins = x.cols();
    const Eigen::Index per_chunk =
        std::max<Eigen::Index>(1, detail::chunk_elements / std::max<Eigen::Index>(1, bins));
    const Eigen::Index chunks = (rows + per_chunk - 1) / per_chunk;
    const double total = detail::run_chunks(chunks, exec, [&](Eigen::Index c) {
      const Eigen::internal::evaluator<DX> ex(x);
      Eigen::internal::evaluator<DG> eg(g);
      detail::CompensatedSum sum;
      const Eigen::Index end = std::min(rows, (c + 1) * per_chunk);
      const auto weight_of = [&](Eigen::Index i) {
        if constexpr (std::is_same<DW, std::nullptr_t>::value) {
          (void)i;
          return Scalar(1);
        } else {
          return static_cast<Scalar>(w->coeff(i));
        }
      };
      Eigen::Index i = c * per_chunk;
      if constexpr (std::is_same<Scalar, float>::value) {
        // Float rows a batch of packet lanes at a time (detail::distribution_float_batch),
        // the chunk's last rows and rows with an infinite logit one by one.
        constexpr int L = detail::simd::lanes<detail::simd::packet_t<double>>;
        alignas(64) float tb[std::size_t(L)], wb[std::size_t(L)];
        alignas(64) double losses[std::size_t(L)];
        for (; L > 1 && i + L <= end; i += L) {
          for (int l = 0; l < L; ++l) {
            tb[l] = t.coeff(i + l);
            wb[l] = weight_of(i + l);
          }
          const bool done = detail::distribution_float_batch<true>(
              [&](int l, Eigen::Index k) { return ex.coeff(i + l, k); }, bins, tb, wb,
              normalizer, losses,
              [&](int l, Eigen::Index k) -> Scalar& { return eg.coeffRef(i + l, k); });
          if (done) {
            for (int l = 0; l < L; ++l) sum.add(losses[l]);
            continue;
          }
          for (int l = 0; l < L; ++l) {
            sum.add(row(ex, eg, i + l, bins, t.coeff(i + l), weight_of(i + l), normalizer));
          }
        }
      }
      for (; i < end; ++i) sum.add(row(ex, eg, i, bins, t.coeff(i), weight_of(i), normalizer));
      return sum.total();
    });
    return static_cast<Scalar>(total / static_cast<double>(normalizer));
  }

  // Row i of the fused pass.
  template <class EX, class EG>
  static double row(const EX& ex, EG& eg, Eigen::Index i, Eigen::Index bins, Scalar t,
                    Scalar weight, Scalar normalizer) {
    return detail::distribution_row<true>(
        [&](Eigen::Index k) { return ex.coeff(i, k); }, bins, t, weight, normalizer,
        [&](Eigen::Index k) -> Scalar& { return eg.coeffRef(i, k); });
  }
};

FOCAL_NAMESPACE_END

#endif  // FOCAL_DISTRIBUTION_FOCAL_LOSS_HPP
