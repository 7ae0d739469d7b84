// moe/cpu/formats/q8_0.hpp — CPU kernels of weight_format::q8_0: Q8_0 weights × Q8_0-quantized activations.
//
// Activations are quantized to Q8_0 at each product's input (llama.cpp's activation quantizer, precision/q8_0.hpp)
// and multiplied with the weight blocks in place, by vpdpbusd where the CPU has AVX-512 VNNI:
//   prefill: kernels/q8_gemm_tiles.hpp over x quantized and packed per block, (10 · K/32, np) 32-bit words;
//   decode:  kernels/q8_dot_tiles.hpp over x quantized once per product (kernels::q8_tokens).
// K is a multiple of 32 (the configs check it, config/precision.hpp).
#pragma once

#include <cstdint>

#include "moe/cpu/formats/format_kernels.hpp"
#include "moe/cpu/kernels/q8_dot_tiles.hpp"
#include "moe/cpu/kernels/q8_gemm_tiles.hpp"

namespace moe::cpu {

template <>
struct format_kernels<weight_format::q8_0> {
    using storage = q8_0_block;

    // ---- prefill ----
    using packed_element = std::uint32_t;
    // Features are quantized 32 at a time (one Q8_0 block of the down projection's input), so a block of features
    // starts at a multiple of 32 and spans whole blocks.
    static constexpr std::int64_t feature_alignment = q8_0_block_size;

    static constexpr std::int64_t packed_rows(std::int64_t k) { return kernels::q8_packed_rows(k); }

    // x: (n, K) → packed (10 · K/32, np): quantized per token and block, padded tokens zero.
    static void pack(matrix_view<const float> x, std::uint32_t* packed) {
        kernels::pack_q8_0(x.data, x.cols, x.rows, x.cols, packed);
    }

    // packed: (10 · K/32, np)   weight: (R, K)   ct: (rows, np) = weight[first_row : first_row + rows] · x
    static void multiply_packed(const std::uint32_t* packed, std::int64_t np, matrix_view<const storage> weight,
                                std::int64_t first_row, std::int64_t rows, float* ct) {
        kernels::q8_gemm_block_transposed(packed, np, weight.row(first_row), weight.cols / q8_0_block_size, rows,
                                          weight.cols, ct);
    }

    // packed: (10 · F/32, np); features [first_row, first_row + rows) = value(r, t), quantized per token in blocks
    // of 32 features (first_row and rows multiples of 32). Padded tokens (t ≥ n) are zero blocks.
    template <class Value>
    static void pack_features(const Value& value, std::int64_t n, std::int64_t np, std::int64_t first_row,
                              std::int64_t rows, std::uint32_t* packed) {
        float values[q8_0_block_size];
        std::int8_t q[q8_0_block_size];
        for (std::int64_t r0 = 0; r0 < rows; r0 += q8_0_block_size) {
            const std::int64_t b = (first_row + r0) / q8_0_block_size;
            for (std::int64_t t = 0; t < np; ++t) {
                if (t >= n) {
                    kernels::pack_q8_0_zero(b, t, np, packed);
                    continue;
                }
                for (std::int64_t i = 0; i < q8_0_block_size; ++i) values[i] = value(r0 + i, t);
                float scale;
                quantize_q8_0_activations(values, q8_0_block_size, q, &scale);
                kernels::pack_q8_0_block(q, scale, b, t, np, packed);
            }
        }
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
            kernels::q8_dot_product_block(quantized_, x_.rows, weight.row(first_row), weight.cols / q8_0_block_size,
                                          rows, out, out_stride);
        }

       private:
        matrix_view<const float> x_;    // (n, K)
        kernels::q8_tokens quantized_;  // x quantized: (n, K) bytes, (n, K/32) scales
    };
};

}  // namespace moe::cpu
