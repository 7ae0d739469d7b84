// moe/cpu/swiglu_kernels.hpp — the two halves of a SwiGLU FFN over a block of weight rows, on the CPU.
//
// An FFN over n tokens is split into row blocks of the weight matrices so that work items are small, independent
// and fixed in number (see thread_pool.hpp for why that makes results thread-count independent):
//   gate_up_block:  A[:, r0:r1] = silu(X · gate[r0:r1]ᵀ) ⊙ (X · up[r0:r1]ᵀ)
//   down_block:     Y[:, r0:r1] = A · down[r0:r1]ᵀ
// Activations are fp32 and every product accumulates in fp32. Weights are read in their storage format (in place,
// also from a memory-mapped checkpoint) and widened in registers by kernels::dot_product_block — register tiles
// of 4 rows × up to 5 tokens, AVX-512 when compiled for it — for decode and prefill alike; its fixed summation
// order makes a token's result independent of the thread count and of how many tokens share the call.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/cpu/eigen_maps.hpp"
#include "moe/cpu/kernels/bf16_dot_tiles.hpp"
#include "moe/cpu/kernels/dot_tiles.hpp"

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

// Token counts up to this are "decode": bound by reading weights (kept for callers that branch on it).
inline constexpr std::int64_t small_batch_tokens = 4;

// out(t, r - first_row) = Σ_d x(t, d) · weight(r, d) for r in [first_row, first_row + rows), any n.
// kernels::dot_product_block: weights read in their storage format and widened in registers, AVX-512 register
// tiles when compiled for it, a fixed summation order (see kernels/dot_tiles.hpp).
// x:      (n, K)      tokens
// weight: (R, K)      weights
// out:    (n, rows)   written with row stride out_stride
// fp32 weights with more than small_batch_tokens tokens (prefill) use Eigen's packed GEMM instead, measured faster
// than the unpacked tiles there; bf16/fp16 use the tiles (no widened copy of the block); bf16_compute weights
// round x to bf16 and use kernels::bf16_dot_product_block. Either way the result does not depend on the thread
// count.
template <class Storage>
void small_batch_product(matrix_view<const float> x, matrix_view<const Storage> weight, std::int64_t first_row,
                         std::int64_t rows, float* out, std::int64_t out_stride) {
    if (x.rows == 0) return;
    if constexpr (std::is_same_v<Storage, bfloat16_compute>) {
        thread_local std::vector<bfloat16> rounded;  // (n, K) x rounded to bf16 (nearest even)
        const std::size_t count = static_cast<std::size_t>(x.rows * x.cols);
        if (rounded.size() < count) rounded.resize(count);
        for (std::int64_t t = 0; t < x.rows; ++t) {
            const float* source = x.row(t);
            bfloat16* target = rounded.data() + t * x.cols;
            for (std::int64_t d = 0; d < x.cols; ++d) target[d].bits = bfloat16::from_float(source[d]);
        }
        kernels::bf16_dot_product_block(rounded.data(), x.cols, x.rows, weight.row(first_row), weight.cols, rows,
                                        weight.cols, out, out_stride);
        return;
    }
    if constexpr (std::is_same_v<Storage, float>) {
        if (x.rows > small_batch_tokens) {
            Eigen::Map<row_major_matrix, 0, Eigen::OuterStride<>> o(out, x.rows, rows, Eigen::OuterStride<>(out_stride));
            o.noalias() = eigen_map(x) * const_matrix_map(weight.row(first_row), rows, weight.cols).transpose();
            return;
        }
    }
    kernels::dot_product_block<Storage>(x.data, x.cols, x.rows, weight.row(first_row), weight.cols, rows, weight.cols,
                                        out, out_stride);
}

// x:          (n, D)   tokens
// gate, up:   (F, D)   weights
// activation: (n, F)   out: columns [first_row, first_row + rows) are written
template <class Storage>
void gate_up_block(matrix_view<const float> x, matrix_view<const Storage> gate, matrix_view<const Storage> up,
                   std::int64_t first_row, std::int64_t rows, matrix_view<float> activation) {
    thread_local std::vector<float> gate_out, up_out;  // (n, rows)
    const std::size_t count = static_cast<std::size_t>(x.rows * rows);
    if (gate_out.size() < count) gate_out.resize(count), up_out.resize(count);
    small_batch_product(x, gate, first_row, rows, gate_out.data(), rows);
    small_batch_product(x, up, first_row, rows, up_out.data(), rows);
    for (std::int64_t t = 0; t < x.rows; ++t) {
        float* out = activation.row(t) + first_row;
        const float* g = gate_out.data() + t * rows;
        const float* u = up_out.data() + t * rows;
        for (std::int64_t r = 0; r < rows; ++r) out[r] = silu(g[r]) * u[r];
    }
}

// activation: (n, F)  SwiGLU activations
// down:       (D, F)  weights
// y:          (n, D)  out: columns [first_row, first_row + rows) are written
template <class Storage>
void down_block(matrix_view<const float> activation, matrix_view<const Storage> down, std::int64_t first_row,
                std::int64_t rows, matrix_view<float> y) {
    if (activation.rows == 0) return;
    small_batch_product(activation, down, first_row, rows, y.row(0) + first_row, y.cols);
}

}  // namespace moe::cpu
