// moe/cpu/formats/gguf_mixed.hpp — CPU kernels of weight_format::gguf_mixed: each matrix multiplied by the kernels
// of its own block type (q8_0, q4_0, q5_0, q4_k, q5_k, q6_k), chosen per call from the matrix's view.
//
// The activations are made ready once per product for every block type a matrix may have, since the matrices
// that read one x (q, k, v of an 8-expert Q4_K_M model: Q4_K, Q8_0, Q8_0) can differ:
//   prefill: x packed twice into one (packed_rows(K), np) buffer: Q8_0 blocks as q8_0 / q4_0 / q5_0 pack them
//            (10 · K/32 rows) then, when K is a multiple of 256, Q8_K super-blocks as the K-quants pack them
//            (73 · K/256 rows) — 1.9 × q8_0's packing, small next to the weights at prefill widths;
//   decode:  x quantized to Q8_0 and (K a multiple of 256) to Q8_K, both kept.
// A row block then runs the fixed format's kernel on the matrix's bytes (a view of its blocks), so every matrix
// computes bit for bit what a model of its fixed format computes (tests/cpu/kernels/test_mixed_kernels.cpp): the
// switch per 64-row work item costs nothing next to 64 rows of products.
// The SwiGLU writes the down projection's input 256 features at a time (feature_alignment: the largest block) and
// needs the packed matrix's feature count to place the Q8_K part (pack_features' last argument).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "moe/cpu/formats/format_kernels.hpp"
#include "moe/cpu/formats/k_quants.hpp"
#include "moe/cpu/formats/q4_0.hpp"
#include "moe/cpu/formats/q8_0.hpp"
#include "moe/cpu/kernels/kquant_dot_tiles.hpp"
#include "moe/cpu/kernels/q8_dot_tiles.hpp"
#include "moe/cpu/kernels/type0_tiles.hpp"
#include "moe/error.hpp"
#include "moe/precision/mixed_block.hpp"

namespace moe::cpu {

namespace detail {

// The gguf_mixed matrix `m` as a view of its fixed format's blocks (same memory, same shape).
template <weight_format Format>
matrix_view<const storage_t<Format>> fixed_view(matrix_view<const mixed_block> m) {
    return {reinterpret_cast<const storage_t<Format>*>(m.data), m.rows, m.cols};
}

// Calls fn(format_constant) for the matrix's block type; throws for a view without one.
template <class Fn>
void with_block_type(const mixed_layout& layout, Fn&& fn) {
    switch (layout.format) {
        case weight_format::q8_0: return fn(std::integral_constant<weight_format, weight_format::q8_0>{});
        case weight_format::q4_0: return fn(std::integral_constant<weight_format, weight_format::q4_0>{});
        case weight_format::q5_0: return fn(std::integral_constant<weight_format, weight_format::q5_0>{});
        case weight_format::q4_k: return fn(std::integral_constant<weight_format, weight_format::q4_k>{});
        case weight_format::q5_k: return fn(std::integral_constant<weight_format, weight_format::q5_k>{});
        case weight_format::q6_k: return fn(std::integral_constant<weight_format, weight_format::q6_k>{});
        default:
            throw logic_error("gguf_mixed kernels: a matrix without a block type (weight_format " +
                              std::to_string(static_cast<int>(layout.format)) +
                              "); views of gguf_mixed matrices must keep their layout (sub_rows)");
    }
}

constexpr bool uses_q8_k(weight_format f) {
    return f == weight_format::q4_k || f == weight_format::q5_k || f == weight_format::q6_k;
}

// Rows of the Q8_K part of x packed for inner width k (none when k is not a multiple of 256: no K-quant matrix
// can have that width).
constexpr std::int64_t q8_k_packed_rows(std::int64_t k) { return k % qk_k == 0 ? kernels::kquant_packed_rows(k) : 0; }

}  // namespace detail

template <>
struct format_kernels<weight_format::gguf_mixed> {
    using storage = mixed_block;

    // ---- prefill ----
    using packed_element = std::uint32_t;
    // Features are quantized 256 at a time (a Q8_K block, eight Q8_0 blocks).
    static constexpr std::int64_t feature_alignment = qk_k;

    // (10 · K/32) Q8_0 rows, then (73 · K/256) Q8_K rows when K is a multiple of 256.
    static constexpr std::int64_t packed_rows(std::int64_t k) {
        return kernels::q8_packed_rows(k) + detail::q8_k_packed_rows(k);
    }

    // x: (n, K) → packed (packed_rows(K), np): both packings, padded tokens zero.
    static void pack(matrix_view<const float> x, std::uint32_t* packed) {
        format_kernels<weight_format::q8_0>::pack(x, packed);
        if (detail::q8_k_packed_rows(x.cols) > 0) {
            format_kernels<weight_format::q4_k>::pack(x, packed + q8_k_offset(x.cols, kernels::padded_tokens(x.rows)));
        }
    }

    // packed: (packed_rows(K), np)   weight: (R, K)   ct: (rows, np) = weight[first_row : first_row + rows] · x
    static void multiply_packed(const std::uint32_t* packed, std::int64_t np, matrix_view<const storage> weight,
                                std::int64_t first_row, std::int64_t rows, float* ct) {
        detail::with_block_type(weight.layout, [&](auto format) {
            constexpr weight_format F = decltype(format)::value;
            const std::uint32_t* part = detail::uses_q8_k(F) ? packed + q8_k_offset(weight.cols, np) : packed;
            format_kernels<F>::multiply_packed(part, np, detail::fixed_view<F>(weight), first_row, rows, ct);
        });
    }

    // packed: (packed_rows(features), np); features [first_row, first_row + rows) = value(r, t), packed both ways
    // (first_row a multiple of 256; rows too except at the end). `features`: the packed matrix's feature count,
    // which places the Q8_K part (swiglu_kernels.hpp passes it); without it the call is refused.
    template <class Value>
    static void pack_features(const Value& value, std::int64_t n, std::int64_t np, std::int64_t first_row,
                              std::int64_t rows, std::uint32_t* packed, std::int64_t features = -1) {
        if (features < first_row + rows) {
            throw logic_error("gguf_mixed pack_features: the packed matrix's feature count (" +
                              std::to_string(features) + ") is missing or smaller than the features written");
        }
        format_kernels<weight_format::q8_0>::pack_features(value, n, np, first_row, rows, packed);
        if (detail::q8_k_packed_rows(features) > 0) {
            format_kernels<weight_format::q4_k>::pack_features(value, n, np, first_row, rows,
                                                                packed + q8_k_offset(features, np));
        }
    }

    // ---- decode ----
    class prepared_tokens {
       public:
        // x: (n, K) → quantized to Q8_0, and to Q8_K when K is a multiple of 256; kept here.
        void prepare(matrix_view<const float> x) {
            x_ = x;
            kernels::quantize_tokens_q8_0(x.data, x.cols, x.rows, x.cols, q8_0_);
            if (x.cols % qk_k == 0) kernels::quantize_tokens_q8_k(x.data, x.cols, x.rows, x.cols, q8_k_);
        }
        std::int64_t tokens() const { return x_.rows; }

        // weight: (R, K)   out: (n, rows) with row stride out_stride — the calls of the weight's fixed format.
        void multiply(matrix_view<const storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                      std::int64_t out_stride) const {
            if (x_.rows == 0) return;
            detail::with_block_type(weight.layout, [&](auto format) {
                constexpr weight_format F = decltype(format)::value;
                const auto w = detail::fixed_view<F>(weight);
                if constexpr (F == weight_format::q8_0) {
                    kernels::q8_dot_product_block(q8_0_, x_.rows, w.row(first_row), w.cols / q8_0_block_size, rows,
                                                  out, out_stride);
                } else if constexpr (F == weight_format::q4_0 || F == weight_format::q5_0) {
                    kernels::type0_dot_product_block(q8_0_, x_.rows, w.row(first_row), w.cols / q8_0_block_size, rows,
                                                     out, out_stride);
                } else {
                    kernels::kquant_dot_product_block(q8_k_, x_.rows, w.row(first_row), w.cols / qk_k, rows, out,
                                                      out_stride);
                }
            });
        }

       private:
        matrix_view<const float> x_;     // (n, K)
        kernels::q8_tokens q8_0_;        // x as Q8_0: (n, K) bytes, (n, K/32) scales
        kernels::q8_k_tokens q8_k_;      // x as Q8_K: (n, K/256) blocks (K a multiple of 256)
    };

   private:
    // Where the Q8_K part of a (packed_rows(k), np) packing starts.
    static constexpr std::int64_t q8_k_offset(std::int64_t k, std::int64_t np) { return kernels::q8_packed_rows(k) * np; }
};

}  // namespace moe::cpu
