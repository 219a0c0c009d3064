// The dispatch library's choice of variant, compiled for x86-64's baseline: the CPU's
// features from CPUID, the operating system's from XGETBV, FOCAL_ISA, and the variants' tables.

#include <focal/detail/dispatch_abi.hpp>

#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

// The variants built (FOCAL_DISPATCH_ISAS; sse2 always).
extern "C" const focal::dispatch::abi::Table* focal_dispatch_table_sse2();
#if defined(FOCAL_DISPATCH_HAS_AVX2)
extern "C" const focal::dispatch::abi::Table* focal_dispatch_table_avx2();
#endif
#if defined(FOCAL_DISPATCH_HAS_AVX512)
extern "C" const focal::dispatch::abi::Table* focal_dispatch_table_avx512();
#endif

namespace focal {
namespace dispatch {
namespace {

struct Features {
  bool avx2 = false, avx512 = false;
};

// The state the OS saves on a context switch (XCR0): without it the registers of AVX or
// AVX-512 are not usable whatever CPUID says.
unsigned long long xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

Features detect() {
  Features f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return f;
  const bool fma = (c & bit_FMA) != 0, osxsave = (c & bit_OSXSAVE) != 0,
             avx = (c & bit_AVX) != 0;
  // What the avx2 variant's flags (-mavx2 -mfma) let the compiler use: SSE3 to SSE4.2 and
  // POPCNT come with them.
  const bool sse4 = (c & bit_SSE3) != 0 && (c & bit_SSSE3) != 0 && (c & bit_SSE4_1) != 0 &&
                    (c & bit_SSE4_2) != 0 && (c & bit_POPCNT) != 0;
  if (!osxsave || !avx || !fma || !sse4) return f;
  const unsigned long long xcr = xcr0();
  const bool ymm = (xcr & 0x6) == 0x6;      // SSE and AVX state
  const bool zmm = (xcr & 0xe6) == 0xe6;    // and opmask, ZMM0-15 upper halves, ZMM16-31
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return f;
  f.avx2 = ymm && (b & bit_AVX2) != 0;
  f.avx512 = f.avx2 && zmm && (b & bit_AVX512F) != 0 && (b & bit_AVX512DQ) != 0 &&
             (b & bit_AVX512BW) != 0 && (b & bit_AVX512VL) != 0;
  return f;
}

const Features& features() {
  static const Features f = detect();
  return f;
}

// The variant of the process: FOCAL_ISA, else the best supported; or the error to throw.
struct Choice {
  Isa isa = Isa::sse2;
  std::string error;
};

Choice choose() {
  Choice c;
  if (supported(Isa::avx512)) {
    c.isa = Isa::avx512;
  } else if (supported(Isa::avx2)) {
    c.isa = Isa::avx2;
  }
  const char* env = std::getenv("FOCAL_ISA");
  if (env == nullptr || *env == '\0') return c;
  for (const Isa i : {Isa::sse2, Isa::avx2, Isa::avx512}) {
    if (std::strcmp(env, name(i)) != 0) continue;
    if (!supported(i)) {
      c.error = std::string("focal::dispatch: FOCAL_ISA=") + env +
                " but this CPU (or its operating system, or this build of focal::dispatch) "
                "does not support " + name(i) + "; the best it supports is " + name(c.isa);
    }
    c.isa = i;
    return c;
  }
  c.error = std::string("focal::dispatch: FOCAL_ISA=") + env +
            " is not an instruction set of focal's; use sse2, avx2 or avx512 (or unset it)";
  return c;
}

const Choice& choice() {
  static const Choice c = choose();
  return c;
}

}  // namespace

const char* name(Isa isa) noexcept {
  switch (isa) {
    case Isa::sse2: return "sse2";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

bool supported(Isa isa) noexcept {
  switch (isa) {
    case Isa::sse2: return true;
#if defined(FOCAL_DISPATCH_HAS_AVX2)
    case Isa::avx2: return features().avx2;
#endif
#if defined(FOCAL_DISPATCH_HAS_AVX512)
    case Isa::avx512: return features().avx512;
#endif
    default: return false;
  }
}

Isa isa() {
  const Choice& c = choice();
  if (!c.error.empty()) throw std::runtime_error(c.error);
  return c.isa;
}

namespace abi {

const Table& table(Isa isa) {
  if (!supported(isa)) {
    throw std::runtime_error(std::string("focal::dispatch: this CPU (or its operating system, "
                                         "or this build of focal::dispatch) does not support ") +
                             name(isa));
  }
  switch (isa) {
#if defined(FOCAL_DISPATCH_HAS_AVX2)
    case Isa::avx2: return *focal_dispatch_table_avx2();
#endif
#if defined(FOCAL_DISPATCH_HAS_AVX512)
    case Isa::avx512: return *focal_dispatch_table_avx512();
#endif
    default: break;
  }
  return *focal_dispatch_table_sse2();
}

const Table& table() {
  static const Table* const chosen = choice().error.empty() ? &table(choice().isa) : nullptr;
  if (chosen == nullptr) isa();  // throws the choice's error
  return *chosen;
}

}  // namespace abi
}  // namespace dispatch
}  // namespace focal
