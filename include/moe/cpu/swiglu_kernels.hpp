// moe/cpu/swiglu_kernels.hpp — the two halves of a SwiGLU FFN over a block of weight rows, on the CPU.
//
// An FFN over n tokens is split into row blocks of the weight matrices so that work items are small, independent
// and fixed in number (see thread_pool.hpp for why that makes results thread-count independent):
//   gate_up_block:  A[:, r0:r1] = silu(X · gate[r0:r1]ᵀ) ⊙ (X · up[r0:r1]ᵀ)
//   down_block:     Y[:, r0:r1] = A · down[r0:r1]ᵀ
// Activations are fp32 and every product accumulates in fp32. Up to small_batch_tokens tokens (decode), weights are
// read once and widened in registers; for more tokens, fp32 weights are used in place and bf16/fp16 weight blocks
// are widened into a small per-thread buffer (it stays in L2) for an Eigen GEMM.
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

// Token counts up to this use small_batch_product (weights read once, widened in registers) instead of Eigen.
inline constexpr std::int64_t small_batch_tokens = 4;

// out(t, r - first_row) = Σ_d x(t, d) · weight(r, d) for r in [first_row, first_row + rows), n ≤ small_batch_tokens.
// Decode is bound by reading weights: each weight row is read once in its storage format and widened in registers,
// with 16 independent fp32 lanes per token (the compiler vectorises them; the lane sum order is fixed).
// x:      (n, K)      tokens
// weight: (R, K)      weights
// out:    (n, rows)   written with row stride out_stride
template <int Tokens, class Storage>
void small_batch_product_fixed(matrix_view<const float> x, matrix_view<const Storage> weight, std::int64_t first_row,
                               std::int64_t rows, float* out, std::int64_t out_stride) {
    constexpr int lanes = 16;
    const std::int64_t k = weight.cols, k_vector = k - k % lanes;
    const float* xt[Tokens];
    for (int t = 0; t < Tokens; ++t) xt[t] = x.row(t);
    for (std::int64_t r = 0; r < rows; ++r) {
        const Storage* w = weight.row(first_row + r);
        float acc[Tokens][lanes] = {};
        for (std::int64_t d = 0; d < k_vector; d += lanes) {
            float wide[lanes];
            for (int l = 0; l < lanes; ++l) wide[l] = to_float(w[d + l]);
            for (int t = 0; t < Tokens; ++t)
                for (int l = 0; l < lanes; ++l) acc[t][l] += xt[t][d + l] * wide[l];
        }
        for (int t = 0; t < Tokens; ++t) {
            float sum = 0.0f;
            for (int l = 0; l < lanes; ++l) sum += acc[t][l];
            for (std::int64_t d = k_vector; d < k; ++d) sum += xt[t][d] * to_float(w[d]);
            out[t * out_stride + r] = sum;
        }
    }
}

// out(t, r - first_row) = Σ_d x(t, d) · weight(r, d) for r in [first_row, first_row + rows), n ≤ small_batch_tokens.
// Decode is bound by reading weights: each weight row is read once in its storage format and widened in registers,
// with 16 independent fp32 lanes per token (the compiler vectorises them; the lane sum order is fixed).
// x:      (n, K)      tokens
// weight: (R, K)      weights
// out:    (n, rows)   written with row stride out_stride
template <class Storage>
void small_batch_product(matrix_view<const float> x, matrix_view<const Storage> weight, std::int64_t first_row,
                         std::int64_t rows, float* out, std::int64_t out_stride) {
    static_assert(small_batch_tokens == 4, "add a case below for each token count up to small_batch_tokens");
    switch (x.rows) {
        case 1: return small_batch_product_fixed<1>(x, weight, first_row, rows, out, out_stride);
        case 2: return small_batch_product_fixed<2>(x, weight, first_row, rows, out, out_stride);
        case 3: return small_batch_product_fixed<3>(x, weight, first_row, rows, out, out_stride);
        case 4: return small_batch_product_fixed<4>(x, weight, first_row, rows, out, out_stride);
        default: return;  // n == 0: nothing to compute
    }
}

// x:          (n, D)   tokens
// gate, up:   (F, D)   weights
// activation: (n, F)   out: columns [first_row, first_row + rows) are written
template <class Storage>
void gate_up_block(matrix_view<const float> x, matrix_view<const Storage> gate, matrix_view<const Storage> up,
                   std::int64_t first_row, std::int64_t rows, matrix_view<float> activation) {
    thread_local std::vector<float> gate_buffer, up_buffer;
    thread_local row_major_matrix gate_out, up_out;  // (n, rows)
    gate_out.resize(x.rows, rows);
    up_out.resize(x.rows, rows);
    if (x.rows <= small_batch_tokens) {
        small_batch_product(x, gate, first_row, rows, gate_out.data(), rows);
        small_batch_product(x, up, first_row, rows, up_out.data(), rows);
    } else {
        const auto x_map = eigen_map(x);
        gate_out.noalias() = x_map * widen_rows(gate, first_row, rows, gate_buffer).transpose();
        up_out.noalias() = x_map * widen_rows(up, first_row, rows, up_buffer).transpose();
    }
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
    if (activation.rows <= small_batch_tokens) {
        small_batch_product(activation, down, first_row, rows, y.row(0) + first_row, y.cols);
        return;
    }
    thread_local std::vector<float> down_buffer;
    const auto down_rows = widen_rows(down, first_row, rows, down_buffer);
    eigen_map(y).middleCols(first_row, rows).noalias() = eigen_map(activation) * down_rows.transpose();
}

}  // namespace moe::cpu
