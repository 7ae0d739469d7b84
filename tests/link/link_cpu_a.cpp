// tests/link/link_cpu_a.cpp — test_link_cpu: every entry header of the library in two translation units of one
// program (this file and link_cpu_b.cpp). A definition in a header that is neither inline nor a template is then
// defined twice and the link fails: building this test is the main check.
// Running it checks that both units compute the same layer:
//   1. unit b (3 threads) and unit a (1 thread) give bit-identical outputs and routing;
//   2. the output matches a per-token loop in double precision over the layer's own routing, within
//      1e-5 · max|y| (fp32 accumulation over ≤ 72 terms; bf16 weights decoded exactly on both sides);
//   3. the routing is Qwen2-MoE's: weights are softmax probabilities of double-precision logits (within 1e-5, the
//      fp32 logits' rounding), and no unchosen expert scores above a chosen one beyond that rounding;
//   4. moe::decoding's greedy pick in unit b is the first arg-max of the first output row.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "link_cpu.hpp"

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
    if (!ok) {
        ++failures;
        std::printf("FAILED: %s\n", what.c_str());
    }
}

constexpr int D = moe_link::layer.model_width, E = moe_link::layer.experts, K = moe_link::layer.top_k;
constexpr std::int64_t T = moe_link::tokens;

// The expert FFN down(silu(gate · x) ⊙ (up · x)) in double. x: (D); out: (D).
template <class Storage>
void swiglu_reference(const moe::swiglu_weights<Storage>& f, std::int64_t width, const float* x, double* out) {
    std::vector<double> act(static_cast<std::size_t>(width));
    for (std::int64_t r = 0; r < width; ++r) {
        double g = 0, u = 0;
        for (int d = 0; d < D; ++d) {
            g += double(moe::to_float(f.gate(r, d))) * x[d];
            u += double(moe::to_float(f.up(r, d))) * x[d];
        }
        act[static_cast<std::size_t>(r)] = g / (1.0 + std::exp(-g)) * u;
    }
    for (int d = 0; d < D; ++d) {
        out[d] = 0;
        for (std::int64_t r = 0; r < width; ++r) {
            out[d] += double(moe::to_float(f.down(d, r))) * act[static_cast<std::size_t>(r)];
        }
    }
}

}  // namespace

int main() {
    std::vector<float> x(static_cast<std::size_t>(T * D));
    std::mt19937_64 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);

    // Unit a runs the same layer type as unit b: one instantiation program-wide after the link.
    const auto owned = moe::owned_moe_layer_weights<moe_link::layer>::random(moe_link::weight_seed);
    const moe::moe_layer_weights<moe_link::layer> w = owned.view();
    moe::cpu::moe_layer<moe_link::layer> layer(w);
    std::vector<float> y(x.size());
    layer.forward({x.data(), T, D}, {y.data(), T, D});
    const moe::routing_plan& plan = layer.last_routing();
    const moe_link::layer_run b = moe_link::run_layer_in_b(x, 3);

    // 1. Both units, different thread counts: the same bits.
    check(std::memcmp(y.data(), b.y.data(), y.size() * sizeof(float)) == 0, "outputs of unit a and unit b differ");
    check(plan.expert_ids == b.routing.expert_ids, "expert ids of unit a and unit b differ");
    check(std::memcmp(plan.weights.data(), b.routing.weights.data(), plan.weights.size() * sizeof(float)) == 0,
          "routing weights of unit a and unit b differ");

    // 2. and 3. Against a double-precision loop over the layer's routing.
    double max_ref = 0, max_diff = 0;
    std::int64_t routed = 0;
    for (std::int64_t t = 0; t < T; ++t) {
        const float* xt = &x[static_cast<std::size_t>(t * D)];
        double logits[E], p[E], z = 0, m = -1e300;
        for (int e = 0; e < E; ++e) {
            logits[e] = 0;
            for (int d = 0; d < D; ++d) logits[e] += double(w.router(e, d)) * xt[d];
            m = std::max(m, logits[e]);
        }
        for (int e = 0; e < E; ++e) z += (p[e] = std::exp(logits[e] - m));
        bool chosen[E] = {};
        std::vector<double> ref(D, 0.0), out(D);
        for (int j = 0; j < K; ++j) {
            const int e = plan.expert_ids[static_cast<std::size_t>(t * K + j)];
            const float weight = plan.weights[static_cast<std::size_t>(t * K + j)];
            check(e >= 0 && e < E && !chosen[e], "token " + std::to_string(t) + ": expert ids out of range or repeated");
            if (e < 0 || e >= E) continue;
            chosen[e] = true;
            check(std::fabs(weight - p[e] / z) <= 1e-5, "token " + std::to_string(t) + ": weight is not softmax");
            swiglu_reference(w.experts[e], moe_link::layer.expert_width, xt, out.data());
            for (int d = 0; d < D; ++d) ref[d] += double(weight) * out[d];
        }
        for (int e = 0; e < E; ++e) {
            for (int j = 0; j < K && !chosen[e]; ++j) {
                const int c = plan.expert_ids[static_cast<std::size_t>(t * K + j)];
                check(c < 0 || c >= E || p[e] / z <= p[c] / z + 1e-5,
                      "token " + std::to_string(t) + ": an unchosen expert scores higher than a chosen one");
            }
        }
        double dot = 0;
        for (int d = 0; d < D; ++d) dot += double(w.shared_expert_gate.data[d]) * xt[d];
        swiglu_reference(w.shared, moe_link::layer.shared_width(), xt, out.data());
        for (int d = 0; d < D; ++d) {
            ref[d] += out[d] / (1.0 + std::exp(-dot));
            max_ref = std::max(max_ref, std::fabs(ref[d]));
            max_diff = std::max(max_diff, std::fabs(ref[d] - y[static_cast<std::size_t>(t * D + d)]));
        }
    }
    for (std::int32_t n : plan.tokens_per_expert) routed += n;
    check(routed == T * K, "tokens per expert do not add up to T·K");
    check(max_diff <= 1e-5 * max_ref,
          "max|y - loop| = " + std::to_string(max_diff) + " > 1e-5 * " + std::to_string(max_ref));

    // 4. Decoding in unit b over unit a's first row.
    const int argmax = static_cast<int>(std::max_element(y.begin(), y.begin() + D) - y.begin());
    check(b.greedy_token == argmax,
          "greedy token " + std::to_string(b.greedy_token) + ", arg-max " + std::to_string(argmax));

    std::printf("%s: max|y - loop| = %.3g (max|y| %.3g), %d failure(s)\n", failures ? "FAIL" : "PASS", max_diff,
                max_ref, failures);
    return failures == 0 ? 0 : 1;
}
