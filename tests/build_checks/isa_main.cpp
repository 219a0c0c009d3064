// Two objects built for different instruction sets, linked into one program (as runtime
// dispatch and PyTorch-style per-ISA builds do): each must run its own focal code. Without
// focal's per-instruction-set namespace the two share one body per function, and which one
// runs depends on the link order (this program is linked in both orders): the SSE2 caller ran
// AVX2 code (SIGILL on an older CPU), or the AVX2 caller SSE2 code.
#include <cmath>
#include <cstdio>
#include <string>

struct TuReport {
  std::string isa;
  int lanes;
  float total;
};

TuReport tu_base_report();
TuReport tu_avx2_report();

int main() {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::puts("this CPU has no AVX2 and FMA: skipped");
    return 77;
  }
  const TuReport base = tu_base_report(), avx2 = tu_avx2_report();
  std::printf("base: %s, %d lanes, total %.9g\navx2: %s, %d lanes, total %.9g\n",
              base.isa.c_str(), base.lanes, double(base.total), avx2.isa.c_str(), avx2.lanes,
              double(avx2.total));
  const bool ok = base.isa == "isa_sse2" && base.lanes == 4 && avx2.isa == "isa_avx2_fma" &&
                  avx2.lanes == 8 &&
                  std::fabs(base.total - avx2.total) <= 1e-5f * std::fabs(base.total);
  std::puts(ok ? "each object ran its own code" : "FAILED: an object ran the other's code");
  return ok ? 0 : 1;
}
