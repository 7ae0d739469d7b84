// moe/precision/formats/half.hpp — the 16-bit formats: weight_format::bf16, fp16 and bf16_compute.
//
//   bf16, fp16     weights widened to fp32 in registers, fp32 activations: the products transformers computes in
//                  fp32 on the same (rounded) weights — reference parity at half the bytes.
//   bf16_compute   the same BF16 bytes (a BF16 checkpoint tensor is used in place), multiplied bf16 × bf16:
//                  activations rounded to bf16 at each product's input, fp32 accumulation — what llama.cpp's BF16
//                  path and transformers with torch_dtype=bfloat16 compute. With AVX512-BF16 one vdpbf16ps does 32
//                  multiply-adds, twice the fp32 FMA rate; results differ from bf16 by the rounding of the
//                  activations (~0.4% relative). CPU only.
// Vectors (norm weights, biases) are stored in the same 16-bit type. Conversions round to nearest even
// (half_types.hpp).
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/precision/format_traits.hpp"
#include "moe/precision/half_types.hpp"

namespace moe {

// Traits shared by the three: one 16-bit element per weight.
template <class Storage, bool Cuda>
struct half_format_traits {
    using storage = Storage;
    using vector_storage = Storage;
    static constexpr std::int64_t block_width = 1;
    static constexpr std::int64_t block_bytes = sizeof(storage);
    static constexpr bool cpu = true, cuda = Cuda;

    // row: (k) → out: (k) fp32, exact.
    static void read_row(const Storage* row, std::int64_t k, float* out) {
        for (std::int64_t i = 0; i < k; ++i) out[i] = to_float(row[i]);
    }
    // x: (k) fp32 → row: (k), rounded to nearest even.
    static void quantize_row(const float* x, std::int64_t k, Storage* row) {
        for (std::int64_t i = 0; i < k; ++i) row[i] = Storage(x[i]);
    }
};

template <>
struct weight_format_traits<weight_format::bf16> : half_format_traits<bfloat16, true> {
    static constexpr std::string_view name = "bf16";
};

template <>
struct weight_format_traits<weight_format::fp16> : half_format_traits<float16, true> {
    static constexpr std::string_view name = "fp16";
};

// A distinct storage type (bfloat16_compute) so the CPU kernels can tell it from bf16.
template <>
struct weight_format_traits<weight_format::bf16_compute> : half_format_traits<bfloat16_compute, false> {
    static constexpr std::string_view name = "bf16_compute";
};

}  // namespace moe
