// Included (without a guard, on purpose) at the top of focal's SIMD headers, paired with
// restore_warnings.hpp at their end, as Eigen does with DisableStupidWarnings.h.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// Packets as template arguments: GCC warns that their vector attributes are ignored.
#pragma GCC diagnostic ignored "-Wignored-attributes"
// GCC 12 reports its own AVX-512 intrinsics as using uninitialized values under -O3
// (GCC bug 105593); the report lands here when they are inlined into focal's kernels.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
