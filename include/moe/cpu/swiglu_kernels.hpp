// moe/cpu/swiglu_kernels.hpp — the two halves of a SwiGLU FFN over a block of weight rows, on the CPU, for any
// weight format.
//
// An FFN over n tokens is split into row blocks of the weight matrices (swiglu_runner.hpp says how many rows):
//   gate_up_block:  A[:, r0:r1] = silu(X · gate[r0:r1]ᵀ) ⊙ (X · up[r0:r1]ᵀ)
//   down_block:     Y[:, r0:r1] = A · down[r0:r1]ᵀ
// The products are products.hpp's, with the same two kernels: decode blocks read tokens prepared once per product
// (gate_up_block / down_block), prefill blocks read tokens packed once per product (…_packed), and gate/up writes
// its output already packed for down (the format's pack_features). swiglu_runner.hpp runs the blocks in order.
#pragma once

#include <cmath>
#include <cstdint>

#include "moe/cpu/products.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/routing/activations.hpp"

namespace moe::cpu {

using moe::silu;  // one definition for every backend (routing/activations.hpp)

// ---- prefill: activations packed once per product (pack_activations), np = padded_tokens(n) ----

// xt:    packed tokens (n of them), (packed_rows(D), np)
// gate, up: (F, D) weights
// act_t: packed (packed_rows(F), np): features [first_row, first_row + rows) written with silu(gate · x) ⊙ (up · x),
//        padded tokens 0 — already the packed input of the down projection. first_row is a multiple of the
//        format's feature_alignment (swiglu_runner's gate_up_rows is), so a packed word or block of features
//        never straddles two calls.
template <class Storage>
void gate_up_block_packed(const packed_element_t<Storage>* xt, std::int64_t n, matrix_view<const Storage> gate,
                          matrix_view<const Storage> up, std::int64_t first_row, std::int64_t rows,
                          packed_element_t<Storage>* act_t) {
    using format = kernels_for<Storage>;
    const std::int64_t np = kernels::padded_tokens(n);
    float* g = scratch<float>(scratch_slot::gate_product, rows * np);  // (rows, np)
    float* u = scratch<float>(scratch_slot::up_product, rows * np);    // (rows, np)
    format::multiply_packed(xt, np, gate, first_row, rows, g);
    format::multiply_packed(xt, np, up, first_row, rows, u);
    const auto value = [&](std::int64_t r, std::int64_t t) {
        return t < n && r < rows ? silu(g[r * np + t]) * u[r * np + t] : 0.0f;
    };
    // A format packing more than one layout (gguf_mixed) places its parts by the packed matrix's width F.
    if constexpr (requires { format::pack_features(value, n, np, first_row, rows, act_t, gate.rows); }) {
        format::pack_features(value, n, np, first_row, rows, act_t, gate.rows);
    } else {
        format::pack_features(value, n, np, first_row, rows, act_t);
    }
}

// act_t: packed SwiGLU activations of n tokens, (packed_rows(F), np)
// down:  (D, F)   weights
// y:     (n, D)   columns [first_row, first_row + rows) are written
template <class Storage>
void down_block_packed(const packed_element_t<Storage>* act_t, std::int64_t n, matrix_view<const Storage> down,
                       std::int64_t first_row, std::int64_t rows, matrix_view<float> y) {
    if (n == 0) return;
    packed_product_block<Storage>(act_t, n, down, first_row, rows, y.row(0) + first_row, y.cols);
}

// ---- decode: n ≤ small_batch_tokens tokens prepared once per product (small_batch_tokens_of) ----

// x:          prepared tokens, (n, D)
// gate, up:   (F, D)   weights
// activation: (n, F)   out: columns [first_row, first_row + rows) are written
template <class Storage>
void gate_up_block(const small_batch_tokens_of<Storage>& x, matrix_view<const Storage> gate,
                   matrix_view<const Storage> up, std::int64_t first_row, std::int64_t rows,
                   matrix_view<float> activation) {
    const std::int64_t n = x.tokens();
    float* gate_out = scratch<float>(scratch_slot::gate_product, n * rows);  // (n, rows)
    float* up_out = scratch<float>(scratch_slot::up_product, n * rows);      // (n, rows)
    x.multiply(gate, first_row, rows, gate_out, rows);
    x.multiply(up, first_row, rows, up_out, rows);
    for (std::int64_t t = 0; t < n; ++t) {
        float* out = activation.row(t) + first_row;
        const float* g = gate_out + t * rows;
        const float* u = up_out + t * rows;
        for (std::int64_t r = 0; r < rows; ++r) out[r] = silu(g[r]) * u[r];
    }
}

// activation: prepared SwiGLU activations, (n, F)
// down:       (D, F)  weights
// y:          (n, D)  out: columns [first_row, first_row + rows) are written
template <class Storage>
void down_block(const small_batch_tokens_of<Storage>& activation, matrix_view<const Storage> down,
                std::int64_t first_row, std::int64_t rows, matrix_view<float> y) {
    activation.multiply(down, first_row, rows, y.row(0) + first_row, y.cols);
}

}  // namespace moe::cpu
