// moe/cpu/formats/fp8_e4m3.hpp — CPU kernels of weight_format::fp8_e4m3: fp32 activations × fp8 block weights.
//
// Activations stay fp32 (as for the fp32/bf16/fp16 formats: the same packing and preparation); the weight codes
// are decoded to fp32 in registers and every 128-weight block's partial sums are scaled once by the block's scale:
//   prefill: kernels/fp8_gemm_tiles.hpp over x packed transposed, (K, np) floats;
//   decode:  kernels/fp8_dot_tiles.hpp over x itself (nothing to prepare).
// K is a multiple of 128 (the configs check it, config/precision.hpp).
#pragma once

#include <cstdint>

#include "moe/cpu/formats/format_kernels.hpp"
#include "moe/cpu/kernels/fp8_dot_tiles.hpp"
#include "moe/cpu/kernels/fp8_gemm_tiles.hpp"

namespace moe::cpu {

template <>
struct format_kernels<weight_format::fp8_e4m3> {
    using storage = fp8_e4m3_block;

    // ---- prefill ----
    using packed_element = float;
    static constexpr std::int64_t feature_alignment = 1;

    static constexpr std::int64_t packed_rows(std::int64_t k) { return k; }

    // x: (n, K) → packed (K, np): x transposed, padded tokens zero.
    static void pack(matrix_view<const float> x, float* packed) {
        kernels::pack_transposed(x.data, x.cols, x.rows, x.cols, packed);
    }

    // packed: (K, np)   weight: (R, K)   ct: (rows, np) = weight[first_row : first_row + rows] · x
    static void multiply_packed(const float* packed, std::int64_t np, matrix_view<const storage> weight,
                                std::int64_t first_row, std::int64_t rows, float* ct) {
        kernels::fp8_gemm_block_transposed(packed, np, weight.row(first_row), weight.cols / fp8_block_size, rows,
                                           weight.cols, ct);
    }

    // packed: (F, np); rows [first_row, first_row + rows) = value(r, t).
    template <class Value>
    static void pack_features(const Value& value, std::int64_t /*n*/, std::int64_t np, std::int64_t first_row,
                              std::int64_t rows, float* packed) {
        for (std::int64_t r = 0; r < rows; ++r) {
            float* out = packed + (first_row + r) * np;
            for (std::int64_t t = 0; t < np; ++t) out[t] = value(r, t);
        }
    }

    // ---- decode ----
    class prepared_tokens {
       public:
        // x: (n, K), used as it is.
        void prepare(matrix_view<const float> x) { x_ = x; }
        std::int64_t tokens() const { return x_.rows; }

        // weight: (R, K)   out: (n, rows) with row stride out_stride
        void multiply(matrix_view<const storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                      std::int64_t out_stride) const {
            if (x_.rows == 0) return;
            kernels::fp8_dot_product_block(x_.data, x_.cols, x_.rows, weight.row(first_row), weight.cols / fp8_block_size,
                                           rows, weight.cols, out, out_stride);
        }

       private:
        matrix_view<const float> x_;  // (n, K)
    };
};

}  // namespace moe::cpu
