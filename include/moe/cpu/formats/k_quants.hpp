// moe/cpu/formats/k_quants.hpp — CPU kernels of weight_format::q4_k, q5_k and q6_k: K-quant weights ×
// Q8_K-quantized activations.
//
// llama.cpp's K-quant products: activations are quantized per 256 to Q8_K at each product's input
// (quantize_row_q8_k, as ggml-cpu does on x86), and each super-block's exact integer sums are scaled by its fp32
// scales (kernels/kquant_unpack.hpp says which integers):
//   prefill: kernels/kquant_gemm_tiles.hpp over x quantized and packed per super-block, (73 · K/256, np) words;
//   decode:  kernels/kquant_dot_tiles.hpp over x quantized once per product (kernels::q8_k_tokens).
// K is a multiple of 256 (the configs check it, config/precision.hpp); the SwiGLU writes the down projection's
// input 256 features (one Q8_K block) at a time.
#pragma once

#include <cstdint>

#include "moe/cpu/formats/format_kernels.hpp"
#include "moe/cpu/kernels/kquant_dot_tiles.hpp"
#include "moe/cpu/kernels/kquant_gemm_tiles.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/ggml_quantizers.hpp"

namespace moe::cpu {

namespace detail {

// The kernels of the K-quant format stored as Block (the three differ only in their blocks).
template <class Block>
struct kquant_format_kernels {
    using storage = Block;

    // ---- prefill ----
    using packed_element = std::uint32_t;
    // Features are quantized 256 at a time (one Q8_K block of the down projection's input).
    static constexpr std::int64_t feature_alignment = qk_k;

    static constexpr std::int64_t packed_rows(std::int64_t k) { return kernels::kquant_packed_rows(k); }

    // x: (n, K) → packed (73 · K/256, np): quantized per token and super-block, padded tokens zero.
    static void pack(matrix_view<const float> x, std::uint32_t* packed) {
        kernels::pack_q8_k(x.data, x.cols, x.rows, x.cols, packed);
    }

    // packed: (73 · K/256, np)   weight: (R, K)   ct: (rows, np) = weight[first_row : first_row + rows] · x
    static void multiply_packed(const std::uint32_t* packed, std::int64_t np, matrix_view<const storage> weight,
                                std::int64_t first_row, std::int64_t rows, float* ct) {
        kernels::kquant_gemm_block_transposed(packed, np, weight.row(first_row), weight.cols / qk_k, rows,
                                              weight.cols, ct);
    }

    // packed: (73 · F/256, np); features [first_row, first_row + rows) = value(r, t), quantized per token in blocks
    // of 256 features (first_row and rows multiples of 256). Padded tokens (t ≥ n) are zero blocks.
    template <class Value>
    static void pack_features(const Value& value, std::int64_t n, std::int64_t np, std::int64_t first_row,
                              std::int64_t rows, std::uint32_t* packed) {
        float values[qk_k];
        q8_k_block q;
        for (std::int64_t r0 = 0; r0 < rows; r0 += qk_k) {
            const std::int64_t b = (first_row + r0) / qk_k;
            for (std::int64_t t = 0; t < np; ++t) {
                if (t >= n) {
                    kernels::pack_q8_k_zero(b, t, np, packed);
                    continue;
                }
                for (std::int64_t i = 0; i < qk_k; ++i) values[i] = value(r0 + i, t);
                quantize_row_q8_k(values, qk_k, &q);
                kernels::pack_q8_k_block(q, b, t, np, packed);
            }
        }
    }

    // ---- decode ----
    class prepared_tokens {
       public:
        // x: (n, K) → quantized to Q8_K, kept here.
        void prepare(matrix_view<const float> x) {
            x_ = x;
            kernels::quantize_tokens_q8_k(x.data, x.cols, x.rows, x.cols, quantized_);
        }
        std::int64_t tokens() const { return x_.rows; }

        // weight: (R, K)   out: (n, rows) with row stride out_stride
        void multiply(matrix_view<const storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                      std::int64_t out_stride) const {
            if (x_.rows == 0) return;
            kernels::kquant_dot_product_block(quantized_, x_.rows, weight.row(first_row), weight.cols / qk_k, rows,
                                              out, out_stride);
        }

       private:
        matrix_view<const float> x_;      // (n, K)
        kernels::q8_k_tokens quantized_;  // x quantized: (n, K/256) Q8_K blocks
    };
};

}  // namespace detail

template <>
struct format_kernels<weight_format::q4_k> : detail::kquant_format_kernels<q4_k_block> {};
template <>
struct format_kernels<weight_format::q5_k> : detail::kquant_format_kernels<q5_k_block> {};
template <>
struct format_kernels<weight_format::q6_k> : detail::kquant_format_kernels<q6_k_block> {};

}  // namespace moe::cpu
