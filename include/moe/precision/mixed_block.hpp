// moe/precision/mixed_block.hpp — the storage of weight_format::gguf_mixed: bytes whose block type is chosen per
// matrix, and the run-time layout a matrix_view of them carries.
//
// A llama.cpp Q4_K_M / Q5_K_M file stores each matrix in its own ggml block type (Q4_K for most, Q6_K for some
// attn_v / ffn_down and the output, Q8_0 for an 8-expert model's attn_k / attn_v, …). A gguf_mixed matrix is those
// bytes in place, as mixed_block (an opaque byte), with a mixed_layout naming the fixed format whose blocks they
// are (q8_0, q4_0, q5_0, q4_k, q5_k or q6_k): rows, row slicing and the kernels (cpu/formats/gguf_mixed.hpp) read it.
#pragma once

#include <cstdint>
#include <string>

#include "moe/error.hpp"
#include "moe/precision/format_traits.hpp"
#include "moe/precision/formats/k_quants.hpp"
#include "moe/precision/formats/q4_0.hpp"
#include "moe/precision/formats/q5_0.hpp"
#include "moe/precision/formats/q8_0.hpp"
#include "moe/precision/matrix_layout.hpp"

namespace moe {

// One byte of a gguf_mixed matrix; what the bytes are is the matrix's mixed_layout.
struct mixed_block {
    std::uint8_t byte;
};

// The block type of one gguf_mixed matrix. Built by mixed_layout_of(format); a default one is fp32 rows (4 bytes a
// weight: what a view built as {data, rows, cols} would read), which the kernels refuse as "no block type".
struct mixed_layout {
    weight_format format = weight_format::fp32;  // the fixed format whose blocks the rows hold
    std::int32_t block_width = 1;                // weights per block
    std::int32_t block_bytes = 4;                // bytes per block
    std::int32_t block_align = 4;                // alignof the block type

    // Bytes (mixed_block elements) in a row of `cols` weights.
    constexpr std::int64_t row_elements(std::int64_t cols) const { return cols / block_width * block_bytes; }
    friend constexpr bool operator==(const mixed_layout&, const mixed_layout&) = default;
};

template <>
struct matrix_layout_of<mixed_block> {
    using type = mixed_layout;
};

// The block formats a gguf_mixed matrix may hold.
constexpr bool is_mixable(weight_format format) {
    switch (format) {
        case weight_format::q8_0:
        case weight_format::q4_0:
        case weight_format::q5_0:
        case weight_format::q4_k:
        case weight_format::q5_k:
        case weight_format::q6_k: return true;
        default: return false;
    }
}

namespace detail {
template <weight_format Format>
constexpr mixed_layout mixed_layout_for() {
    using traits = weight_format_traits<Format>;
    return {Format, static_cast<std::int32_t>(traits::block_width), static_cast<std::int32_t>(traits::block_bytes),
            static_cast<std::int32_t>(alignof(typename traits::storage))};
}
}  // namespace detail

// The layout of a matrix of `format`'s blocks; throws moe::invalid_argument for a format that is not mixable.
constexpr mixed_layout mixed_layout_of(weight_format format) {
    switch (format) {
        case weight_format::q8_0: return detail::mixed_layout_for<weight_format::q8_0>();
        case weight_format::q4_0: return detail::mixed_layout_for<weight_format::q4_0>();
        case weight_format::q5_0: return detail::mixed_layout_for<weight_format::q5_0>();
        case weight_format::q4_k: return detail::mixed_layout_for<weight_format::q4_k>();
        case weight_format::q5_k: return detail::mixed_layout_for<weight_format::q5_k>();
        case weight_format::q6_k: return detail::mixed_layout_for<weight_format::q6_k>();
        default:
            throw invalid_argument("mixed_layout_of: weight_format " + std::to_string(static_cast<int>(format)) +
                                   " is not a block type of weight_format::gguf_mixed (q8_0, q4_0, q5_0, q4_k, q5_k, q6_k)");
    }
}

}  // namespace moe
