// moe/precision/ggml_blocks.hpp — llama.cpp's 4-, 5- and 6-bit block formats (Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) and Q8_K,
// the activation blocks of the K-quant products: the structs, and how their packed scales unpack.
//
// Each struct is ggml-common.h's block_* byte for byte (fp16 fields kept as raw bits: float16::to_float reads them),
// so a GGUF tensor of that type is an array of these blocks. A row of K weights is K/32 (Q4_0, Q5_0) or K/256 (K-quants)
// blocks. The dequantizers below are ggml-quants.c's dequantize_row_* (tests/precision/test_ggml_blocks.cpp compares
// them bit for bit with gguf-py's); the quantizers are in precision/ggml_quantizers.hpp.
//
//   q4_0  32 weights, 18 bytes: w = d · (q − 8), q the 4-bit value; qs[j] holds weight j (low nibble) and j + 16.
//   q5_0  32 weights, 22 bytes: w = d · (q − 16), q the 5-bit value: its low 4 bits as q4_0's, bit 4 of weight j
//         in bit j of qh (little-endian 32 bits). llama.cpp's fallback for Q4_K where a width is not a multiple of
//         256 (the 1408-wide experts of Qwen1.5-MoE and DeepSeek-V2-Lite in a Q4_K_M file).
//   q4_k  256 weights, 144 bytes: 8 sub-blocks of 32; w = d · sc − dmin · m with 6-bit sc, m per sub-block packed
//         in scales[12] (get_scale_min_k4) and a 4-bit q: w = d·sc·q − dmin·m.
//   q5_k  256 weights, 176 bytes: as q4_k with a fifth bit per weight in qh.
//   q6_k  256 weights, 210 bytes: 16 sub-blocks of 16; w = d · scales[s] · (q − 32), q 6-bit (4 in ql, 2 in qh).
//   q8_k  256 activations, 292 bytes: fp32 d, int8 q, and the sums of q over each 16 (bsums) that the K-quant dot
//         products use for the min terms. Not a weight format.
#pragma once

#include <cstdint>

#include "moe/precision/half_types.hpp"
#include "moe/precision/weights_per_element.hpp"

namespace moe {

// Weights per K-quant super-block (ggml's QK_K).
inline constexpr std::int64_t qk_k = 256;
// Weights per Q4_0 block (ggml's QK4_0).
inline constexpr std::int64_t q4_0_block_size = 32;

struct q4_0_block {
    std::uint16_t d;                        // fp16 scale
    std::uint8_t qs[q4_0_block_size / 2];   // nibbles: weight j low, weight j + 16 high
};
static_assert(sizeof(q4_0_block) == 18 && alignof(q4_0_block) == 2, "q4_0_block must match ggml's block_q4_0");

// Weights per Q5_0 block (ggml's QK5_0).
inline constexpr std::int64_t q5_0_block_size = 32;

struct q5_0_block {
    std::uint16_t d;                        // fp16 scale
    std::uint8_t qh[4];                     // bit 4 of weight j in bit j (little-endian)
    std::uint8_t qs[q5_0_block_size / 2];   // low nibbles: weight j low, weight j + 16 high
};
static_assert(sizeof(q5_0_block) == 22 && alignof(q5_0_block) == 2, "q5_0_block must match ggml's block_q5_0");

// The 5-bit value q (0 … 31) of weight j (0 … 31) of a Q5_0 block.
constexpr int q5_0_value(const q5_0_block& b, int j) {
    const int low = j < 16 ? (b.qs[j] & 0x0F) : (b.qs[j - 16] >> 4);
    const int high = (b.qh[j / 8] >> (j % 8)) & 1;
    return low | (high << 4);
}

struct q4_k_block {
    std::uint16_t d, dmin;      // fp16 super-block scales of the 6-bit sub-block scales and mins
    std::uint8_t scales[12];    // 8 scales and 8 mins, 6 bits each (get_scale_min_k4)
    std::uint8_t qs[qk_k / 2];  // 4-bit values
};
static_assert(sizeof(q4_k_block) == 144 && alignof(q4_k_block) == 2, "q4_k_block must match ggml's block_q4_K");

struct q5_k_block {
    std::uint16_t d, dmin;      // fp16 super-block scales of the 6-bit sub-block scales and mins
    std::uint8_t scales[12];    // 8 scales and 8 mins, 6 bits each (get_scale_min_k4)
    std::uint8_t qh[qk_k / 8];  // fifth bits
    std::uint8_t qs[qk_k / 2];  // low 4 bits
};
static_assert(sizeof(q5_k_block) == 176 && alignof(q5_k_block) == 2, "q5_k_block must match ggml's block_q5_K");

struct q6_k_block {
    std::uint8_t ql[qk_k / 2];      // low 4 bits
    std::uint8_t qh[qk_k / 4];      // high 2 bits
    std::int8_t scales[qk_k / 16];  // 8-bit sub-block scales
    std::uint16_t d;                // fp16 super-block scale
};
static_assert(sizeof(q6_k_block) == 210 && alignof(q6_k_block) == 2, "q6_k_block must match ggml's block_q6_K");

struct q8_k_block {
    float d;                          // scale
    std::int8_t qs[qk_k];             // values
    std::int16_t bsums[qk_k / 16];    // sum of qs over each 16
};
static_assert(sizeof(q8_k_block) == 292 && alignof(q8_k_block) == 4, "q8_k_block must match ggml's block_q8_K");

// Matrices of these blocks count their columns in weights (matrix_view.hpp).
template <>
inline constexpr std::int64_t weights_per_element<q4_0_block> = q4_0_block_size;
template <>
inline constexpr std::int64_t weights_per_element<q5_0_block> = q5_0_block_size;
template <>
inline constexpr std::int64_t weights_per_element<q4_k_block> = qk_k;
template <>
inline constexpr std::int64_t weights_per_element<q5_k_block> = qk_k;
template <>
inline constexpr std::int64_t weights_per_element<q6_k_block> = qk_k;
template <>
inline constexpr std::int64_t weights_per_element<q8_k_block> = qk_k;

// Scale and min of sub-block j (0 … 7) of a q4_k/q5_k block from its 12 packed bytes, as ggml's get_scale_min_k4:
// sub-blocks 0–3 are the low 6 bits of bytes j and j + 4; 4–7 take 4 bits from byte j + 4 and their top 2 bits
// from the spare top bits of bytes j − 4 (scale) and j (min).
constexpr void get_scale_min_k4(int j, const std::uint8_t* q, std::uint8_t& d, std::uint8_t& m) {
    if (j < 4) {
        d = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        d = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// ---- dequantization: blocks → fp32, each as ggml's dequantize_row_<type> ----
// Every product below is exact in fp32 (an fp16 scale times a 6- or 8-bit scale times a value of at most 6 bits
// stays within 24 significant bits), so the one rounding is the subtraction of the min, and a compiler that fuses
// d·q − m into an FMA gets the same bits.

// blocks: (k/32)  →  out: (k) fp32, d · (q − 8).
inline void dequantize_row_q4_0(const q4_0_block* blocks, std::int64_t k, float* out) {
    for (std::int64_t i = 0; i < k / q4_0_block_size; ++i) {
        const float d = float16::to_float(blocks[i].d);
        float* y = out + i * q4_0_block_size;
        for (int j = 0; j < q4_0_block_size / 2; ++j) {
            y[j] = static_cast<float>((blocks[i].qs[j] & 0x0F) - 8) * d;
            y[j + q4_0_block_size / 2] = static_cast<float>((blocks[i].qs[j] >> 4) - 8) * d;
        }
    }
}

// blocks: (k/32)  →  out: (k) fp32, d · (q − 16).
inline void dequantize_row_q5_0(const q5_0_block* blocks, std::int64_t k, float* out) {
    for (std::int64_t i = 0; i < k / q5_0_block_size; ++i) {
        const float d = float16::to_float(blocks[i].d);
        float* y = out + i * q5_0_block_size;
        for (int j = 0; j < q5_0_block_size; ++j) y[j] = static_cast<float>(q5_0_value(blocks[i], j) - 16) * d;
    }
}

// blocks: (k/256)  →  out: (k) fp32, (d · sc) · q − dmin · m per sub-block of 32.
inline void dequantize_row_q4_k(const q4_k_block* blocks, std::int64_t k, float* out) {
    for (std::int64_t i = 0; i < k / qk_k; ++i) {
        const q4_k_block& b = blocks[i];
        const float d = float16::to_float(b.d), dmin = float16::to_float(b.dmin);
        const std::uint8_t* q = b.qs;
        float* y = out + i * qk_k;
        for (int is = 0; is < 8; is += 2, q += 32) {  // 64 weights: the low nibbles of 32 bytes, then the high
            std::uint8_t sc, m;
            get_scale_min_k4(is, b.scales, sc, m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(is + 1, b.scales, sc, m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
        }
    }
}

// blocks: (k/256)  →  out: (k) fp32, as q4_k with the fifth bit (qh bit 2s of weight l for sub-block s) adding 16.
inline void dequantize_row_q5_k(const q5_k_block* blocks, std::int64_t k, float* out) {
    for (std::int64_t i = 0; i < k / qk_k; ++i) {
        const q5_k_block& b = blocks[i];
        const float d = float16::to_float(b.d), dmin = float16::to_float(b.dmin);
        const std::uint8_t* ql = b.qs;
        float* y = out + i * qk_k;
        std::uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            std::uint8_t sc, m;
            get_scale_min_k4(is, b.scales, sc, m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(is + 1, b.scales, sc, m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (b.qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (b.qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

// blocks: (k/256)  →  out: (k) fp32, (d · scales[s]) · (q − 32) per sub-block s of 16.
inline void dequantize_row_q6_k(const q6_k_block* blocks, std::int64_t k, float* out) {
    for (std::int64_t i = 0; i < k / qk_k; ++i) {
        const q6_k_block& b = blocks[i];
        const float d = float16::to_float(b.d);
        const std::uint8_t* ql = b.ql;
        const std::uint8_t* qh = b.qh;
        const std::int8_t* sc = b.scales;
        float* y = out + i * qk_k;
        for (int n = 0; n < qk_k; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
                y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
                y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
                y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
            }
        }
    }
}

}  // namespace moe
