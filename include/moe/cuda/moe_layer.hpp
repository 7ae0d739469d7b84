// moe/cuda/moe_layer.hpp — an MoE layer on one CUDA device, specialised on its moe_layer_config like
// moe::cpu::moe_layer<C> (same configuration value, same weight views; tested against it).
//
//   moe::cuda::moe_layer<C> layer(weights.view(), runtime);          // uploads the weights
//   std::size_t bytes = layer.get_workspace_size(tokens);            // phase 1
//   layer.forward(x, y, tokens, workspace, bytes, stream);           // phase 2: no allocation, no host sync
//   layer.forward(x, y, tokens, stream);                             // convenience: grows an owned workspace
//
// forward() enqueues, in order on `stream` (T tokens, P = T·K pairs, D, F, E, K, S as in moe::cpu::moe_layer):
//   1 router logits     (T, E)   fp32 SIMT GEMM  x · W_routerᵀ
//   2 route_tokens      (T, K)   ids + weights, the route_token semantics (router.hpp)
//   3 group_by_expert   (P)      CUB stable radix sort by expert, expert_offset, tile schedule (permute.hpp)
//   4 gather            (P, D)   tokens in expert order, converted to the weight type
//   5 gate/up + SwiGLU  (P, F)   grouped GEMM, one launch over all experts (tensor cores for bf16 / fp16)
//   6 down              (P, D)   grouped GEMM, fp32 out
//   7 shared expert     (T, D)   the same two GEMMs as one dense group (when S > 0)
//   8 combine           (T, D)   one block per token, slots in order, + (gated) shared expert — no atomics
// x and y are device pointers to (T, D) fp32, 16-byte aligned, not overlapping. Routing arrays carry
// moe::routing_plan's names (expert_offset, grouped_row; permute.hpp lists the mapping).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "moe/config/validate.hpp"
#include "moe/cuda/device_weights.hpp"
#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/combine.hpp"
#include "moe/cuda/kernels/grouped_gemm.hpp"
#include "moe/cuda/kernels/permute.hpp"
#include "moe/cuda/kernels/router.hpp"
#include "moe/cuda/memory.hpp"
#include "moe/cuda/workspace.hpp"
#include "moe/layers/moe_layer_weights.hpp"

namespace moe::cuda {

// What one forward() leaves in its workspace, for inspection (tests) until the workspace is reused.
struct moe_routing_result {
    std::vector<float> logits;               // (T, E)
    std::vector<std::int32_t> expert_ids;    // (T, K)
    std::vector<float> weights;              // (T, K)
    std::vector<std::int32_t> grouped_row;    // (T, K) grouped row of each (token, slot), as routing_plan::grouped_row
    std::vector<std::int32_t> expert_offset;  // (E + 1) first grouped row of each expert, as routing_plan::expert_offset
};

template <moe_layer_config Config>
class moe_layer {
    static_assert(check_moe_layer_config<Config>::value);

   public:
    static constexpr moe_layer_config config = Config;
    // The format's traits say which backends run it (moe/precision/formats/); today fp32, bf16 and fp16.
    static_assert(weight_format_traits<Config.weights>::cuda,
                  "moe::cuda::moe_layer: this weight_format has no CUDA kernels (bf16_compute and q8_0 are CPU-only "
                  "for now; see weight_format_traits<F>::cuda) — use weight_format::bf16 on CUDA");
    using storage = storage_t<Config.weights>;
    using value_type = device_t<storage>;  // float, __nv_bfloat16 or __half
    static constexpr int D = Config.model_width, F = Config.expert_width, E = Config.experts, K = Config.top_k,
                         S = Config.shared_width();
    // 16-byte vector loads of weight rows need the reduction widths to be multiples of 8 (16-bit) or 4 (fp32).
    static constexpr int width_multiple = sizeof(value_type) == 2 ? 8 : 4;
    static_assert(D % width_multiple == 0 && F % width_multiple == 0 && S % width_multiple == 0,
                  "moe::cuda::moe_layer: model_width, expert_width and the shared width must be multiples of 8 for "
                  "bf16/fp16 weights (4 for fp32): the kernels load weight rows as 16-byte vectors. Pad the "
                  "weights or use moe::cpu::moe_layer.");
    static_assert(E <= 4096, "moe::cuda::moe_layer: at most 4096 experts (the router keeps a token's scores in "
                             "shared memory; kernels/router.hpp)");

    // Uploads the weights (synchronously). Throws moe::shape_error for a missing or mis-shaped tensor.
    explicit moe_layer(const moe_layer_weights<Config>& weights, router_runtime runtime = {})
        : weights_(weights), runtime_(runtime), tokens_per_expert_(E) {}

    // Phase 1: bytes of device workspace forward() needs for `tokens` tokens.
    static std::size_t get_workspace_size(std::int64_t tokens) {
        workspace_layout layout;
        carve(layout, tokens);
        return layout.bytes();
    }

    // Empty when forward(x, y, tokens, workspace, bytes) can run; otherwise why not (what the call would throw).
    static std::string can_implement(const float* x, const float* y, std::int64_t tokens, const void* workspace,
                                     std::size_t workspace_bytes) {
        if (tokens < 0) return "tokens must be ≥ 0";
        if (tokens * K > std::numeric_limits<int>::max() / 2) return "too many tokens: T·K must stay below 2^30";
        if (max_m_tiles(tokens * K, E) > 65535) return "too many tokens for one launch (grid.y > 65535)";
        if (tokens == 0) return {};
        if (x == nullptr || y == nullptr) return "x and y must be device pointers to (T, D) fp32";
        if (reinterpret_cast<std::uintptr_t>(x) % 16 || reinterpret_cast<std::uintptr_t>(y) % 16)
            return "x and y must be 16-byte aligned";
        if (reinterpret_cast<std::uintptr_t>(workspace) % workspace_alignment)
            return "workspace must be " + std::to_string(workspace_alignment) + "-byte aligned (cudaMalloc is)";
        const std::size_t need = get_workspace_size(tokens);
        if (workspace_bytes < need)
            return "workspace too small: " + std::to_string(workspace_bytes) + " bytes given, " + std::to_string(need) +
                   " needed for " + std::to_string(tokens) + " tokens (get_workspace_size)";
        if (x < y + tokens * D && y < x + tokens * D) return "x and y overlap";
        return {};
    }

    // Phase 2: y = MoE(x). Enqueues on `stream`; never allocates or synchronises. Throws launch_error (before any
    // launch) when can_implement says no.
    void forward(const float* x, float* y, std::int64_t tokens, void* workspace, std::size_t workspace_bytes,
                 cudaStream_t stream) {
        if (const std::string why = can_implement(x, y, tokens, workspace, workspace_bytes); !why.empty()) {
            throw launch_error("moe::cuda::moe_layer::forward: " + why);
        }
        last_workspace_ = workspace;
        last_tokens_ = tokens;
        if (tokens == 0) return;
        workspace_layout layout(workspace, workspace_bytes);
        const buffers b = carve(layout, tokens);
        const int T = static_cast<int>(tokens), P = T * K;
        const device_moe_layer_weights<Config>& w = weights_;

        // 1–2. Router.
        const grouped_rows dense_tokens{.rows = T};
        grouped_gemm<gemm_epilogue::plain, float>(x, w.router.data(), nullptr, dense_tokens, E, D, nullptr, b.logits,
                                                  stream);
        route_tokens<Config.router, E, K>(b.logits, w.selection_bias.data(), runtime_.routed_scaling_factor, T,
                                          b.expert_ids, b.weights, stream);
        // 3. Group pairs by expert.
        group_by_expert(b.expert_ids, P, E, b.perm, stream);
        MOE_CUDA_CHECK(cudaMemcpyAsync(tokens_per_expert_.data(), b.perm.tokens_per_expert, sizeof(int) * E,
                                       cudaMemcpyDeviceToDevice, stream));
        // 4. Gather tokens into expert order.
        kernels::gather_rows<value_type><<<P, 256, 0, stream>>>(x, b.perm.pair_of_row, K, D, b.grouped_x, b.grouped_row);
        MOE_CUDA_CHECK_LAUNCH();
        // 5–6. Experts.
        const grouped_rows by_expert{.offsets = b.perm.expert_offset, .tile_offsets = b.perm.tile_offsets, .groups = E,
                                     .rows = P, .max_tiles = max_m_tiles(P, E)};
        grouped_gemm<gemm_epilogue::swiglu, value_type>(b.grouped_x, w.gate.data(), w.up.data(), by_expert, F, D,
                                                        b.activation, nullptr, stream);
        grouped_gemm<gemm_epilogue::plain, value_type>(b.activation, w.down.data(), nullptr, by_expert, D, F, nullptr,
                                                       b.expert_y, stream);
        // 7. Shared expert: one dense group over all tokens.
        if constexpr (S > 0) {
            const value_type* shared_x = reinterpret_cast<const value_type*>(x);
            if constexpr (!std::is_same_v<value_type, float>) {
                kernels::convert<value_type><<<blocks_for(std::int64_t{T} * D, 256), 256, 0, stream>>>(
                    x, std::int64_t{T} * D, b.shared_x);
                MOE_CUDA_CHECK_LAUNCH();
                shared_x = b.shared_x;
            }
            grouped_gemm<gemm_epilogue::swiglu, value_type>(shared_x, w.shared_gate_proj.data(), w.shared_up.data(),
                                                            dense_tokens, S, D, b.shared_activation, nullptr, stream);
            grouped_gemm<gemm_epilogue::plain, value_type>(b.shared_activation, w.shared_down.data(), nullptr,
                                                           dense_tokens, D, S, nullptr, b.shared_y, stream);
        }
        // 8. Combine.
        const float* shared_expert_gate = Config.shared_expert_gate ? w.shared_expert_gate.data() : nullptr;
        kernels::combine<><<<T, combine_threads, 0, stream>>>(x, b.weights, b.grouped_row, b.expert_y, b.shared_y,
                                                              shared_expert_gate, K, D, y);
        MOE_CUDA_CHECK_LAUNCH();
    }

    // Convenience: allocates (grows) a workspace owned by the layer, then runs forward().
    void forward(const float* x, float* y, std::int64_t tokens, cudaStream_t stream = nullptr) {
        const std::size_t need = get_workspace_size(tokens);
        if (owned_workspace_.size() < need) {
            if (!owned_workspace_.empty()) MOE_CUDA_CHECK(cudaStreamSynchronize(stream));  // the old one may be in use
            owned_workspace_ = device_buffer<std::byte>(need);
        }
        forward(x, y, tokens, owned_workspace_.data(), owned_workspace_.size(), stream);
    }

    // Tokens each expert received in the last forward(): (E). Waits for `stream`.
    std::vector<std::int32_t> tokens_per_expert(cudaStream_t stream = nullptr) const {
        std::vector<std::int32_t> host(E);
        tokens_per_expert_.download(host.data(), E, stream);
        MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
        if (last_tokens_ == 0) host.assign(E, 0);
        return host;
    }

    // The routing of the last forward(), read back from its workspace (valid until that workspace is reused).
    moe_routing_result last_routing(cudaStream_t stream = nullptr) const {
        moe_routing_result r;
        if (last_tokens_ == 0) return r;
        const std::size_t bytes = get_workspace_size(last_tokens_);
        workspace_layout layout(last_workspace_, bytes);
        const buffers b = carve(layout, last_tokens_);
        const std::size_t pairs = static_cast<std::size_t>(last_tokens_) * K;
        r.logits.resize(static_cast<std::size_t>(last_tokens_) * E);
        r.expert_ids.resize(pairs);
        r.weights.resize(pairs);
        r.grouped_row.resize(pairs);
        r.expert_offset.resize(E + 1);
        MOE_CUDA_CHECK(cudaMemcpyAsync(r.logits.data(), b.logits, r.logits.size() * 4, cudaMemcpyDeviceToHost, stream));
        MOE_CUDA_CHECK(cudaMemcpyAsync(r.expert_ids.data(), b.expert_ids, pairs * 4, cudaMemcpyDeviceToHost, stream));
        MOE_CUDA_CHECK(cudaMemcpyAsync(r.weights.data(), b.weights, pairs * 4, cudaMemcpyDeviceToHost, stream));
        MOE_CUDA_CHECK(cudaMemcpyAsync(r.grouped_row.data(), b.grouped_row, pairs * 4, cudaMemcpyDeviceToHost, stream));
        MOE_CUDA_CHECK(
            cudaMemcpyAsync(r.expert_offset.data(), b.perm.expert_offset, (E + 1) * 4, cudaMemcpyDeviceToHost, stream));
        MOE_CUDA_CHECK(cudaStreamSynchronize(stream));
        return r;
    }

    const device_moe_layer_weights<Config>& device_weights() const { return weights_; }
    const router_runtime& runtime() const { return runtime_; }

   private:
    struct buffers {
        float* logits;          // (T, E)
        int* expert_ids;        // (T, K)
        float* weights;         // (T, K)
        int* grouped_row;       // (T, K)
        permutation perm;       // (P), (E + 1), sort storage
        value_type* grouped_x;  // (P, D)
        value_type* activation; // (P, F)
        float* expert_y;        // (P, D)
        value_type* shared_x;           // (T, D) 16-bit weights only
        value_type* shared_activation;  // (T, S)
        float* shared_y;                // (T, D) or null
    };

    // The one place the workspace layout is written down; used for sizing and for carving.
    static buffers carve(workspace_layout& layout, std::int64_t tokens) {
        const std::size_t T = static_cast<std::size_t>(tokens), P = T * K;
        buffers b{};
        b.logits = layout.take<float>(T * E);
        b.expert_ids = layout.take<int>(P);
        b.weights = layout.take<float>(P);
        b.grouped_row = layout.take<int>(P);
        b.perm.pair_index = layout.take<int>(P);
        b.perm.sorted_experts = layout.take<int>(P);
        b.perm.pair_of_row = layout.take<int>(P);
        b.perm.expert_offset = layout.take<int>(E + 1);
        b.perm.tokens_per_expert = layout.take<int>(E);
        b.perm.tile_offsets = layout.take<int>(E + 1);
        b.perm.sort_storage_bytes = tokens > 0 ? permutation_sort_bytes(static_cast<int>(P), E) : 0;
        b.perm.sort_storage = layout.take_bytes(b.perm.sort_storage_bytes);
        b.grouped_x = layout.take<value_type>(P * D);
        b.activation = layout.take<value_type>(P * F);
        b.expert_y = layout.take<float>(P * D);
        b.shared_x = nullptr;
        b.shared_activation = nullptr;
        b.shared_y = nullptr;
        if constexpr (S > 0) {
            if constexpr (!std::is_same_v<value_type, float>) b.shared_x = layout.take<value_type>(T * D);
            b.shared_activation = layout.take<value_type>(T * S);
            b.shared_y = layout.take<float>(T * D);
        }
        return b;
    }

    device_moe_layer_weights<Config> weights_;
    router_runtime runtime_;
    device_buffer<std::int32_t> tokens_per_expert_;  // (E) copied at the end of each forward's grouping
    device_buffer<std::byte> owned_workspace_;
    void* last_workspace_ = nullptr;
    std::int64_t last_tokens_ = 0;
};

}  // namespace moe::cuda
