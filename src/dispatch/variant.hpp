// One variant of the dispatch library: this file and the ones that include it are compiled
// once per instruction set (src/dispatch/CMakeLists.txt), each time with that set's flags, so
// that focal's headers and Eigen take that set's packet paths. Each entry point views the
// caller's buffers as Maps and runs the header's own call on them: validation, error messages
// and results are the header's. The variant's objects are linked into one whose symbols are all
// local but its table (FOCAL_DISPATCH_TABLE), so that no inline function compiled here with
// this set's instructions can stand in for the caller's (or another variant's) copy.

#ifndef FOCAL_SRC_DISPATCH_VARIANT_HPP
#define FOCAL_SRC_DISPATCH_VARIANT_HPP

#include <focal/focal.hpp>
#include <focal/detail/dispatch_abi.hpp>

#include <cstdint>
#include <stdexcept>
#include <type_traits>

#if !defined(FOCAL_DISPATCH_VARIANT)
#error "compile with -DFOCAL_DISPATCH_VARIANT=sse2|avx2|avx512 and that set's flags"
#endif

#define FOCAL_DISPATCH_CAT_(a, b) a##b
#define FOCAL_DISPATCH_CAT(a, b) FOCAL_DISPATCH_CAT_(a, b)
/// The one global symbol of a variant: its table of entry points.
#define FOCAL_DISPATCH_TABLE FOCAL_DISPATCH_CAT(focal_dispatch_table_, FOCAL_DISPATCH_VARIANT)

namespace focal_dispatch_variant {

namespace abi = focal::dispatch::abi;
using Index = Eigen::Index;
constexpr int Dyn = Eigen::Dynamic;

/// The caller's arrays in the inputs' storage order O, with any strides.
template <class S, int O>
using In = Eigen::Map<const Eigen::Array<S, Dyn, Dyn, O>, 0, Eigen::Stride<Dyn, Dyn>>;
template <class S, int O>
using Out = Eigen::Map<Eigen::Array<S, Dyn, Dyn, O>, 0, Eigen::Stride<Dyn, Dyn>>;
template <class T>
using Vec = Eigen::Map<const Eigen::Matrix<T, Dyn, 1>, 0, Eigen::InnerStride<>>;

template <class S, int O>
In<S, O> in(const abi::Array2& a) {
  return In<S, O>(static_cast<const S*>(a.data), a.rows, a.cols,
                  Eigen::Stride<Dyn, Dyn>(a.outer, a.inner));
}
template <class S, int O>
Out<S, O> out(const abi::Array2& a) {
  return Out<S, O>(static_cast<S*>(const_cast<void*>(a.data)), a.rows, a.cols,
                   Eigen::Stride<Dyn, Dyn>(a.outer, a.inner));
}
template <class T>
Vec<T> vec(const abi::Vector& v) {
  return Vec<T>(static_cast<const T*>(v.data), v.size, Eigen::InnerStride<>(v.stride));
}

inline focal::detail::RuntimeExec exec(const abi::Call& call) {
  focal::detail::RuntimeExec e;
  e.threads = focal::Threads{call.exec.threads};
  e.pool = call.exec.pool;
  e.parallel_for = call.exec.parallel_for;
  return e;
}

/// f(S, O): the call's scalar type and storage order as types.
template <class F>
double with_layout(const abi::Call& call, F&& f) {
  using Col = std::integral_constant<int, Eigen::ColMajor>;
  using Row = std::integral_constant<int, Eigen::RowMajor>;
  if (call.is_double != 0) {
    return call.row_major != 0 ? f(double(), Row()) : f(double(), Col());
  }
  return call.row_major != 0 ? f(float(), Row()) : f(float(), Col());
}

/// f(labels) with the caller's label vectors as focal::labels (0/1 losses) or
/// focal::scored_labels (Scored: the soft-target losses) of Maps; anchor weights or not.
template <class S, bool Scored, class F>
double with_labels(const abi::LabelVectors& l, F&& f) {
  // 32-bit indices only (the forwarding header passes 64-bit ones as their low halves).
  if (l.index_bytes != 4) throw std::logic_error("focal::dispatch: labels must be 32-bit");
  const Vec<std::int32_t> classes = vec<std::int32_t>(l.indices);
  if constexpr (Scored) {
    if (l.weights.data != nullptr) {
      return f(focal::scored_labels(classes, vec<S>(l.scores), vec<S>(l.weights)));
    }
    return f(focal::scored_labels(classes, vec<S>(l.scores)));
  } else {
    if (l.weights.data != nullptr) return f(focal::labels(classes, vec<S>(l.weights)));
    return f(focal::labels(classes));
  }
}

// The entry points, defined in the variant's other files.
double sigmoid_dense(const abi::Call&, const abi::Sigmoid&, const abi::Array2& x,
                     const abi::Array2& y, const abi::Array2& g, double normalizer,
                     const abi::Array2* weights);
double sigmoid_labels(const abi::Call&, const abi::Sigmoid&, const abi::Array2& x,
                      const abi::LabelVectors&, const abi::Array2& g, double normalizer);
double soft_labels(const abi::Call&, const abi::Sigmoid&, const abi::Array2& x,
                   const abi::LabelVectors&, const abi::Array2& g, double normalizer);
double softmax_labels(const abi::Call&, const abi::Softmax&, const abi::Array2& x,
                      const abi::LabelVectors&, const abi::Array2& g, double normalizer);
double distribution(const abi::Call&, const abi::Array2& x, const abi::Vector& targets,
                    const abi::Array2& g, double normalizer, const abi::Vector* weights);

/// f(loss) with the sigmoid loss `s` describes, for scalar S and input I.
template <class S, class I, class F>
double with_sigmoid(const abi::Sigmoid& s, F&& f) {
  const S alpha = static_cast<S>(s.alpha), gamma = static_cast<S>(s.gamma),
          beta = static_cast<S>(s.beta);
  switch (s.loss) {
    case abi::Loss::cross_entropy: return f(focal::CrossEntropy<S, I>());
    case abi::Loss::balanced_cross_entropy: return f(focal::BalancedCrossEntropy<S, I>(alpha));
    case abi::Loss::focal: return f(focal::FocalLoss<S, I>(gamma));
    case abi::Loss::balanced_focal: return f(focal::BalancedFocalLoss<S, I>(alpha, gamma));
    case abi::Loss::focal_star:
      if constexpr (std::is_same<I, focal::Logits>::value) {
        return f(focal::FocalLossStar<S>(gamma, beta));
      }
      break;
    case abi::Loss::quality_focal: return f(focal::QualityFocalLoss<S, I>(beta));
    case abi::Loss::varifocal: return f(focal::VarifocalLoss<S, I>(alpha, gamma));
  }
  throw std::logic_error("focal::dispatch: unknown loss");
}

/// Whether a loss takes soft targets (and so scored labels).
template <class Loss>
struct is_soft : std::false_type {};
template <class S, class I>
struct is_soft<focal::QualityFocalLoss<S, I>> : std::true_type {};
template <class S, class I>
struct is_soft<focal::VarifocalLoss<S, I>> : std::true_type {};

template <class S, class F>
double with_input(const abi::Sigmoid& s, F&& f) {
  return s.probabilities != 0 ? with_sigmoid<S, focal::Probabilities>(s, f)
                              : with_sigmoid<S, focal::Logits>(s, f);
}

}  // namespace focal_dispatch_variant

#endif  // FOCAL_SRC_DISPATCH_VARIANT_HPP
