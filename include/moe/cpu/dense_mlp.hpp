// moe/cpu/dense_mlp.hpp — a dense SwiGLU MLP on the CPU: down( silu(gate · x) ⊙ (up · x) ).
//
// DeepSeek's first `first_k_dense_replace` layers (DeepseekV3MLP with intermediate_size) and any other dense FFN.
// Runs the same row-block kernels as the MoE layer's experts (swiglu_kernels.hpp), so it is deterministic for any
// thread count.
//
//   using deepseek_v3_dense = moe::cpu::dense_mlp<moe::dense_mlp_config{
//       .model_width = 7168, .width = 18432, .weights = moe::weight_format::bf16}>;
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "moe/config/dense_mlp_config.hpp"
#include "moe/config/precision.hpp"
#include "moe/cpu/swiglu_kernels.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/layers/moe_layer_weights.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

template <dense_mlp_config Config>
class dense_mlp {
    static_assert(check_dense_mlp_config<Config>::value);

   public:
    static constexpr dense_mlp_config config = Config;
    using storage = storage_t<Config.weights>;
    static constexpr std::int64_t D = Config.model_width, F = Config.width;

    // weights: gate (F, D), up (F, D), down (D, F). Throws moe::shape_error naming a mis-shaped tensor.
    explicit dense_mlp(swiglu_weights<storage> weights) : weights_(weights) {
        require_shape("dense_mlp", "gate_proj", weights_.gate, F, D);
        require_shape("dense_mlp", "up_proj", weights_.up, F, D);
        require_shape("dense_mlp", "down_proj", weights_.down, D, F);
    }

    // x: (T, D); y: (T, D), must not overlap x. T may be 0.
    void forward(matrix_view<const float> x, matrix_view<float> y, thread_pool& pool) {
        require_shape("dense_mlp::forward", "x", x, x.rows, D);
        require_shape("dense_mlp::forward", "y", y, x.rows, D);
        if (x.rows == 0) return;
        constexpr std::int64_t gate_up_blocks = (F + weight_rows_per_item - 1) / weight_rows_per_item;
        constexpr std::int64_t down_blocks = (D + weight_rows_per_item - 1) / weight_rows_per_item;
        if (uses_packed_gemm(x.rows)) {  // prefill: GEMM tiles over packed activations
            const std::int64_t n = x.rows, np = kernels::padded_tokens(n);
            packed_x_.resize(static_cast<std::size_t>(packing::rows_for(D) * np));    // (·D, np)
            packed_act_.resize(static_cast<std::size_t>(packing::rows_for(F) * np));  // (·F, np)
            pack_activations<storage>(x, packed_x_.data());
            pool.parallel_for(gate_up_blocks, [&](std::int64_t item) {
                const std::int64_t first = item * weight_rows_per_item;
                gate_up_block_packed<storage>(packed_x_.data(), n, weights_.gate, weights_.up, first,
                                              std::min(weight_rows_per_item, F - first), packed_act_.data());
            });
            pool.parallel_for(down_blocks, [&](std::int64_t item) {
                const std::int64_t first = item * weight_rows_per_item;
                down_block_packed<storage>(packed_act_.data(), n, weights_.down, first,
                                           std::min(weight_rows_per_item, D - first), y);
            });
            return;
        }
        activation_.resize(x.rows, F);  // (T, F)
        prepared_.prepare(x);
        pool.parallel_for(gate_up_blocks, [&](std::int64_t item) {
            const std::int64_t first = item * weight_rows_per_item;
            gate_up_block<storage>(prepared_, weights_.gate, weights_.up, first,
                                   std::min(weight_rows_per_item, F - first), activation_.view());
        });
        prepared_.prepare(activation_.view());
        pool.parallel_for(down_blocks, [&](std::int64_t item) {
            const std::int64_t first = item * weight_rows_per_item;
            down_block<storage>(prepared_, weights_.down, first, std::min(weight_rows_per_item, D - first), y);
        });
    }

    void forward(matrix_view<const float> x, matrix_view<float> y) {
        thread_pool single(1);
        forward(x, y, single);
    }

    const swiglu_weights<storage>& weights() const { return weights_; }

   private:
    swiglu_weights<storage> weights_;
    host_matrix<float> activation_;  // (T, F)   decode
    using packing = packed_activations<storage>;
    small_batch_tokens_of<storage> prepared_;            // decode: x, then the activations, prepared
    std::vector<typename packing::element> packed_x_;    // prefill: x packed, (rows_for(D), np)
    std::vector<typename packing::element> packed_act_;  // prefill: activations packed, (rows_for(F), np)
};

}  // namespace moe::cpu
