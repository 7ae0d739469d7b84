// Loads tiny random checkpoints of every family (made with transformers 5.24 by tools/make_model_reference.py,
// saved with save_pretrained) through the real loader and compares the logits with transformers':
//   - a full prefill of each of three sequences (lengths 7, 12, 3),
//   - sequence 1 fed one token at a time through the KV cache,
//   - all three sequences in one batched call,
// within max |logit − logit_hf| ≤ 1e-4 · max |logit_hf| (fp32 weights; bf16 weights are compared against transformers
// run in fp32 on the same bf16-rounded weights, same bound).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "moe/models.hpp"
#include "reference_logits.hpp"
#include "tiny_cards.hpp"

namespace test_models_vs_transformers {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe_test::max_abs;
using moe_test::max_abs_diff;

std::string model_dir(const std::string& name) { return std::string(MOE_TEST_DATA_DIR) + "/models/" + name; }

using reference = moe_test::reference_logits;
reference read_reference(const std::string& name, std::int64_t vocab) {
    return moe_test::read_reference_logits(model_dir(name) + "/reference.safetensors", vocab);
}

template <class Model>
void check_model(const std::string& name, double tolerance = 1e-4) {
    constexpr std::int64_t V = Model::V;
    auto model = moe::load_model<Model>(model_dir(name));
    const auto ref = read_reference(name, V);
    moe::cpu::thread_pool pool(2);

    // Full prefill, one sequence at a time.
    for (int s = 0; s < 3; ++s) {
        auto seq = model.new_sequence(32);
        moe::host_matrix<float> logits(static_cast<std::int64_t>(ref.tokens[s].size()), V);
        model.forward(ref.tokens[s], seq, logits.view(), pool);
        const double error = max_abs_diff(logits.view(), ref.logits[s].view());
        INFO(name << " prefill of sequence " << s << ": max error " << error << " (max |logit| "
                  << max_abs(ref.logits[s].view()) << ")");
        CHECK(error <= tolerance * max_abs(ref.logits[s].view()));
        CHECK(seq.size() == static_cast<std::int64_t>(ref.tokens[s].size()));
    }

    // Sequence 1 token by token through the KV cache.
    {
        auto seq = model.new_sequence(32);
        const auto& tokens = ref.tokens[1];
        moe::host_matrix<float> stepped(static_cast<std::int64_t>(tokens.size()), V);
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            model.forward(std::span<const std::int32_t>(&tokens[i], 1), seq,
                          moe::matrix_view<float>{stepped.row(static_cast<std::int64_t>(i)), 1, V}, pool);
        }
        const double error = max_abs_diff(stepped.view(), ref.logits[1].view());
        INFO(name << " token-by-token: max error " << error);
        CHECK(error <= tolerance * max_abs(ref.logits[1].view()));
        // transformers' own incremental path agrees with its prefill too (recorded by the generator).
        CHECK(max_abs_diff(ref.logits_step.view(), ref.logits[1].view()) <= tolerance * max_abs(ref.logits[1].view()));
    }

    // All three sequences in one call; then one more token each, asking only for the last logits.
    {
        std::vector<typename Model::sequence> seqs;
        std::vector<moe::host_matrix<float>> logits;
        std::vector<typename Model::step> steps;
        for (int s = 0; s < 3; ++s) {
            seqs.push_back(model.new_sequence(32));
            logits.emplace_back(static_cast<std::int64_t>(ref.tokens[s].size()) - 1, V);
        }
        for (int s = 0; s < 3; ++s) {
            const auto& t = ref.tokens[s];
            steps.push_back({std::span<const std::int32_t>(t.data(), t.size() - 1), &seqs[s], logits[s].view()});
        }
        model.forward(steps, pool);
        std::vector<moe::host_matrix<float>> last(3, moe::host_matrix<float>(1, V));
        steps.clear();
        for (int s = 0; s < 3; ++s) {
            const auto& t = ref.tokens[s];
            steps.push_back({std::span<const std::int32_t>(&t.back(), 1), &seqs[s], last[s].view()});
        }
        model.forward(steps, pool);
        for (int s = 0; s < 3; ++s) {
            const std::int64_t n = static_cast<std::int64_t>(ref.tokens[s].size());
            const double bound = tolerance * max_abs(ref.logits[s].view());
            INFO(name << " batched, sequence " << s);
            CHECK(max_abs_diff(logits[s].view(), {ref.logits[s].data(), n - 1, V}) <= bound);
            CHECK(max_abs_diff(last[s].view(), {ref.logits[s].row(n - 1), 1, V}) <= bound);
        }
    }
}

template <class Card>
constexpr Card in_bf16(Card c, moe::weight_format format = moe::weight_format::bf16) {
    c.weights = format;
    return c;
}

}  // namespace

TEST_CASE("Mixtral logits match transformers (GQA, 5 experts top-2)", "[models]") {
    check_model<moe::cpu::mixtral<tiny_mixtral>>("mixtral");
}
TEST_CASE("Qwen2-MoE logits match transformers (q/k/v bias, gated shared expert)", "[models]") {
    check_model<moe::cpu::qwen2_moe<tiny_qwen2>>("qwen2_moe");
}
TEST_CASE("Qwen3-MoE logits match transformers (per-head QK-norm, tied embeddings)", "[models]") {
    check_model<moe::cpu::qwen3_moe<tiny_qwen3>>("qwen3_moe");
}
TEST_CASE("Qwen3-MoE with bf16 weights, used in place from the file", "[models]") {
    check_model<moe::cpu::qwen3_moe<in_bf16(tiny_qwen3)>>("qwen3_moe_bf16");
}

TEST_CASE("Qwen3-MoE with bf16_compute weights: bf16 x bf16 products, within bf16 rounding", "[models]") {
    // Activations rounded to bf16 (8-bit mantissa) at every product's input of 2 layers and the LM head: bound
    // 2e-2 x max|logit| (measured 0.022 of 3.3: ~7e-3), against transformers in fp32 on the same bf16 weights.
    using compute = moe::cpu::qwen3_moe<in_bf16(tiny_qwen3, moe::weight_format::bf16_compute)>;
    check_model<compute>("qwen3_moe_bf16", 2e-2);
    // And it is really a different arithmetic: not within the 1e-6 the fp32-activation type achieves.
    auto model = moe::load_model<compute>(model_dir("qwen3_moe_bf16"));
    const auto ref = read_reference("qwen3_moe_bf16", compute::V);
    moe::cpu::thread_pool pool(1);
    auto seq = model.new_sequence(32);
    moe::host_matrix<float> logits(static_cast<std::int64_t>(ref.tokens[0].size()), compute::V);
    model.forward(ref.tokens[0], seq, logits.view(), pool);
    const double error = max_abs_diff(logits.view(), ref.logits[0].view());
    INFO("bf16_compute prefill vs transformers fp32: max error " << error << " (max |logit| " << max_abs(ref.logits[0].view()) << ")");
    CHECK(error > 1e-4 * max_abs(ref.logits[0].view()));
}
TEST_CASE("Mixtral and DeepSeek-V2 with q8_0 weights: Q8_0 x Q8_0 products, within 8-bit quantization", "[models]") {
    // Weights quantized at load (llama.cpp's Q8_0 blocks) and activations quantized at every product's input,
    // against transformers in fp32 on the unquantized weights: bound 5e-2 x max|logit| (measured below).
    using mixtral_q8 = moe::cpu::mixtral<in_bf16(tiny_mixtral, moe::weight_format::q8_0)>;
    using v2_q8 = moe::cpu::deepseek_v2<in_bf16(tiny_v2, moe::weight_format::q8_0)>;
    check_model<mixtral_q8>("mixtral", 5e-2);
    check_model<v2_q8>("deepseek_v2", 5e-2);
    // And it is really 8-bit arithmetic: not within the 1e-4 the fp32 type achieves.
    auto model = moe::load_model<mixtral_q8>(model_dir("mixtral"));
    const auto ref = read_reference("mixtral", mixtral_q8::V);
    moe::cpu::thread_pool pool(1);
    auto seq = model.new_sequence(32);
    moe::host_matrix<float> logits(static_cast<std::int64_t>(ref.tokens[1].size()), mixtral_q8::V);
    model.forward(ref.tokens[1], seq, logits.view(), pool);
    const double error = max_abs_diff(logits.view(), ref.logits[1].view());
    INFO("q8_0 prefill vs transformers fp32: max error " << error << " (max |logit| " << max_abs(ref.logits[1].view()) << ")");
    CHECK(error > 1e-4 * max_abs(ref.logits[1].view()));
}
TEST_CASE("OLMoE logits match transformers (QK-norm over the whole projection)", "[models]") {
    check_model<moe::cpu::olmoe<tiny_olmoe>>("olmoe");
}
TEST_CASE("OLMoE with clip_qkv = 0.5 (most q/k/v values clipped)", "[models]") {
    check_model<moe::cpu::olmoe<tiny_olmoe>>("olmoe_clip");
}
TEST_CASE("DeepSeek-V2 logits match transformers (MLA without q compression, dense first layer)", "[models]") {
    check_model<moe::cpu::deepseek_v2<tiny_v2>>("deepseek_v2");
}
TEST_CASE("DeepSeek-V3 logits match transformers (MLA, YaRN, groups, bias, sharded checkpoint)", "[models]") {
    check_model<moe::cpu::deepseek_v3<tiny_v3>>("deepseek_v3");
}

TEST_CASE("config.json that does not match the type: every mismatch in one error", "[models][errors]") {
    constexpr moe::mixtral_config wrong{.vocab_size = 161, .model_width = 64, .layers = 3, .heads = 4, .kv_heads = 2,
                                        .head_dim = 16, .expert_width = 96, .experts = 8, .top_k = 2,
                                        .weights = moe::weight_format::fp32};
    REQUIRE_THROWS_MATCHES(
        moe::load_model<moe::cpu::mixtral<wrong>>(model_dir("mixtral")), moe::config_error,
        Catch::Matchers::Predicate<moe::config_error>(
            [](const moe::config_error& e) {
                const std::string m = e.what();
                return m.find("config.json") != std::string::npos &&
                       m.find("vocab_size is 160, the model type has 161") != std::string::npos &&
                       m.find("num_hidden_layers is 2, the model type has 3") != std::string::npos &&
                       m.find("num_local_experts is 5, the model type has 8") != std::string::npos;
            },
            "names vocab_size, num_hidden_layers and num_local_experts"));
    // A family's config into another family's type.
    REQUIRE_THROWS_AS(moe::load_model<moe::cpu::deepseek_v3<tiny_v3>>(model_dir("deepseek_v2")), moe::config_error);
}

TEST_CASE("token ids outside the vocabulary and sequences past the context are errors, not UB", "[models][errors]") {
    auto model = moe::load_model<moe::cpu::mixtral<tiny_mixtral>>(model_dir("mixtral"), {.max_positions = 8});
    moe::cpu::thread_pool pool(1);
    auto seq = model.new_sequence(8);
    moe::host_matrix<float> logits(3, 160);
    const std::vector<std::int32_t> bad = {1, 160, 2};
    REQUIRE_THROWS_WITH(model.forward(bad, seq, logits.view(), pool),
                        Catch::Contains("token id 160") && Catch::Contains("position 1") && Catch::Contains("[0, 160)"));
    const std::vector<std::int32_t> negative = {-1};
    REQUIRE_THROWS_AS(model.forward(negative, seq, moe::matrix_view<float>{logits.data(), 1, 160}, pool),
                      moe::cpu::invalid_input);
    CHECK(seq.size() == 0);  // nothing changed
    const std::vector<std::int32_t> nine(9, 3);
    moe::host_matrix<float> logits9(9, 160);
    REQUIRE_THROWS_WITH(model.forward(nine, seq, logits9.view(), pool), Catch::Contains("exceed the sequence capacity 8"));
    REQUIRE_THROWS_WITH(model.new_sequence(9), Catch::Contains("max_position_embeddings"));
    const std::vector<std::int32_t> ok = {1, 2, 3};
    REQUIRE_NOTHROW(model.forward(ok, seq, logits.view(), pool));
    CHECK(seq.size() == 3);
}

}  // namespace test_models_vs_transformers
