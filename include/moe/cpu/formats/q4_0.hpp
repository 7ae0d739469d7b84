// moe/cpu/formats/q4_0.hpp — CPU kernels of weight_format::q4_0 and q5_0: Q4_0 / Q5_0 weights × Q8_0-quantized
// activations.
//
// llama.cpp's Q4_0 and Q5_0 products: activations are quantized to Q8_0 at each product's input exactly as for
// q8_0 (precision/q8_0.hpp), and each block's exact integer Σ (u − o) · x is scaled by dw · dx in fp32
// (kernels/type0_tiles.hpp): the two formats differ only in how a block unpacks.
//   prefill: x quantized and packed as for q8_0 (pack_q8_0, (10 · K/32, np) words); the weight rows are widened to
//            Q8_0 blocks 8 at a time (exact) and run through the q8_0 GEMM tiles;
//   decode:  x quantized once per product (kernels::q8_tokens), the values unpacked in registers.
// The activations are q8_0's in both phases, so packing and preparing them is q8_0's code.
// K is a multiple of 32 (the configs check it, config/precision.hpp).
#pragma once

#include <cstdint>

#include "moe/cpu/formats/format_kernels.hpp"
#include "moe/cpu/formats/q8_0.hpp"
#include "moe/cpu/kernels/type0_tiles.hpp"
#include "moe/precision/ggml_blocks.hpp"

namespace moe::cpu {

namespace detail {

// The kernels of the type-0 format stored as Block (q4_0_block, q5_0_block).
template <class Block>
struct type0_format_kernels {
    using storage = Block;
    using activations = format_kernels<weight_format::q8_0>;  // how x is packed and prepared

    // ---- prefill: the activations as q8_0 packs them ----
    using packed_element = std::uint32_t;
    static constexpr std::int64_t feature_alignment = q8_0_block_size;  // features are quantized 32 at a time

    static constexpr std::int64_t packed_rows(std::int64_t k) { return kernels::q8_packed_rows(k); }

    // x: (n, K) → packed (10 · K/32, np): quantized per token and block, padded tokens zero.
    static void pack(matrix_view<const float> x, std::uint32_t* packed) { activations::pack(x, packed); }

    // packed: (10 · K/32, np)   weight: (R, K)   ct: (rows, np) = weight[first_row : first_row + rows] · x
    static void multiply_packed(const std::uint32_t* packed, std::int64_t np, matrix_view<const storage> weight,
                                std::int64_t first_row, std::int64_t rows, float* ct) {
        kernels::type0_gemm_block_transposed(packed, np, weight.row(first_row), weight.cols / q8_0_block_size, rows,
                                             weight.cols, ct);
    }

    // packed: (10 · F/32, np); features [first_row, first_row + rows) = value(r, t): as q8_0 writes them.
    template <class Value>
    static void pack_features(const Value& value, std::int64_t n, std::int64_t np, std::int64_t first_row,
                              std::int64_t rows, std::uint32_t* packed) {
        activations::pack_features(value, n, np, first_row, rows, packed);
    }

    // ---- decode ----
    class prepared_tokens {
       public:
        // x: (n, K) → quantized to Q8_0, kept here.
        void prepare(matrix_view<const float> x) {
            x_ = x;
            kernels::quantize_tokens_q8_0(x.data, x.cols, x.rows, x.cols, quantized_);
        }
        std::int64_t tokens() const { return x_.rows; }

        // weight: (R, K)   out: (n, rows) with row stride out_stride
        void multiply(matrix_view<const storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                      std::int64_t out_stride) const {
            if (x_.rows == 0) return;
            kernels::type0_dot_product_block(quantized_, x_.rows, weight.row(first_row), weight.cols / q8_0_block_size,
                                             rows, out, out_stride);
        }

       private:
        matrix_view<const float> x_;    // (n, K)
        kernels::q8_tokens quantized_;  // x quantized: (n, K) bytes, (n, K/32) scales
    };
};

}  // namespace detail

template <>
struct format_kernels<weight_format::q4_0> : detail::type0_format_kernels<q4_0_block> {};
template <>
struct format_kernels<weight_format::q5_0> : detail::type0_format_kernels<q5_0_block> {};

}  // namespace moe::cpu
