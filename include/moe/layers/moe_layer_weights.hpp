// moe/layers/moe_layer_weights.hpp — the tensors an MoE layer reads, as views, and an owning variant.
//
// Shapes use D = model_width, F = expert_width, E = experts, S = shared width (see moe_layer_config).
// Expert matrices use the Hugging Face nn.Linear layout (out_features, in_features), so checkpoint tensors —
// per-expert keys or the fused (E, 2F, D) gate_up_proj — map onto these views without a copy.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>

#include "moe/config/moe_layer_config.hpp"
#include "moe/config/validate.hpp"
#include "moe/tensor/matrix_view.hpp"
#include "moe/tensor/random_fill.hpp"

namespace moe {

// One SwiGLU feed-forward network: down( silu(gate · x) ⊙ (up · x) ).
template <class Storage>
struct swiglu_weights {
    matrix_view<const Storage> gate;  // (F, D)
    matrix_view<const Storage> up;    // (F, D)
    matrix_view<const Storage> down;  // (D, F)
};

template <moe_layer_config C>
struct moe_layer_weights {
    static_assert(check_moe_layer_config<C>::value);
    using storage = storage_t<C.weights>;

    matrix_view<const float> router;          // (E, D)  always fp32
    matrix_view<const float> selection_bias;  // (1, E)  only when C.router.selection_bias
    std::array<swiglu_weights<storage>, C.experts> experts;
    swiglu_weights<storage> shared;        // (S, D), (S, D), (D, S)  only when C.shared_experts > 0
    // (1, D) only when C.shared_expert_gate: the shared expert's output is scaled by sigmoid(shared_expert_gate · x)
    // (Qwen2-MoE's shared_expert_gate; not shared.gate, the shared expert's gate_proj).
    matrix_view<const float> shared_expert_gate;

    // Throws moe::shape_error naming the first tensor that is missing or mis-shaped.
    void validate(std::string_view owner = "moe_layer") const {
        constexpr std::int64_t D = C.model_width, F = C.expert_width, E = C.experts, S = C.shared_width();
        require_shape(owner, "router", router, E, D);
        if constexpr (C.router.selection_bias) require_shape(owner, "selection_bias", selection_bias, 1, E);
        for (std::int64_t e = 0; e < E; ++e) {
            const std::string prefix = "experts[" + std::to_string(e) + "].";
            require_shape(owner, prefix + "gate", experts[e].gate, F, D);
            require_shape(owner, prefix + "up", experts[e].up, F, D);
            require_shape(owner, prefix + "down", experts[e].down, D, F);
        }
        if constexpr (S > 0) {
            require_shape(owner, "shared.gate", shared.gate, S, D);
            require_shape(owner, "shared.up", shared.up, S, D);
            require_shape(owner, "shared.down", shared.down, D, S);
        }
        if constexpr (C.shared_expert_gate) require_shape(owner, "shared_expert_gate", shared_expert_gate, 1, D);
    }
};

// Owns every tensor of one layer in the layer's storage format; .view() gives the moe_layer_weights to run with.
// Used for random models (tests, benchmarks) and for checkpoints whose dtype must be converted.
template <moe_layer_config C>
struct owned_moe_layer_weights {
    using storage = storage_t<C.weights>;
    static constexpr std::int64_t D = C.model_width, F = C.expert_width, E = C.experts, S = C.shared_width();

    host_matrix<float> router{E, D};
    host_matrix<float> selection_bias{1, C.router.selection_bias ? E : 0};
    host_matrix<storage> gate_up{E * 2 * F, D};  // (E, 2F, D): expert e's gate rows, then its up rows
    host_matrix<storage> down{E * D, F};         // (E, D, F)
    host_matrix<storage> shared_gate_up{2 * S, D};
    host_matrix<storage> shared_down{S > 0 ? D : 0, S};
    host_matrix<float> shared_expert_gate{1, C.shared_expert_gate ? D : 0};

    moe_layer_weights<C> view() const {
        moe_layer_weights<C> w;
        w.router = router.view();
        if constexpr (C.router.selection_bias) w.selection_bias = selection_bias.view();
        for (std::int64_t e = 0; e < E; ++e) {
            w.experts[e].gate = {gate_up.row(e * 2 * F), F, D};
            w.experts[e].up = {gate_up.row(e * 2 * F + F), F, D};
            w.experts[e].down = {down.row(e * D), D, F};
        }
        if constexpr (S > 0) {
            w.shared.gate = {shared_gate_up.row(0), S, D};
            w.shared.up = {shared_gate_up.row(S), S, D};
            w.shared.down = shared_down.view();
        }
        if constexpr (C.shared_expert_gate) w.shared_expert_gate = shared_expert_gate.view();
        return w;
    }

    // Uniform random weights in ±1/sqrt(fan_in) (nn.Linear's default range: fan_in is each matrix's column count),
    // reproducible from `seed`.
    static owned_moe_layer_weights random(std::uint64_t seed) {
        owned_moe_layer_weights w;
        std::mt19937_64 rng(seed);
        fill_linear(w.router, rng);
        if constexpr (C.router.selection_bias) {
            std::uniform_real_distribution<float> bias(-0.1f, 0.1f);
            for (std::int64_t i = 0; i < E; ++i) w.selection_bias.data()[i] = bias(rng);
        }
        fill_linear(w.gate_up, rng);
        fill_linear(w.down, rng);
        if constexpr (S > 0) {
            fill_linear(w.shared_gate_up, rng);
            fill_linear(w.shared_down, rng);
        }
        if constexpr (C.shared_expert_gate) fill_linear(w.shared_expert_gate, rng);
        return w;
    }
};

}  // namespace moe
