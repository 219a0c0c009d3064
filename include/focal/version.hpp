#ifndef FOCAL_VERSION_HPP
#define FOCAL_VERSION_HPP

/// @file
/// Version of the focal headers. Kept in step with `project(VERSION)` in CMakeLists.txt
/// (a test compares the two).

#include "detail/config.hpp"

#define FOCAL_VERSION_MAJOR 0  ///< major version
#define FOCAL_VERSION_MINOR 1  ///< minor version
#define FOCAL_VERSION_PATCH 0  ///< patch version

/// The version as one integer, MAJOR * 10000 + MINOR * 100 + PATCH, for `#if` comparisons.
#define FOCAL_VERSION (FOCAL_VERSION_MAJOR * 10000 + FOCAL_VERSION_MINOR * 100 + FOCAL_VERSION_PATCH)

#endif  // FOCAL_VERSION_HPP
