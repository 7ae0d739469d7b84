// moe/precision/format_traits.hpp — the weight formats, and what one format's traits must say about it.
//
// A weight format is how a model's matrices are stored; everything the library knows about one format (storage
// type, block width, bytes, how to read and write a row, which backends run it) is its weight_format_traits
// specialisation, in its own header under precision/formats/. precision/formats.hpp lists those headers and
// derives the rest (storage_t, name_of, bytes_per_weight, the block-width check of the configs) from them.
//
// Adding a format: one enumerator below (the next value: formats are counted 0, 1, 2, … up to the first without
// traits), precision/formats/<name>.hpp with its traits, one #include line in precision/formats.hpp; then its
// CPU kernels (cpu/formats/<name>.hpp, listed in cpu/formats.hpp) when traits say cpu = true.
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>

namespace moe {

enum class weight_format { fp32, bf16, fp16, bf16_compute, q8_0, q4_0, q4_k, q5_k, q6_k, fp8_e4m3, gguf_mixed, q5_0 };

// Specialised once per format (precision/formats/*.hpp); the primary is never defined, so a format without traits
// is an incomplete type wherever it is used.
template <weight_format Format>
struct weight_format_traits;

// What a specialisation provides (checked for every listed format in precision/formats.hpp):
//   name                  the format's name in messages and file names ("q8_0")
//   storage               the C++ type a matrix is stored in: one element per weight, or per block of weights
//   vector_storage        the type of the vectors that go with the matrices (norm weights, biases)
//   block_width           weights per storage element (1; 32 for q8_0, q4_0, q5_0; 256 for q4_k, q5_k, q6_k): matrix
//                         rows hold whole blocks, so a matrix's inner width must be a multiple of it
//   block_bytes           bytes of one storage element (sizeof(storage))
//   read_row(row, k, out)     row: (k / block_width) elements → out: (k) fp32 (widened or dequantized)
//   quantize_row(x, k, row)   x: (k) fp32 → row: (k / block_width) elements (rounded or quantized)
//   cpu, cuda             whether the CPU / CUDA backend runs models stored in this format
template <class Traits>
concept weight_format_traits_type = requires(const typename Traits::storage* row, typename Traits::storage* out,
                                             const float* x, float* y, std::int64_t k) {
    { Traits::name } -> std::convertible_to<std::string_view>;
    typename Traits::storage;
    typename Traits::vector_storage;
    { Traits::block_width } -> std::convertible_to<std::int64_t>;
    { Traits::block_bytes } -> std::convertible_to<std::int64_t>;
    Traits::read_row(row, k, y);
    Traits::quantize_row(x, k, out);
    { Traits::cpu } -> std::convertible_to<bool>;
    { Traits::cuda } -> std::convertible_to<bool>;
};

}  // namespace moe
