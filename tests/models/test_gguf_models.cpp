// Models loaded from GGUF files made by llama.cpp's own converter (tools/make_gguf_models.py: the tiny checkpoints
// of tests/data/models converted by convert_hf_to_gguf.py) and compared with the logits llama.cpp computes on the
// same files (llama-cpp-python, f32 KV cache, recorded in tests/data/gguf_models/<case>.logits.safetensors):
//   - a prefill of each of three sequences (lengths 7, 12, 3) and sequence 1 token by token through the KV cache,
//     against llama.cpp's prefill logits;
//   - the f32 GGUF against the safetensors checkpoint it was converted from (same weights, same arithmetic);
//   - the errors: metadata that does not match the type (every mismatched GGUF key in one config_error), an
//     architecture that is not the type's, a tensor type the model cannot use, a missing tensor.
// Tolerances: f32 files 1e-5 · max |logit| (llama.cpp and the library sum in different orders; measured below
// 1e-6 relative); q8_0 files see the comment at their test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "moe/models.hpp"
#include "reference_logits.hpp"
#include "tiny_cards.hpp"

namespace test_gguf_models {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe_test::max_abs;
using moe_test::max_abs_diff;
using moe_test::message_of;

std::string gguf_path(const std::string& name) { return std::string(MOE_TEST_DATA_DIR) + "/gguf_models/" + name + ".gguf"; }
std::string model_dir(const std::string& name) { return std::string(MOE_TEST_DATA_DIR) + "/models/" + name; }

moe_test::reference_logits read_llama_logits(const std::string& name, std::int64_t vocab) {
    return moe_test::read_reference_logits(std::string(MOE_TEST_DATA_DIR) + "/gguf_models/" + name + ".logits.safetensors",
                                           vocab);
}

template <class Model>
moe::host_matrix<float> prefill(Model& model, const std::vector<std::int32_t>& tokens, moe::cpu::thread_pool& pool) {
    return moe_test::run_logits(model, tokens, false, pool);
}

template <class Model>
moe::host_matrix<float> stepped(Model& model, const std::vector<std::int32_t>& tokens, moe::cpu::thread_pool& pool) {
    return moe_test::run_logits(model, tokens, true, pool);
}

// Logits of `Model` loaded from tests/data/gguf_models/<name>.gguf against llama.cpp's on the same file: prefill
// of each sequence and sequence 1 token by token, within tolerance · max |logit|. Returns the largest relative
// error seen.
template <class Model>
double check_against_llama_cpp(const std::string& name, double tolerance) {
    auto model = moe::load_model<Model>(gguf_path(name));
    const auto ref = read_llama_logits(name, Model::V);
    moe::cpu::thread_pool pool(2);
    double worst = 0;
    for (int s = 0; s < 3; ++s) {
        const auto logits = prefill(model, ref.tokens[s], pool);
        const double scale = max_abs(ref.logits[s].view()), error = max_abs_diff(logits.view(), ref.logits[s].view());
        INFO(name << " prefill of sequence " << s << ": max error " << error << " (max |logit| " << scale << ")");
        CHECK(error <= tolerance * scale);
        worst = std::max(worst, error / scale);
    }
    const auto logits = stepped(model, ref.tokens[1], pool);
    const double scale = max_abs(ref.logits[1].view()), error = max_abs_diff(logits.view(), ref.logits[1].view());
    INFO(name << " token by token: max error " << error << " (max |logit| " << scale << ")");
    CHECK(error <= tolerance * scale);
    CHECK(max_abs_diff(logits.view(), ref.logits_step.view()) <= tolerance * scale);
    return std::max(worst, error / scale);
}

// The f32 GGUF and the safetensors checkpoint it was converted from, through the same model type.
template <class Model>
void check_same_as_safetensors(const std::string& gguf, const std::string& checkpoint, double tolerance) {
    auto from_gguf = moe::load_model<Model>(gguf_path(gguf));
    auto from_safetensors = moe::load_model<Model>(model_dir(checkpoint));
    const auto ref = read_llama_logits(gguf, Model::V);
    moe::cpu::thread_pool pool(1);
    for (int s = 0; s < 3; ++s) {
        const auto a = prefill(from_gguf, ref.tokens[s], pool);
        const auto b = prefill(from_safetensors, ref.tokens[s], pool);
        const double error = max_abs_diff(a.view(), b.view());
        INFO(gguf << " vs " << checkpoint << " safetensors, sequence " << s << ": max error " << error);
        CHECK(error <= tolerance * max_abs(b.view()));
    }
}

template <class Card>
constexpr Card with_format(Card c, moe::weight_format format) {
    c.weights = format;
    return c;
}

// A copy of a GGUF file with `from` replaced by `to` (same length: every offset stays valid) — a tensor renamed
// or a metadata key renamed, to make a file that lacks it.
std::string edited_copy(const std::string& name, const std::string& from, const std::string& to) {
    REQUIRE(from.size() == to.size());
    std::ifstream in(gguf_path(name), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t at = bytes.find(from);
    REQUIRE(at != std::string::npos);
    bytes.replace(at, from.size(), to);
    const auto path = std::filesystem::temp_directory_path() / ("moe_test_" + name + "_edited.gguf");
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path.string();
}

}  // namespace

// ---- logits against llama.cpp, f32 files: every matrix F32 ----

TEST_CASE("GGUF qwen3moe (f32): logits equal llama.cpp's", "[models][gguf]") {
    check_against_llama_cpp<moe::cpu::qwen3_moe<tiny_qwen3>>("qwen3_moe_f32", 1e-5);
}
TEST_CASE("GGUF qwen2moe (f32): logits equal llama.cpp's (q/k/v bias, gated shared expert)", "[models][gguf]") {
    check_against_llama_cpp<moe::cpu::qwen2_moe<tiny_qwen2>>("qwen2_moe_f32", 1e-5);
}
TEST_CASE("GGUF olmoe (f32): logits equal llama.cpp's (QK-norm over the projection)", "[models][gguf]") {
    check_against_llama_cpp<moe::cpu::olmoe<tiny_olmoe>>("olmoe_f32", 1e-5);
}
TEST_CASE("GGUF deepseek2 as DeepSeek-V3 (f32): logits equal llama.cpp's (split k_b/v_b, sigmoid + bias, YaRN)",
          "[models][gguf]") {
    check_against_llama_cpp<moe::cpu::deepseek_v3<tiny_v3>>("deepseek_v3_f32", 1e-5);
}

// ---- q8_0 files: every matrix Q8_0 (deepseek_v2: k_b F16), used in place by weight_format::q8_0 ----

TEST_CASE("GGUF llama/Mixtral (q8_0): logits match llama.cpp's (Q/K un-permuted, Q8_0 in place)", "[models][gguf]") {
    // Both engines multiply the same Q8_0 weight blocks (used in place) by activations quantized to Q8_0 at each
    // product's input with the same quantizer, and sum the integer block products in fp32: only the order of the
    // fp32 sums differs (measured 1.3e-7 relative). Bound 1e-5 · max |logit|, as for f32 files; an activation that
    // lands on a rounding boundary of the quantizer in one engine only would move by 1/127 of its block's max.
    using model = moe::cpu::mixtral<with_format(tiny_mixtral, moe::weight_format::q8_0)>;
    const double worst = check_against_llama_cpp<model>("mixtral_q8_0", 1e-5);
    WARN("mixtral q8_0 vs llama.cpp: max relative error " << worst);
}
TEST_CASE("GGUF deepseek2 as DeepSeek-V2 (q8_0, q_lora_rank 0, F16 k_b): logits match llama.cpp's", "[models][gguf]") {
    // Not the same arithmetic in attention: the library rebuilds HF's kv_b_proj from the F16 k_b (transposed per
    // head) and the Q8_0 v_b and, the model being Q8_0, quantizes the key half to Q8_0 — a rounding of up to
    // 1/254 of each block's max that llama.cpp does not do (it multiplies q_nope by the F16 k_b itself, MLA
    // "absorption", with f16 activations there). Measured 2.8e-2 · max |logit| (and DeepSeek-V2's routing margins
    // are the smallest of the tiny models, 3.3e-3); bound 4e-2. The f32 DeepSeek-V3 file checks the MLA layout
    // tightly, and the Mixtral file the Q8_0 arithmetic.
    using model = moe::cpu::deepseek_v2<with_format(tiny_v2, moe::weight_format::q8_0)>;
    const double worst = check_against_llama_cpp<model>("deepseek_v2_q8_0", 4e-2);
    WARN("deepseek_v2 q8_0 vs llama.cpp: max relative error " << worst);
}

// ---- the same weights as safetensors and as an f32 GGUF ----

TEST_CASE("An f32 GGUF and the safetensors it was converted from give the same logits", "[models][gguf]") {
    check_same_as_safetensors<moe::cpu::qwen3_moe<tiny_qwen3>>("qwen3_moe_f32", "qwen3_moe", 1e-6);
    check_same_as_safetensors<moe::cpu::qwen2_moe<tiny_qwen2>>("qwen2_moe_f32", "qwen2_moe", 1e-6);
    check_same_as_safetensors<moe::cpu::olmoe<tiny_olmoe>>("olmoe_f32", "olmoe", 1e-6);
    check_same_as_safetensors<moe::cpu::deepseek_v3<tiny_v3>>("deepseek_v3_f32", "deepseek_v3", 1e-6);
}

TEST_CASE("A q8_0 GGUF read into a float model is dequantized; into a q8_0 model its blocks are kept", "[models][gguf]") {
    // fp32 model: the dequantized Q8_0 weights are within 8-bit rounding of the safetensors ones.
    {
        auto from_gguf = moe::load_model<moe::cpu::mixtral<tiny_mixtral>>(gguf_path("mixtral_q8_0"));
        auto from_safetensors = moe::load_model<moe::cpu::mixtral<tiny_mixtral>>(model_dir("mixtral"));
        const auto ref = read_llama_logits("mixtral_q8_0", 160);
        moe::cpu::thread_pool pool(1);
        const auto a = prefill(from_gguf, ref.tokens[1], pool);
        const auto b = prefill(from_safetensors, ref.tokens[1], pool);
        const double error = max_abs_diff(a.view(), b.view());
        INFO("dequantized q8_0 vs fp32 safetensors: " << error);
        CHECK(error > 0);
        CHECK(error <= 5e-2 * max_abs(b.view()));
    }
    // q8_0 model: the embedding's blocks are the file's bytes (used in place, not requantized).
    using description = moe::mixtral<with_format(tiny_mixtral, moe::weight_format::q8_0)>;
    const auto weights = moe::load_weights<description>(gguf_path("mixtral_q8_0"));
    const moe::io::gguf_file file(gguf_path("mixtral_q8_0"));
    const auto bytes = file.tensor_bytes(file.require_tensor("token_embd.weight"));
    REQUIRE(bytes.size() == 160 * 2 * sizeof(moe::q8_0_block));
    CHECK(std::memcmp(weights.embedding.data, bytes.data(), bytes.size()) == 0);
}

// ---- picking the type, and the errors ----

TEST_CASE("with_matching_model picks the type of a GGUF file", "[models][gguf]") {
    using list = moe::model_list<moe::cpu::qwen2_moe<tiny_qwen2>, moe::cpu::qwen3_moe<tiny_qwen3>,
                                 moe::cpu::mixtral<tiny_mixtral>>;
    std::string mismatches, picked;
    const bool found = moe::with_matching_model(list{}, gguf_path("qwen3_moe_f32"), [&]<class Model>() {
        picked = std::string(moe::name_of(Model::description::config.family));
    }, mismatches);
    CHECK(found);
    CHECK(picked == "qwen3_moe");
    INFO(mismatches);
    CHECK(mismatches.find("general.architecture is \"qwen3moe\", the model type (qwen2_moe) needs \"qwen2moe\"") !=
          std::string::npos);
}

TEST_CASE("GGUF metadata that does not match the type: every mismatched GGUF key in one error", "[models][gguf][errors]") {
    static constexpr moe::qwen3_moe_config wrong{.vocab_size = 161, .model_width = 64, .layers = 3, .heads = 8,
                                          .kv_heads = 2, .head_dim = 16, .expert_width = 64, .experts = 8,
                                          .top_k = 2, .norm_topk_prob = false, .tied_embeddings = false,
                                          .weights = moe::weight_format::fp32};
    const std::string m = message_of([] { (void)moe::load_model<moe::cpu::qwen3_moe<wrong>>(gguf_path("qwen3_moe_f32")); });
    INFO(m);
    CHECK(m.starts_with(gguf_path("qwen3_moe_f32") + ": "));
    for (const char* expected : {"tokenizer.ggml.tokens (its length) is 160, the model type has 161",
                                 "qwen3moe.block_count is 2, the model type has 3",
                                 "qwen3moe.attention.head_count is 4, the model type has 8",
                                 "qwen3moe.expert_count is 6, the model type has 8",
                                 "qwen3moe.expert_used_count is 4, the model type has 2",
                                 "qwen3moe.expert_feed_forward_length is 48, the model type has 64",
                                 "norm_topk_prob (fixed by llama.cpp for qwen3moe) is true, the model type has false",
                                 "output.weight (absent: tied embeddings) is true, the model type has false"}) {
        CHECK(m.find(expected) != std::string::npos);
    }
    CHECK_THROWS_AS(moe::load_model<moe::cpu::qwen3_moe<wrong>>(gguf_path("qwen3_moe_f32")), moe::config_error);
}

TEST_CASE("A GGUF file of another architecture than the type's", "[models][gguf][errors]") {
    const std::string m = message_of([] { (void)moe::load_model<moe::cpu::qwen3_moe<tiny_qwen3>>(gguf_path("qwen2_moe_f32")); });
    CHECK(m == gguf_path("qwen2_moe_f32") +
                   ": general.architecture is \"qwen2moe\", the model type (qwen3_moe) needs \"qwen3moe\"");
    // deepseek2 is both DeepSeek families: a V3 file (sigmoid router with a selection bias) is not a V2 type.
    const std::string v = message_of([] { (void)moe::load_model<moe::cpu::deepseek_v2<tiny_v2>>(gguf_path("deepseek_v3_f32")); });
    INFO(v);
    CHECK(v.find("deepseek2.expert_gating_func is sigmoid, the model type (deepseek_v2) has softmax") != std::string::npos);
    CHECK(v.find("exp_probs_b.bias is present") != std::string::npos);
}

TEST_CASE("A GGUF tensor type the model cannot use: named with its type and the model's format", "[models][gguf][errors]") {
    // Q8_0 weights into a Q4_0 model: requantizing would round twice, so it is refused (a float model dequantizes).
    using q4 = moe::mixtral<with_format(tiny_mixtral, moe::weight_format::q4_0)>;
    const std::string m = message_of([] { (void)moe::load_weights<q4>(gguf_path("mixtral_q8_0")); });
    INFO(m);
    CHECK(m.find(gguf_path("mixtral_q8_0")) == 0);
    CHECK(m.find("(model.layers.0.self_attn.q_proj.weight)") != std::string::npos);
    CHECK(m.find("is Q8_0, which a model of format q4_0 cannot use (it reads F32, F16, BF16 and Q4_0 tensors)") !=
          std::string::npos);
}

TEST_CASE("A GGUF file without a tensor the model needs", "[models][gguf][errors]") {
    const std::string path = edited_copy("qwen3_moe_f32", "blk.1.ffn_up_exps.weight", "blk.1.ffn_up_expz.weight");
    const std::string m = message_of([&] { (void)moe::load_model<moe::cpu::qwen3_moe<tiny_qwen3>>(path); });
    CHECK(m == path + ": missing tensor 'blk.1.ffn_up_exps.weight' (model.layers.1.mlp.experts.0.up_proj.weight)");
    std::filesystem::remove(path);
}

TEST_CASE("A GGUF file without a metadata key llama.cpp requires", "[models][gguf][errors]") {
    const std::string path = edited_copy("olmoe_f32", "olmoe.expert_count", "olmoe.expert_counx");
    const std::string m = message_of([&] { (void)moe::load_model<moe::cpu::olmoe<tiny_olmoe>>(path); });
    CHECK(m == path + ": olmoe.expert_count is missing, the model type has 6");
    std::filesystem::remove(path);
}

}  // namespace test_gguf_models
