// tests/link/link_cuda_b.cu — the second translation unit of test_link_cuda (see link_cuda_a.cu).
#include <span>

#include "link_cuda.hpp"

namespace moe_link {

cuda_layer_run run_layer_in_b(const std::vector<float>& x) {
    const auto weights = moe::owned_moe_layer_weights<cuda_layer>::random(cuda_weight_seed);
    moe::cuda::moe_layer<cuda_layer> layer(weights.view(), {.routed_scaling_factor = cuda_scaling});
    // The legacy default stream throughout: ordered with the synchronous uploads of the weights and of x.
    moe::cuda::device_buffer<float> d_x{std::span<const float>(x)}, d_y(x.size());
    layer.forward(d_x.data(), d_y.data(), cuda_tokens, nullptr);
    cuda_layer_run run;
    run.y = d_y.to_host();
    run.routing = layer.last_routing(nullptr);
    return run;
}

int greedy_token_in_b(const std::vector<float>& logits) {
    const int vocab = static_cast<int>(logits.size());
    moe::cuda::device_buffer<float> d_logits{std::span<const float>(logits)};
    moe::cuda::device_buffer<int> token(1);
    const std::size_t bytes = moe::cuda::sampling_workspace_size(vocab);
    moe::cuda::device_buffer<std::byte> workspace(bytes);
    moe::cuda::sample(d_logits.data(), vocab, {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f}, 0.5f, token.data(),
                      workspace.data(), bytes, nullptr);
    return token.to_host()[0];
}

}  // namespace moe_link
