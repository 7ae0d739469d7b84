// The program every consumer project builds (find_package, add_subdirectory, FetchContent; the project defines
// MOE_CONSUMER_WAY): it builds a small MoE layer type, gives it random weights, runs a few tokens and checks each
// output row against a direct evaluation of the formula.
// Exit code 0 means moe::cpu is usable from this kind of consumer.
#include <moe/cpu.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

using layer_type = moe::cpu::moe_layer<moe::moe_layer_config{.model_width = 16, .expert_width = 32, .experts = 5, .top_k = 2}>;

int main() {
    constexpr auto config = layer_type::config;
    constexpr int D = config.model_width, F = config.expert_width, K = config.top_k, T = 3;
    static_assert(config.total_parameters() == 5 * 16 + 5 * 3 * 16 * 32);
#ifdef MOE_EXPECTED_VERSION
    static_assert(MOE_VERSION_MAJOR * 10000 + MOE_VERSION_MINOR * 100 + MOE_VERSION_PATCH == MOE_EXPECTED_VERSION,
                  "moe/version.hpp disagrees with the version find_package(moe) reported");
#endif

    const auto weights = moe::owned_moe_layer_weights<config>::random(42);
    layer_type layer(weights.view());

    moe::host_matrix<float> x(T, D), y(T, D);
    for (int t = 0; t < T; ++t)
        for (int d = 0; d < D; ++d) x(t, d) = std::sin(0.3f * float(t * D + d));
    layer.forward(x.view(), y.view());

    // y[t] = sum_j w[t, j] * down_e( silu(gate_e x[t]) * up_e x[t] ),  e = expert_ids[t, j]
    const moe::moe_layer_weights<config> w = weights.view();
    const moe::routing_plan& plan = layer.last_routing();
    int failures = 0;
    for (int t = 0; t < T; ++t) {
        std::vector<double> expected(D, 0.0);
        for (int j = 0; j < K; ++j) {
            const auto& expert = w.experts[plan.expert_ids[t * K + j]];
            std::vector<double> hidden(F);
            for (int f = 0; f < F; ++f) {
                double g = 0, u = 0;
                for (int d = 0; d < D; ++d) {
                    g += double(expert.gate(f, d)) * x(t, d);
                    u += double(expert.up(f, d)) * x(t, d);
                }
                hidden[f] = g / (1.0 + std::exp(-g)) * u;
            }
            for (int d = 0; d < D; ++d) {
                double out = 0;
                for (int f = 0; f < F; ++f) out += double(expert.down(d, f)) * hidden[f];
                expected[d] += plan.weights[t * K + j] * out;
            }
        }
        for (int d = 0; d < D; ++d) {
            if (!(std::abs(y(t, d) - expected[d]) <= 1e-5 + 1e-4 * std::abs(expected[d]))) {
                std::fprintf(stderr, "y(%d, %d) = %g, expected %g\n", t, d, double(y(t, d)), expected[d]);
                ++failures;
            }
        }
        float weight_sum = 0;
        for (int j = 0; j < K; ++j) weight_sum += plan.weights[t * K + j];
        if (std::abs(weight_sum - 1.0f) > 1e-5f) {  // the Mixtral router renormalises the top-k weights
            std::fprintf(stderr, "token %d: routing weights sum to %g, expected 1\n", t, double(weight_sum));
            ++failures;
        }
    }
    int routed = 0;
    for (int count : layer.tokens_per_expert()) routed += count;
    if (routed != T * K) {
        std::fprintf(stderr, "tokens_per_expert sums to %d, expected %d\n", routed, T * K);
        ++failures;
    }
    std::printf("moe %d.%d.%d via " MOE_CONSUMER_WAY ": %d tokens through a %d-expert top-%d layer, %s\n", moe::version_major,
                moe::version_minor, moe::version_patch, T, config.experts, K, failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
