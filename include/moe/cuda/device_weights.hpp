// moe/cuda/device_weights.hpp — an MoE layer's weights copied to the device from host views.
//
// Bytes are uploaded as they are (bf16 / fp16 are bit-compatible with __nv_bfloat16 / __half). Each expert's
// matrices, wherever they live on the host (per-expert checkpoint tensors or a fused (E, 2F, D) tensor), are packed
// into one array per kind so a grouped GEMM finds expert e at e · rows · cols:
//   router (E, D) fp32 · selection_bias (E) · gate (E, F, D) · up (E, F, D) · down (E, D, F)
//   shared_gate_proj (S, D) · shared_up (S, D) · shared_down (D, S) · shared_expert_gate (D) fp32
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "moe/config/validate.hpp"
#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/cuda/memory.hpp"
#include "moe/layers/moe_layer_weights.hpp"

namespace moe::cuda {

template <moe_layer_config C>
struct device_moe_layer_weights {
    using storage = storage_t<C.weights>;
    using value_type = device_t<storage>;
    static constexpr std::int64_t D = C.model_width, F = C.expert_width, E = C.experts, S = C.shared_width();

    device_buffer<float> router;          // (E, D)
    device_buffer<float> selection_bias;  // (E) or empty
    device_buffer<value_type> gate;       // (E, F, D)
    device_buffer<value_type> up;         // (E, F, D)
    device_buffer<value_type> down;       // (E, D, F)
    device_buffer<value_type> shared_gate_proj;  // (S, D) or empty
    device_buffer<value_type> shared_up;         // (S, D) or empty
    device_buffer<value_type> shared_down;       // (D, S) or empty
    device_buffer<float> shared_expert_gate;     // (D) or empty

    device_moe_layer_weights() = default;

    // Validates the views (moe::shape_error names a wrong tensor), then copies; returns when the copies are done.
    explicit device_moe_layer_weights(const moe_layer_weights<C>& w)
        : router(E * D), gate(E * F * D), up(E * F * D), down(E * D * F) {
        w.validate("moe::cuda::device_moe_layer_weights");
        copy(router.data(), w.router);
        if constexpr (C.router.selection_bias) {
            selection_bias = device_buffer<float>(E);
            copy(selection_bias.data(), w.selection_bias);
        }
        for (std::int64_t e = 0; e < E; ++e) {
            copy(gate.data() + e * F * D, w.experts[e].gate);
            copy(up.data() + e * F * D, w.experts[e].up);
            copy(down.data() + e * D * F, w.experts[e].down);
        }
        if constexpr (S > 0) {
            shared_gate_proj = device_buffer<value_type>(S * D);
            shared_up = device_buffer<value_type>(S * D);
            shared_down = device_buffer<value_type>(D * S);
            copy(shared_gate_proj.data(), w.shared.gate);
            copy(shared_up.data(), w.shared.up);
            copy(shared_down.data(), w.shared.down);
        }
        if constexpr (C.shared_expert_gate) {
            shared_expert_gate = device_buffer<float>(D);
            copy(shared_expert_gate.data(), w.shared_expert_gate);
        }
    }

   private:
    template <class Device, class Host>
    static void copy(Device* target, matrix_view<const Host> source) {
        static_assert(sizeof(Device) == sizeof(Host), "weights are uploaded byte for byte");
        MOE_CUDA_CHECK(cudaMemcpy(target, source.data, static_cast<std::size_t>(source.size()) * sizeof(Host),
                                  cudaMemcpyHostToDevice));
    }
};

}  // namespace moe::cuda
