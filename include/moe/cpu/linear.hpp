// moe/cpu/linear.hpp — y = x · Wᵀ (+ b), nn.Linear on the CPU for any weight format, fp32 accumulation.
//
// W uses the nn.Linear layout (out_features, in_features), so checkpoint tensors are used in place. The work is
// split into fixed blocks of weight_rows_per_item rows of W (output columns), each multiplied by products.hpp's
// kernels of W's format: the dot-product tiles over x prepared once per call for up to small_batch_tokens tokens,
// the GEMM tiles over x packed once per call for more. linear() owns no memory, so x packed or prepared lives in
// the calling thread's scratch (workspace.hpp, kind 3) and every block reads it. Blocks depend on the shapes only,
// so the result is bit-identical for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>

#include "moe/config/precision.hpp"
#include "moe/cpu/products.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

// y[t][first_row + r] += bias[first_row + r] for r < rows, every row t of y; nothing when bias is empty.
// bias: (1, out) or empty (data == nullptr)  y: (T, out)
template <class Bias>
void add_bias(matrix_view<const Bias> bias, std::int64_t first_row, std::int64_t rows, matrix_view<float> y) {
    if (bias.data == nullptr) return;
    for (std::int64_t t = 0; t < y.rows; ++t) {
        float* row = y.row(t) + first_row;
        for (std::int64_t r = 0; r < rows; ++r) row[r] += to_float(bias.data[first_row + r]);
    }
}

// x: T ≤ small_batch_tokens tokens, prepared (small_batch_tokens_of), (T, in)  weight: (out, in)
// bias: (1, out) or empty (data == nullptr)  y: (T, out), must not overlap x.
// Only columns [first_row, first_row + rows) of y are written.
template <class Storage>
void linear_block(const small_batch_tokens_of<Storage>& x, matrix_view<const Storage> weight,
                  matrix_view<const vector_element_t<Storage>> bias, std::int64_t first_row, std::int64_t rows,
                  matrix_view<float> y) {
    x.multiply(weight, first_row, rows, y.row(0) + first_row, y.cols);
    add_bias<vector_element_t<Storage>>(bias, first_row, rows, y);
}

// x: (T, in)  weight: (out, in)  bias: (1, out) or empty  y: (T, out). T may be 0.
// The bias is in the weights' storage type, or fp32 for block-quantized weights (vector_element_t).
// Throws moe::shape_error when the shapes disagree.
template <class Storage>
void linear(matrix_view<const float> x, matrix_view<const Storage> weight,
            matrix_view<const vector_element_t<Storage>> bias, matrix_view<float> y, thread_pool& pool) {
    require_shape("linear", "weight", weight, weight.rows, x.cols);
    require_shape("linear", "y", y, x.rows, weight.rows);
    if (bias.data != nullptr) require_shape("linear", "bias", bias, 1, weight.rows);
    if (x.rows == 0 || weight.rows == 0) return;
    const std::int64_t out = weight.rows;
    const std::int64_t blocks = (out + weight_rows_per_item - 1) / weight_rows_per_item;
    if (uses_packed_gemm(x.rows)) {
        // Prefill: x packed once into this thread's call_tokens scratch, read by every block.
        auto* packed = scratch<packed_element_t<Storage>>(scratch_slot::call_tokens, packed_size<Storage>(x.rows, x.cols));
        pack_activations<Storage>(x, packed);
        pool.parallel_for(blocks, [&](std::int64_t item) {
            const std::int64_t first = item * weight_rows_per_item;
            const std::int64_t rows = std::min(weight_rows_per_item, out - first);
            packed_product_block<Storage>(packed, x.rows, weight, first, rows, y.row(0) + first, y.cols);
            add_bias<vector_element_t<Storage>>(bias, first, rows, y);
        });
        return;
    }
    // Decode: x prepared once (rounded / quantized for the bf16_compute / q8_0 tiles) in this thread's object,
    // read by every block.
    auto& prepared = scratch_object<small_batch_tokens_of<Storage>>();
    prepared.prepare(x);
    pool.parallel_for(blocks, [&](std::int64_t item) {
        const std::int64_t first = item * weight_rows_per_item;
        linear_block<Storage>(prepared, weight, bias, first, std::min(weight_rows_per_item, out - first), y);
    });
}

// Without a bias.
template <class Storage>
void linear(matrix_view<const float> x, matrix_view<const Storage> weight, matrix_view<float> y, thread_pool& pool) {
    linear<Storage>(x, weight, matrix_view<const vector_element_t<Storage>>{}, y, pool);
}

}  // namespace moe::cpu
