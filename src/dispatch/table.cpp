// The variant's table, its one global symbol (see variant.hpp).
#include "variant.hpp"

extern "C" const focal::dispatch::abi::Table* FOCAL_DISPATCH_TABLE() {
  static constexpr focal::dispatch::abi::Table table{
      focal::dispatch::Isa::FOCAL_DISPATCH_VARIANT, focal_dispatch_variant::sigmoid_dense,
      focal_dispatch_variant::sigmoid_labels, focal_dispatch_variant::softmax_labels,
      focal_dispatch_variant::distribution};
  return &table;
}
