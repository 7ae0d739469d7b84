// layer_test_support.hpp — small helpers shared by the layer tests: random matrices and error measures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "moe/tensor/matrix_view.hpp"

namespace moe::test {

inline host_matrix<float> random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed, float scale = 1.0f) {
    host_matrix<float> m(rows, cols);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    for (std::int64_t i = 0; i < rows * cols; ++i) m.data()[i] = dist(rng);
    return m;
}

inline float max_abs(matrix_view<const float> m) {
    float result = 0.0f;
    for (float v : m.span()) result = std::max(result, std::abs(v));
    return result;
}

// max |a − b| / max |reference|
inline double relative_error(matrix_view<const float> a, matrix_view<const float> reference) {
    double diff = 0.0;
    for (std::int64_t i = 0; i < a.size(); ++i) diff = std::max(diff, double(std::abs(a.data[i] - reference.data[i])));
    const double scale = max_abs(reference);
    return scale > 0.0 ? diff / scale : diff;
}

// Rows [first, first + count) of m.
template <class T>
matrix_view<T> rows_of(matrix_view<T> m, std::int64_t first, std::int64_t count) {
    return {m.data + first * m.cols, count, m.cols};
}

}  // namespace moe::test
