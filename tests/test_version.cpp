// version.hpp and CMake's project(VERSION) must not drift apart.
#include <catch2/catch.hpp>

#include <focal/version.hpp>

TEST_CASE("version macros match the CMake project version", "[version]") {
  CHECK(FOCAL_VERSION_MAJOR == FOCAL_PROJECT_VERSION_MAJOR);
  CHECK(FOCAL_VERSION_MINOR == FOCAL_PROJECT_VERSION_MINOR);
  CHECK(FOCAL_VERSION_PATCH == FOCAL_PROJECT_VERSION_PATCH);
  CHECK(FOCAL_VERSION ==
        FOCAL_VERSION_MAJOR * 10000 + FOCAL_VERSION_MINOR * 100 + FOCAL_VERSION_PATCH);
}
