#ifndef FOCAL_DETAIL_DISPATCH_ABI_HPP
#define FOCAL_DETAIL_DISPATCH_ABI_HPP

// The interface of the compiled dispatch library (src/dispatch): what focal/dispatch.hpp's
// forwarding calls pass to the variants, and the functions that choose one. Plain data and
// declarations, the same in every translation unit whatever its flags, so outside focal's
// instruction-set namespace.

#include <cstddef>

#include "config.hpp"

FOCAL_DETAIL_FP_PUSH
namespace focal {
namespace dispatch {

/// The instruction sets the library is compiled for.
enum class Isa : int {
  sse2 = 0,   ///< x86-64's baseline: every x86-64 CPU
  avx2 = 1,   ///< AVX2 and FMA (Intel Haswell, AMD Zen and later)
  avx512 = 2  ///< AVX-512 F, DQ, BW and VL (Intel Skylake-SP, AMD Zen 4 and later)
};

/// "sse2", "avx2" or "avx512", as the environment variable FOCAL_ISA takes them.
const char* name(Isa isa) noexcept;

/// Whether the library has `isa` and this CPU, with the operating system's saving of its
/// registers, can run it.
bool supported(Isa isa) noexcept;

/// The instruction set every dispatched call runs, chosen at the first call: the one named by
/// the environment variable FOCAL_ISA (sse2, avx2 or avx512) if it is set and not empty, else
/// the best the CPU supports. A variant the CPU cannot run is never called.
/// @throws std::runtime_error if FOCAL_ISA names another value or an instruction set this CPU
/// lacks (then every dispatched call throws it).
Isa isa();

/// The interface between the forwarding header and the compiled variants: plain data, the
/// same in every translation unit whatever its flags. Not for users.
namespace abi {

/// A dense object in the inputs' storage order: element (i, j) is at
/// data + i·inner + j·outer in column-major order, data + i·outer + j·inner in row-major.
struct Array2 {
  const void* data;
  std::ptrdiff_t rows, cols, outer, inner;
};

/// A vector: element i is at data + i·stride. data is null where there is none.
struct Vector {
  const void* data;
  std::ptrdiff_t size, stride;
};

/// focal::labels or focal::scored_labels: 32-bit class indices (stride in 32-bit units),
/// optional anchor weights and scores.
struct LabelVectors {
  Vector indices;
  int index_bytes;  // 4
  Vector weights, scores;
};

/// focal::threads(n) (parallel_for null) or focal::parallel(pool).
struct Exec {
  unsigned threads;
  const void* pool;
  void (*parallel_for)(const void* pool, std::size_t n, const void* task,
                       void (*run)(const void* task, std::size_t k));
};

/// The sigmoid-family losses.
enum class Loss : int {
  cross_entropy,
  balanced_cross_entropy,
  focal,
  balanced_focal,
  focal_star,
  quality_focal,
  varifocal
};

/// A sigmoid loss by its type and parameters (each loss reads those its constructor takes).
struct Sigmoid {
  Loss loss;
  int probabilities;  // Input: 0 logits, 1 probabilities
  double alpha, gamma, beta;
};

/// A SoftmaxFocalLoss: α for every class, or the K per-class α at class_alpha.
struct Softmax {
  double alpha, gamma;
  const void* class_alpha;
  std::ptrdiff_t classes;
};

/// What every call carries: the scalar type, the inputs' storage order, the execution.
struct Call {
  int is_double;
  int row_major;
  Exec exec;
};

/// One variant's entry points: each validates and runs the header's call on Maps of the
/// arguments, returning the header call's result (a float widened to double for float).
struct Table {
  Isa isa;
  double (*sigmoid_dense)(const Call&, const Sigmoid&, const Array2& x, const Array2& y,
                          const Array2& g, double normalizer, const Array2* weights);
  double (*sigmoid_labels)(const Call&, const Sigmoid&, const Array2& x, const LabelVectors&,
                           const Array2& g, double normalizer);
  double (*softmax_labels)(const Call&, const Softmax&, const Array2& x, const LabelVectors&,
                           const Array2& g, double normalizer);
  double (*distribution)(const Call&, const Array2& x, const Vector& targets, const Array2& g,
                         double normalizer, const Vector* weights);
};

/// The entry points of isa() (chosen at the first call). @throws std::runtime_error as isa().
const Table& table();

/// The entry points of `isa` itself, for tests that compare variants.
/// @throws std::runtime_error if this CPU cannot run it.
const Table& table(Isa isa);

}  // namespace abi
}  // namespace dispatch
}  // namespace focal
FOCAL_DETAIL_FP_POP

#endif  // FOCAL_DETAIL_DISPATCH_ABI_HPP
