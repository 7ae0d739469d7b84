// moe/io/ggml_type.hpp — the tensor element types a GGUF file may declare (ggml's enum ggml_type), with their
// block sizes and bytes per block.
//
// A ggml tensor of type t stores its innermost dimension ne[0] in blocks of block_size elements, each type_size
// bytes: a Q4_K row of 2048 values is 2048 / 256 = 8 blocks of 144 bytes. Unquantized types have block_size 1.
// The ids and sizes are ggml's (its enum ggml_type and type_traits table; gguf-py's GGML_QUANT_SIZES);
// the names are gguf-py's (GGMLQuantizationType). Ids that ggml removed (4, 5, 31–33, 36–38) have no entry:
// llama.cpp refuses them in files too.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace moe::io {

enum class ggml_type : std::uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    // 4 (Q4_2) and 5 (Q4_3): removed from ggml
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q8_1 = 9,
    q2_k = 10,
    q3_k = 11,
    q4_k = 12,
    q5_k = 13,
    q6_k = 14,
    q8_k = 15,
    iq2_xxs = 16,
    iq2_xs = 17,
    iq3_xxs = 18,
    iq1_s = 19,
    iq4_nl = 20,
    iq3_s = 21,
    iq2_s = 22,
    iq4_xs = 23,
    i8 = 24,
    i16 = 25,
    i32 = 26,
    i64 = 27,
    f64 = 28,
    iq1_m = 29,
    bf16 = 30,
    // 31–33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8): removed from GGUF files
    tq1_0 = 34,
    tq2_0 = 35,
    // 36–38 (IQ4_NL_4_4, …): removed
    mxfp4 = 39,
    nvfp4 = 40,
    q1_0 = 41,
    q2_0 = 42,
};

struct ggml_type_info {
    std::string_view name;    // gguf-py's spelling: "Q4_K"
    std::int64_t block_size;  // elements per block (along ne[0])
    std::int64_t type_size;   // bytes per block
};

namespace detail {

inline constexpr std::int64_t qk_k = 256;  // ggml's QK_K: elements per K-quant super-block

// Indexed by type id; an empty name marks a removed id.
inline constexpr std::array<ggml_type_info, 43> ggml_type_table = {{
    {"F32", 1, 4},
    {"F16", 1, 2},
    {"Q4_0", 32, 2 + 16},
    {"Q4_1", 32, 2 + 2 + 16},
    {"", 0, 0},
    {"", 0, 0},
    {"Q5_0", 32, 2 + 4 + 16},
    {"Q5_1", 32, 2 + 2 + 4 + 16},
    {"Q8_0", 32, 2 + 32},
    {"Q8_1", 32, 2 + 2 + 32},
    {"Q2_K", qk_k, 2 + 2 + qk_k / 16 + qk_k / 4},
    {"Q3_K", qk_k, 2 + qk_k / 4 + qk_k / 8 + 12},
    {"Q4_K", qk_k, 2 + 2 + qk_k / 2 + 12},
    {"Q5_K", qk_k, 2 + 2 + qk_k / 2 + qk_k / 8 + 12},
    {"Q6_K", qk_k, 2 + qk_k / 2 + qk_k / 4 + qk_k / 16},
    {"Q8_K", qk_k, 4 + qk_k + qk_k / 8},
    {"IQ2_XXS", qk_k, 2 + qk_k / 4},
    {"IQ2_XS", qk_k, 2 + qk_k / 4 + qk_k / 32},
    {"IQ3_XXS", qk_k, 2 + qk_k / 4 + qk_k / 8},
    {"IQ1_S", qk_k, 2 + qk_k / 8 + qk_k / 16},
    {"IQ4_NL", 32, 2 + 16},
    {"IQ3_S", qk_k, 2 + qk_k / 4 + qk_k / 8 + qk_k / 32 + 4},
    {"IQ2_S", qk_k, 2 + qk_k / 4 + qk_k / 16},
    {"IQ4_XS", qk_k, 2 + 2 + qk_k / 2 + qk_k / 64},
    {"I8", 1, 1},
    {"I16", 1, 2},
    {"I32", 1, 4},
    {"I64", 1, 8},
    {"F64", 1, 8},
    {"IQ1_M", qk_k, qk_k / 8 + qk_k / 16 + qk_k / 32},
    {"BF16", 1, 2},
    {"", 0, 0},
    {"", 0, 0},
    {"", 0, 0},
    {"TQ1_0", qk_k, 2 + 4 * 13},
    {"TQ2_0", qk_k, 2 + 64},
    {"", 0, 0},
    {"", 0, 0},
    {"", 0, 0},
    {"MXFP4", 32, 1 + 16},
    {"NVFP4", 64, 4 + 32},
    {"Q1_0", 128, 2 + 16},
    {"Q2_0", 64, 2 + 16},
}};

}  // namespace detail

// Name, block size and block bytes of a type id read from a file; nullopt for an unknown or removed id.
constexpr std::optional<ggml_type_info> ggml_type_info_of(std::uint32_t type) {
    if (type >= detail::ggml_type_table.size() || detail::ggml_type_table[type].block_size == 0) return std::nullopt;
    return detail::ggml_type_table[type];
}

// The same for a type already validated (a ggml_type held by a parsed file); "?" / 0 for an invalid value.
constexpr ggml_type_info info_of(ggml_type type) {
    return ggml_type_info_of(static_cast<std::uint32_t>(type)).value_or(ggml_type_info{"?", 0, 0});
}

constexpr std::string_view name_of(ggml_type type) { return info_of(type).name; }

}  // namespace moe::io
