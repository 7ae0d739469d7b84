// moe/cpu/eigen_maps.hpp — Eigen views over the library's row-major matrix views.
//
// Eigen is included here, for the whole CPU backend (nothing else includes it directly). GCC 12's AVX-512
// intrinsics pass an undefined operand (`__Y = __Y`) that, once Eigen's GEMM kernels inline them, trips a false
// -Wmaybe-uninitialized (GCC bug 105593, fixed in GCC 13): a consumer building with -march=native -Werror would fail
// inside Eigen. The warning is off for Eigen's lines only; GCC checks the pragma at each inlined call site.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

using row_major_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_matrix_map = Eigen::Map<const row_major_matrix>;
using matrix_map = Eigen::Map<row_major_matrix>;

inline const_matrix_map eigen_map(matrix_view<const float> m) { return {m.data, m.rows, m.cols}; }
inline matrix_map eigen_map(matrix_view<float> m) { return {m.data, m.rows, m.cols}; }

}  // namespace moe::cpu
