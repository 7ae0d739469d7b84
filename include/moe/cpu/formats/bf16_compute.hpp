// moe/cpu/formats/bf16_compute.hpp — CPU kernels of weight_format::bf16_compute: bf16 × bf16 products.
//
// Activations are rounded to bf16 (nearest even) at each product's input and multiplied with the bf16 weights,
// in place, by vdpbf16ps where the CPU has AVX512-BF16:
//   prefill: kernels/bf16_gemm_tiles.hpp over x packed in bf16 pairs, (P, np) 32-bit words, P = (K + 1) / 2;
//   decode:  kernels/bf16_dot_tiles.hpp over x rounded to bf16 once per product, (n, K).
#pragma once

#include <cstdint>
#include <vector>

#include "moe/cpu/formats/format_kernels.hpp"
#include "moe/cpu/kernels/bf16_dot_tiles.hpp"
#include "moe/cpu/kernels/bf16_gemm_tiles.hpp"

namespace moe::cpu {

template <>
struct format_kernels<weight_format::bf16_compute> {
    using storage = bfloat16_compute;

    // ---- prefill ----
    using packed_element = std::uint32_t;
    // Pairs of features share a word, so a block of features starts at an even one.
    static constexpr std::int64_t feature_alignment = 2;

    static constexpr std::int64_t packed_rows(std::int64_t k) { return kernels::bf16_pairs(k); }

    // x: (n, K) → packed (P, np): bf16 pairs, padded tokens zero.
    static void pack(matrix_view<const float> x, std::uint32_t* packed) {
        kernels::pack_bf16_pairs(x.data, x.cols, x.rows, x.cols, packed);
    }

    // packed: (P, np)   weight: (R, K)   ct: (rows, np) = weight[first_row : first_row + rows] · x
    static void multiply_packed(const std::uint32_t* packed, std::int64_t np, matrix_view<const storage> weight,
                                std::int64_t first_row, std::int64_t rows, float* ct) {
        kernels::bf16_gemm_block_transposed(packed, np, weight.row(first_row), weight.cols, rows, weight.cols, ct);
    }

    // packed: (F/2 rounded up, np); features [first_row, first_row + rows) = value(r, t), rounded to bf16 in pairs
    // (first_row even; an odd last feature pairs with 0).
    template <class Value>
    static void pack_features(const Value& value, std::int64_t /*n*/, std::int64_t np, std::int64_t first_row,
                              std::int64_t rows, std::uint32_t* packed) {
        for (std::int64_t r = 0; r < rows; r += 2) {
            std::uint32_t* out = packed + (first_row + r) / 2 * np;
            for (std::int64_t t = 0; t < np; ++t)
                out[t] = std::uint32_t{bfloat16::from_float(value(r, t))} |
                         (std::uint32_t{bfloat16::from_float(value(r + 1, t))} << 16);
        }
    }

    // ---- decode ----
    class prepared_tokens {
       public:
        // x: (n, K) → rounded to bf16 (nearest even), kept here.
        void prepare(matrix_view<const float> x) {
            x_ = x;
            const auto count = static_cast<std::size_t>(x.rows * x.cols);
            if (rounded_.size() < count) rounded_.resize(count);
            for (std::size_t i = 0; i < count; ++i) rounded_[i].bits = bfloat16::from_float(x.data[i]);
        }
        std::int64_t tokens() const { return x_.rows; }

        // weight: (R, K)   out: (n, rows) with row stride out_stride
        void multiply(matrix_view<const storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                      std::int64_t out_stride) const {
            if (x_.rows == 0) return;
            kernels::bf16_dot_product_block(rounded_.data(), x_.cols, x_.rows, weight.row(first_row), weight.cols, rows,
                                            weight.cols, out, out_stride);
        }

       private:
        matrix_view<const float> x_;      // (n, K)
        std::vector<bfloat16> rounded_;   // (n, K)
    };
};

}  // namespace moe::cpu
