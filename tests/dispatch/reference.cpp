// The header's own calls of cases.hpp, compiled with one dispatch variant's flags
// (tests/dispatch/CMakeLists.txt): what focal::dispatch must reproduce bit for bit when it runs
// that variant. Its symbols are made local but for its entry point, as the variant's.
#include "cases.hpp"

#define FOCAL_REFERENCE_CAT_(a, b) a##b
#define FOCAL_REFERENCE_CAT(a, b) FOCAL_REFERENCE_CAT_(a, b)

extern "C" void FOCAL_REFERENCE_CAT(focal_reference_, FOCAL_DISPATCH_VARIANT)(
    const dispatch_cases::Sink* sink) {
  dispatch_cases::run_all<dispatch_cases::Header>(*sink);
}
