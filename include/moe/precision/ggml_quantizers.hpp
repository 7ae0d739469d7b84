// moe/precision/ggml_quantizers.hpp — fp32 rows into llama.cpp's Q4_0, Q5_0, Q4_K, Q5_K, Q6_K weight blocks and Q8_K
// activation blocks, bit for bit as llama.cpp makes them.
//
// Weights: ggml-quants.c's reference quantizers quantize_row_{q4_0,q5_0,q4_K,q5_K,q6_K}_ref with their helpers
// (nearest_int, make_qkx2_quants, make_qx_quants) — what llama-quantize writes without an importance matrix.
// Activations: llama.cpp's x86 quantize_row_q8_K, which is quantize_row_q8_K_ref (iscale = −127 / (the value of
// largest magnitude), q = round-half-even(iscale · x), d = 1 / iscale, bsums = sums of q over each 16).
//
// The K-quant searches accumulate sums of products whose last bits decide ties between candidate scales, so they are
// only reproducible with every product rounded on its own: this header turns off the contraction of a·b + c into a
// fused multiply-add (GCC contracts by default in its GNU dialects, clang within an expression), which is how
// ggml-quants.c computes under ISO C (-ffast-math and clang's -ffp-contract=fast override it). Without it, 2 of the
// 24 Q4_K and 9 of the 24 Q5_K reference blocks came out different. tests/precision/test_ggml_blocks.cpp compares
// against ggml-quants.c compiled with -ffp-contract=off (tools/make_kquant_reference.py).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/half_types.hpp"

#if defined(__clang__)
#define MOE_DETAIL_NO_FP_CONTRACT _Pragma("clang fp contract(off)")
#else
#define MOE_DETAIL_NO_FP_CONTRACT
#endif
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)  // nvcc's front end rejects it
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace moe {

namespace detail {

// ggml's nearest_int: round to nearest, ties to even, by adding 1.5 · 2^23 and reading the low mantissa bits —
// exact for |v| < 2^22; outside that (and for inf or NaN) a defined garbage value, as in ggml.
inline int ggml_nearest_int(float v) {
    MOE_DETAIL_NO_FP_CONTRACT
    const float shifted = v + 12582912.f;
    return static_cast<int>(std::bit_cast<std::uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

inline constexpr float ggml_group_max_eps = 1e-15f;  // ggml's GROUP_MAX_EPS: below it a group counts as zero

// ggml's make_qkx2_quants: scale and min (returned, and −min in *the_min) of n values x with weights, and the
// levels L (0 … nmax) — a grid search over nstep + 1 candidate scales around nmax / (max − min), keeping the one
// with the least weighted squared (or absolute, use_mad) error, each fitted by weighted least squares.
inline float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L, float* the_min,
                              std::uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    MOE_DETAIL_NO_FP_CONTRACT
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = ggml_nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<std::uint8_t>(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * static_cast<float>(L[i]) + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = ggml_nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = static_cast<std::uint8_t>(l);
            const float w = weights[i], fl = static_cast<float>(l);
            sum_l += w * fl;
            sum_l2 += w * fl * fl;
            sum_xl += w * fl * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// ggml's make_qx_quants with rmse_type 1 and no importance weights (the only use, Q6_K's): a symmetric scale for
// n values x with levels L (0 … 2·nmax − 1, i.e. l + nmax), searched over 19 candidates around −nmax / max for the
// largest x²-weighted Σ x·l squared over Σ l².
inline float make_qx_quants_rmse1(int n, int nmax, const float* x, std::int8_t* L) {
    MOE_DETAIL_NO_FP_CONTRACT
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < ggml_group_max_eps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const auto level = [nmax](float scaled) {
        const int l = ggml_nearest_int(scaled);
        return l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    };
    float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = level(iscale * x[i]);
        L[i] = static_cast<std::int8_t>(l + nmax);
        const float w = x[i] * x[i], fl = static_cast<float>(l);
        sumlx += w * x[i] * fl;
        suml2 += w * fl * fl;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = level(iscale * x[i]);
            const float w = x[i] * x[i], fl = static_cast<float>(l);
            sumlx += w * x[i] * fl;
            suml2 += w * fl * fl;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(nmax + level(iscale * x[i]));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// The shared part of Q4_K and Q5_K: per sub-block of 32, make_qkx2_quants with weights av_x + |x| (nmax 15 or 31,
// the grid rmin, rdelta, nstep of each); the 8 scales and 8 mins quantized to 6 bits against their maxima and packed
// as get_scale_min_k4 reads them; then every value re-levelled against the stored (fp16, 6-bit) scale and min.
// x: (256) fp32 → L: (256) levels 0 … nmax; writes d, dmin, scales of the block.
template <class Block>
void quantize_k_super_block(const float* x, int nmax, float rmin, float rdelta, int nstep, Block& y,
                            std::uint8_t (&L)[qk_k]) {
    MOE_DETAIL_NO_FP_CONTRACT
    std::uint8_t Laux[32];
    float weights[32];
    float mins[qk_k / 32];
    float scales[qk_k / 32];
    float max_scale = 0;  // as the min is subtracted, scales are positive
    float max_min = 0;
    for (int j = 0; j < qk_k / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep,
                                     false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < qk_k / 32; ++j) {
        // ggml stores nearest_int's int into a uint8_t first, then caps at 63.
        std::uint8_t ls = static_cast<std::uint8_t>(ggml_nearest_int(inv_scale * scales[j]));
        std::uint8_t lm = static_cast<std::uint8_t>(ggml_nearest_int(inv_min * mins[j]));
        ls = ls < 63 ? ls : std::uint8_t{63};
        lm = lm < 63 ? lm : std::uint8_t{63};
        if (j < 4) {
            y.scales[j] = ls;
            y.scales[j + 4] = lm;
        } else {
            y.scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
            y.scales[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
            y.scales[j - 0] |= static_cast<std::uint8_t>((lm >> 4) << 6);
        }
    }
    y.d = float16::from_float(max_scale / 63.f);
    y.dmin = float16::from_float(max_min / 63.f);
    for (int j = 0; j < qk_k / 32; ++j) {
        std::uint8_t sc, m;
        get_scale_min_k4(j, y.scales, sc, m);
        const float d = float16::to_float(y.d) * static_cast<float>(sc);
        if (d == 0) continue;  // keeps make_qkx2_quants' levels, as ggml does
        const float dm = float16::to_float(y.dmin) * static_cast<float>(m);
        for (int ii = 0; ii < 32; ++ii) {
            const int l = ggml_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = static_cast<std::uint8_t>(l < 0 ? 0 : l > nmax ? nmax : l);
        }
    }
}

}  // namespace detail

namespace detail {
// The first of x[0 … n) with the largest |x|, sign kept (the type-0 quantizers' "max"; 0 for an all-zero block).
inline float largest_magnitude(const float* x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}
}  // namespace detail

// x: (k) fp32, k a multiple of 32  →  out: (k/32) blocks. ggml's quantize_row_q4_0_ref: d = (the value of largest
// magnitude) / −8, q = min(15, trunc(x / d + 8.5)).
inline void quantize_row_q4_0(const float* x, std::int64_t k, q4_0_block* out) {
    MOE_DETAIL_NO_FP_CONTRACT
    constexpr int qk = static_cast<int>(q4_0_block_size);
    for (std::int64_t i = 0; i < k / qk; ++i, x += qk) {
        const float d = detail::largest_magnitude(x, qk) / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        out[i].d = float16::from_float(d);
        // ggml converts x / d + 8.5 (0.5 … 16.5 for finite rows) straight to an integer; clamping first gives the
        // same levels there and defined ones where 1 / d overflows (|d| < 2^-128, stored as fp16 zero anyway).
        const auto level = [id](float v) {
            float s = v * id + 8.5f;
            s = s > 0.0f ? s : 0.0f;  // also NaN → 0
            return static_cast<std::uint8_t>(s < 15.0f ? static_cast<int>(s) : 15);
        };
        for (int j = 0; j < qk / 2; ++j) {
            out[i].qs[j] = static_cast<std::uint8_t>(level(x[j]) | (level(x[qk / 2 + j]) << 4));
        }
    }
}

// x: (k) fp32, k a multiple of 32  →  out: (k/32) blocks. ggml's quantize_row_q5_0_ref: d = (the value of largest
// magnitude) / −16, q = min(31, trunc(x / d + 16.5)); bit 4 of q goes to qh.
inline void quantize_row_q5_0(const float* x, std::int64_t k, q5_0_block* out) {
    MOE_DETAIL_NO_FP_CONTRACT
    constexpr int qk = static_cast<int>(q5_0_block_size);
    for (std::int64_t i = 0; i < k / qk; ++i, x += qk) {
        const float d = detail::largest_magnitude(x, qk) / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        out[i].d = float16::from_float(d);
        // As quantize_row_q4_0: ggml truncates x / d + 16.5 (0.5 … 32.5 for finite rows) to an integer; clamping
        // first gives the same levels there and defined ones where 1 / d overflows.
        const auto level = [id](float v) {
            float s = v * id + 16.5f;
            s = s > 0.0f ? s : 0.0f;  // also NaN → 0
            return s < 31.0f ? static_cast<int>(s) : 31;
        };
        std::uint32_t qh = 0;
        for (int j = 0; j < qk / 2; ++j) {
            const int q0 = level(x[j]), q1 = level(x[qk / 2 + j]);
            out[i].qs[j] = static_cast<std::uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= static_cast<std::uint32_t>(q0 >> 4) << j;
            qh |= static_cast<std::uint32_t>(q1 >> 4) << (j + qk / 2);
        }
        for (int b = 0; b < 4; ++b) out[i].qh[b] = static_cast<std::uint8_t>(qh >> (8 * b));
    }
}

// x: (k) fp32, k a multiple of 256  →  out: (k/256) blocks. ggml's quantize_row_q4_K_ref.
inline void quantize_row_q4_k(const float* x, std::int64_t k, q4_k_block* out) {
    std::uint8_t L[qk_k];
    for (std::int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
        detail::quantize_k_super_block(x, 15, -1.f, 0.1f, 20, out[i], L);
        std::uint8_t* q = out[i].qs;
        for (int j = 0; j < qk_k; j += 64, q += 32) {
            for (int l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
        }
    }
}

// x: (k) fp32, k a multiple of 256  →  out: (k/256) blocks. ggml's quantize_row_q5_K_ref.
inline void quantize_row_q5_k(const float* x, std::int64_t k, q5_k_block* out) {
    std::uint8_t L[qk_k];
    for (std::int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
        detail::quantize_k_super_block(x, 31, -0.5f, 0.1f, 15, out[i], L);
        std::uint8_t* qh = out[i].qh;
        std::uint8_t* ql = out[i].qs;
        std::memset(qh, 0, qk_k / 8);
        std::uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < qk_k; n += 64, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[n + j];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                int l2 = L[n + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = static_cast<std::uint8_t>(l1 | (l2 << 4));
            }
            m1 = static_cast<std::uint8_t>(m1 << 2);
            m2 = static_cast<std::uint8_t>(m2 << 2);
        }
    }
}

// x: (k) fp32, k a multiple of 256  →  out: (k/256) blocks. ggml's quantize_row_q6_K_ref: make_qx_quants per 16,
// the 16 scales to int8 against the one of largest magnitude (−128 / it), then every value re-levelled.
inline void quantize_row_q6_k(const float* x, std::int64_t k, q6_k_block* out) {
    MOE_DETAIL_NO_FP_CONTRACT
    std::int8_t L[qk_k];
    float scales[qk_k / 16];
    for (std::int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
        q6_k_block& y = out[i];
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < qk_k / 16; ++ib) {
            const float scale = detail::make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (std::fabs(scale) > max_abs_scale) {
                max_abs_scale = std::fabs(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < detail::ggml_group_max_eps) {
            std::memset(&y, 0, sizeof(y));
            continue;
        }
        const float iscale = -128.f / max_scale;
        y.d = float16::from_float(1 / iscale);
        for (int ib = 0; ib < qk_k / 16; ++ib) {
            const int s = detail::ggml_nearest_int(iscale * scales[ib]);
            y.scales[ib] = static_cast<std::int8_t>(s < 127 ? s : 127);
        }
        for (int j = 0; j < qk_k / 16; ++j) {
            const float d = float16::to_float(y.d) * static_cast<float>(y.scales[j]);
            if (d == 0) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = detail::ggml_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = static_cast<std::int8_t>((l < -32 ? -32 : l > 31 ? 31 : l) + 32);
            }
        }
        std::uint8_t* ql = y.ql;
        std::uint8_t* qh = y.qh;
        for (int j = 0; j < qk_k; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const int q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const int q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = static_cast<std::uint8_t>(q1 | (q3 << 4));
                ql[l + 32] = static_cast<std::uint8_t>(q2 | (q4 << 4));
                qh[l] = static_cast<std::uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

// x: (k) fp32, k a multiple of 256  →  out: (k/256) blocks. The activation side of the K-quant products (see the
// header comment). An all-zero block gets d = 0, q = 0, bsums = 0.
inline void quantize_row_q8_k(const float* x, std::int64_t k, q8_k_block* out) {
    MOE_DETAIL_NO_FP_CONTRACT
    for (std::int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
        q8_k_block& y = out[i];
        float max = 0, amax = 0;
        for (int j = 0; j < qk_k; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0) {
            std::memset(&y, 0, sizeof(y));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < qk_k; ++j) {
            const int v = detail::ggml_nearest_int(iscale * x[j]);
            y.qs[j] = static_cast<std::int8_t>(v < 127 ? v : 127);
        }
        for (int j = 0; j < qk_k / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y.qs[j * 16 + ii];
            y.bsums[j] = static_cast<std::int16_t>(sum);
        }
        y.d = 1 / iscale;
    }
}

}  // namespace moe

#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)  // nvcc's front end rejects it
#pragma GCC pop_options
#endif
#undef MOE_DETAIL_NO_FP_CONTRACT
