// moe/precision/formats/gguf_mixed.hpp — weight_format::gguf_mixed: each matrix in the ggml block type its GGUF
// file gives it, as llama.cpp's Q4_K_M / Q5_K_M files (and other mixtures) store them.
//
// A matrix is the file's bytes in place (mixed_block, precision/mixed_block.hpp) and its matrix_view carries the
// block type: q8_0, q4_0, q5_0, q4_k, q5_k or q6_k, each multiplied by that fixed format's own kernels
// (cpu/formats/gguf_mixed.hpp dispatches per matrix), so a matrix computes bit for bit what a model of its fixed
// format computes. Norms, biases and routers stay fp32.
//
// The traits describe the format as a whole:
//   block_width 32   the smallest block of the mix: a config's inner widths must be multiples of 32 (a Q4_K_M file
//                    whose width is not a multiple of 256 falls back to 32-weight blocks for that matrix); the
//                    loader checks each matrix against its own type's block.
//   block_bytes 18   with block_width, the bytes per weight a ledger priced from the type counts: 4.5 bits, Q4_K's
//                    rate (most matrices of a Q4_K_M file; its Q6_K / Q8_0 ones make the real average ~5 bits);
//                    gguf::cost_of<Model>(file) (models/gguf/ledger_cost.hpp) prices each matrix at its own type.
//   read_row / quantize_row
//                    need the matrix's block type, which a bare row pointer lacks: read rows through
//                    read_matrix_rows (tensor/read_rows.hpp) with the view; quantize_row refuses (a float
//                    checkpoint or random weights have no file types: use a fixed format such as q4_k or q8_0).
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/error.hpp"
#include "moe/precision/format_traits.hpp"
#include "moe/precision/mixed_block.hpp"

namespace moe {

template <>
struct weight_format_traits<weight_format::gguf_mixed> {
    static constexpr std::string_view name = "gguf_mixed";
    using storage = mixed_block;
    using vector_storage = float;
    static constexpr std::int64_t block_width = 32;
    static constexpr std::int64_t block_bytes = 18;
    static constexpr bool cpu = true, cuda = false;

    // row: bytes of `layout`'s blocks, (k / layout.block_width) of them → out: (k) fp32, dequantized as the fixed
    // format reads them. Consecutive rows are consecutive blocks, so k may span rows.
    static void read_row(const mixed_block* row, std::int64_t k, float* out, const mixed_layout& layout) {
        switch (layout.format) {
            case weight_format::q8_0: return read_as<weight_format::q8_0>(row, k, out);
            case weight_format::q4_0: return read_as<weight_format::q4_0>(row, k, out);
            case weight_format::q5_0: return read_as<weight_format::q5_0>(row, k, out);
            case weight_format::q4_k: return read_as<weight_format::q4_k>(row, k, out);
            case weight_format::q5_k: return read_as<weight_format::q5_k>(row, k, out);
            case weight_format::q6_k: return read_as<weight_format::q6_k>(row, k, out);
            default: throw no_block_type();
        }
    }
    // Without the matrix's layout a row cannot be read: refused (read_matrix_rows passes the layout).
    [[noreturn]] static void read_row(const mixed_block*, std::int64_t, float*) { throw no_block_type(); }
    // Refused: gguf_mixed matrices come only from a GGUF file's blocks.
    [[noreturn]] static void quantize_row(const float*, std::int64_t, mixed_block*) {
        throw invalid_argument("weight_format::gguf_mixed: a matrix keeps the block type of its GGUF file, so float "
                               "weights (a safetensors checkpoint, random weights) cannot be stored in it — load a GGUF "
                               "file, or use a fixed format (q4_k, q5_k, q6_k, q8_0, q4_0, q5_0)");
    }

   private:
    template <weight_format Format>
    static void read_as(const mixed_block* row, std::int64_t k, float* out) {
        using fixed = weight_format_traits<Format>;
        // The bytes are the fixed format's blocks (aligned for them: the loader checks), read in place.
        fixed::read_row(reinterpret_cast<const typename fixed::storage*>(row), k, out);
    }
    static logic_error no_block_type() {
        return logic_error("weight_format::gguf_mixed: this matrix has no block type (a view built without its "
                           "mixed_layout); build views of loaded matrices with sub_rows or copy them");
    }
};

}  // namespace moe
