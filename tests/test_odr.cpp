// Companion of odr_second_tu.cpp: the same instantiations in two TUs agree.
#include <catch2/catch.hpp>

#include <focal/focal.hpp>

double focal_odr_second_tu(double x, double y);

TEST_CASE("two translation units using the umbrella header link and agree", "[odr]") {
  for (const double x : {-3.0, 0.0, 2.5}) {
    const double here =
        focal::BalancedFocalLoss<double>()(x, 1.0) + focal::CrossEntropy<double>()(x, 1.0) +
        focal::FocalLoss<double>()(x, 1.0) + focal::BalancedCrossEntropy<double>()(x, 1.0) +
        focal::FocalLossStar<double>()(x, 1.0) +
        focal::FocalLoss<double, focal::Probabilities>()(0.25, 1.0);
    CHECK(focal_odr_second_tu(x, 1.0) == here);
  }
}
