// tests/link/link_cpu_b.cpp — the second translation unit of test_link_cpu (see link_cpu_a.cpp).
#include <span>

#include "link_cpu.hpp"

namespace moe_link {

layer_run run_layer_in_b(const std::vector<float>& x, int threads) {
    const auto weights = moe::owned_moe_layer_weights<layer>::random(weight_seed);
    moe::cpu::moe_layer<layer> cpu_layer(weights.view());
    moe::thread_pool pool(threads);
    layer_run run;
    run.y.assign(x.size(), 0.0f);
    cpu_layer.forward({x.data(), tokens, layer.model_width}, {run.y.data(), tokens, layer.model_width}, pool);
    run.routing = cpu_layer.last_routing();
    moe::decoding::rng random(1);
    run.greedy_token = moe::decoding::sample(std::span<const float>(run.y.data(), layer.model_width), {},
                                             moe::decoding::sampler_config::greedy(), random);
    return run;
}

}  // namespace moe_link
