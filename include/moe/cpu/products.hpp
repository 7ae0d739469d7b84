// moe/cpu/products.hpp — X · Wᵀ over a block of weight rows, for any weight format: the product under linear()
// and the SwiGLU blocks.
//
// Products are split into row blocks of the weight matrix so that work items are small, independent and fixed in
// number (see thread_pool.hpp for why that makes results thread-count independent). Every product accumulates in
// fp32 and reads the weights in their storage format, in place (also from a memory-mapped checkpoint). Two
// kernels, picked by the token count n, each from the format's kernels (kernels_for<Storage>, cpu/formats/):
//   n ≤ small_batch_tokens (decode): dot-product register tiles over tokens prepared once per product
//     (small_batch_tokens_of<Storage>: as they are, rounded to bf16, quantized to Q8_0, …) — preparing costs about
//     as much as reading 64 weight rows, so once per block would cost ~5–10% of a decode step;
//   n > small_batch_tokens (prefill): GEMM tiles over tokens packed once per product (pack_activations), each block
//     written transposed by the tiles, then scattered (packed_product_block).
// Each kernel has a fixed summation order, so a token's result does not depend on the thread count.
#pragma once

#include <cstdint>

#include "moe/cpu/formats.hpp"
#include "moe/cpu/kernels/gemm_tiles.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

// Rows of a weight matrix per work item. Fixed (never derived from the thread count) for determinism.
inline constexpr std::int64_t weight_rows_per_item = 64;

// Token counts up to this are "decode": bound by reading weights, computed by the dot-product tiles.
inline constexpr std::int64_t small_batch_tokens = 4;

// True when a product over n tokens runs a GEMM over packed activations rather than the dot-product tiles.
constexpr bool uses_packed_gemm(std::int64_t n) { return n > small_batch_tokens; }

// Tokens prepared for the dot-product tiles of Storage (prepare(x) once, then multiply per row block).
template <class Storage>
using small_batch_tokens_of = typename kernels_for<Storage>::prepared_tokens;

// The element of activations packed for the GEMM tiles of Storage.
template <class Storage>
using packed_element_t = typename kernels_for<Storage>::packed_element;

// Elements of n tokens of inner width k packed for the GEMM tiles of Storage: (packed_rows(k), np).
template <class Storage>
constexpr std::int64_t packed_size(std::int64_t n, std::int64_t k) {
    return kernels_for<Storage>::packed_rows(k) * kernels::padded_tokens(n);
}

// x: (n, K) → packed (packed_rows(K), np); run once, before the row blocks that read it.
template <class Storage>
void pack_activations(matrix_view<const float> x, packed_element_t<Storage>* packed) {
    kernels_for<Storage>::pack(x, packed);
}

// out[t · out_stride + r] = (weight[first_row + r] · x_t) for t < n, r < rows, from activations already packed
// (pack_activations): the GEMM tiles write the block transposed into the thread's block_product scratch, this
// scatters it back.
// packed: (packed_rows(K), np)   weight: (R, K)   out: (n, rows) with row stride out_stride
template <class Storage>
void packed_product_block(const packed_element_t<Storage>* packed, std::int64_t n, matrix_view<const Storage> weight,
                          std::int64_t first_row, std::int64_t rows, float* out, std::int64_t out_stride) {
    const std::int64_t np = kernels::padded_tokens(n);
    float* ct = scratch<float>(scratch_slot::block_product, rows * np);  // (rows, np)
    kernels_for<Storage>::multiply_packed(packed, np, weight, first_row, rows, ct);
    for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t r = 0; r < rows; ++r) out[t * out_stride + r] = ct[r * np + t];
}

// out(t, r - first_row) = Σ_d x(t, d) · weight(r, d) for r in [first_row, first_row + rows), any n.
// x:      (n, K)      tokens
// weight: (R, K)      weights
// out:    (n, rows)   written with row stride out_stride
// x is packed or prepared for this call (in the calling thread's scratch); callers running many row blocks over
// the same x pack or prepare it once instead (linear, swiglu_runner). Either way the result does not depend on
// the thread count.
template <class Storage>
void small_batch_product(matrix_view<const float> x, matrix_view<const Storage> weight, std::int64_t first_row,
                         std::int64_t rows, float* out, std::int64_t out_stride) {
    if (x.rows == 0) return;
    if (uses_packed_gemm(x.rows)) {
        auto* packed = scratch<packed_element_t<Storage>>(scratch_slot::call_tokens, packed_size<Storage>(x.rows, x.cols));
        pack_activations<Storage>(x, packed);
        packed_product_block<Storage>(packed, x.rows, weight, first_row, rows, out, out_stride);
        return;
    }
    auto& prepared = scratch_object<small_batch_tokens_of<Storage>>();
    prepared.prepare(x);
    prepared.multiply(weight, first_row, rows, out, out_stride);
}

}  // namespace moe::cpu
