// tests/link/link_cuda_a.cu — test_link_cuda: moe/cuda.hpp in two translation units of one program (this file and
// link_cuda_b.cu), each instantiating kernels: both the layer (router, grouping, grouped GEMM, gather, combine),
// unit a also route_tokens, rms_norm and causal_attention directly, unit b also sampling. A kernel or function in a
// header that is neither a template nor inline is then defined in both units and the link fails: building this test
// (whole-program, and again with relocatable device code, where device symbols are linked too) is the main check.
// On a GPU it also checks that the units agree:
//   1. the layer run in unit a and in unit b gives bit-identical outputs (deterministic kernels, one instantiation);
//   2. route_tokens launched here on unit b's logits gives unit b's expert ids and weights, bit for bit;
//   3. unit b's greedy sample over unit a's first output row is its first arg-max;
//   4. rms_norm matches the host formula (|Δ| ≤ 1e-6 · (|y| + 1)), attention over one key returns its value exactly.
// Without a device it prints "SKIPPED: no CUDA device (...)" and exits 77 (ctest: skipped).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <string>

#include "link_cuda.hpp"

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
    if (!ok) {
        ++failures;
        std::printf("FAILED: %s\n", what.c_str());
    }
}

using moe_link::cuda_layer;
constexpr int D = cuda_layer.model_width, E = cuda_layer.experts, K = cuda_layer.top_k;
constexpr std::int64_t T = moe_link::cuda_tokens;

void run_checks() {
    std::vector<float> x(static_cast<std::size_t>(T * D));
    std::mt19937_64 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);

    // 1. The same layer in both units.
    const auto weights = moe::owned_moe_layer_weights<cuda_layer>::random(moe_link::cuda_weight_seed);
    moe::cuda::moe_layer<cuda_layer> layer(weights.view(), {.routed_scaling_factor = moe_link::cuda_scaling});
    moe::cuda::device_buffer<float> d_x{std::span<const float>(x)}, d_y(x.size());
    layer.forward(d_x.data(), d_y.data(), T, nullptr);
    const std::vector<float> y = d_y.to_host();
    const moe_link::cuda_layer_run b = moe_link::run_layer_in_b(x);
    check(std::memcmp(y.data(), b.y.data(), y.size() * sizeof(float)) == 0, "layer outputs of unit a and b differ");

    // 2. The router kernel instantiated here, on unit b's logits.
    moe::cuda::device_buffer<float> d_logits{std::span<const float>(b.routing.logits)};
    moe::cuda::device_buffer<float> d_bias{std::span<const float>(weights.selection_bias.data(), E)};
    moe::cuda::device_buffer<int> d_ids(static_cast<std::size_t>(T * K));
    moe::cuda::device_buffer<float> d_w(static_cast<std::size_t>(T * K));
    moe::cuda::route_tokens<cuda_layer.router, E, K>(d_logits.data(), d_bias.data(), moe_link::cuda_scaling,
                                                     static_cast<int>(T), d_ids.data(), d_w.data(), nullptr);
    const std::vector<int> ids = d_ids.to_host();
    const std::vector<float> w = d_w.to_host();
    check(ids == b.routing.expert_ids, "route_tokens in unit a disagrees with the layer in unit b (ids)");
    check(std::memcmp(w.data(), b.routing.weights.data(), w.size() * sizeof(float)) == 0,
          "route_tokens in unit a disagrees with the layer in unit b (weights)");

    // 3. Sampling in unit b.
    const std::vector<float> row(y.begin(), y.begin() + D);
    const int argmax = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
    check(moe_link::greedy_token_in_b(row) == argmax, "greedy sample in unit b is not the first arg-max");

    // 4. rms_norm and attention here.
    std::vector<float> weight(D, 1.5f), expected(y.size());
    moe::cuda::device_buffer<float> d_weight{std::span<const float>(weight)}, d_norm(y.size());
    moe::cuda::rms_norm(d_y.data(), d_weight.data(), T, D, 1e-6f, d_norm.data(), nullptr);
    const std::vector<float> norm = d_norm.to_host();
    int bad = 0;
    for (std::int64_t t = 0; t < T; ++t) {
        double squares = 0;
        for (int d = 0; d < D; ++d) squares += double(y[t * D + d]) * y[t * D + d];
        const double inverse = 1.0 / std::sqrt(squares / D + 1e-6);
        for (int d = 0; d < D; ++d) {
            const double want = 1.5 * y[t * D + d] * inverse;
            bad += !(std::fabs(norm[t * D + d] - want) <= 1e-6 * (std::fabs(want) + 1.0));
        }
    }
    check(bad == 0, std::to_string(bad) + " rms_norm elements differ from the host formula");
    const moe::cuda::attention_shape shape{.heads = 1, .kv_heads = 1, .key_dim = D, .value_dim = D};
    moe::cuda::device_buffer<float> d_out(D);
    moe::cuda::causal_attention(d_x.data(), d_x.data(), D, d_y.data(), D, shape, 1, 1, 0.125f, d_out.data(), nullptr);
    check(d_out.to_host() == row, "attention over one key does not return that key's value");
}

}  // namespace

int main() {
    const char* why = "";
    if (moe::cuda::device_count(&why) == 0) {
        std::printf("SKIPPED: no CUDA device (%s)\n", why);
        return 77;
    }
    try {
        run_checks();
    } catch (const std::exception& e) {
        check(false, std::string("exception: ") + e.what());
    }
    std::printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures == 0 ? 0 : 1;
}
