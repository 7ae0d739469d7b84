// moe/cpu/swiglu_kernels.hpp — the two halves of a SwiGLU FFN over a block of weight rows, on the CPU, and the
// matrix products under them.
//
// An FFN over n tokens is split into row blocks of the weight matrices so that work items are small, independent
// and fixed in number (see thread_pool.hpp for why that makes results thread-count independent):
//   gate_up_block:  A[:, r0:r1] = silu(X · gate[r0:r1]ᵀ) ⊙ (X · up[r0:r1]ᵀ)
//   down_block:     Y[:, r0:r1] = A · down[r0:r1]ᵀ
// Every product accumulates in fp32 and reads the weights in their storage format (in place, also from a
// memory-mapped checkpoint). Two kernels, picked by the token count n:
//   n ≤ small_batch_tokens (decode): dot-product register tiles (kernels/dot_tiles.hpp, bf16_dot_tiles.hpp,
//     q8_dot_tiles.hpp) over activations prepared once per product (small_batch_tokens_of: as they are, rounded to
//     bf16 for bf16_compute, quantized to Q8_0 for q8_0);
//   n > small_batch_tokens (prefill): GEMM tiles (kernels/gemm_tiles.hpp and its bf16/q8 counterparts) over
//     activations packed once per product (packed_activations); gate/up writes its output already packed for down.
// Each kernel has a fixed summation order, so a token's result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/cpu/eigen_maps.hpp"
#include "moe/cpu/kernels/bf16_dot_tiles.hpp"
#include "moe/cpu/kernels/bf16_gemm_tiles.hpp"
#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/cpu/kernels/gemm_tiles.hpp"
#include "moe/cpu/kernels/q8_dot_tiles.hpp"
#include "moe/cpu/kernels/q8_gemm_tiles.hpp"

namespace moe::cpu {

// Rows of a weight matrix per work item. Fixed (never derived from the thread count) for determinism.
inline constexpr std::int64_t weight_rows_per_item = 64;

// fp32 view of rows [first_row, first_row + rows) of a (·, cols) weight matrix.
template <class Storage>
const_matrix_map widen_rows(matrix_view<const Storage> weight, std::int64_t first_row, std::int64_t rows,
                            std::vector<float>& buffer) {
    if constexpr (std::is_same_v<Storage, float>) {
        return {weight.row(first_row), rows, weight.cols};
    } else {
        const std::int64_t count = rows * weight.cols;
        if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
        const Storage* source = weight.row(first_row);
        if constexpr (std::is_same_v<Storage, q8_0_block>) {
            dequantize_q8_0_row(source, count, buffer.data());  // rows are contiguous blocks
        } else {
            for (std::int64_t i = 0; i < count; ++i) buffer[static_cast<std::size_t>(i)] = to_float(source[i]);
        }
        return {buffer.data(), rows, weight.cols};
    }
}

inline float silu(float g) { return g / (1.0f + std::exp(-g)); }

// Token counts up to this are "decode": bound by reading weights, computed by the dot-product tiles.
inline constexpr std::int64_t small_batch_tokens = 4;

// True when a product over n tokens runs a GEMM over packed activations (kernels/gemm_tiles.hpp, or
// kernels/bf16_gemm_tiles.hpp for bf16_compute) rather than the dot-product tiles: more than small_batch_tokens.
constexpr bool uses_packed_gemm(std::int64_t n) { return n > small_batch_tokens; }

// Activations packed for the prefill GEMM of weights stored as Storage (np = kernels::padded_tokens(n)):
//   fp32-activation formats: (K, np) floats, x transposed;
//   bf16_compute:            (P, np) 32-bit words, x rounded to bf16 and transposed in pairs (P = (K + 1) / 2);
//   q8_0:                    (10 · K/32, np) 32-bit words, x quantized to Q8_0 per token (kernels::pack_q8_0).
template <class Storage>
struct packed_activations {
    static constexpr bool bf16_pairs = std::is_same_v<Storage, bfloat16_compute>;
    static constexpr bool q8 = std::is_same_v<Storage, q8_0_block>;
    using element = std::conditional_t<bf16_pairs || q8, std::uint32_t, float>;

    // Rows of the packed matrix for inner width k.
    static constexpr std::int64_t rows_for(std::int64_t k) {
        return q8 ? kernels::q8_packed_rows(k) : bf16_pairs ? kernels::bf16_pairs(k) : k;
    }

    // x: (n, K) → packed (rows_for(K), np), zero-padded.
    static void pack(matrix_view<const float> x, element* packed) {
        if constexpr (q8) kernels::pack_q8_0(x.data, x.cols, x.rows, x.cols, packed);
        else if constexpr (bf16_pairs) kernels::pack_bf16_pairs(x.data, x.cols, x.rows, x.cols, packed);
        else kernels::pack_transposed(x.data, x.cols, x.rows, x.cols, packed);
    }

    // ct (rows, np) = weight[first_row : first_row + rows] · x over all of weight's K columns.
    static void multiply(const element* packed, std::int64_t np, matrix_view<const Storage> weight, std::int64_t first_row,
                         std::int64_t rows, float* ct) {
        if constexpr (q8) {
            kernels::q8_gemm_block_transposed(packed, np, weight.row(first_row), weight.cols / q8_0_block_size, rows,
                                              weight.cols, ct);
        } else if constexpr (bf16_pairs) {
            kernels::bf16_gemm_block_transposed(packed, np, weight.row(first_row), weight.cols, rows, weight.cols, ct);
        } else {
            kernels::gemm_block_transposed(packed, np, weight.row(first_row), weight.cols, rows, weight.cols, ct);
        }
    }
};

// out[t · out_stride + r] = (weight[first_row + r] · x_t) for t < n, r < rows, from activations already packed
// (packed_activations<Storage>::pack): the GEMM tiles write the block transposed, this scatters it back.
// packed: (rows_for(K), np)   weight: (R, K)   out: (n, rows) with row stride out_stride
template <class Storage>
void packed_product_block(const typename packed_activations<Storage>::element* packed, std::int64_t n,
                          matrix_view<const Storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                          std::int64_t out_stride) {
    const std::int64_t np = kernels::padded_tokens(n);
    thread_local std::vector<float> ct;  // (rows, np)
    if (static_cast<std::int64_t>(ct.size()) < rows * np) ct.resize(static_cast<std::size_t>(rows * np));
    packed_activations<Storage>::multiply(packed, np, weight, first_row, rows, ct.data());
    for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t r = 0; r < rows; ++r) out[t * out_stride + r] = ct[static_cast<std::size_t>(r * np + t)];
}

// Up to small_batch_tokens tokens in the form the dot-product tiles of Storage read, prepared once per product
// and shared by all its row blocks (preparing costs about as much as reading 64 weight rows, so once per block would
// cost ~5–10% of a decode step):
//   fp32-activation formats: x itself (a view: x must outlive the uses);
//   bf16_compute:            x rounded to bf16 (nearest even);
//   q8_0:                    x quantized to Q8_0 (kernels::quantize_tokens_q8_0).
template <class Storage>
struct small_batch_tokens_of {
    static constexpr bool bf16 = std::is_same_v<Storage, bfloat16_compute>;
    static constexpr bool q8 = std::is_same_v<Storage, q8_0_block>;

    matrix_view<const float> x;      // (n, K)
    std::vector<bfloat16> rounded;   // bf16_compute: (n, K)
    kernels::q8_tokens quantized;    // q8_0

    // x: (n, K), n ≤ small_batch_tokens (any n works; more are just not what the tiles are for).
    void prepare(matrix_view<const float> tokens) {
        x = tokens;
        if constexpr (bf16) {
            const auto count = static_cast<std::size_t>(x.rows * x.cols);
            if (rounded.size() < count) rounded.resize(count);
            for (std::size_t i = 0; i < count; ++i) rounded[i].bits = bfloat16::from_float(x.data[i]);
        } else if constexpr (q8) {
            kernels::quantize_tokens_q8_0(x.data, x.cols, x.rows, x.cols, quantized);
        }
    }

    // out(t, r) = Σ_d x(t, d) · weight(first_row + r, d) for t < n, r < rows; out has row stride out_stride.
    // weight: (R, K)
    void multiply(matrix_view<const Storage> weight, std::int64_t first_row, std::int64_t rows, float* out,
                  std::int64_t out_stride) const {
        if (x.rows == 0) return;
        if constexpr (q8) {
            kernels::q8_dot_product_block(quantized, x.rows, weight.row(first_row), weight.cols / q8_0_block_size, rows,
                                          out, out_stride);
        } else if constexpr (bf16) {
            kernels::bf16_dot_product_block(rounded.data(), x.cols, x.rows, weight.row(first_row), weight.cols, rows,
                                            weight.cols, out, out_stride);
        } else {
            kernels::dot_product_block<Storage>(x.data, x.cols, x.rows, weight.row(first_row), weight.cols, rows,
                                                weight.cols, out, out_stride);
        }
    }
};

// out(t, r - first_row) = Σ_d x(t, d) · weight(r, d) for r in [first_row, first_row + rows), any n.
// x:      (n, K)      tokens
// weight: (R, K)      weights
// out:    (n, rows)   written with row stride out_stride
// Up to small_batch_tokens tokens: the dot-product register tiles (small_batch_tokens_of<Storage>, prepared for
// this call — callers running many row blocks over the same x prepare it once instead). More tokens: x packed for
// this call and multiplied by the GEMM tiles (callers running many row blocks pack it once, see
// gate_up_block_packed). Either way the result does not depend on the thread count.
template <class Storage>
void small_batch_product(matrix_view<const float> x, matrix_view<const Storage> weight, std::int64_t first_row,
                         std::int64_t rows, float* out, std::int64_t out_stride) {
    if (x.rows == 0) return;
    using packing = packed_activations<Storage>;
    if (uses_packed_gemm(x.rows)) {
        thread_local std::vector<typename packing::element> packed;  // (rows_for(K), np)
        const auto packed_size = static_cast<std::size_t>(packing::rows_for(x.cols) * kernels::padded_tokens(x.rows));
        if (packed.size() < packed_size) packed.resize(packed_size);
        packing::pack(x, packed.data());
        packed_product_block<Storage>(packed.data(), x.rows, weight, first_row, rows, out, out_stride);
        return;
    }
    thread_local small_batch_tokens_of<Storage> prepared;
    prepared.prepare(x);
    prepared.multiply(weight, first_row, rows, out, out_stride);
}

// ---- prefill: activations packed once per product (packed_activations<Storage>), np = padded_tokens(n) ----

// x: (n, K) → packed (rows_for(K), np); run once, before the row blocks that read it.
template <class Storage>
void pack_activations(matrix_view<const float> x, typename packed_activations<Storage>::element* packed) {
    packed_activations<Storage>::pack(x, packed);
}

// xt:    packed tokens (n of them), (rows_for(D), np)
// gate, up: (F, D) weights
// act_t: packed (rows_for(F), np): features [first_row, first_row + rows) written with silu(gate · x) ⊙ (up · x),
//        padded tokens 0 — already the packed input of the down projection. first_row must be even (blocks of
//        weight_rows_per_item rows are), so bf16 pairs never straddle two blocks; for q8_0, first_row and rows are
//        multiples of 32 (F is), so each Q8_0 block of features is quantized within one call.
template <class Storage>
void gate_up_block_packed(const typename packed_activations<Storage>::element* xt, std::int64_t n,
                          matrix_view<const Storage> gate, matrix_view<const Storage> up, std::int64_t first_row,
                          std::int64_t rows, typename packed_activations<Storage>::element* act_t) {
    using packing = packed_activations<Storage>;
    const std::int64_t np = kernels::padded_tokens(n);
    thread_local std::vector<float> g, u;  // (rows, np)
    if (static_cast<std::int64_t>(g.size()) < rows * np) g.resize(static_cast<std::size_t>(rows * np)), u.resize(g.size());
    packing::multiply(xt, np, gate, first_row, rows, g.data());
    packing::multiply(xt, np, up, first_row, rows, u.data());
    auto value = [&](std::int64_t r, std::int64_t t) {
        return t < n && r < rows ? silu(g[static_cast<std::size_t>(r * np + t)]) * u[static_cast<std::size_t>(r * np + t)] : 0.0f;
    };
    if constexpr (packing::q8) {
        float values[q8_0_block_size];
        std::int8_t q[q8_0_block_size];
        for (std::int64_t r0 = 0; r0 < rows; r0 += q8_0_block_size) {
            const std::int64_t b = (first_row + r0) / q8_0_block_size;
            for (std::int64_t t = 0; t < np; ++t) {
                if (t >= n) {
                    kernels::pack_q8_0_zero(b, t, np, act_t);
                    continue;
                }
                for (std::int64_t i = 0; i < q8_0_block_size; ++i) values[i] = value(r0 + i, t);
                float scale;
                quantize_q8_0_activations(values, q8_0_block_size, q, &scale);
                kernels::pack_q8_0_block(q, scale, b, t, np, act_t);
            }
        }
    } else if constexpr (packing::bf16_pairs) {
        for (std::int64_t r = 0; r < rows; r += 2) {
            std::uint32_t* out = act_t + (first_row + r) / 2 * np;
            for (std::int64_t t = 0; t < np; ++t)
                out[t] = std::uint32_t{bfloat16::from_float(value(r, t))} |
                         (std::uint32_t{bfloat16::from_float(value(r + 1, t))} << 16);
        }
    } else {
        for (std::int64_t r = 0; r < rows; ++r) {
            float* out = act_t + (first_row + r) * np;
            for (std::int64_t t = 0; t < np; ++t) out[t] = value(r, t);
        }
    }
}

// act_t: packed SwiGLU activations of n tokens, (rows_for(F), np)
// down:  (D, F)   weights
// y:     (n, D)   columns [first_row, first_row + rows) are written
template <class Storage>
void down_block_packed(const typename packed_activations<Storage>::element* act_t, std::int64_t n,
                       matrix_view<const Storage> down, std::int64_t first_row, std::int64_t rows, matrix_view<float> y) {
    if (n == 0) return;
    packed_product_block<Storage>(act_t, n, down, first_row, rows, y.row(0) + first_row, y.cols);
}

// x:          n ≤ small_batch_tokens tokens, prepared (small_batch_tokens_of), (n, D)
// gate, up:   (F, D)   weights
// activation: (n, F)   out: columns [first_row, first_row + rows) are written
template <class Storage>
void gate_up_block(const small_batch_tokens_of<Storage>& x, matrix_view<const Storage> gate,
                   matrix_view<const Storage> up, std::int64_t first_row, std::int64_t rows,
                   matrix_view<float> activation) {
    const std::int64_t n = x.x.rows;
    thread_local std::vector<float> gate_out, up_out;  // (n, rows)
    const std::size_t count = static_cast<std::size_t>(n * rows);
    if (gate_out.size() < count) gate_out.resize(count), up_out.resize(count);
    x.multiply(gate, first_row, rows, gate_out.data(), rows);
    x.multiply(up, first_row, rows, up_out.data(), rows);
    for (std::int64_t t = 0; t < n; ++t) {
        float* out = activation.row(t) + first_row;
        const float* g = gate_out.data() + t * rows;
        const float* u = up_out.data() + t * rows;
        for (std::int64_t r = 0; r < rows; ++r) out[r] = silu(g[r]) * u[r];
    }
}

// activation: n ≤ small_batch_tokens SwiGLU activations, prepared, (n, F)
// down:       (D, F)  weights
// y:          (n, D)  out: columns [first_row, first_row + rows) are written
template <class Storage>
void down_block(const small_batch_tokens_of<Storage>& activation, matrix_view<const Storage> down,
                std::int64_t first_row, std::int64_t rows, matrix_view<float> y) {
    activation.multiply(down, first_row, rows, y.row(0) + first_row, y.cols);
}

}  // namespace moe::cpu
