// moe/cpu/kernels/fp8_gemm_tiles.hpp — X · Wᵀ for many tokens (prefill) with fp8 e4m3 weights in 128-weight
// blocks: gemm_tiles.hpp's register-blocked GEMM, one block of K at a time, each block's sums scaled once.
//
// Operands (K = inner width, a multiple of 128; n = tokens, np = padded_tokens(n)):
//   xt: (K, np) fp32 activations transposed, packed once per product by pack_transposed (gemm_tiles.hpp) — the
//       same packing as the fp32 formats, so SwiGLU's pack_features is theirs too;
//   w:  (rows, K/128) fp8_e4m3_block rows, read in place; block b of every row is decoded to fp32 (exact, by the
//       decode of fp8_dot_tiles.hpp) into the thread's widened_chunk scratch, (rows, 128), with the rows' scales;
//   ct: (rows, np) results transposed, ct[r · np + t].
// A register tile holds Rows weight rows × tokens of partial sums over one block (16 accumulators of 512 bits:
// 8 rows × 32 tokens, 16 × 16, or 16 rows × 8 tokens in 256-bit registers; AVX2: 6 × 16, 12 × 8), then adds
// them into ct scaled by each row's block scale — one multiply-add per output per 128 weights.
//
// Summation order: P_b[r][t] is one fused multiply-add chain of decode(q) · x over the block's 128 k in
// increasing order from +0; ct[r][t] = fma(scale_b, P_b, ct) over b = 0, 1, … from +0. The same on every path and
// for every tile shape, chunking or thread count (the portable path computes the same chains with
// fused_multiply_add), so the paths are bit-identical. It is not the order of the decode tiles: a token's result
// can differ in the last bits between a product with ≤ 4 tokens and one with more, never with the thread count.
#pragma once

#include <algorithm>
#include <cstdint>

#include "moe/cpu/kernels/fp8_dot_tiles.hpp"
#include "moe/cpu/kernels/gemm_tiles.hpp"  // padded_tokens, pack_transposed
#include "moe/cpu/workspace.hpp"

namespace moe::cpu::kernels {

namespace fp8_detail {

// W token lanes of fp32: zero, load, store, broadcast, fma. Portable: W floats; AVX-512: 16 or 8; AVX2: 8.
template <int W>
struct tokens_portable {
    static constexpr int width = W;
    struct type {
        float l[W];
    };
    static type zero() { return {}; }
    static type load(const float* p) {
        type v;
        for (int i = 0; i < W; ++i) v.l[i] = p[i];
        return v;
    }
    static void store(float* p, const type& v) {
        for (int i = 0; i < W; ++i) p[i] = v.l[i];
    }
    static type fma(float a, const type& b, const type& c) {
        type v;
        for (int i = 0; i < W; ++i) v.l[i] = fused_multiply_add(a, b.l[i], c.l[i]);
        return v;
    }
};

#if defined(__AVX512F__)
struct tokens_avx512 {
    static constexpr int width = 16;
    using type = __m512;
    static type zero() { return _mm512_setzero_ps(); }
    static type load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, type v) { _mm512_storeu_ps(p, v); }
    static type fma(float a, type b, type c) { return _mm512_fmadd_ps(_mm512_set1_ps(a), b, c); }
};
#endif

#if defined(__AVX512F__) || defined(MOE_HAVE_AVX2_TILES)
struct tokens_avx256 {
    static constexpr int width = 8;
    using type = __m256;
    static type zero() { return _mm256_setzero_ps(); }
    static type load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, type v) { _mm256_storeu_ps(p, v); }
    static type fma(float a, type b, type c) { return _mm256_fmadd_ps(_mm256_set1_ps(a), b, c); }
};
#endif

// ct[r · np + T·v + l] = fma(scale[r], Σ_{k<128} w[r · 128 + k] · xt[k · np + T·v + l], first ? +0 : ct[…])
// for r < Rows, v < Vectors, l < T = V::width. w: (Rows, 128) decoded weights; xt: (128, np) this block's
// activations; scale: (Rows).
template <class V, int Rows, int Vectors>
void gemm_tile(const float* w, const float* scale, const float* xt, std::int64_t np, float* ct, bool first) {
    typename V::type part[Rows][Vectors];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) part[r][v] = V::zero();
    for (std::int64_t k = 0; k < fp8_block_size; ++k) {
        typename V::type xv[Vectors];
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) xv[v] = V::load(xt + k * np + V::width * v);
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) {
            const float wr = w[r * fp8_block_size + k];
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) part[r][v] = V::fma(wr, xv[v], part[r][v]);
        }
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) {
            float* out = ct + r * np + V::width * v;
            V::store(out, V::fma(scale[r], part[r][v], first ? V::zero() : V::load(out)));
        }
}

// Rows [0, rows) of one token group (tokens [0, Vectors · V::width) of xt and ct): tiles of Rows, then singles.
template <class V, int Rows, int Vectors>
void gemm_group(const float* w, const float* scale, std::int64_t rows, const float* xt, std::int64_t np, float* ct,
                bool first) {
    std::int64_t r = 0;
    for (; r + Rows <= rows; r += Rows)
        gemm_tile<V, Rows, Vectors>(w + r * fp8_block_size, scale + r, xt, np, ct + r * np, first);
    for (; r < rows; ++r) gemm_tile<V, 1, Vectors>(w + r * fp8_block_size, scale + r, xt, np, ct + r * np, first);
}

// One block of K for all rows and token groups: groups of 32 tokens, then the 16 or 8 that padded_tokens leaves.
// Portable = the portable lanes (tests), else the compiled-in path.
template <bool Portable>
[[gnu::noinline]] inline void gemm_block(const float* w, const float* scale, std::int64_t rows, const float* xt,
                                         std::int64_t np, float* ct, bool first) {
    std::int64_t t0 = 0;
#if defined(__AVX512F__)
    if constexpr (!Portable) {
        for (; t0 + 32 <= np; t0 += 32) gemm_group<tokens_avx512, 8, 2>(w, scale, rows, xt + t0, np, ct + t0, first);
        if (np - t0 == 16) gemm_group<tokens_avx512, 16, 1>(w, scale, rows, xt + t0, np, ct + t0, first);
        else if (np - t0 == 8) gemm_group<tokens_avx256, 16, 1>(w, scale, rows, xt + t0, np, ct + t0, first);
        return;
    }
#elif defined(MOE_HAVE_AVX2_TILES)
    if constexpr (!Portable) {
        for (; t0 + 16 <= np; t0 += 16) gemm_group<tokens_avx256, 6, 2>(w, scale, rows, xt + t0, np, ct + t0, first);
        if (np - t0 == 8) gemm_group<tokens_avx256, 12, 1>(w, scale, rows, xt + t0, np, ct + t0, first);
        return;
    }
#endif
    for (; t0 + 16 <= np; t0 += 16) gemm_group<tokens_portable<16>, 4, 1>(w, scale, rows, xt + t0, np, ct + t0, first);
    if (np - t0 == 8) gemm_group<tokens_portable<8>, 4, 1>(w, scale, rows, xt + t0, np, ct + t0, first);
}

}  // namespace fp8_detail

// ct (rows, np) = W[0:rows] · X over all K, from packed activations xt (K, np) (see the header comment).
// w: (rows, K/128) blocks with row stride w_stride blocks. `portable` forces the portable loops (tests).
inline void fp8_gemm_block_transposed(const float* xt, std::int64_t np, const fp8_e4m3_block* w, std::int64_t w_stride,
                                      std::int64_t rows, std::int64_t k, float* ct, bool portable = false) {
    if (rows == 0 || np == 0) return;
    if (k == 0) {
        std::fill(ct, ct + rows * np, 0.0f);
        return;
    }
    // (rows, 128) decoded weights of one block, then the rows' scales: the thread's scratch
    float* wide = scratch<float>(scratch_slot::widened_chunk, rows * (fp8_block_size + 1));
    float* scale = wide + rows * fp8_block_size;
    for (std::int64_t b = 0; b < k / fp8_block_size; ++b) {
        for (std::int64_t r = 0; r < rows; ++r) {
            const fp8_e4m3_block& block = w[r * w_stride + b];
            for (int j = 0; j < fp8_groups; ++j)
                fp8_decode16(block.q + j * fp8_lanes, wide + r * fp8_block_size + j * fp8_lanes, portable);
            scale[r] = block.scale;
        }
        const float* x_block = xt + b * fp8_block_size * np;
        if (portable) fp8_detail::gemm_block<true>(wide, scale, rows, x_block, np, ct, b == 0);
        else fp8_detail::gemm_block<false>(wide, scale, rows, x_block, np, ct, b == 0);
    }
}

// The plain-loop definition of one result (tests compare the tiles with it). x: (K) fp32, w: (K/128) blocks.
inline float fp8_gemm_reference(const float* x, const fp8_e4m3_block* w, std::int64_t k) {
    float sum = 0.0f;
    for (std::int64_t b = 0; b < k / fp8_block_size; ++b) {
        float part = 0.0f;
        for (std::int64_t i = 0; i < fp8_block_size; ++i)
            part = fused_multiply_add(fp8_e4m3_values[w[b].q[i]], x[b * fp8_block_size + i], part);
        sum = fused_multiply_add(w[b].scale, part, sum);
    }
    return sum;
}

}  // namespace moe::cpu::kernels
