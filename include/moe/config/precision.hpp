// moe/config/precision.hpp — weight storage formats as configs name them, derived from the formats' traits.
//
// Weights are stored in one of the formats of precision/formats/ (fp32, bf16, fp16, bf16_compute, q8_0 — each
// header says what its products compute); every product accumulates in fp32, and router logits, softmax and
// sigmoid are always computed in fp32 from fp32 router weights (they are tiny: experts × width).
// Everything here is read off weight_format_traits, so a new format brings nothing to edit in this file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "moe/precision/formats.hpp"

namespace moe {

// The C++ type the weight matrices of the given format are stored in (one element per weight, or per block).
template <weight_format Format>
using storage_t = typename weight_format_traits<Format>::storage;

// The type of the vectors (norm weights, biases) that go with matrices stored as Storage: Storage itself, except
// for block-quantized storage, whose vectors stay fp32 (as in llama.cpp's Q8_0 files).
template <class Storage>
using vector_element_t = typename storage_traits<Storage>::vector_storage;

// The same by format: the model's vectors in the given format.
template <weight_format Format>
using vector_storage_t = typename weight_format_traits<Format>::vector_storage;

// Weights per storage element of the format's matrices (1, or 32 for q8_0).
constexpr std::int64_t block_width_of(weight_format format) {
    return with_format_traits(format, [](auto traits) { return std::int64_t{traits.block_width}; }, std::int64_t{1});
}

// True for formats whose matrix widths must be multiples of a block (q8_0: 32).
constexpr bool is_block_quantized(weight_format format) { return block_width_of(format) > 1; }

// Bytes one matrix weight takes (q8_0: 34 bytes per 32 weights).
constexpr double bytes_per_weight(weight_format format) {
    return with_format_traits(
        format, [](auto traits) { return double(traits.block_bytes) / double(traits.block_width); }, 0.0);
}
// Bytes `weights` matrix weights take in the format (rounded to whole bytes).
constexpr std::int64_t weight_bytes(weight_format format, std::int64_t weights) {
    return static_cast<std::int64_t>(static_cast<double>(weights) * bytes_per_weight(format) + 0.5);
}
// Bytes one vector element (norm weight, bias) takes.
constexpr double bytes_per_vector_element(weight_format format) {
    return with_format_traits(
        format, [](auto traits) { return double(sizeof(typename decltype(traits)::vector_storage)); }, 0.0);
}

constexpr std::string_view name_of(weight_format format) {
    return with_format_traits(format, [](auto traits) { return std::string_view(traits.name); }, std::string_view("?"));
}

// True when a matrix row of `width` weights is a whole number of the format's blocks.
template <weight_format Format>
constexpr bool fits_blocks(std::int64_t width) {
    return width % weight_format_traits<Format>::block_width == 0;
}

// ---- the block-width check of every config ----

// A compile-time name for the width a config checks ("moe_layer_config.expert_width"), shown in the error.
template <std::size_t N>
struct width_name {
    char text[N]{};
    constexpr width_name(const char (&name)[N]) {  // NOLINT: implicit, so a string literal is the template argument
        for (std::size_t i = 0; i < N; ++i) text[i] = name[i];
    }
};

// The one static_assert on inner widths. Its template arguments (shown by the compiler above the message) name the
// format, its block width, the config's width and its value.
template <weight_format Format, std::int64_t BlockWidth, width_name Width, std::int64_t Value>
struct inner_width_check {
    static_assert(fits_blocks<Format>(Value),
                  "weight_format stores blocks of weights along each matrix row: the inner width named in "
                  "inner_width_check<format, block width, width, value> must be a multiple of the format's block "
                  "width — change that width, or use a format with 1-weight blocks (fp32, bf16, fp16)");
    static constexpr bool value = true;
};

// True, or a compile error naming the format, its block width and `Width` when Value is not a multiple of the
// block width. Configs check each inner width of their matrices with it:
//   static_assert(whole_blocks<C.weights, "moe_layer_config.expert_width", C.expert_width>);
template <weight_format Format, width_name Width, std::int64_t Value>
inline constexpr bool whole_blocks =
    inner_width_check<Format, weight_format_traits<Format>::block_width, Width, Value>::value;

}  // namespace moe
