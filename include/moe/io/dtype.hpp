// moe/io/dtype.hpp — the element types a safetensors file may declare, their sizes and names.
//
// F8_E4M3 (e4m3fn, DeepSeek-V3/R1's weights) is a floating dtype: alone it widens to its e4m3 value; the loader
// applies its `<name>_scale_inv` block scales (io/fp8_blocks.hpp). F8_E5M2 is recognised so that an error can name
// it, and is not supported.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "moe/config/precision.hpp"
#include "moe/precision/formats.hpp"
#include "moe/precision/half_types.hpp"

namespace moe::io {

enum class dtype : std::uint8_t { f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean, f8_e4m3, f8_e5m2 };

inline constexpr std::array all_dtypes = {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::i64,
                                          dtype::i32, dtype::i16, dtype::i8,  dtype::u64,  dtype::u32,
                                          dtype::u16, dtype::u8,  dtype::boolean, dtype::f8_e4m3,
                                          dtype::f8_e5m2};

// The spelling used in safetensors headers.
constexpr std::string_view name_of(dtype type) {
    switch (type) {
        case dtype::f64: return "F64";
        case dtype::f32: return "F32";
        case dtype::f16: return "F16";
        case dtype::bf16: return "BF16";
        case dtype::i64: return "I64";
        case dtype::i32: return "I32";
        case dtype::i16: return "I16";
        case dtype::i8: return "I8";
        case dtype::u64: return "U64";
        case dtype::u32: return "U32";
        case dtype::u16: return "U16";
        case dtype::u8: return "U8";
        case dtype::boolean: return "BOOL";
        case dtype::f8_e4m3: return "F8_E4M3";
        case dtype::f8_e5m2: return "F8_E5M2";
    }
    return "?";
}

constexpr std::size_t size_of(dtype type) {
    switch (type) {
        case dtype::f64:
        case dtype::i64:
        case dtype::u64: return 8;
        case dtype::f32:
        case dtype::i32:
        case dtype::u32: return 4;
        case dtype::f16:
        case dtype::bf16:
        case dtype::i16:
        case dtype::u16: return 2;
        case dtype::i8:
        case dtype::u8:
        case dtype::boolean:
        case dtype::f8_e4m3:
        case dtype::f8_e5m2: return 1;
    }
    return 0;
}

constexpr bool is_floating(dtype type) {
    return type == dtype::f64 || type == dtype::f32 || type == dtype::f16 || type == dtype::bf16 ||
           type == dtype::f8_e4m3;
}

// The 8-bit float dtypes, whose tensors the loader reads with their block scales (io/fp8_blocks.hpp).
constexpr bool is_fp8(dtype type) { return type == dtype::f8_e4m3 || type == dtype::f8_e5m2; }

// Header spelling → dtype; nullopt for anything else (F8_E8M0, C64, typos, …).
constexpr std::optional<dtype> parse_dtype(std::string_view name) {
    for (dtype type : all_dtypes) {
        if (name_of(type) == name) return type;
    }
    return std::nullopt;
}

// "F64, F32, …" for error messages.
inline std::string known_dtype_names() {
    std::string names;
    for (dtype type : all_dtypes) {
        if (!names.empty()) names += ", ";
        names += name_of(type);
    }
    return names;
}

// The file dtype whose bytes are exactly T (what makes in-place access possible).
template <class T>
inline constexpr bool is_weight_type_v = false;
template <>
inline constexpr bool is_weight_type_v<float> = true;
template <>
inline constexpr bool is_weight_type_v<bfloat16> = true;
template <>
inline constexpr bool is_weight_type_v<float16> = true;
template <>
inline constexpr bool is_weight_type_v<bfloat16_compute> = true;

template <class T>
    requires is_weight_type_v<T>
constexpr dtype dtype_of() {
    if constexpr (std::is_same_v<T, float>) return dtype::f32;
    else if constexpr (std::is_same_v<T, bfloat16> || std::is_same_v<T, bfloat16_compute>) return dtype::bf16;
    else return dtype::f16;
}

// The safetensors dtype a format's matrices are read in place from; f32 for a format with no safetensors dtype of
// its own (block-quantized formats are quantized at load from any float tensor). Derived from the format traits.
constexpr dtype dtype_of(weight_format format) {
    return with_format_traits(
        format,
        []<class Traits>(Traits) {
            if constexpr (is_weight_type_v<typename Traits::storage>) return dtype_of<typename Traits::storage>();
            else return dtype::f32;
        },
        dtype::f32);
}

}  // namespace moe::io
