#ifndef FOCAL_MATCHING_COST_HPP
#define FOCAL_MATCHING_COST_HPP

/// @file
/// The classification cost of DETR-family Hungarian matchers (Deformable DETR, DINO): the
/// loss of predicting a query as a ground-truth class less its loss as background.

#include "detail/config.hpp"

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include <Eigen/Core>

#include "detail/checks.hpp"
#include "detail/scan.hpp"
#include "detail/sigmoid_loss.hpp"
#include "detail/simd/packet.hpp"

FOCAL_NAMESPACE_BEGIN

namespace detail {

/// Throws std::invalid_argument unless every class index is in [0, classes).
template <class DC>
void check_classes(const Eigen::DenseBase<DC>& classes, Eigen::Index count) {
  static_assert(std::is_integral<typename DC::Scalar>::value,
                "focal: matching_cost needs integer class indices (e.g. Eigen::ArrayXi)");
  if (classes.rows() != 1 && classes.cols() != 1 && classes.size() != 0) {
    std::ostringstream os;
    os << "focal: classes has shape " << classes.rows() << "x" << classes.cols()
       << "; it must be a vector of ground-truth class indices";
    throw std::invalid_argument(os.str());
  }
  for (Eigen::Index j = 0; j < classes.size(); ++j) {
    const auto c = classes.derived().coeff(j);
    bool negative = false;
    if constexpr (std::is_signed<typename DC::Scalar>::value) negative = c < 0;
    if (negative || static_cast<unsigned long long>(c) >= static_cast<unsigned long long>(count)) {
      std::ostringstream os;
      os << "focal: classes[" << j << "] = " << +c << ", must be a class in [0, " << count << ")";
      throw std::invalid_argument(os.str());
    }
  }
}

}  // namespace detail

/// DETR's matching cost into `cost` (Q × M, any writable dense object, not resized):
/// cost(i, j) = loss(x_ij, 1) − loss(x_ij, 0) with x_ij = logits(i, classes(j)), for any sigmoid
/// loss (the 0/1 and the soft-target ones). For BalancedFocalLoss(α, γ) this is Deformable
/// DETR's and DINO's `cost_class`, α (1 − p)^γ (−log p) − (1 − α) p^γ (−log(1 − p)), without
/// their `+ 1e-8` inside the logs; for CrossEntropy it is −x. The two losses are computed by
/// the loss's own kernel, a packet of queries at a time; nothing is allocated.
/// @throws std::invalid_argument on a class index outside [0, K), a probability outside
/// [0, 1] (Input = Probabilities), or a cost of another shape than Q × M; cost is then
/// untouched.
template <class Loss, class DX, class DC, class DO>
void matching_cost(const Loss& loss, const Eigen::DenseBase<DX>& logits,
                   const Eigen::DenseBase<DC>& classes, DO&& cost) {
  using Scalar = typename Loss::scalar_type;
  using P = detail::simd::packet_t<Scalar>;
  static_assert(std::is_same<typename DX::Scalar, Scalar>::value,
                "focal: logits must have the loss's Scalar type");
  auto& out = detail::writable_grad<Scalar>(std::forward<DO>(cost));
  detail::check_classes(classes, logits.cols());
  detail::check_shape("cost", out.rows(), out.cols(), "queries x classes", logits.rows(),
                      classes.size());
  detail::check_inputs_fast<typename Loss::input_type>(logits);
  const auto& kernel = detail::KernelOf::get(loss);
  constexpr int L = detail::simd::lanes<P>;
  constexpr int group = detail::simd::block_packets * L;
  constexpr std::size_t size = std::size_t(group);
  alignas(64) Scalar xs[size], ones[size], zeros[size], pos[size], neg[size], unused[size];
  std::fill(ones, ones + group, Scalar(1));
  std::fill(zeros, zeros + group, Scalar(0));
  const Eigen::internal::evaluator<DX> ex(logits.derived());
  const Eigen::Index queries = logits.rows();
  for (Eigen::Index j = 0; j < classes.size(); ++j) {
    const Eigen::Index c = static_cast<Eigen::Index>(classes.derived().coeff(j));
    for (Eigen::Index i = 0; i < queries; i += group) {
      const int n = int(std::min<Eigen::Index>(group, queries - i));
      for (int k = 0; k < group; ++k) xs[k] = k < n ? ex.coeff(i + k, c) : Scalar(0);
      const int packets = (n + L - 1) / L;
      kernel.eval_packets(xs, ones, packets, pos, unused);
      kernel.eval_packets(xs, zeros, packets, neg, unused);
      for (int k = 0; k < n; ++k) out.coeffRef(i + k, j) = pos[k] - neg[k];
    }
  }
}

/// DETR's matching cost as a new Q × M array (see the overload writing into `cost`).
/// @throws std::invalid_argument as that overload.
template <class Loss, class DX, class DC>
Eigen::Array<typename Loss::scalar_type, Eigen::Dynamic, Eigen::Dynamic> matching_cost(
    const Loss& loss, const Eigen::DenseBase<DX>& logits, const Eigen::DenseBase<DC>& classes) {
  detail::check_classes(classes, logits.cols());
  Eigen::Array<typename Loss::scalar_type, Eigen::Dynamic, Eigen::Dynamic> cost(logits.rows(),
                                                                                 classes.size());
  matching_cost(loss, logits, classes, cost);
  return cost;
}

FOCAL_NAMESPACE_END

#endif  // FOCAL_MATCHING_COST_HPP
