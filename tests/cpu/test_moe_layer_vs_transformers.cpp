// Checks moe::cpu::moe_layer against the Hugging Face transformers MoE blocks themselves, from the golden files in
// tests/data/moe_reference/ (made by tools/make_moe_reference.py with transformers 5.24.0, see the README there):
// MixtralSparseMoeBlock, Qwen2MoeSparseMoeBlock (gated shared expert), Qwen3MoeSparseMoeBlock, OlmoeSparseMoeBlock,
// DeepseekV3MoE (4 groups, top-2 groups, non-zero correction bias, scaling 2.5), DeepseekV2Moe (group-limited greedy).
//
// Tolerances (max |error| relative to max |y|):
//   fp32 weights vs y:                          1e-5  (fp32 accumulation-order differences only)
//   bf16/fp16 weights vs y_bf16/fp16_weights:   1e-5  (HF ran fp32 on the same rounded weights: same math)
//   bf16 weights vs fp32 y:                     2e-2  (bf16 keeps 8 significant bits: each weight is off by up to
//                                                      2^-9 relative; over the D- and F-term sums of this test the
//                                                      file records up to 0.65% of max|y|, so 2% leaves margin)
//   fp16 weights vs fp32 y:                     3e-3  (11 significant bits: 2^-12 per weight; recorded ≤ 0.07%)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "moe/cpu.hpp"
#include "moe/io.hpp"

namespace test_moe_layer_vs_transformers {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

std::string reference_path(const std::string& name) {
    return std::string(MOE_TEST_DATA_DIR) + "/moe_reference/" + name + ".safetensors";
}

// All layer tensors of a reference file, converted into the layer's storage format.
template <moe::moe_layer_config C>
moe::owned_moe_layer_weights<C> load_layer(const moe::io::safetensors_file& file) {
    using storage = moe::storage_t<C.weights>;
    constexpr std::int64_t D = C.model_width, F = C.expert_width, E = C.experts, S = C.shared_width();
    moe::owned_moe_layer_weights<C> w;
    auto read = [&](const char* name, std::initializer_list<std::int64_t> shape, auto* out) {
        const auto ref = file.require(name);
        moe::io::expect_shape(ref, shape);
        using T = std::remove_pointer_t<decltype(out)>;
        moe::io::copy_into<T>(ref, std::span<T>(out, static_cast<std::size_t>(ref.numel())));
    };
    read("router.weight", {E, D}, w.router.data());
    if constexpr (C.router.selection_bias) read("router.e_score_correction_bias", {E}, w.selection_bias.data());
    read("experts.gate_up_proj", {E, 2 * F, D}, w.gate_up.data());  // same (E, 2F, D) layout as the file
    read("experts.down_proj", {E, D, F}, w.down.data());
    if constexpr (S > 0) {
        read("shared.gate_proj", {S, D}, w.shared_gate_up.row(0));
        read("shared.up_proj", {S, D}, w.shared_gate_up.row(S));
        read("shared.down_proj", {D, S}, w.shared_down.data());
    }
    if constexpr (C.shared_expert_gate) read("shared_gate.weight", {1, D}, w.shared_expert_gate.data());
    static_assert(std::is_same_v<storage, typename moe::owned_moe_layer_weights<C>::storage>);
    return w;
}

double max_abs(std::span<const float> v) {
    double m = 0;
    for (float f : v) m = std::max(m, double(std::abs(f)));
    return m;
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
    return m;
}

template <moe::moe_layer_config C>
constexpr moe::moe_layer_config stored_as(moe::weight_format f) {
    auto c = C;
    c.weights = f;
    return c;
}

// Runs the layer on the file's x with the given storage format, compares to `expected_name` within `tolerance`.
template <moe::moe_layer_config C>
void check_output(const std::string& case_name, float scale, const char* expected_name, double tolerance) {
    const moe::io::safetensors_file file(reference_path(case_name));
    const auto weights = load_layer<C>(file);
    moe::cpu::moe_layer<C> layer(weights.view(), moe::router_runtime{.routed_scaling_factor = scale});

    const auto x = moe::io::load_matrix<float>(file.require("x"), 13, C.model_width);
    const auto expected = moe::io::load_matrix<float>(file.require(expected_name), 13, C.model_width);
    moe::host_matrix<float> y(13, C.model_width);
    moe::cpu::thread_pool pool(2);
    layer.forward(x.matrix(), y.view(), pool);

    const double error = max_abs_diff(y.view().span(), expected.span());
    const double bound = tolerance * max_abs(expected.span());
    INFO(case_name << " (" << moe::name_of(C.weights) << " weights) vs " << expected_name << ": max error " << error
                   << ", bound " << bound);
    CHECK(error <= bound);

    // The routing itself: same experts as transformers and the same final weights (fp32 router in both).
    const auto ids = moe::io::read_integers(file.require("topk_ids"));
    const auto hf_weights = moe::io::load_matrix<float>(file.require("topk_weights"), 13, C.top_k);
    const auto& plan = layer.last_routing();
    for (int t = 0; t < 13; ++t) {
        std::vector<std::pair<int, float>> ours;
        for (int j = 0; j < C.top_k; ++j) ours.emplace_back(plan.expert_ids[t * C.top_k + j], plan.weights[t * C.top_k + j]);
        std::sort(ours.begin(), ours.end());  // the file stores each row by ascending expert id
        for (int j = 0; j < C.top_k; ++j) {
            INFO("token " << t << " slot " << j);
            CHECK(ours[j].first == ids[t * C.top_k + j]);
            CHECK(ours[j].second == Approx(hf_weights.span()[t * C.top_k + j]).margin(1e-6));
        }
    }
}

template <moe::moe_layer_config C>
void check_all_precisions(const std::string& case_name, float scale) {
    check_output<C>(case_name, scale, "y", 1e-5);
    check_output<stored_as<C>(moe::weight_format::bf16)>(case_name, scale, "y_bf16_weights", 1e-5);
    check_output<stored_as<C>(moe::weight_format::fp16)>(case_name, scale, "y_fp16_weights", 1e-5);
    check_output<stored_as<C>(moe::weight_format::bf16)>(case_name, scale, "y", 2e-2);
    check_output<stored_as<C>(moe::weight_format::fp16)>(case_name, scale, "y", 3e-3);
    // bf16 × bf16 products: the same bf16 weights, activations rounded to bf16 (8-bit mantissa, relative error
    // ≤ 2^-9 per product input) — the bound of bf16 weights against fp32 weights.
    check_output<stored_as<C>(moe::weight_format::bf16_compute)>(case_name, scale, "y_bf16_weights", 2e-2);
}

}  // namespace

TEST_CASE("Mixtral: MixtralSparseMoeBlock (8 experts, top-2, renormalised)", "[transformers]") {
    check_all_precisions<moe::moe_layer_config{
        .model_width = 64, .expert_width = 96, .experts = 8, .top_k = 2, .router = moe::routers::mixtral}>("mixtral",
                                                                                                          1.0f);
}

TEST_CASE("Qwen2-MoE: Qwen2MoeSparseMoeBlock (6 experts, top-3, no renormalisation, gated shared expert)",
          "[transformers]") {
    check_all_precisions<moe::moe_layer_config{.model_width = 64,
                                               .expert_width = 48,
                                               .experts = 6,
                                               .top_k = 3,
                                               .shared_experts = 1,
                                               .shared_expert_width = 80,
                                               .shared_expert_gate = true,
                                               .router = moe::routers::qwen2_moe}>("qwen2_moe", 1.0f);
}

TEST_CASE("Qwen3-MoE: Qwen3MoeSparseMoeBlock (12 experts, top-4, renormalised)", "[transformers]") {
    check_all_precisions<moe::moe_layer_config{
        .model_width = 64, .expert_width = 48, .experts = 12, .top_k = 4, .router = moe::routers::qwen3_moe}>(
        "qwen3_moe", 1.0f);
}

TEST_CASE("OLMoE: OlmoeSparseMoeBlock (10 experts, top-3, no renormalisation)", "[transformers]") {
    check_all_precisions<moe::moe_layer_config{
        .model_width = 64, .expert_width = 40, .experts = 10, .top_k = 3, .router = moe::routers::olmoe}>("olmoe",
                                                                                                         1.0f);
}

TEST_CASE("DeepSeek-V3: DeepseekV3MoE (24 experts, 4 groups, top-2 groups, top-4, bias, scale 2.5, 2 shared)",
          "[transformers]") {
    // transformers 5.24 masks dropped groups with −inf, as we do; the 0.0-fill trap is tested in
    // test_router_semantics.cpp (for these inputs both fills pick the same experts, see the data README).
    check_all_precisions<moe::moe_layer_config{.model_width = 64,
                                               .expert_width = 32,
                                               .experts = 24,
                                               .top_k = 4,
                                               .shared_experts = 2,
                                               .router = moe::routers::deepseek_v3(4, 2)}>("deepseek_v3", 2.5f);
}

TEST_CASE("DeepSeek-V2: DeepseekV2Moe group_limited_greedy (12 experts, 3 groups, top-2 groups, top-3, scale 1.5)",
          "[transformers]") {
    check_all_precisions<moe::moe_layer_config{.model_width = 64,
                                               .expert_width = 32,
                                               .experts = 12,
                                               .top_k = 3,
                                               .shared_experts = 1,
                                               .router = moe::routers::deepseek_v2_group_limited(3, 2)}>(
        "deepseek_v2", 1.5f);
}

TEST_CASE("a reference file whose layer does not match the type is refused with the tensor and both shapes",
          "[transformers][errors]") {
    const moe::io::safetensors_file file(reference_path("mixtral"));
    constexpr moe::moe_layer_config wrong{.model_width = 64, .expert_width = 96, .experts = 6, .top_k = 2};
    REQUIRE_THROWS_WITH(load_layer<wrong>(file), Catch::Contains("router.weight") && Catch::Contains("8, 64") &&
                                                     Catch::Contains("6, 64"));
}

}  // namespace test_moe_layer_vs_transformers
