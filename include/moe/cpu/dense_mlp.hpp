// moe/cpu/dense_mlp.hpp — a dense SwiGLU MLP on the CPU: down( silu(gate · x) ⊙ (up · x) ).
//
// DeepSeek's first `first_k_dense_replace` layers (DeepseekV3MLP with intermediate_size) and any other dense FFN.
// Runs the same SwiGLU runner as the MoE layer's experts (swiglu_runner.hpp), so it is deterministic for any
// thread count.
//
//   using deepseek_v3_dense = moe::cpu::dense_mlp<moe::dense_mlp_config{
//       .model_width = 7168, .width = 18432, .weights = moe::weight_format::bf16}>;
#pragma once

#include <cstdint>

#include "moe/config/dense_mlp_config.hpp"
#include "moe/config/precision.hpp"
#include "moe/cpu/swiglu_runner.hpp"
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
        runner_.run(x, weights_, y, pool);
    }

    void forward(matrix_view<const float> x, matrix_view<float> y) {
        thread_pool single(1);
        forward(x, y, single);
    }

    const swiglu_weights<storage>& weights() const { return weights_; }

   private:
    swiglu_weights<storage> weights_;
    swiglu_runner<storage> runner_;  // its packed / prepared tokens and activations, kept between calls
};

}  // namespace moe::cpu
