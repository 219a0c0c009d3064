// One translation unit of the mixed-instruction-set program (isa_main.cpp): compiled twice,
// as tu_base (the compiler's default x86-64 flags) and tu_avx2 (-mavx2 -mfma), at -O0 so that
// nothing is inlined and every call goes to the symbol the linker chose. Each reports what
// focal code it ran: focal::instruction_set(), the packet width of the kernels it called, and
// the total of a fused call.
#include <focal/focal.hpp>

#include <string>

#define FOCAL_TU_CAT_(a, b) a##b
#define FOCAL_TU_CAT(a, b) FOCAL_TU_CAT_(a, b)

struct TuReport {
  std::string isa;
  int lanes;
  float total;
};

TuReport FOCAL_TU_CAT(FOCAL_TU_NAME, _report)() {
  const focal::BalancedFocalLoss<float> loss;
  Eigen::ArrayXf x = Eigen::ArrayXf::LinSpaced(1000, -20.0f, 20.0f);
  Eigen::ArrayXf y = (x > 3.0f).cast<float>(), g(1000);
  const float total = loss.value_and_gradient(x, y, g);
  return {focal::instruction_set(), focal::detail::simd::packet_lanes<float>(), total};
}
