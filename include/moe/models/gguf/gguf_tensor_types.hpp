// moe/models/gguf/gguf_tensor_types.hpp — which GGUF tensor types (ggml_type) a model's weight storage can use, and
// how a quantized GGUF tensor reads as floats.
//
//   F32 / F16 / BF16    are io::dtype f32 / f16 / bf16: they go through io/tensor_read.hpp exactly as safetensors
//                       tensors do (in place when the dtype is the storage's, converted otherwise, quantized at
//                       load for a block format).
//   Q8_0, Q4_0, Q5_0,   are the storage blocks of weight_format q8_0, q4_0, q5_0, q4_k, q5_k, q6_k (byte for byte
//   Q4_K, Q5_K, Q6_K    ggml's): used in place by a model of that format, dequantized (exactly) for a float model,
//                       refused by a model of another block format (requantizing would add a second rounding).
//   anything else       (Q4_1, Q2_K, IQ*, ...): refused, naming the tensor, its type and the model's format.
// A weight_format::gguf_mixed model uses every Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K matrix in place with its own type
// (mixed_block_format), quantizes an F32 / F16 / BF16 matrix to Q8_0 at load (gguf_tensors.hpp, mixed_q8_0) and
// refuses the rest (vectors and routers are read as fp32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>

#include "moe/io/dtype.hpp"
#include "moe/io/ggml_type.hpp"
#include "moe/precision/formats.hpp"

namespace moe::gguf {

// The io::dtype of an unquantized GGUF type (F32, F16, BF16); nullopt for the others.
constexpr std::optional<io::dtype> dtype_of(io::ggml_type type) {
    switch (type) {
        case io::ggml_type::f32: return io::dtype::f32;
        case io::ggml_type::f16: return io::dtype::f16;
        case io::ggml_type::bf16: return io::dtype::bf16;
        default: return std::nullopt;
    }
}

// The GGUF type whose blocks are exactly Storage (a block format's storage); nullopt for float storage.
template <class Storage>
constexpr std::optional<io::ggml_type> ggml_type_of_storage() {
    if constexpr (std::is_same_v<Storage, q8_0_block>) return io::ggml_type::q8_0;
    else if constexpr (std::is_same_v<Storage, q4_0_block>) return io::ggml_type::q4_0;
    else if constexpr (std::is_same_v<Storage, q5_0_block>) return io::ggml_type::q5_0;
    else if constexpr (std::is_same_v<Storage, q4_k_block>) return io::ggml_type::q4_k;
    else if constexpr (std::is_same_v<Storage, q5_k_block>) return io::ggml_type::q5_k;
    else if constexpr (std::is_same_v<Storage, q6_k_block>) return io::ggml_type::q6_k;
    else return std::nullopt;
}

// The fixed format whose blocks are a GGUF tensor of `type`, for weight_format::gguf_mixed (which keeps each
// matrix's type in place): Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K; nullopt for the others (F32/F16/BF16: quantized to
// Q8_0 at load; Q4_1, Q5_1, Q2_K, IQ*, …: refused).
constexpr std::optional<weight_format> mixed_block_format(io::ggml_type type) {
    switch (type) {
        case io::ggml_type::q8_0: return weight_format::q8_0;
        case io::ggml_type::q4_0: return weight_format::q4_0;
        case io::ggml_type::q5_0: return weight_format::q5_0;
        case io::ggml_type::q4_k: return weight_format::q4_k;
        case io::ggml_type::q5_k: return weight_format::q5_k;
        case io::ggml_type::q6_k: return weight_format::q6_k;
        default: return std::nullopt;
    }
}

namespace detail {
template <weight_format Format>
bool read_rows_as(const std::byte* bytes, std::int64_t count, float* out) {
    using traits = weight_format_traits<Format>;
    // The blocks may be unaligned in an owned copy; read them through a properly aligned one at a time.
    const std::int64_t blocks = count / traits::block_width;
    typename traits::storage block;
    for (std::int64_t b = 0; b < blocks; ++b) {
        std::memcpy(&block, bytes + b * std::int64_t{sizeof(block)}, sizeof(block));
        traits::read_row(&block, traits::block_width, out + b * traits::block_width);
    }
    return true;
}
}  // namespace detail

// `count` values of a tensor of `type` (count a multiple of its block size) → out: (count) fp32, exactly as ggml
// dequantizes them. False for a type the library has no reader for.
inline bool dequantize(io::ggml_type type, const std::byte* bytes, std::int64_t count, float* out) {
    if (const auto dtype = dtype_of(type)) {
        const std::size_t size = io::size_of(*dtype);
        for (std::int64_t i = 0; i < count; ++i) {
            const std::byte* at = bytes + i * std::int64_t(size);
            if (*dtype == io::dtype::f32) std::memcpy(&out[i], at, 4);
            else {
                std::uint16_t bits;
                std::memcpy(&bits, at, 2);
                out[i] = *dtype == io::dtype::f16 ? float16::to_float(bits) : bfloat16::to_float(bits);
            }
        }
        return true;
    }
    switch (type) {
        case io::ggml_type::q8_0: return detail::read_rows_as<weight_format::q8_0>(bytes, count, out);
        case io::ggml_type::q4_0: return detail::read_rows_as<weight_format::q4_0>(bytes, count, out);
        case io::ggml_type::q5_0: return detail::read_rows_as<weight_format::q5_0>(bytes, count, out);
        case io::ggml_type::q4_k: return detail::read_rows_as<weight_format::q4_k>(bytes, count, out);
        case io::ggml_type::q5_k: return detail::read_rows_as<weight_format::q5_k>(bytes, count, out);
        case io::ggml_type::q6_k: return detail::read_rows_as<weight_format::q6_k>(bytes, count, out);
        default: return false;
    }
}

// The GGUF types a model storing its matrices as Storage reads: "F32, F16, BF16" (+ its own block type).
template <class Storage>
std::string readable_types() {
    if constexpr (std::is_same_v<Storage, mixed_block>) {
        return "Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K (each kept as it is) and F32, F16, BF16 (quantized to Q8_0)";
    }
    std::string names = "F32, F16, BF16";
    if constexpr (ggml_type_of_storage<Storage>().has_value()) {
        names += " and " + std::string(io::name_of(*ggml_type_of_storage<Storage>()));
    } else {
        names += ", Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K (dequantized)";
    }
    return names;
}

}  // namespace moe::gguf
