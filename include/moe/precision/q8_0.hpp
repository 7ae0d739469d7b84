// moe/precision/q8_0.hpp — 8-bit weights in llama.cpp's Q8_0 block format, and the quantizers for them.
//
// A block holds 32 consecutive weights of a row as 32 signed bytes q and one fp16 scale d; weight i is d · q[i].
// The 34-byte layout is GGUF's block_q8_0 byte for byte (fp16 d, then q), so a Q8_0 GGUF tensor has the same
// bytes. A (rows, K) matrix is rows × K/32 blocks, row-major; K must be a multiple of 32.
//
// Two quantizers, each the one llama.cpp uses for its operand:
//   weights (quantize_q8_0_row): ggml's quantize_row_q8_0_ref, which gguf-py and llama-quantize also use —
//     amax = max |x|, d = amax / 127, id = d ≠ 0 ? 1 / d : 0, q = round-half-away-from-zero(x · id), d stored as
//     fp16 (nearest even). tests/data/q8_0 holds gguf-py's bytes for edge cases; the test compares bit for bit.
//   activations (quantize_q8_0_activations): ggml-cpu's x86 quantize_row_q8_0 for the activation side of a
//     Q8_0 × Q8_0 product — d = amax / 127 stored as fp16, id = amax ≠ 0 ? 127 / amax : 0, q = round-half-even
//     (x · id) (the AVX path's _mm256_round_ps); llama.cpp quantizes every product input this way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "moe/precision/half_types.hpp"
#include "moe/precision/weights_per_element.hpp"

namespace moe {

inline constexpr std::int64_t q8_0_block_size = 32;

struct q8_0_block {
    std::uint16_t scale_bits;  // fp16 d
    std::int8_t q[q8_0_block_size];

    float scale() const { return float16::to_float(scale_bits); }
};
static_assert(sizeof(q8_0_block) == 34 && alignof(q8_0_block) == 2, "q8_0_block must match GGUF's block_q8_0");

// Matrices of q8_0_block count their columns in weights (matrix_view.hpp): a row of K weights is K/32 blocks.
template <>
inline constexpr std::int64_t weights_per_element<q8_0_block> = q8_0_block_size;

namespace detail {
// C's roundf (ties away from zero) without the library call or branches, so loops over it vectorise. Adding the
// float just below 0.5 (not 0.5, which turns 0.49999997 into 1) then truncating equals roundf for every float
// (checked exhaustively over |v| ≤ 2^24 when this was written; tests check a sample and the ties).
inline float round_half_away(float v) { return std::trunc(v + std::copysign(0.49999997f, v)); }

// Rounded values into signed bytes; |r| ≤ 127.5 for every finite block, so the clamp only turns the infinities of
// a block whose reciprocal scale overflows (amax below ~1e-36) or a NaN into defined values (±127, 0) instead of
// an undefined float → int8 conversion. Branch-free so that it vectorises.
inline void to_q8(const float (&rounded)[q8_0_block_size], std::int8_t* q) {
    for (std::int64_t i = 0; i < q8_0_block_size; ++i) {
        const float r = rounded[i];
        float c = r > 127.0f ? 127.0f : r;
        c = c < -127.0f ? -127.0f : c;
        c = r == r ? c : 0.0f;  // NaN
        q[i] = static_cast<std::int8_t>(static_cast<int>(c));
    }
}
}  // namespace detail

// x: (K) fp32, K a multiple of 32  →  out: (K/32) blocks. Weight quantizer (see the header comment).
inline void quantize_q8_0_row(const float* x, std::int64_t k, q8_0_block* out) {
    for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
        const float* v = x + b * q8_0_block_size;
        float amax = 0.0f;
        for (std::int64_t i = 0; i < q8_0_block_size; ++i) amax = std::max(amax, std::fabs(v[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].scale_bits = float16::from_float(d);
        float rounded[q8_0_block_size];
        for (std::int64_t i = 0; i < q8_0_block_size; ++i) rounded[i] = detail::round_half_away(v[i] * id);
        detail::to_q8(rounded, out[b].q);
    }
}

// x: (K) fp32, K a multiple of 32  →  q: (K) signed bytes, scales: (K/32) fp32 values of the fp16 d.
// Activation quantizer (see the header comment).
inline void quantize_q8_0_activations(const float* x, std::int64_t k, std::int8_t* q, float* scales) {
    for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
        const float* v = x + b * q8_0_block_size;
        float amax = 0.0f;
        for (std::int64_t i = 0; i < q8_0_block_size; ++i) amax = std::max(amax, std::fabs(v[i]));
        scales[b] = float16::to_float(float16::from_float(amax / 127.0f));
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        float rounded[q8_0_block_size];
        for (std::int64_t i = 0; i < q8_0_block_size; ++i) rounded[i] = std::nearbyint(v[i] * id);  // ties even
        detail::to_q8(rounded, q + b * q8_0_block_size);
    }
}

// blocks: (K/32)  →  out: (K) fp32, d · q.
inline void dequantize_q8_0_row(const q8_0_block* blocks, std::int64_t k, float* out) {
    for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
        const float d = blocks[b].scale();
        for (std::int64_t i = 0; i < q8_0_block_size; ++i) out[b * q8_0_block_size + i] = d * float(blocks[b].q[i]);
    }
}

}  // namespace moe
