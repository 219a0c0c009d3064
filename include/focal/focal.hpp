#ifndef FOCAL_FOCAL_HPP
#define FOCAL_FOCAL_HPP

/// @file
/// focal: classification losses for dense object detectors, with analytic gradients, on Eigen
/// arrays. The one header to include.
///
/// Reference:
/// @code
/// @inproceedings{lin2017focal,
///   title     = {Focal Loss for Dense Object Detection},
///   author    = {Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and
///                Doll{\'a}r, Piotr},
///   booktitle = {IEEE International Conference on Computer Vision (ICCV)},
///   year      = {2017},
///   note      = {arXiv:1708.02002}
/// }
/// @endcode

#include "detail/config.hpp"

#include "balanced_cross_entropy.hpp"
#include "balanced_focal_loss.hpp"
#include "cross_entropy.hpp"
#include "distribution_focal_loss.hpp"
#include "execution.hpp"
#include "focal_loss.hpp"
#include "focal_loss_star.hpp"
#include "input.hpp"
#include "labels.hpp"
#include "matching_cost.hpp"
#include "prior_bias.hpp"
#include "quality_focal_loss.hpp"
#include "softmax_focal_loss.hpp"
#include "varifocal_loss.hpp"
#include "version.hpp"

#endif  // FOCAL_FOCAL_HPP
