#ifndef FOCAL_DETAIL_CONFIG_HPP
#define FOCAL_DETAIL_CONFIG_HPP

// Included first by every focal header. It
//  - refuses floating-point flags that break focal's exact arithmetic (unless opted out),
//  - defines the one set of instruction-set macros the headers test (FOCAL_HAS_*), from
//    Eigen's, so that focal takes exactly the packet paths Eigen compiled,
//  - names the inline namespace all of focal lives in after the instruction set the
//    translation unit is compiled for, so that objects built with different -m flags can be
//    linked into one program without sharing a function body (as Highway's HWY_NAMESPACE).

// --- Floating-point model ------------------------------------------------------------------
// The error-free transformations (TwoSum, the split 1 + e = d + d_lo, Markstein's division)
// are exact only if each operation is rounded as written; the ±∞/NaN handling needs isinf
// and v − v to mean what IEEE says. -ffast-math reassociates the former into zeros and folds
// the latter away: float CE at x ≈ 20 became 0, softmax gradients lost 70%, rows with an
// infinite logit gave NaN. (-fno-signed-zeros alone: a probability of −0 and the sign of zero
// gradients.) Clang defines only the first two macros, for -ffast-math and -ffinite-math-only.
#if !defined(FOCAL_ALLOW_FAST_MATH)
#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__) || \
    defined(__ASSOCIATIVE_MATH__) || defined(__RECIPROCAL_MATH__) ||               \
    defined(__NO_SIGNED_ZEROS__) || defined(_M_FP_FAST)
#error "focal: this file is compiled with -ffast-math/-Ofast (or -ffinite-math-only, -fassociative-math, -freciprocal-math, -fno-signed-zeros, /fp:fast). focal's exact losses rely on IEEE arithmetic and its special values; under these flags they return 0 losses, wrong gradients and NaN. Compile the files that include focal without them (e.g. -O3 instead of -Ofast; in CMake: set_source_files_properties(loss.cpp PROPERTIES COMPILE_OPTIONS -fno-fast-math)), or define FOCAL_ALLOW_FAST_MATH to accept wrong results."
#endif
#endif

// Where the compiler can restore IEEE semantics for a region, focal's code is compiled that
// way (clang and MSVC: reassociation and contraction across statements are off there). This
// does not make FOCAL_ALLOW_FAST_MATH safe: clang still assumes no NaN or ∞ in the region.
#if (defined(__clang__) && __clang_major__ >= 11) || (defined(_MSC_VER) && !defined(__clang__))
#define FOCAL_DETAIL_FP_PUSH _Pragma("float_control(precise, on, push)")
#define FOCAL_DETAIL_FP_POP _Pragma("float_control(pop)")
#else
#define FOCAL_DETAIL_FP_PUSH
#define FOCAL_DETAIL_FP_POP
#endif

// GCC's warnings that fire on focal's SIMD code for reasons outside it: packets as template
// arguments ("ignoring attributes"), and GCC 12's false uninitialized reports about its own
// AVX-512 intrinsics inlined into focal's kernels (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#define FOCAL_DETAIL_WARNINGS_PUSH                                   \
  _Pragma("GCC diagnostic push")                                     \
  _Pragma("GCC diagnostic ignored \"-Wignored-attributes\"")         \
  _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")              \
  _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define FOCAL_DETAIL_WARNINGS_POP _Pragma("GCC diagnostic pop")
#else
#define FOCAL_DETAIL_WARNINGS_PUSH
#define FOCAL_DETAIL_WARNINGS_POP
#endif

#include <Eigen/Core>

// --- Instruction sets ------------------------------------------------------------------------
// What Eigen vectorizes with, and so what focal's packet code may use. Never the compiler's
// __AVX512F__/__FMA__ directly: with EIGEN_DONT_VECTORIZE Eigen declares no AVX-512 packets,
// and MSVC's /arch:AVX2 has FMA without defining __FMA__ (Eigen knows).
#if defined(EIGEN_VECTORIZE)
#define FOCAL_HAS_SIMD 1
#endif
#if defined(EIGEN_VECTORIZE_SSE)
#define FOCAL_HAS_SSE 1
#endif
#if defined(EIGEN_VECTORIZE_AVX)
#define FOCAL_HAS_AVX 1
#endif
#if defined(EIGEN_VECTORIZE_FMA)
#define FOCAL_HAS_FMA 1
#endif
#if defined(EIGEN_VECTORIZE_AVX512)
#define FOCAL_HAS_AVX512 1
#endif
#if defined(EIGEN_VECTORIZE_AVX512DQ)
#define FOCAL_HAS_AVX512DQ 1
#endif
// prefetchw: not an Eigen packet feature, only a hint (a no-op on CPUs before it).
#if defined(FOCAL_HAS_PREFETCHW)
#define FOCAL_HAS_PREFETCHW 1
#endif
// GNU inline assembly on x86 (focal's opaque(): an empty asm that pins a rounded value).
#if defined(FOCAL_HAS_X86_ASM)
#define FOCAL_HAS_X86_ASM 1
#endif

// --- The namespace of this instruction set -----------------------------------------------------
// Named after everything in the compiler's target that changes the code of focal's templates
// or of what the compiler makes of them (auto-vectorized loops included), whether or not Eigen
// vectorizes: e.g. focal::isa_avx2_fma, focal::isa_avx512f_fma_dq_bw_vl, focal::isa_sse2.
#if defined(__AVX512F__)
#define FOCAL_DETAIL_ISA_BASE avx512f
#elif defined(__AVX2__)
#define FOCAL_DETAIL_ISA_BASE avx2
#elif defined(__AVX__)
#define FOCAL_DETAIL_ISA_BASE avx
#elif defined(__SSE4_2__)
#define FOCAL_DETAIL_ISA_BASE sse42
#elif defined(__SSE4_1__)
#define FOCAL_DETAIL_ISA_BASE sse41
#elif defined(__SSSE3__)
#define FOCAL_DETAIL_ISA_BASE ssse3
#elif defined(__SSE3__)
#define FOCAL_DETAIL_ISA_BASE sse3
#elif defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define FOCAL_DETAIL_ISA_BASE sse2
#elif defined(__ARM_FEATURE_SVE)
#define FOCAL_DETAIL_ISA_BASE sve
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
#define FOCAL_DETAIL_ISA_BASE neon
#elif defined(__VSX__)
#define FOCAL_DETAIL_ISA_BASE vsx
#elif defined(__ALTIVEC__)
#define FOCAL_DETAIL_ISA_BASE altivec
#else
#define FOCAL_DETAIL_ISA_BASE generic
#endif
#if defined(__FMA__) || (defined(_MSC_VER) && defined(__AVX2__))
#define FOCAL_DETAIL_ISA_FMA _fma
#else
#define FOCAL_DETAIL_ISA_FMA
#endif
#if defined(__AVX512DQ__)
#define FOCAL_DETAIL_ISA_DQ _dq
#else
#define FOCAL_DETAIL_ISA_DQ
#endif
#if defined(__AVX512BW__)
#define FOCAL_DETAIL_ISA_BW _bw
#else
#define FOCAL_DETAIL_ISA_BW
#endif
#if defined(__AVX512VL__)
#define FOCAL_DETAIL_ISA_VL _vl
#else
#define FOCAL_DETAIL_ISA_VL
#endif
#if defined(FOCAL_HAS_SIMD)
#define FOCAL_DETAIL_ISA_VEC
#else
#define FOCAL_DETAIL_ISA_VEC _novec  // EIGEN_DONT_VECTORIZE: focal's scalar kernels
#endif

#define FOCAL_DETAIL_CAT_(a, b, c, d, e, f, g) a##b##c##d##e##f##g
#define FOCAL_DETAIL_CAT(a, b, c, d, e, f, g) FOCAL_DETAIL_CAT_(a, b, c, d, e, f, g)
#define FOCAL_DETAIL_STR_(a) #a
#define FOCAL_DETAIL_STR(a) FOCAL_DETAIL_STR_(a)

/// The inline namespace that holds all of focal in this translation unit.
#define FOCAL_ISA_NAMESPACE                                                             \
  FOCAL_DETAIL_CAT(isa_, FOCAL_DETAIL_ISA_BASE, FOCAL_DETAIL_ISA_FMA, FOCAL_DETAIL_ISA_DQ, \
                   FOCAL_DETAIL_ISA_BW, FOCAL_DETAIL_ISA_VL, FOCAL_DETAIL_ISA_VEC)

/// Opens and closes namespace focal (and its instruction-set namespace) in focal's headers,
/// with focal's floating-point model and warning settings for the code in between.
#define FOCAL_NAMESPACE_BEGIN                                 \
  FOCAL_DETAIL_FP_PUSH FOCAL_DETAIL_WARNINGS_PUSH namespace focal { \
  inline namespace FOCAL_ISA_NAMESPACE {
#define FOCAL_NAMESPACE_END \
  }                         \
  }                         \
  FOCAL_DETAIL_WARNINGS_POP FOCAL_DETAIL_FP_POP

FOCAL_NAMESPACE_BEGIN

/// The instruction set focal was compiled for in this translation unit, e.g. "isa_avx2_fma":
/// the name of its inline namespace.
inline const char* instruction_set() noexcept { return FOCAL_DETAIL_STR(FOCAL_ISA_NAMESPACE); }

FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_CONFIG_HPP
