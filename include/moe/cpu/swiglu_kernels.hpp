// moe/cpu/swiglu_kernels.hpp — the two halves of a SwiGLU FFN over a block of weight rows, on the CPU.
//
// An FFN over n tokens is split into row blocks of the weight matrices so that work items are small, independent
// and fixed in number (see thread_pool.hpp for why that makes results thread-count independent):
//   gate_up_block:  A[:, r0:r1] = silu(X · gate[r0:r1]ᵀ) ⊙ (X · up[r0:r1]ᵀ)
//   down_block:     Y[:, r0:r1] = A · down[r0:r1]ᵀ
// Activations are fp32. fp32 weights are read in place; bf16/fp16 weight blocks are widened to fp32 in a small
// per-thread buffer (it stays in L2) and multiplied with fp32 accumulation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/cpu/eigen_maps.hpp"

namespace moe::cpu {

// Rows of a weight matrix per work item. Fixed (never derived from the thread count) for determinism.
inline constexpr std::int64_t weight_rows_per_item = 64;

// fp32 view of rows [first_row, first_row + rows) of a (·, cols) weight matrix.
template <class Storage>
const_matrix_map widen_rows(matrix_view<const Storage> weight, std::int64_t first_row, std::int64_t rows,
                            std::vector<float>& buffer) {
    if constexpr (std::is_same_v<Storage, float>) {
        return {weight.row(first_row), rows, weight.cols};
    } else {
        const std::int64_t count = rows * weight.cols;
        if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
        const Storage* source = weight.row(first_row);
        for (std::int64_t i = 0; i < count; ++i) buffer[static_cast<std::size_t>(i)] = to_float(source[i]);
        return {buffer.data(), rows, weight.cols};
    }
}

inline float silu(float g) { return g / (1.0f + std::exp(-g)); }

// x:          (n, D)   tokens
// gate, up:   (F, D)   weights
// activation: (n, F)   out: columns [first_row, first_row + rows) are written
template <class Storage>
void gate_up_block(matrix_view<const float> x, matrix_view<const Storage> gate, matrix_view<const Storage> up,
                   std::int64_t first_row, std::int64_t rows, matrix_view<float> activation) {
    thread_local std::vector<float> gate_buffer, up_buffer;
    thread_local row_major_matrix gate_out, up_out;
    const auto x_map = eigen_map(x);
    const auto gate_rows = widen_rows(gate, first_row, rows, gate_buffer);
    const auto up_rows = widen_rows(up, first_row, rows, up_buffer);
    gate_out.resize(x.rows, rows);
    up_out.resize(x.rows, rows);
    gate_out.noalias() = x_map * gate_rows.transpose();  // (n, rows)
    up_out.noalias() = x_map * up_rows.transpose();      // (n, rows)
    for (std::int64_t t = 0; t < x.rows; ++t) {
        float* out = activation.row(t) + first_row;
        for (std::int64_t r = 0; r < rows; ++r) out[r] = silu(gate_out(t, r)) * up_out(t, r);
    }
}

// activation: (n, F)  SwiGLU activations
// down:       (D, F)  weights
// y:          (n, D)  out: columns [first_row, first_row + rows) are written
template <class Storage>
void down_block(matrix_view<const float> activation, matrix_view<const Storage> down, std::int64_t first_row,
                std::int64_t rows, matrix_view<float> y) {
    thread_local std::vector<float> down_buffer;
    const auto down_rows = widen_rows(down, first_row, rows, down_buffer);
    eigen_map(y).middleCols(first_row, rows).noalias() = eigen_map(activation) * down_rows.transpose();
}

}  // namespace moe::cpu
