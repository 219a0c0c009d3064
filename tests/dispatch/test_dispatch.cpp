// focal::dispatch: the variant chosen (FOCAL_ISA, CPUID), every call bitwise the header's
// built for that variant's instruction set, the header's errors, no allocation. CTest runs
// this once per FOCAL_ISA value and under qemu as a CPU without AVX (tests/dispatch/CMakeLists.txt).
#include <focal/dispatch.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cases.hpp"

extern "C" void focal_reference_sse2(const dispatch_cases::Sink*);
#if defined(FOCAL_DISPATCH_HAS_AVX2)
extern "C" void focal_reference_avx2(const dispatch_cases::Sink*);
#endif
#if defined(FOCAL_DISPATCH_HAS_AVX512)
extern "C" void focal_reference_avx512(const dispatch_cases::Sink*);
#endif

// Allocations counted while `counting` (the no-allocation case).
static std::atomic<bool> counting{false};
static std::atomic<long> allocations{0};
void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using focal::dispatch::Isa;
namespace dc = dispatch_cases;

using dc::Dispatch;

// The calls of a run, in order: name and the bytes it emitted.
using Record = std::vector<std::pair<std::string, std::vector<unsigned char>>>;

dc::Sink sink_of(Record& r) {
  return {&r, [](void* c, const char* name, const void* bytes, std::size_t n) {
            auto& rec = *static_cast<Record*>(c);
            if (rec.empty() || rec.back().first != name) rec.emplace_back(name, std::vector<unsigned char>());
            const auto* b = static_cast<const unsigned char*>(bytes);
            rec.back().second.insert(rec.back().second.end(), b, b + n);
          }};
}

void run_reference(Isa isa, Record& r) {
  const dc::Sink s = sink_of(r);
  switch (isa) {
#if defined(FOCAL_DISPATCH_HAS_AVX2)
    case Isa::avx2: return focal_reference_avx2(&s);
#endif
#if defined(FOCAL_DISPATCH_HAS_AVX512)
    case Isa::avx512: return focal_reference_avx512(&s);
#endif
    default: return focal_reference_sse2(&s);
  }
}

// What FOCAL_ISA asks for: nothing (""), a variant this CPU runs, or an error.
std::string requested() {
  const char* e = std::getenv("FOCAL_ISA");
  return e == nullptr ? "" : e;
}

bool request_fails() {
  const std::string r = requested();
  if (r.empty()) return false;
  for (const Isa i : {Isa::sse2, Isa::avx2, Isa::avx512}) {
    if (r == focal::dispatch::name(i)) return !focal::dispatch::supported(i);
  }
  return true;
}

// Bitwise equality, NaN included (the data has a NaN logit, as training data may).
template <class S>
bool same_value(S a, S b) {
  static_assert(std::is_floating_point<S>::value, "a scalar");
  return std::memcmp(&a, &b, sizeof a) == 0;
}
template <class A, class B>
bool same_bits(const A& a, const B& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(typename A::Scalar) * std::size_t(a.size())) == 0;
}

Isa best() {
  return focal::dispatch::supported(Isa::avx512) ? Isa::avx512
         : focal::dispatch::supported(Isa::avx2) ? Isa::avx2
                                                 : Isa::sse2;
}

}  // namespace

TEST_CASE("dispatch: the variant FOCAL_ISA names, else the best this CPU runs") {
  if (request_fails()) {
    // Never a variant the CPU lacks: the choice and every dispatched call throw instead.
    REQUIRE_THROWS_AS(focal::dispatch::isa(), std::runtime_error);
    try {
      focal::dispatch::isa();
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("FOCAL_ISA=" + requested()) != std::string::npos);
    }
    const dc::Data<float> d;
    dc::Array<float> g = dc::Array<float>::Constant(d.N, d.K, 42.f);
    const focal::dispatch::BalancedFocalLoss<float> loss;
    CHECK_THROWS_AS(loss.value_and_gradient(d.x, d.hard, g), std::runtime_error);
    CHECK((g == 42.f).all());
    return;
  }
  const Isa isa = focal::dispatch::isa();
  CHECK(focal::dispatch::abi::table().isa == isa);
  CHECK(focal::dispatch::supported(isa));
  CHECK(focal::dispatch::supported(Isa::sse2));
  if (requested().empty()) {
    CHECK(isa == best());
  } else {
    CHECK(requested() == focal::dispatch::name(isa));
  }
  // Set by the qemu run, as a CPU without AVX.
  if (const char* expect = std::getenv("FOCAL_TEST_EXPECT_ISA")) {
    CHECK(std::string(focal::dispatch::name(isa)) == expect);
  }
  // Each variant has its own table, and one this CPU lacks is refused.
  for (const Isa i : {Isa::sse2, Isa::avx2, Isa::avx512}) {
    if (focal::dispatch::supported(i)) {
      CHECK(focal::dispatch::abi::table(i).isa == i);
    } else {
      CHECK_THROWS_AS(focal::dispatch::abi::table(i), std::runtime_error);
    }
  }
}

TEST_CASE("dispatch: every call bitwise the header's call built for the variant's instruction set") {
  if (request_fails()) return;  // the case above
  const Isa isa = focal::dispatch::isa();
  INFO("variant " << focal::dispatch::name(isa));
  Record dispatched, reference;
  dc::run_all<Dispatch>(sink_of(dispatched));
  run_reference(isa, reference);
  REQUIRE(dispatched.size() == reference.size());
  REQUIRE(dispatched.size() > 150);
  for (std::size_t k = 0; k < dispatched.size(); ++k) {
    INFO("call " << dispatched[k].first);
    REQUIRE(dispatched[k].first == reference[k].first);
    const auto& a = dispatched[k].second;
    const auto& b = reference[k].second;
    REQUIRE(a.size() == b.size());
    std::size_t first = 0;  // the first byte that differs (the result's are bytes [0, 8))
    while (first < a.size() && a[first] == b[first]) ++first;
    INFO("first difference at byte " << first << " of " << a.size());
    CHECK(first == a.size());
  }
}

TEST_CASE("dispatch: arguments the library does not take run the header's code inline") {
  if (request_fails()) return;
  const dc::Data<float> d;
  const focal::dispatch::FocalLoss<float> loss(2.f);
  const focal::FocalLoss<float> header(2.f);
  dc::Array<float> g(d.N, d.K), h(d.N, d.K);
  // An expression, 16-bit labels, per_image.
  CHECK(same_value(loss.value_and_gradient(d.x * 2.f, d.hard, g),
                  header.value_and_gradient(d.x * 2.f, d.hard, h)));
  CHECK(same_bits(g, h));
  const Eigen::Array<short, Eigen::Dynamic, 1> small = d.labels32.cast<short>();
  CHECK(same_value(loss.value_and_gradient(d.x, focal::labels(small), g),
                  header.value_and_gradient(d.x, focal::labels(small), h)));
  CHECK(same_bits(g, h));
  Eigen::ArrayXi images(2);
  images << 100, int(d.N) - 100;
  CHECK(same_value(
      loss.value_and_gradient(d.x, focal::labels(d.labels32), g, focal::per_image(images)),
      header.value_and_gradient(d.x, focal::labels(d.labels32), h, focal::per_image(images))));
  CHECK(same_bits(g, h));
}

TEST_CASE("dispatch: the header's errors, grad untouched") {
  if (request_fails()) return;
  const dc::Data<double> d;
  dc::Array<double> g = dc::Array<double>::Constant(d.N, d.K, 42.0);
  dc::Array<double> y = d.hard;
  y(5, 3) = 0.5;
  const auto message = [](auto&& call) {
    try {
      call();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const focal::dispatch::BalancedFocalLoss<double> loss;
  const focal::BalancedFocalLoss<double> header;
  dc::Array<double> h = g;
  const std::string m = message([&] { loss.value_and_gradient(d.x, y, g, 2.0); });
  CHECK(m == message([&] { header.value_and_gradient(d.x, y, h, 2.0); }));
  CHECK(m.find("targets") != std::string::npos);
  CHECK(m.find("0.5") != std::string::npos);
  Eigen::Array<std::int64_t, Eigen::Dynamic, 1> bad = d.labels64;
  bad[7] = d.K;
  const std::string ml = message([&] { loss.value_and_gradient(d.x, focal::labels(bad), g); });
  CHECK(ml == message([&] { header.value_and_gradient(d.x, focal::labels(bad), h); }));
  CHECK(ml.find("labels[7]") != std::string::npos);
  CHECK(message([&] { loss.value_and_gradient(d.x, d.hard, g, -1.0); }).find("normalizer") !=
        std::string::npos);
  CHECK((g == 42.0).all());
}

TEST_CASE("dispatch: a call on focal's thread or the caller's pool allocates nothing") {
  if (request_fails()) return;
  const dc::Data<float> d;
  dc::Array<float> g(d.N, d.K), gd(d.N, d.bins);
  const focal::dispatch::VarifocalLoss<float> vfl;
  const focal::dispatch::SoftmaxFocalLoss<float> softmax(0.25f, 2.f);
  const focal::dispatch::DistributionFocalLoss<float> dfl;
  Eigen::ArrayXi labels = d.labels32;
  for (Eigen::Index i = 0; i < d.N; ++i) labels[i] = std::max(labels[i], focal::ignore == labels[i] ? focal::ignore : 0);
  // Per-class α of 120 classes (names such as "class_alpha[119]" outgrow std::string's inline
  // buffer: none may be built on a good call).
  const dc::Array<float> wide = dc::Array<float>::Zero(d.N, 120);
  dc::Array<float> gw(d.N, 120);
  const focal::dispatch::SoftmaxFocalLoss<float> per_class(
      Eigen::ArrayXf::Constant(120, 0.5f), 2.f);
  vfl.value_and_gradient(d.x, d.soft, g);  // the first call chooses the variant
  allocations = 0;
  counting = true;
  vfl.value_and_gradient(d.x, d.soft, g, 2.f);
  vfl.value_and_gradient(d.x, focal::scored_labels(d.labels32, d.scores), g, 2.f);
  softmax.value_and_gradient(d.x, focal::labels(labels), g, 2.f);
  dfl.value_and_gradient(d.dfl_x, d.dfl_t, gd, 2.f, d.row_w);
  per_class.value_and_gradient(wide, focal::labels(labels), gw, 2.f, focal::threads(1));
  counting = false;
  CHECK(allocations == 0);
}
