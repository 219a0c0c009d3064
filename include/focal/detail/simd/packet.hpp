#ifndef FOCAL_DETAIL_SIMD_PACKET_HPP
#define FOCAL_DETAIL_SIMD_PACKET_HPP

// The packet layer every kernel is written against: Eigen's packet primitives by name, lane
// masks, compares, selects and sign operations. P is an Eigen packet (SSE2 by default,
// AVX/AVX2/AVX-512 with -march) or a plain float or double: the kernels are templates on P and
// run on one scalar where Eigen does not vectorize (EIGEN_DONT_VECTORIZE), with bool masks.
// AVX-512's k-register masks and masked instructions live here too, so that the layers above
// name no intrinsic.

#include "../config.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include <Eigen/Core>

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace simd {

// Eigen's packet primitives and traits, by name: a using-directive at namespace scope would
// pull all of Eigen::internal into focal's namespace and every header that includes it.
// On a plain float or double they are Eigen's generic versions: the scalar operations.
using Eigen::internal::packet_traits;
using Eigen::internal::unpacket_traits;
using Eigen::internal::pabs;
using Eigen::internal::padd;
using Eigen::internal::pand;
using Eigen::internal::pandnot;
using Eigen::internal::pcast;
using Eigen::internal::pcmp_eq;
using Eigen::internal::pcmp_le;
using Eigen::internal::pcmp_lt;
using Eigen::internal::pdiv;
using Eigen::internal::pfrexp;
using Eigen::internal::pldexp;
using Eigen::internal::pload;
using Eigen::internal::ploadu;
using Eigen::internal::plogical_shift_left;
using Eigen::internal::plset;
using Eigen::internal::pmadd;
using Eigen::internal::pmax;
using Eigen::internal::pmin;
using Eigen::internal::pmul;
using Eigen::internal::pxor;
using Eigen::internal::por;
using Eigen::internal::predux;
using Eigen::internal::predux_any;
using Eigen::internal::predux_max;
using Eigen::internal::preinterpret;
using Eigen::internal::pselect;
using Eigen::internal::pset1;
using Eigen::internal::pstore;
using Eigen::internal::pstoreu;
using Eigen::internal::psub;
using Eigen::internal::ptrue;
using Eigen::internal::pzero;
#if defined(FOCAL_HAS_SSE)
using Eigen::internal::Packet2d;
using Eigen::internal::Packet4f;
#endif
#if defined(FOCAL_HAS_AVX)
using Eigen::internal::Packet4d;
using Eigen::internal::Packet8f;
#endif
#if defined(FOCAL_HAS_AVX512)
using Eigen::internal::Packet16f;
using Eigen::internal::Packet8d;
#endif

/// The packet of this build's kernels for Scalar: Scalar itself where Eigen does not vectorize.
template <class Scalar>
using packet_t = typename packet_traits<Scalar>::type;

template <class P>
using scalar_of = typename unpacket_traits<P>::type;

/// Scalars per packet (1 for a plain float or double).
template <class P>
inline constexpr int lanes = unpacket_traits<P>::size;

/// Whether P is a plain float or double rather than a SIMD packet.
template <class P>
inline constexpr bool is_scalar = std::is_floating_point<P>::value;

/// Whether P is one of AVX-512's packets (k-register masks, masked instructions, tables).
template <class P>
inline constexpr bool is_avx512 =
#if defined(FOCAL_HAS_AVX512)
    std::is_same<P, Packet16f>::value || std::is_same<P, Packet8d>::value;
#else
    false;
#endif

/// The number of Scalars in a packet of this build's kernels (1 without SIMD). A function, not
/// a constant: a test links objects built for two instruction sets and asks each which code it
/// runs.
template <class Scalar>
int packet_lanes() noexcept {
  return lanes<packet_t<Scalar>>;
}

/// Whether focal's kernels run on SIMD packets of Scalar in this build.
template <class Scalar>
inline constexpr bool vectorized = packet_traits<Scalar>::Vectorizable && lanes<packet_t<Scalar>> > 1;

/// Packets per kernel call (eval_block) and per block sum of the fused passes: the kernel's
/// stack buffers then hold 8 packets each.
inline constexpr int block_packets = 8;

template <class P>
EIGEN_ALWAYS_INLINE P cst(scalar_of<P> v) {
  return pset1<P>(v);
}

/// Lane masks: AVX-512's k-registers for 512-bit packets, bool for scalars, Eigen's all-ones
/// vector masks elsewhere. Eigen's AVX-512 pcmp_* widen their k-mask to a vector and pselect
/// narrows it back: two extra instructions per select, which a kernel of selects pays in
/// every packet.
template <class P, class = void>
struct MaskOf {
  using type = P;
};
template <class P>
struct MaskOf<P, std::enable_if_t<std::is_floating_point<P>::value>> {
  using type = bool;
};
#if defined(FOCAL_HAS_AVX512)
template <>
struct MaskOf<Packet16f> {
  using type = __mmask16;
};
template <>
struct MaskOf<Packet8d> {
  using type = __mmask8;
};
#endif
template <class P>
using mask_t = typename MaskOf<P>::type;

#if defined(FOCAL_HAS_AVX512)
#define FOCAL_DETAIL_CMP(name, eigen, op, predicate)                                       \
  template <class P>                                                                        \
  EIGEN_ALWAYS_INLINE mask_t<P> name(const P& a, const P& b) {                              \
    if constexpr (is_scalar<P>) {                                                           \
      return a op b;                                                                        \
    } else if constexpr (std::is_same<P, Packet16f>::value) {                               \
      return _mm512_cmp_ps_mask(a, b, predicate);                                           \
    } else if constexpr (std::is_same<P, Packet8d>::value) {                                \
      return _mm512_cmp_pd_mask(a, b, predicate);                                           \
    } else {                                                                                \
      return eigen(a, b);                                                                   \
    }                                                                                       \
  }
#else
#define FOCAL_DETAIL_CMP(name, eigen, op, predicate)                                       \
  template <class P>                                                                        \
  EIGEN_ALWAYS_INLINE mask_t<P> name(const P& a, const P& b) {                              \
    if constexpr (is_scalar<P>) {                                                           \
      return a op b;                                                                        \
    } else {                                                                                \
      return eigen(a, b);                                                                   \
    }                                                                                       \
  }
#endif
/// a < b, a ≤ b, a = b: false where either is NaN (ordered, quiet), as Eigen's pcmp_*.
FOCAL_DETAIL_CMP(less, pcmp_lt, <, _CMP_LT_OQ)
FOCAL_DETAIL_CMP(less_equal, pcmp_le, <=, _CMP_LE_OQ)
FOCAL_DETAIL_CMP(equal, pcmp_eq, ==, _CMP_EQ_OQ)
#undef FOCAL_DETAIL_CMP

/// a ≠ b: true where either is NaN (unordered).
template <class P>
EIGEN_ALWAYS_INLINE mask_t<P> not_equal(const P& a, const P& b) {
  if constexpr (is_scalar<P>) {
    return !(a == b);
  } else {
#if defined(FOCAL_HAS_AVX512)
    if constexpr (std::is_same<P, Packet16f>::value) {
      return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ);
    } else if constexpr (std::is_same<P, Packet8d>::value) {
      return _mm512_cmp_pd_mask(a, b, _CMP_NEQ_UQ);
    } else
#endif
    {
      return pandnot(ptrue(a), pcmp_eq(a, b));
    }
  }
}

/// m ? a : b, lane by lane.
template <class P>
EIGEN_ALWAYS_INLINE P select(const mask_t<P>& m, const P& a, const P& b) {
  if constexpr (is_scalar<P>) {
    return m ? a : b;
  } else {
#if defined(FOCAL_HAS_AVX512)
    if constexpr (std::is_same<P, Packet16f>::value) {
      return _mm512_mask_blend_ps(m, b, a);
    } else if constexpr (std::is_same<P, Packet8d>::value) {
      return _mm512_mask_blend_pd(m, b, a);
    } else
#endif
    {
      return pselect(m, a, b);
    }
  }
}

/// a ∧ b, a ∨ b and a ∧ ¬b on masks.
template <class M>
EIGEN_ALWAYS_INLINE M mask_and(const M& a, const M& b) {
  if constexpr (std::is_integral<M>::value) {
    return M(a & b);
  } else {
    return pand(a, b);
  }
}
template <class M>
EIGEN_ALWAYS_INLINE M mask_or(const M& a, const M& b) {
  if constexpr (std::is_integral<M>::value) {
    return M(a | b);
  } else {
    return por(a, b);
  }
}
template <class M>
EIGEN_ALWAYS_INLINE M mask_andnot(const M& a, const M& b) {
  if constexpr (std::is_same<M, bool>::value) {
    return a && !b;
  } else if constexpr (std::is_integral<M>::value) {
    return M(a & ~b);
  } else {
    return pandnot(a, b);
  }
}

/// Whether any lane of a mask is set.
template <class M>
EIGEN_ALWAYS_INLINE bool mask_any(const M& m) {
  if constexpr (std::is_integral<M>::value) {
    return m != M(0);
  } else {
    return predux_any(m);
  }
}

/// Whether every lane of a mask is set.
template <class M>
EIGEN_ALWAYS_INLINE bool mask_all(const M& m) {
  if constexpr (std::is_same<M, bool>::value) {
    return m;
  } else if constexpr (std::is_integral<M>::value) {
    return m == M(~M(0));
  } else {
    return !predux_any(pandnot(ptrue(m), m));
  }
}

/// −v by flipping the sign bit, in every build: Eigen's pnegate is 0 − v on AVX and AVX-512
/// and a sign flip on SSE, which gives −0 or +0 for v = 0 depending on the build.
template <class P>
EIGEN_ALWAYS_INLINE P negate(const P& v) {
  if constexpr (is_scalar<P>) {
    return -v;  // a sign flip
  } else {
    return pxor(v, cst<P>(scalar_of<P>(-0.0)));
  }
}

/// m ? −v : v (a masked sign flip on AVX-512).
template <class P>
EIGEN_ALWAYS_INLINE P negate_where(const mask_t<P>& m, const P& v) {
#if defined(FOCAL_HAS_AVX512DQ)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_mask_xor_ps(v, m, v, _mm512_set1_ps(-0.0f));
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_mask_xor_pd(v, m, v, _mm512_set1_pd(-0.0));
  }
#endif
  return select(m, negate(v), v);
}

/// m ? a·b : src (one masked multiplication on AVX-512).
template <class P>
EIGEN_ALWAYS_INLINE P multiply_where(const mask_t<P>& m, const P& a, const P& b, const P& src) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_mask_mul_ps(src, m, a, b);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_mask_mul_pd(src, m, a, b);
  }
#endif
  return select(m, pmul(a, b), src);
}

/// m ? a − b : a (one masked subtraction on AVX-512).
template <class P>
EIGEN_ALWAYS_INLINE P subtract_where(const mask_t<P>& m, const P& a, const P& b) {
#if defined(FOCAL_HAS_AVX512)
  if constexpr (std::is_same<P, Packet16f>::value) {
    return _mm512_mask_sub_ps(a, m, a, b);
  } else if constexpr (std::is_same<P, Packet8d>::value) {
    return _mm512_mask_sub_pd(a, m, a, b);
  }
#endif
  return select(m, psub(a, b), a);
}

/// |v| < ∞ (false for NaN).
template <class P>
EIGEN_ALWAYS_INLINE mask_t<P> is_finite(const P& v) {
  return less(pabs(v), cst<P>(std::numeric_limits<scalar_of<P>>::infinity()));
}

/// |v| = ∞.
template <class P>
EIGEN_ALWAYS_INLINE mask_t<P> is_infinite(const P& v) {
  return equal(pabs(v), cst<P>(std::numeric_limits<scalar_of<P>>::infinity()));
}

/// a·v where a ≥ 0 (or its negation) is a weight that may be exactly 0: then 0·∞ is taken as
/// 0 (α = 0 switches the term off, at every input), while NaN still propagates.
template <class P>
EIGEN_ALWAYS_INLINE P weight(const P& a, const P& v) {
  const auto inf = equal(pabs(v), cst<P>(std::numeric_limits<scalar_of<P>>::infinity()));
  return select(mask_and(equal(a, pzero(a)), inf), pzero(v), pmul(a, v));
}

/// v as computed, hidden from the optimizer: under -ffp-contract=fast (GCC's default in GNU
/// mode) a product that feeds an addition may be fused into an FMA, which changes the very
/// rounding that the double-word algorithms account for. An empty asm statement pins the
/// rounded value; it emits no instruction.
template <class P>
EIGEN_ALWAYS_INLINE P opaque(P v) {
#if defined(FOCAL_HAS_X86_ASM)
#if defined(FOCAL_HAS_AVX512)
  __asm__("" : "+v"(v));
#else
  __asm__("" : "+x"(v));
#endif
#endif
  return v;
}

}  // namespace simd
}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SIMD_PACKET_HPP
