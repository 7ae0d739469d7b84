// moe/cpu/moe_layer.hpp — an MoE layer on the CPU (Eigen), specialised on its moe_layer_config.
//
// forward() reads top to bottom like the reference implementations:
//   router logits → route each token → group (token, slot) pairs by expert → one GEMM pair per expert
//   → combine with the routing weights (+ the shared expert, optionally gated).
// T = tokens, D = model_width, F = expert_width, E = experts, K = top_k, S = shared width.
//
// Determinism: work is split into items fixed by the shapes alone, each writing its own output rows/columns,
// and the combine sums a token's experts in slot order, so the output is bit-identical for any thread count.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moe/config/validate.hpp"
#include "moe/cpu/eigen_maps.hpp"
#include "moe/cpu/swiglu_runner.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/layers/moe_layer_weights.hpp"
#include "moe/routing/activations.hpp"
#include "moe/routing/route_token.hpp"
#include "moe/routing/routing_plan.hpp"

namespace moe::cpu {

template <moe_layer_config Config>
class moe_layer {
    static_assert(check_moe_layer_config<Config>::value);

   public:
    static constexpr moe_layer_config config = Config;
    using storage = storage_t<Config.weights>;
    static constexpr std::int64_t D = Config.model_width, F = Config.expert_width, E = Config.experts,
                                  K = Config.top_k, S = Config.shared_width();

    // Throws moe::shape_error naming the first missing or mis-shaped tensor.
    explicit moe_layer(moe_layer_weights<Config> weights, router_runtime runtime = {})
        : weights_(weights), runtime_(runtime) {
        weights_.validate("moe_layer");
    }

    // x: (T, D) input tokens; y: (T, D) output. x and y must not overlap. T may be 0.
    void forward(matrix_view<const float> x, matrix_view<float> y, thread_pool& pool) {
        require_shape("moe_layer::forward", "x", x, x.rows, D);
        require_shape("moe_layer::forward", "y", y, x.rows, D);
        const std::int64_t T = x.rows;
        plan_.resize(T, static_cast<int>(K), static_cast<int>(E));
        if (T == 0) return;

        route(x);
        plan_.group_by_expert();
        run_experts(x, pool);
        if constexpr (S > 0) run_shared_expert(x, pool);
        combine(x, y, pool);
    }

    void forward(matrix_view<const float> x, matrix_view<float> y) {
        thread_pool single(1);
        forward(x, y, single);
    }

    // How many tokens each expert received in the last forward(): (E).
    std::span<const std::int32_t> tokens_per_expert() const { return plan_.tokens_per_expert; }
    // The full routing of the last forward(): expert ids and weights per token, and the grouping.
    const routing_plan& last_routing() const { return plan_; }
    const moe_layer_weights<Config>& weights() const { return weights_; }
    const router_runtime& runtime() const { return runtime_; }

   private:
    void route(matrix_view<const float> x) {
        const std::int64_t T = x.rows;
        logits_.resize(T, E);
        eigen_map(logits_.view()).noalias() = eigen_map(x) * eigen_map(weights_.router).transpose();  // (T, E)
        const float* bias = Config.router.selection_bias ? weights_.selection_bias.data : nullptr;
        for (std::int64_t t = 0; t < T; ++t) {
            route_token<Config.router, Config.experts, Config.top_k>(logits_.row(t), bias, runtime_.routed_scaling_factor,
                                                                     &plan_.expert_ids[t * K], &plan_.weights[t * K]);
        }
    }

    // Gathers each expert's tokens, then runs every active expert's SwiGLU (swiglu_runner) with one parallel_for
    // per phase over the (expert, row block) items of all of them, so experts run side by side. An expert with more
    // than small_batch_tokens tokens runs the GEMM tiles over its tokens packed once; one with fewer runs the
    // dot-product tiles (bound by reading its weights).
    void run_experts(matrix_view<const float> x, thread_pool& pool) {
        const std::int64_t rows = plan_.tokens * K;
        grouped_x_.resize(rows, D);
        for (std::int64_t r = 0; r < rows; ++r) {
            const float* source = x.row(plan_.token_of_row[r]);
            std::copy(source, source + D, grouped_x_.row(r));
        }
        grouped_y_.resize(rows, D);  // (T·K, D)

        active_experts_.clear();
        for (std::int32_t e = 0; e < E; ++e)
            if (plan_.tokens_per_expert[e] > 0) active_experts_.push_back(e);
        const std::int64_t active = static_cast<std::int64_t>(active_experts_.size());
        constexpr std::int64_t gate_up_blocks = swiglu_runner<storage>::gate_up_item_count(F);
        constexpr std::int64_t down_blocks = swiglu_runner<storage>::down_item_count(D);
        auto runner = [&](std::int64_t item) -> swiglu_runner<storage>& { return experts_[active_experts_[item]]; };

        pool.parallel_for(active, [&](std::int64_t item) {
            const std::int32_t e = active_experts_[item];
            experts_[e].start(expert_rows(grouped_x_, e), weights_.experts[e], expert_rows(grouped_y_, e));
        });
        pool.parallel_for(active * gate_up_blocks, [&](std::int64_t item) {
            runner(item / gate_up_blocks).gate_up_item(item % gate_up_blocks);
        });
        pool.parallel_for(active, [&](std::int64_t item) { runner(item).finish_gate_up(); });
        pool.parallel_for(active * down_blocks, [&](std::int64_t item) {
            runner(item / down_blocks).down_item(item % down_blocks);
        });
    }

    // The shared FFN over all tokens, same kernels, no gather.
    void run_shared_expert(matrix_view<const float> x, thread_pool& pool) {
        shared_y_.resize(x.rows, D);  // (T, D)
        shared_.run(x, weights_.shared, shared_y_.view(), pool);
    }

    // y[t] = Σ_j w[t, j] · expert_out[t, j]  (slot order)  + gate(x[t]) · shared_out[t]
    void combine(matrix_view<const float> x, matrix_view<float> y, thread_pool& pool) {
        constexpr std::int64_t tokens_per_item = 16;
        const std::int64_t T = x.rows;
        pool.parallel_for((T + tokens_per_item - 1) / tokens_per_item, [&](std::int64_t item) {
            const std::int64_t end = std::min(T, (item + 1) * tokens_per_item);
            for (std::int64_t t = item * tokens_per_item; t < end; ++t) {
                float* out = y.row(t);
                std::fill(out, out + D, 0.0f);
                for (std::int64_t j = 0; j < K; ++j) {
                    const float w = plan_.weights[t * K + j];
                    const float* expert_out = grouped_y_.row(plan_.grouped_row[t * K + j]);
                    for (std::int64_t d = 0; d < D; ++d) out[d] += w * expert_out[d];
                }
                if constexpr (S > 0) {
                    float gate = 1.0f;
                    if constexpr (Config.shared_expert_gate) {
                        float dot = 0.0f;
                        for (std::int64_t d = 0; d < D; ++d) dot += weights_.shared_expert_gate.data[d] * x(t, d);
                        gate = moe::sigmoid(dot);  // the same formula as the CUDA combine
                    }
                    const float* shared_out = shared_y_.row(t);
                    for (std::int64_t d = 0; d < D; ++d) out[d] += gate * shared_out[d];
                }
            }
        });
    }

    // Rows of a grouped (T·K, ·) matrix that belong to expert e.
    matrix_view<float> expert_rows(host_matrix<float>& grouped, std::int32_t e) {
        const std::int64_t first = plan_.expert_offset[e];
        return {grouped.row(first), plan_.expert_offset[e + 1] - first, grouped.cols()};
    }

    moe_layer_weights<Config> weights_;
    router_runtime runtime_;
    routing_plan plan_;
    std::vector<std::int32_t> active_experts_;
    host_matrix<float> logits_;              // (T, E)
    host_matrix<float> grouped_x_;           // (T·K, D)
    host_matrix<float> grouped_y_;           // (T·K, D)
    host_matrix<float> shared_y_;            // (T, D)
    std::array<swiglu_runner<storage>, E> experts_;  // expert e's FFN over its grouped tokens
    swiglu_runner<storage> shared_;                  // the shared FFN over all tokens
};

}  // namespace moe::cpu
