#ifndef FOCAL_DETAIL_SIMD_COMPRESS_HPP
#define FOCAL_DETAIL_SIMD_COMPRESS_HPP

// Integer lists in SIMD: the positions of the labels that are not background, by AVX-512's
// compress, 16 (32-bit labels) or 8 (64-bit) at a time. The labels pass lists a chunk's rows
// with it (fused_labels.hpp); builds without AVX-512 take the scalar loop there.

#include "../config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "packet.hpp"

FOCAL_NAMESPACE_BEGIN
namespace detail {
namespace simd {

/// Whether compress_marked runs for contiguous labels of type T in this build.
template <class T>
inline constexpr bool has_compress_marked =
#if defined(FOCAL_HAS_AVX512)
    std::is_signed<T>::value && (sizeof(T) == 4 || sizeof(T) == 8);
#else
    false;
#endif

// GCC defines some AVX-512 intrinsics as macros when not optimizing (-O0, -fsyntax-only) that
// cast -1 to a mask type: -Wsign-conversion then fires on focal's line, not in GCC's header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif
/// Of the n labels at p, writes the positions (0-based) of those that are not `skip` to out, in
/// order, and adds the number equal to `counted_value` to counted; returns how many it wrote.
/// out needs room for n rounded up to 16 (whole vectors are stored).
template <class T>
EIGEN_ALWAYS_INLINE std::ptrdiff_t compress_marked(const T* p, std::ptrdiff_t n, T skip,
                                                   T counted_value, std::int32_t* out,
                                                   int& counted) {
  static_assert(has_compress_marked<T>,
                "focal: compress_marked needs AVX-512 and 32- or 64-bit signed labels");
  std::ptrdiff_t listed = 0;
#if defined(FOCAL_HAS_AVX512)
  constexpr int lanes = 64 / int(sizeof(T));
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(lanes);
  for (std::ptrdiff_t at = 0; at < n; at += lanes) {
    const std::ptrdiff_t m = std::min<std::ptrdiff_t>(lanes, n - at);
    const __mmask16 in = __mmask16((1u << m) - 1);
    __mmask16 listed_mask, counted_mask;
    if constexpr (sizeof(T) == 4) {  // the masked load stops at the array's end
      const __m512i v = _mm512_maskz_loadu_epi32(in, p + at);
      listed_mask = _mm512_mask_cmpneq_epi32_mask(in, v, _mm512_set1_epi32(int(skip)));
      counted_mask = _mm512_mask_cmpeq_epi32_mask(in, v, _mm512_set1_epi32(int(counted_value)));
    } else {
      const __m512i v = _mm512_maskz_loadu_epi64(__mmask8(in), p + at);
      listed_mask = _mm512_mask_cmpneq_epi64_mask(__mmask8(in), v, _mm512_set1_epi64(skip));
      counted_mask =
          _mm512_mask_cmpeq_epi64_mask(__mmask8(in), v, _mm512_set1_epi64(counted_value));
    }
    _mm512_storeu_si512(out + listed, _mm512_maskz_compress_epi32(listed_mask, index));
    listed += _mm_popcnt_u32(listed_mask);
    counted += int(_mm_popcnt_u32(counted_mask));
    index = _mm512_add_epi32(index, step);
  }
#else
  (void)p, (void)n, (void)skip, (void)counted_value, (void)out, (void)counted;
#endif
  return listed;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace simd
}  // namespace detail
FOCAL_NAMESPACE_END

#endif  // FOCAL_DETAIL_SIMD_COMPRESS_HPP
