// moe/cpu/formats/fp32_activations.hpp — CPU kernels of weight_format::fp32, bf16 and fp16: fp32 activations.
//
// The three formats share one path: weights are read in place in their storage type and widened to fp32 in
// registers, activations stay fp32 — the products transformers computes in fp32.
//   prefill: kernels/gemm_tiles.hpp over x packed transposed, (K, np) floats;
//   decode:  kernels/dot_tiles.hpp over x itself (nothing to prepare).
#pragma once

#include <cstdint>

#include "moe/cpu/formats/format_kernels.hpp"
#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/cpu/kernels/gemm_tiles.hpp"

namespace moe::cpu {

template <class Storage>
struct fp32_activation_kernels {
    using storage = Storage;

    // ---- prefill ----
    using packed_element = float;
    static constexpr std::int64_t feature_alignment = 1;

    static constexpr std::int64_t packed_rows(std::int64_t k) { return k; }

    // x: (n, K) → packed (K, np): x transposed, padded tokens zero.
    static void pack(matrix_view<const float> x, float* packed) {
        kernels::pack_transposed(x.data, x.cols, x.rows, x.cols, packed);
    }

    // packed: (K, np)   weight: (R, K)   ct: (rows, np) = weight[first_row : first_row + rows] · x
    static void multiply_packed(const float* packed, std::int64_t np, matrix_view<const Storage> weight,
                                std::int64_t first_row, std::int64_t rows, float* ct) {
        kernels::gemm_block_transposed(packed, np, weight.row(first_row), weight.cols, rows, weight.cols, ct);
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
        void multiply(matrix_view<const Storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                      std::int64_t out_stride) const {
            if (x_.rows == 0) return;
            kernels::dot_product_block<Storage>(x_.data, x_.cols, x_.rows, weight.row(first_row), weight.cols, rows,
                                                weight.cols, out, out_stride);
        }

       private:
        matrix_view<const float> x_;  // (n, K)
    };
};

template <>
struct format_kernels<weight_format::fp32> : fp32_activation_kernels<float> {};
template <>
struct format_kernels<weight_format::bf16> : fp32_activation_kernels<bfloat16> {};
template <>
struct format_kernels<weight_format::fp16> : fp32_activation_kernels<float16> {};

}  // namespace moe::cpu
