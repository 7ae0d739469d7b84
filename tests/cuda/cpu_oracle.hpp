// tests/cuda/cpu_oracle.hpp — moe::cpu::moe_layer run on the host, behind a plain interface so the GPU tests
// (compiled by nvcc) never include Eigen. Defined in cpu_oracle.cpp for the configurations of test_configs.hpp.
#pragma once

#include <cstdint>
#include <vector>

#include "test_configs.hpp"

namespace moe_gpu_test {

struct cpu_layer_result {
    std::vector<float> y;                          // (T, D)
    std::vector<std::int32_t> expert_ids;          // (T, K)
    std::vector<float> weights;                    // (T, K)
    std::vector<std::int64_t> grouped_row;         // (T, K)
    std::vector<std::int64_t> expert_offset;       // (E + 1)
    std::vector<std::int32_t> tokens_per_expert;   // (E)
};

// x: (T, D). Runs moe::cpu::moe_layer<C> with `weights` (a view into host memory).
template <moe::moe_layer_config C>
cpu_layer_result run_cpu_layer(const moe::moe_layer_weights<C>& weights, moe::router_runtime runtime,
                               const std::vector<float>& x, std::int64_t tokens);

}  // namespace moe_gpu_test
