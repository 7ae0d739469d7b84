// moe/cpu/eigen_maps.hpp — Eigen views over the library's row-major matrix views.
#pragma once

#include <Eigen/Core>

#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

using row_major_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_matrix_map = Eigen::Map<const row_major_matrix>;
using matrix_map = Eigen::Map<row_major_matrix>;

inline const_matrix_map eigen_map(matrix_view<const float> m) { return {m.data, m.rows, m.cols}; }
inline matrix_map eigen_map(matrix_view<float> m) { return {m.data, m.rows, m.cols}; }

}  // namespace moe::cpu
