// moe/cpu/swiglu_runner.hpp — one SwiGLU FFN, down( silu(gate · x) ⊙ (up · x) ), over n tokens on the CPU:
// the sequence the dense MLP, the shared expert and every routed expert run.
//
// A run has four phases; the middle two are fixed row blocks of the weights (work items), the others run once:
//   start           prefill: x packed for the GEMM tiles   / decode: x prepared for the dot-product tiles
//   gate_up_item    one block of features, silu(gate · x) ⊙ (up · x): prefill writes it packed for down;
//                   decode writes it to the runner's (n, F) activations
//   finish_gate_up  decode: the activations prepared for down   / prefill: nothing
//   down_item       one block of y's columns
// run() does the four on a thread pool. The MoE layer instead schedules them itself, one runner per expert, so
// that a single parallel_for covers the (expert, block) items of every expert. Items depend on the shapes only and
// each writes its own outputs, so results are bit-identical for any thread count. The runner owns the state its
// items share (packed or prepared tokens and activations, workspace.hpp kind 1); it keeps them between runs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "moe/cpu/products.hpp"
#include "moe/cpu/swiglu_kernels.hpp"
#include "moe/layers/moe_layer_weights.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

template <class Storage>
class swiglu_runner {
   public:
    // Rows per gate/up item: weight_rows_per_item, rounded up to whole blocks of the features the format packs
    // together for down (feature_alignment), so an item never writes part of another item's packed block.
    static constexpr std::int64_t gate_up_rows = (weight_rows_per_item + kernels_for<Storage>::feature_alignment - 1) /
                                                 kernels_for<Storage>::feature_alignment *
                                                 kernels_for<Storage>::feature_alignment;
    static constexpr std::int64_t down_rows = weight_rows_per_item;  // rows per down item

    // Items of the two middle phases for F features and D outputs (they depend on the shapes only).
    static constexpr std::int64_t gate_up_item_count(std::int64_t features) {
        return (features + gate_up_rows - 1) / gate_up_rows;
    }
    static constexpr std::int64_t down_item_count(std::int64_t outputs) {
        return (outputs + down_rows - 1) / down_rows;
    }

    // Phase 1. x: (n, D) tokens; weights: gate (F, D), up (F, D), down (D, F); y: (n, D) out. x, the weights and y
    // are kept by reference until the run's last down_item. n may be 0 (then there are no items).
    void start(matrix_view<const float> x, swiglu_weights<Storage> weights, matrix_view<float> y) {
        x_ = x;
        weights_ = weights;
        y_ = y;
        const std::int64_t n = x.rows, D = x.cols, F = weights.gate.rows;
        if (n == 0) return;
        if (packed()) {
            packed_x_.resize(static_cast<std::size_t>(packed_size<Storage>(n, D)));    // (packed_rows(D), np)
            packed_act_.resize(static_cast<std::size_t>(packed_size<Storage>(n, F)));  // (packed_rows(F), np)
            pack_activations<Storage>(x, packed_x_.data());
        } else {
            activation_.resize(n, F);  // (n, F)
            prepared_.prepare(x);
        }
    }

    // Phase 2: features [item · gate_up_rows, +gate_up_rows) of the activations.
    std::int64_t gate_up_items() const { return x_.rows == 0 ? 0 : gate_up_item_count(weights_.gate.rows); }
    void gate_up_item(std::int64_t item) {
        const std::int64_t first = item * gate_up_rows;
        const std::int64_t rows = std::min(gate_up_rows, weights_.gate.rows - first);
        if (packed()) {
            gate_up_block_packed<Storage>(packed_x_.data(), x_.rows, weights_.gate, weights_.up, first, rows,
                                          packed_act_.data());
        } else {
            gate_up_block<Storage>(prepared_, weights_.gate, weights_.up, first, rows, activation_.view());
        }
    }

    // Phase 3, after every gate_up_item.
    void finish_gate_up() {
        if (x_.rows > 0 && !packed()) prepared_.prepare(activation_.view());
    }

    // Phase 4: columns [item · down_rows, +down_rows) of y.
    std::int64_t down_items() const { return x_.rows == 0 ? 0 : down_item_count(weights_.down.rows); }
    void down_item(std::int64_t item) {
        const std::int64_t first = item * down_rows;
        const std::int64_t rows = std::min(down_rows, weights_.down.rows - first);
        if (packed()) {
            down_block_packed<Storage>(packed_act_.data(), x_.rows, weights_.down, first, rows, y_);
        } else {
            down_block<Storage>(prepared_, weights_.down, first, rows, y_);
        }
    }

    // All four phases: the start and finish on the calling thread, the items on `pool`.
    // x: (n, D)   y: (n, D), must not overlap x
    void run(matrix_view<const float> x, swiglu_weights<Storage> weights, matrix_view<float> y, thread_pool& pool) {
        start(x, weights, y);
        pool.parallel_for(gate_up_items(), [&](std::int64_t item) { gate_up_item(item); });
        finish_gate_up();
        pool.parallel_for(down_items(), [&](std::int64_t item) { down_item(item); });
    }

   private:
    bool packed() const { return uses_packed_gemm(x_.rows); }

    matrix_view<const float> x_;    // (n, D)
    swiglu_weights<Storage> weights_;
    matrix_view<float> y_;          // (n, D)
    // prefill
    std::vector<packed_element_t<Storage>> packed_x_;    // x packed, (packed_rows(D), np)
    std::vector<packed_element_t<Storage>> packed_act_;  // activations packed, (packed_rows(F), np)
    // decode
    small_batch_tokens_of<Storage> prepared_;  // x, then the activations, prepared
    host_matrix<float> activation_;            // (n, F)
};

}  // namespace moe::cpu
