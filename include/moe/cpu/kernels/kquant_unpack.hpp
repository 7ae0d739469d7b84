// moe/cpu/kernels/kquant_unpack.hpp — what every Q4_K / Q5_K / Q6_K product kernel shares: activations quantized
// to Q8_K, and a weight super-block as the exact integers the products sum.
//
// A K-quant product is llama.cpp's: the weights stay in their blocks (precision/ggml_blocks.hpp), the activations
// are quantized per 256 to Q8_K (quantize_row_q8_k: fp32 d, 256 signed bytes in [−127, 127], the sums of each 16),
// and within a super-block everything is an exact int32; only the super-block's scales are fp32. For weight w and
// activation x of super-block b, with u the weight's unsigned value (q4_k 0…15, q5_k 0…31, q6_k 0…63):
//   q4_k, q5_k   Σ w·x = d·dx · Σ_s sc_s · Σ_{i ∈ s} u_i·x_i  −  dmin·dx · Σ_s m_s · Σ_{i ∈ s} x_i   (s: 8 of 32)
//   q6_k         Σ w·x = d·dx · (Σ_s sc_s · Σ_{i ∈ s} u_i·x_i  −  Σ_s 32·sc_s · Σ_{i ∈ s} x_i)          (s: 16 of 16)
// kquant_unpacked holds a super-block in that form — u as bytes, and per 16 weights the integer scale and the
// integer coefficient ("offset") of the activations' 16-sums (bsums) — so one definition of the integer sums serves
// every format, and the kernels' orders (kquant_dot_tiles.hpp, kquant_gemm_tiles.hpp) are written once.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/ggml_quantizers.hpp"
#include "moe/precision/half_types.hpp"

namespace moe::cpu::kernels {

inline constexpr int kquant_groups = 8;      // 32-weight groups of a super-block
inline constexpr int kquant_lanes = 8;       // int32 lanes of a group: 4 consecutive weights each
inline constexpr int kquant_sixteens = 16;   // 16-weight sub-blocks of a super-block (Q8_K's bsums)

// Activations of `tokens` tokens quantized to Q8_K, row-major per token:
//   blocks:     (tokens, K/256)       q8_k_block (d, q, bsums)
//   pair_sums:  (tokens, K/256, 8)    bsums[2j] + bsums[2j+1]: the activation sum of 32-weight sub-block j
struct q8_k_tokens {
    std::vector<q8_k_block> blocks;
    std::vector<std::int16_t> pair_sums;
    std::int64_t k = 0;

    const q8_k_block* blocks_of(std::int64_t t) const { return blocks.data() + t * (k / qk_k); }
    const std::int16_t* pair_sums_of(std::int64_t t) const { return pair_sums.data() + t * (k / qk_k) * 8; }
};

// x: (n, K) fp32 with row stride x_stride, K a multiple of 256  →  out (buffers grow, never shrink).
inline void quantize_tokens_q8_k(const float* x, std::int64_t x_stride, std::int64_t n, std::int64_t k,
                                 q8_k_tokens& out) {
    out.k = k;
    const auto blocks = static_cast<std::size_t>(n * (k / qk_k));
    if (out.blocks.size() < blocks) {
        out.blocks.resize(blocks);
        out.pair_sums.resize(blocks * 8);
    }
    for (std::int64_t t = 0; t < n; ++t) quantize_row_q8_k(x + t * x_stride, k, out.blocks.data() + t * (k / qk_k));
    for (std::size_t b = 0; b < blocks; ++b)
        for (int j = 0; j < 8; ++j)  // |sum| ≤ 32 · 127: an int16
            out.pair_sums[b * 8 + j] = static_cast<std::int16_t>(out.blocks[b].bsums[2 * j] + out.blocks[b].bsums[2 * j + 1]);
}

// One weight super-block as exact integers (see the header comment).
struct kquant_unpacked {
    alignas(32) std::uint8_t u[qk_k];          // unsigned weight values
    std::int16_t scale[kquant_sixteens];       // integer scale of each 16 weights
    std::int16_t offset[kquant_sixteens];      // coefficient of each 16-sum of the activations
    float d = 0, dmin = 0;                     // fp32 values of the fp16 super-block scales (q6_k: dmin unused)
};

// What distinguishes the formats in the kernels' orders: q4_k and q5_k subtract their minimums with their own fp32
// scale (dmin), q6_k subtracts its offset 32 inside the integer sum.
template <class Block>
inline constexpr bool kquant_has_min = !std::is_same_v<Block, q6_k_block>;

template <class Block>
inline constexpr bool is_kquant_block =
    std::is_same_v<Block, q4_k_block> || std::is_same_v<Block, q5_k_block> || std::is_same_v<Block, q6_k_block>;

// A q4_k / q5_k super-block's 12 bytes of 6-bit scales and mins (get_scale_min_k4's layout) as 8 scale bytes then
// 8 min bytes — llama.cpp's word shuffle, which the SIMD paths widen in registers.
inline void kquant_scales_mins(const std::uint8_t* packed, std::uint8_t (&out)[16]) {
    constexpr std::uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    std::uint32_t utmp[4];
    std::memcpy(utmp, packed, 12);
    utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
    const std::uint32_t uaux = utmp[1] & kmask1;
    utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
    utmp[2] = uaux;
    utmp[0] &= kmask1;
    std::memcpy(out, utmp, 16);
}

namespace detail {
inline void unpack_scales_mins(const std::uint8_t* scales, kquant_unpacked& out) {
    for (int j = 0; j < 8; ++j) {
        std::uint8_t sc, m;
        get_scale_min_k4(j, scales, sc, m);
        out.scale[2 * j] = out.scale[2 * j + 1] = sc;
        out.offset[2 * j] = out.offset[2 * j + 1] = m;
    }
}
}  // namespace detail

// Weight 64c + i (i < 32) is the low nibble of qs[32c + i]; weight 64c + 32 + i its high nibble.
inline void kquant_unpack(const q4_k_block& b, kquant_unpacked& out) {
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 32; ++i) {
            out.u[64 * c + i] = b.qs[32 * c + i] & 0xF;
            out.u[64 * c + 32 + i] = b.qs[32 * c + i] >> 4;
        }
    detail::unpack_scales_mins(b.scales, out);
    out.d = float16::to_float(b.d);
    out.dmin = float16::to_float(b.dmin);
}

// As q4_k, plus bit 2c (low nibbles) or 2c + 1 (high nibbles) of qh[i] as the value's fifth bit.
inline void kquant_unpack(const q5_k_block& b, kquant_unpacked& out) {
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 32; ++i) {
            const int h = b.qh[i] >> (2 * c);
            out.u[64 * c + i] = static_cast<std::uint8_t>((b.qs[32 * c + i] & 0xF) | ((h & 1) << 4));
            out.u[64 * c + 32 + i] = static_cast<std::uint8_t>((b.qs[32 * c + i] >> 4) | ((h & 2) << 3));
        }
    detail::unpack_scales_mins(b.scales, out);
    out.d = float16::to_float(b.d);
    out.dmin = float16::to_float(b.dmin);
}

// Per 128 weights n: weight n + 32m + i (m < 4, i < 32) takes 4 bits of ql (byte 64n' + 32(m & 1) + i, low nibble
// for m < 2) and 2 bits of qh[32n' + i] (bits 2m, 2m + 1) — ggml's dequantize_row_q6_K.
inline void kquant_unpack(const q6_k_block& b, kquant_unpacked& out) {
    for (int n = 0; n < 2; ++n)
        for (int m = 0; m < 4; ++m)
            for (int i = 0; i < 32; ++i) {
                const std::uint8_t l = b.ql[64 * n + 32 * (m & 1) + i];
                const int low = m < 2 ? (l & 0xF) : (l >> 4);
                const int high = (b.qh[32 * n + i] >> (2 * m)) & 3;
                out.u[128 * n + 32 * m + i] = static_cast<std::uint8_t>(low | (high << 4));
            }
    for (int s = 0; s < kquant_sixteens; ++s) {
        out.scale[s] = b.scales[s];
        out.offset[s] = static_cast<std::int16_t>(32 * b.scales[s]);
    }
    out.d = float16::to_float(b.d);
    out.dmin = 0;
}

// The exact integers of one super-block against one Q8_K block, as the kernels' lanes hold them:
//   lane[l]   = Σ_{g<8} Σ_{i<4} scale[(32g + 4l + i)/16] · u[32g + 4l + i] · x[32g + 4l + i]   (l < 8)
//   offset[l] = offset[2l] · bsums[2l] + offset[2l + 1] · bsums[2l + 1]                         (l < 8)
// Bounds: |lane| ≤ 8 · 4 · 128 · 63 · 127 < 2^25, |offset| ≤ 2 · (32 · 128) · (16 · 127) < 2^25 — int32, exact.
inline void kquant_lane_sums(const kquant_unpacked& w, const q8_k_block& x, std::int32_t (&lane)[kquant_lanes],
                             std::int32_t (&offset)[kquant_lanes]) {
    for (int l = 0; l < kquant_lanes; ++l) {
        std::int32_t s = 0;
        for (int g = 0; g < kquant_groups; ++g) {
            const int first = 32 * g + 4 * l;
            std::int32_t p = 0;
            for (int i = 0; i < 4; ++i) p += std::int32_t{w.u[first + i]} * std::int32_t{x.qs[first + i]};
            s += std::int32_t{w.scale[first / 16]} * p;
        }
        lane[l] = s;
        offset[l] = std::int32_t{w.offset[2 * l]} * x.bsums[2 * l] + std::int32_t{w.offset[2 * l + 1]} * x.bsums[2 * l + 1];
    }
}

}  // namespace moe::cpu::kernels
