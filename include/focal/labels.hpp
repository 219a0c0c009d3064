#ifndef FOCAL_LABELS_HPP
#define FOCAL_LABELS_HPP

/// @file
/// Class-index labels for N anchors × K classes, with the detector conventions: a class in
/// [0, K), focal::background or focal::ignore, and optional per-anchor weights. No one-hot
/// array is ever built.

#include "detail/config.hpp"

#include <algorithm>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include "detail/checks.hpp"

FOCAL_NAMESPACE_BEGIN

/// Label of an anchor matched to no object: negative for every class (sigmoid losses).
/// torchvision's Matcher.BELOW_LOW_THRESHOLD.
inline constexpr int background = -1;

/// Label of an anchor in the IoU ignore band: no loss and a zero gradient row.
/// torchvision's Matcher.BETWEEN_THRESHOLDS.
inline constexpr int ignore = -2;

namespace detail {
/// Weights of an unweighted Labels: every anchor weighs 1.
struct NoWeights {};
/// Scores of plain Labels: the target at an anchor's class is 1.
struct NoScores {};
}  // namespace detail

/// N class indices marked as labels, optionally N per-anchor weights, and optionally N scores
/// (soft targets at each anchor's class). Made by focal::labels() or focal::scored_labels();
/// holds plain vectors by reference (they must outlive it) and expressions and Maps by value.
/// Cheap to copy.
/// @tparam Indices an Eigen integer vector type (e.g. Eigen::ArrayXi, a Map of int64_t).
/// @tparam Weights an Eigen vector type of the loss's Scalar, or detail::NoWeights.
/// @tparam Scores  an Eigen vector type of the loss's Scalar, or detail::NoScores.
template <class Indices, class Weights = detail::NoWeights, class Scores = detail::NoScores>
class Labels {
  static_assert(std::is_integral<typename Indices::Scalar>::value,
                "focal::labels needs integer class indices (e.g. Eigen::ArrayXi or a Map of "
                "int64_t); for dense 0/1 targets pass the array itself");

 public:
  using indices_type = Indices;  ///< the label vector's Eigen type
  using weights_type = Weights;  ///< the anchor weights' Eigen type (or none)
  /// Whether anchor weights were given.
  static constexpr bool weighted = !std::is_same<Weights, detail::NoWeights>::value;
  /// Whether scores were given.
  static constexpr bool scored = !std::is_same<Scores, detail::NoScores>::value;

  /// Use focal::labels() or focal::scored_labels() rather than this constructor.
  Labels(const Indices& indices, const Weights& weights, const Scores& scores = Scores{})
      : indices_(indices), weights_(weights), scores_(scores) {}

  /// Number of anchors N.
  Eigen::Index size() const noexcept { return indices_.size(); }

  /// Label of anchor i: a class index, focal::background or focal::ignore (or, before
  /// validation, anything).
  long long operator[](Eigen::Index i) const {
    return static_cast<long long>(indices_.coeff(i));
  }

  /// Weight of anchor i (1 when unweighted).
  template <class Scalar>
  Scalar weight(Eigen::Index i) const {
    if constexpr (weighted) {
      return static_cast<Scalar>(weights_.coeff(i));
    } else {
      (void)i;
      return Scalar(1);
    }
  }

  /// Target of anchor i at its class: its score (1 when unscored).
  template <class Scalar>
  Scalar score(Eigen::Index i) const {
    if constexpr (scored) {
      return static_cast<Scalar>(scores_.coeff(i));
    } else {
      (void)i;
      return Scalar(1);
    }
  }

  /// The label vector.
  const Indices& indices() const noexcept { return indices_; }
  /// The anchor weights.
  const Weights& weights() const noexcept { return weights_; }
  /// The scores.
  const Scores& scores() const noexcept { return scores_; }

  /// The labels (weights, scores) of rows [first, first + n), as Labels of segments.
  auto rows(Eigen::Index first, Eigen::Index n) const {
    return Labels<segment_t<Indices>, segment_t<Weights>, segment_t<Scores>>(
        segment(indices_, first, n), segment(weights_, first, n), segment(scores_, first, n));
  }

 private:
  // Eigen's nesting rule: plain objects by reference, expressions and Maps by value.
  template <class T>
  struct nested {
    using type = typename Eigen::internal::ref_selector<T>::type;
  };
  template <class T>
  struct nested_or_none : std::conditional_t<std::is_empty<T>::value, std::common_type<T>,
                                             nested<T>> {};
  template <class T>
  using segment_t = std::conditional_t<std::is_empty<T>::value, T, Eigen::VectorBlock<const T>>;
  template <class T>
  static segment_t<T> segment(const T& v, Eigen::Index first, Eigen::Index n) {
    if constexpr (std::is_empty<T>::value) {
      (void)first;
      (void)n;
      return v;
    } else {
      return segment_t<T>(v, first, n);
    }
  }

  typename nested<Indices>::type indices_;
  typename nested_or_none<Weights>::type weights_;
  typename nested_or_none<Scores>::type scores_;
};

/// Marks a vector of N integer class indices as labels: each a class in [0, K),
/// focal::background (−1) or focal::ignore (−2). Pass the result where a loss takes targets.
/// Shapes and values are checked by the loss that receives it.
template <class D>
Labels<D> labels(const Eigen::DenseBase<D>& class_indices) {
  return Labels<D>(class_indices.derived(), detail::NoWeights{});
}

/// Labels with per-anchor weights (e.g. soft sampling): anchor i's loss and gradient row are
/// multiplied by weights[i], which must be finite and ≥ 0 and of the loss's Scalar type.
template <class D, class A>
Labels<D, A> labels(const Eigen::DenseBase<D>& class_indices,
                    const Eigen::DenseBase<A>& anchor_weights) {
  return Labels<D, A>(class_indices.derived(), anchor_weights.derived());
}

/// Labels with scores, the detector form of the soft-target losses (QualityFocalLoss,
/// VarifocalLoss): anchor i's target is scores[i] at its class (e.g. the IoU of its predicted
/// box with its ground truth) and 0 at every other class; background and ignore as for
/// focal::labels. Scores must be in [0, 1] and of the loss's Scalar type. No dense target
/// array is built.
template <class D, class T>
Labels<D, detail::NoWeights, T> scored_labels(const Eigen::DenseBase<D>& class_indices,
                                              const Eigen::DenseBase<T>& scores) {
  return Labels<D, detail::NoWeights, T>(class_indices.derived(), detail::NoWeights{},
                                         scores.derived());
}

/// Scored labels with per-anchor weights: anchor i's loss and gradient row times weights[i].
template <class D, class T, class A>
Labels<D, A, T> scored_labels(const Eigen::DenseBase<D>& class_indices,
                              const Eigen::DenseBase<T>& scores,
                              const Eigen::DenseBase<A>& anchor_weights) {
  return Labels<D, A, T>(class_indices.derived(), anchor_weights.derived(), scores.derived());
}

/// Number of foreground anchors: labels that are a class index (≥ 0).
template <class D, class A, class T>
Eigen::Index num_foreground(const Labels<D, A, T>& labels) {
  Eigen::Index n = 0;
  for (Eigen::Index i = 0; i < labels.size(); ++i) n += labels[i] >= 0;
  return n;
}

/// num_foreground of a plain integer vector of labels.
template <class D>
Eigen::Index num_foreground(const Eigen::DenseBase<D>& class_indices) {
  return num_foreground(labels(class_indices));
}

/// RetinaNet's normalizer: max(1, number of foreground anchors), as the loss's Scalar.
template <class Scalar = float, class Labelling>
Scalar foreground_normalizer(const Labelling& labels_or_indices) {
  return static_cast<Scalar>(std::max<Eigen::Index>(1, num_foreground(labels_or_indices)));
}

/// The number of anchors of each image of a batch, whose rows are the images' anchors in
/// order: made by focal::per_image(), passed where a loss takes its normalizer. Holds plain
/// vectors by reference (they must outlive it), expressions and Maps by value.
template <class Sizes>
class PerImage {
  static_assert(std::is_integral<typename Sizes::Scalar>::value,
                "focal::per_image needs integer anchor counts (e.g. Eigen::ArrayXi)");

 public:
  /// Use focal::per_image() rather than this constructor.
  explicit PerImage(const Sizes& sizes) : sizes_(sizes) {}

  /// Number of images B.
  Eigen::Index size() const noexcept { return sizes_.size(); }
  /// Number of anchors of image b (validated by the loss).
  Eigen::Index operator[](Eigen::Index b) const {
    return static_cast<Eigen::Index>(sizes_.coeff(b));
  }
  /// The anchor counts.
  const Sizes& sizes() const noexcept { return sizes_; }

 private:
  typename Eigen::internal::ref_selector<Sizes>::type sizes_;
};

/// torchvision's RetinaNet normalization (RetinaNetClassificationHead.compute_loss): with the
/// rows of the logits being the anchors of B images in order, anchors_per_image[b] of image b,
/// the loss is the mean over images of each image's loss divided by max(1, its number of
/// foreground anchors). Pass it in place of the normalizer, with focal::labels:
/// `loss.value_and_gradient(logits, focal::labels(v), G, focal::per_image(anchors_per_image))`.
template <class D>
PerImage<D> per_image(const Eigen::DenseBase<D>& anchors_per_image) {
  return PerImage<D>(anchors_per_image.derived());
}

namespace detail {

/// An integer type that holds every label of type T, ignore and background included, as
/// narrow as int where T allows: loops over labels then vectorize in 32-bit lanes. 64-bit
/// unsigned labels stay unsigned: as long long, 2^64 − 1 and 2^64 − 2 would read as
/// background and ignore.
template <class T>
using label_lane = std::conditional_t<
    std::is_signed<T>::value && sizeof(T) <= 4, int,
    std::conditional_t<std::is_unsigned<T>::value && sizeof(T) >= 8, unsigned long long,
                       long long>>;

/// Throws std::invalid_argument unless (rows, cols) is a vector of length n (or empty).
inline void check_vector_length(const char* name, Eigen::Index rows, Eigen::Index cols,
                                const char* ref_name, Eigen::Index n, const char* what) {
  if ((rows != 1 && cols != 1 && rows * cols != 0) || rows * cols != n) {
    std::ostringstream os;
    os << "focal: " << name << " has shape " << rows << "x" << cols << " but " << ref_name
       << " has " << n << " " << what << "; " << name << " must be a vector of " << n
       << " entries";
    throw std::invalid_argument(os.str());
  }
}

/// Checks labels against logits of shape rows × classes: length, each value in [0, classes),
/// focal::ignore, or focal::background where allowed (sigmoid losses), and the weights.
/// Throws std::invalid_argument naming the index and the value.
template <class Scalar, class D, class W, class T>
void check_labels(const Labels<D, W, T>& labels, Eigen::Index rows, Eigen::Index classes,
                  const char* input, bool allow_background) {
  check_vector_length("labels", labels.indices().rows(), labels.indices().cols(), input, rows,
                      "rows");
  // A branch-free sweep first (vectorized: a label per row is a lot of rows when classes are
  // few), in 32-bit lanes for labels that fit them, and the scan that names the offender only
  // when it finds one. Legal: ignore ≤ v < classes, but for background where not allowed.
  using C = label_lane<typename D::Scalar>;
  // The largest legal class in C: classes − 1, so −1 for signed labels with no classes (an
  // unsigned C wraps there; no_class makes every unsigned label illegal then).
  const bool no_class = classes == 0;
  C last = std::numeric_limits<C>::max();
  if (static_cast<unsigned long long>(classes) <= static_cast<unsigned long long>(last)) {
    last = static_cast<C>(static_cast<C>(classes) - C(1));
  }
  const auto illegal = [&](Eigen::Index i) {
    const C v = static_cast<C>(labels.indices().coeff(i));
    if constexpr (std::is_signed<C>::value) {
      return bool((v < C(ignore)) | (v > last) | (!allow_background & (v == C(background))));
    } else {  // unsigned labels are never background or ignore
      return bool(no_class | (v > last));
    }
  };
  // An OR in the labels' lane width: a 64-bit count would widen every lane.
  C bad_labels = 0;
  for (Eigen::Index i = 0; i < labels.size(); ++i) bad_labels |= C(illegal(i));
  for (Eigen::Index i = 0; bad_labels != 0 && i < labels.size(); ++i) {
    if (!illegal(i)) continue;
    std::ostringstream os;
    os << "focal: labels[" << i << "] = " << +labels.indices().coeff(i)
       << ", must be a class in [0, " << classes << ")"
       << (allow_background ? ", focal::background (-1)" : "") << " or focal::ignore (-2)";
    throw std::invalid_argument(os.str());
  }
  if constexpr (Labels<D, W, T>::scored) {
    static_assert(std::is_same<typename T::Scalar, Scalar>::value,
                  "focal: scores must have the loss's Scalar type");
    check_vector_length("scores", labels.scores().rows(), labels.scores().cols(), "labels",
                        labels.size(), "entries");
    int bad_scores = 0;
    for (Eigen::Index i = 0; i < labels.size(); ++i) {
      bad_scores |= int(!is_soft_target(labels.template score<Scalar>(i)));
    }
    for (Eigen::Index i = 0; bad_scores != 0 && i < labels.size(); ++i) {
      if (!is_soft_target(labels.template score<Scalar>(i))) {
        throw std::invalid_argument("focal: scores[" + std::to_string(i) + "] = " +
                                    format_value(labels.template score<Scalar>(i)) + ", " +
                                    soft_target_requirement());
      }
    }
  }
  if constexpr (Labels<D, W, T>::weighted) {
    static_assert(std::is_same<typename W::Scalar, Scalar>::value,
                  "focal: anchor weights must have the loss's Scalar type");
    check_vector_length("weights", labels.weights().rows(), labels.weights().cols(), "labels",
                        labels.size(), "entries");
    const auto illegal_weight = [&](Eigen::Index i) {
      const Scalar w = labels.template weight<Scalar>(i);
      return !((w >= Scalar(0)) & (w <= std::numeric_limits<Scalar>::max()));
    };
    int bad_weights = 0;
    for (Eigen::Index i = 0; i < labels.size(); ++i) bad_weights |= int(illegal_weight(i));
    for (Eigen::Index i = 0; bad_weights != 0 && i < labels.size(); ++i) {
      if (illegal_weight(i)) {
        throw std::invalid_argument("focal: weights[" + std::to_string(i) + "] = " +
                                    format_value(labels.template weight<Scalar>(i)) +
                                    ", must be finite and >= 0");
      }
    }
  }
}

/// Checks per-image sizes against logits of `rows` rows: a vector of at least one image, each
/// size ≥ 0, adding up to rows. Throws std::invalid_argument naming the index and the value.
template <class D>
void check_images(const PerImage<D>& images, Eigen::Index rows, const char* input) {
  const auto& sizes = images.sizes();
  if (sizes.size() == 0 || (sizes.rows() != 1 && sizes.cols() != 1)) {
    std::ostringstream os;
    os << "focal: images has shape " << sizes.rows() << "x" << sizes.cols()
       << "; per_image needs a vector of at least one image size";
    throw std::invalid_argument(os.str());
  }
  unsigned long long sum = 0;
  for (Eigen::Index b = 0; b < sizes.size(); ++b) {
    const auto v = sizes.coeff(b);
    bool negative = false;
    if constexpr (std::is_signed<typename D::Scalar>::value) negative = v < 0;
    if (negative || static_cast<unsigned long long>(v) > static_cast<unsigned long long>(rows)) {
      std::ostringstream os;
      os << "focal: images[" << b << "] = " << +v << ", must be a number of anchors in [0, "
         << rows << "]";
      throw std::invalid_argument(os.str());
    }
    sum += static_cast<unsigned long long>(v);
  }
  if (sum != static_cast<unsigned long long>(rows)) {
    std::ostringstream os;
    os << "focal: images add up to " << sum << " anchors but " << input << " has " << rows
       << " rows; they must match";
    throw std::invalid_argument(os.str());
  }
}

}  // namespace detail

FOCAL_NAMESPACE_END

#endif  // FOCAL_LABELS_HPP
