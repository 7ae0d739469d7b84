// tests/cuda/cpu_oracle.cpp — the CPU layer the GPU layer is checked against (host compiler, Eigen).
#include "cpu_oracle.hpp"

#include "moe/cpu.hpp"

namespace moe_gpu_test {

template <moe::moe_layer_config C>
cpu_layer_result run_cpu_layer(const moe::moe_layer_weights<C>& weights, moe::router_runtime runtime,
                               const std::vector<float>& x, std::int64_t tokens) {
    moe::cpu::moe_layer<C> layer(weights, runtime);
    cpu_layer_result r;
    r.y.assign(static_cast<std::size_t>(tokens * C.model_width), 0.0f);
    layer.forward({x.data(), tokens, C.model_width}, {r.y.data(), tokens, C.model_width});
    const moe::routing_plan& plan = layer.last_routing();
    r.expert_ids = plan.expert_ids;
    r.weights = plan.weights;
    r.grouped_row = plan.grouped_row;
    r.expert_offset = plan.expert_offset;
    r.tokens_per_expert = plan.tokens_per_expert;
    return r;
}

template cpu_layer_result run_cpu_layer<qwen15_moe_like>(const moe::moe_layer_weights<qwen15_moe_like>&,
                                                         moe::router_runtime, const std::vector<float>&, std::int64_t);
template cpu_layer_result run_cpu_layer<deepseek_v3_like>(const moe::moe_layer_weights<deepseek_v3_like>&,
                                                          moe::router_runtime, const std::vector<float>&, std::int64_t);
template cpu_layer_result run_cpu_layer<experts384_top16>(const moe::moe_layer_weights<experts384_top16>&,
                                                          moe::router_runtime, const std::vector<float>&, std::int64_t);
template cpu_layer_result run_cpu_layer<deepseek_v2_like>(const moe::moe_layer_weights<deepseek_v2_like>&,
                                                          moe::router_runtime, const std::vector<float>&, std::int64_t);
template cpu_layer_result run_cpu_layer<mixtral_fp32>(const moe::moe_layer_weights<mixtral_fp32>&,
                                                      moe::router_runtime, const std::vector<float>&, std::int64_t);

}  // namespace moe_gpu_test
