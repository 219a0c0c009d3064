// A second translation unit including the umbrella header: with test_odr.cpp (and every other
// test TU) linked into one program, any non-inline definition in a header fails to link.
#include <focal/focal.hpp>

double focal_odr_second_tu(double x, double y) {
  return focal::BalancedFocalLoss<double>()(x, y) + focal::CrossEntropy<double>()(x, y) +
         focal::FocalLoss<double>()(x, y) + focal::BalancedCrossEntropy<double>()(x, y) +
         focal::FocalLossStar<double>()(x, y) +
         focal::FocalLoss<double, focal::Probabilities>()(0.25, y);
}
