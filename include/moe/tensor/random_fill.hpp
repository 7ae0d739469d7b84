// moe/tensor/random_fill.hpp — reproducible random weights for random models (tests, benchmarks).
//
// Values are drawn row-major from one generator, so a model's fp32, bf16 and q8_0 variants built from the same seed
// hold the same draws, rounded or quantized to their storage format (its traits' quantize_row).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "moe/precision/formats.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe {

// Every weight of m uniform in [low, high), stored as m's element type T, the storage of some weight format.
// m: (rows, cols) — a row of cols draws, then converted into storage by storage_traits<T>::quantize_row.
template <class T>
void fill_uniform(host_matrix<T>& m, std::mt19937_64& rng, float low, float high) {
    std::uniform_real_distribution<float> dist(low, high);
    std::vector<float> row(static_cast<std::size_t>(m.cols()));
    for (std::int64_t r = 0; r < m.rows(); ++r) {
        for (float& v : row) v = dist(rng);
        storage_traits<T>::quantize_row(row.data(), m.cols(), m.row(r));
    }
}

// nn.Linear's default range for a (out, in) weight: uniform in ±1/sqrt(in).
template <class T>
void fill_linear(host_matrix<T>& m, std::mt19937_64& rng) {
    const float bound = 1.0f / float(std::sqrt(double(m.cols() > 0 ? m.cols() : 1)));
    fill_uniform(m, rng, -bound, bound);
}

}  // namespace moe
