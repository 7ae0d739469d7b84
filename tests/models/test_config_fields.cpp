// config.json fields beyond the shapes: the per-layer sliding window of Qwen2-MoE against transformers, and every
// field that changes the computation either honoured or refused — wrong JSON types, values out of range, features
// the types do not model — each named with its value in one moe::config_error, never a raw nlohmann exception, a
// crash or NaN logits.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "moe/io.hpp"
#include "moe/models.hpp"
#include "tiny_cards.hpp"

namespace test_config_fields {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

namespace fs = std::filesystem;

fs::path model_dir(const std::string& name) { return fs::path(MOE_TEST_DATA_DIR) / "models" / name; }

nlohmann::json read_config(const std::string& name) {
    std::ifstream in(model_dir(name) / "config.json");
    return nlohmann::json::parse(in);
}

// A fresh directory holding `config` as config.json (and, when given, a copy of a checkpoint's weights).
fs::path write_checkpoint(const nlohmann::json& config, const std::string& weights_of = "") {
    static std::atomic<int> counter{0};
    const fs::path dir = fs::temp_directory_path() /
                         ("moe_test_config_fields_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << config.dump(2);
    if (!weights_of.empty()) fs::copy_file(model_dir(weights_of) / "model.safetensors", dir / "model.safetensors");
    return dir;
}

// The message of the config_error that checking `config` against Model throws ("" when none is thrown). Any other
// exception type fails the test.
template <class Model>
std::string config_problem(const nlohmann::json& config) {
    const fs::path dir = write_checkpoint(config);
    std::string message;
    try {
        moe::check_config<Model>(dir / "config.json");
    } catch (const moe::config_error& e) {
        message = e.what();
    }
    fs::remove_all(dir);
    return message;
}

double max_abs(moe::matrix_view<const float> m) {
    double v = 0;
    for (float f : m.span()) v = std::max(v, double(std::abs(f)));
    return v;
}

double max_abs_diff(moe::matrix_view<const float> a, moe::matrix_view<const float> b) {
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.cols == b.cols);
    double v = 0;
    for (std::int64_t i = 0; i < a.size(); ++i) v = std::max(v, double(std::abs(a.data[i] - b.data[i])));
    return v;
}

using qwen2 = moe::cpu::qwen2_moe<tiny_qwen2>;

// Largest |logit − transformers'| over the 3 reference sequences (prefill) and sequence 1 token by token, relative
// to the largest |logit|, for the qwen2_moe weights under `config`.
double qwen2_error_vs(const nlohmann::json& config, const std::string& reference_case) {
    const fs::path dir = write_checkpoint(config, "qwen2_moe");
    auto model = moe::load_model<qwen2>(dir);
    fs::remove_all(dir);
    const moe::io::safetensors_file ref(model_dir(reference_case) / "reference.safetensors");
    moe::cpu::thread_pool pool(2);
    double worst = 0;
    for (int s = 0; s < 3; ++s) {
        const auto ids = moe::io::read_integers(ref.require("tokens_" + std::to_string(s)));
        const std::vector<std::int32_t> tokens(ids.begin(), ids.end());
        const auto expected = moe::io::copy_matrix<float>(ref.require("logits_" + std::to_string(s)));
        const auto n = static_cast<std::int64_t>(tokens.size());
        auto seq = model.new_sequence(32);
        moe::host_matrix<float> logits(n, qwen2::V);
        model.forward(tokens, seq, logits.view(), pool);
        worst = std::max(worst, max_abs_diff(logits.view(), expected.view()) / max_abs(expected.view()));
        if (s == 1) {  // token by token: the window over the KV cache
            auto stepped_seq = model.new_sequence(32);
            moe::host_matrix<float> stepped(n, qwen2::V);
            for (std::int64_t i = 0; i < n; ++i) {
                model.forward(std::span<const std::int32_t>(&tokens[std::size_t(i)], 1), stepped_seq,
                              moe::matrix_view<float>{stepped.row(i), 1, qwen2::V}, pool);
            }
            worst = std::max(worst, max_abs_diff(stepped.view(), expected.view()) / max_abs(expected.view()));
        }
    }
    return worst;
}

bool has(const std::string& message, const std::string& part) { return message.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("Qwen2-MoE sliding window only in the layers layer_types marks (vs transformers 5.24)", "[models][config]") {
    // Same weights as qwen2_moe; sequence lengths 7, 12, 3 against windows of 4 and 3.
    // layer_types written by save_pretrained: [sliding_attention, full_attention], window 4.
    auto written = read_config("qwen2_moe_sliding");
    CHECK(qwen2_error_vs(written, "qwen2_moe_sliding") <= 1e-4);
    // Without layer_types the rule derives the same list: use_sliding_window, even layers below max_window_layers 2.
    auto derived = written;
    derived.erase("layer_types");
    CHECK(qwen2_error_vs(derived, "qwen2_moe_sliding") <= 1e-4);
    // An explicit list wins over the rule: only layer 1 slides (max_window_layers 28 would pick layer 0).
    CHECK(qwen2_error_vs(read_config("qwen2_moe_sliding_types"), "qwen2_moe_sliding_types") <= 1e-4);

    // The test tells the layers apart: the window in every layer (the old behaviour) or in none is far off.
    auto every_layer = written;
    every_layer["layer_types"] = {"sliding_attention", "sliding_attention"};
    CHECK(qwen2_error_vs(every_layer, "qwen2_moe_sliding") > 0.05);
    auto no_window = written;
    no_window["use_sliding_window"] = false;
    no_window.erase("layer_types");
    CHECK(qwen2_error_vs(no_window, "qwen2_moe_sliding") > 0.05);
    CHECK(qwen2_error_vs(no_window, "qwen2_moe") <= 1e-4);
}

TEST_CASE("sliding-window fields out of their domain are refused", "[models][config]") {
    auto c = read_config("qwen2_moe_sliding");
    c["layer_types"] = {"sliding_attention", "linear_attention"};
    CHECK(has(config_problem<qwen2>(c), "layer_types[1] is \"linear_attention\", expected"));
    c["layer_types"] = {"sliding_attention"};
    CHECK(has(config_problem<qwen2>(c), "layer_types must be a list of 2 strings (one per layer), got 1 entries"));
    c["layer_types"] = {"sliding_attention", "full_attention"};
    c["sliding_window"] = 0;
    CHECK(has(config_problem<qwen2>(c), "sliding_window is 0, must be >= 1"));
    c["sliding_window"] = nullptr;
    CHECK(has(config_problem<qwen2>(c), "sliding_window is null"));
    c["sliding_window"] = 4;
    c["use_sliding_window"] = false;  // transformers: window 0 for the sliding layer, every key hidden
    CHECK(has(config_problem<qwen2>(c), "layer 0 is a sliding_attention layer but use_sliding_window is false"));
    c["use_sliding_window"] = "yes";
    CHECK(has(config_problem<qwen2>(c), "use_sliding_window is \"yes\", expected true or false"));

    auto mixtral = read_config("mixtral");
    mixtral["sliding_window"] = -5;
    CHECK(has(config_problem<moe::cpu::mixtral<tiny_mixtral>>(mixtral), "sliding_window is -5, must be >= 1"));
    auto qwen3 = read_config("qwen3_moe");
    qwen3["use_sliding_window"] = true;
    qwen3["sliding_window"] = nullptr;  // transformers raises: no window to apply
    CHECK(has(config_problem<moe::cpu::qwen3_moe<tiny_qwen3>>(qwen3), "sliding_window is null"));
}

TEST_CASE("fields the type fixes are compared: qkv_bias, hidden_act, mlp_bias, moe_layer_freq, ...", "[models][config]") {
    auto q2 = read_config("qwen2_moe");
    q2["qkv_bias"] = false;
    q2["hidden_act"] = "gelu";
    q2["tie_word_embeddings"] = true;
    q2["norm_topk_prob"] = true;
    const auto m = config_problem<qwen2>(q2);
    CHECK(has(m, "qkv_bias is false, the model type has true"));
    CHECK(has(m, "hidden_act is \"gelu\", the model type has \"silu\""));
    CHECK(has(m, "tie_word_embeddings is true, the model type has false"));
    CHECK(has(m, "norm_topk_prob is true, the model type has false"));

    auto v2 = read_config("deepseek_v2");
    v2["moe_layer_freq"] = 2;
    v2["mlp_bias"] = true;
    v2["num_key_value_heads"] = 2;
    v2["first_k_dense_replace"] = 2;
    const auto m2 = config_problem<moe::cpu::deepseek_v2<tiny_v2>>(v2);
    CHECK(has(m2, "moe_layer_freq is 2, the model type has 1"));
    CHECK(has(m2, "mlp_bias is true, the model type has false"));
    CHECK(has(m2, "num_key_value_heads is 2, the model type has 4"));
    CHECK(has(m2, "first_k_dense_replace is 2, the model type has 1"));

    auto q3 = read_config("qwen3_moe");
    q3["attention_bias"] = true;
    q3["head_dim"] = 8;
    q3["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 10000.0}};
    q3["partial_rotary_factor"] = 0.5;
    const auto m3 = config_problem<moe::cpu::qwen3_moe<tiny_qwen3>>(q3);
    CHECK(has(m3, "attention_bias is true, the model type has false"));
    CHECK(has(m3, "head_dim is 8, the model type has 16"));
    CHECK(has(m3, "rope_parameters.rope_type is \"linear\", supported: default, yarn"));
    CHECK(has(m3, "partial_rotary_factor is 0.5, only 1"));

    // The shipped configs pass, and a family's absent fields take transformers' defaults (Mixtral: rope_theta 1e6).
    CHECK(config_problem<qwen2>(read_config("qwen2_moe")).empty());
    auto mixtral = read_config("mixtral");
    mixtral.erase("rope_parameters");
    mixtral.erase("rms_norm_eps");
    const fs::path dir = write_checkpoint(mixtral, "mixtral");
    const auto w = moe::load_weights<moe::mixtral<tiny_mixtral>>(dir);
    fs::remove_all(dir);
    CHECK(std::get<0>(w.layers)[0].attention.runtime.rope.theta == 1e6);
    CHECK(w.rms_norm_eps == 1e-5f);
    // clip_qkv is OLMoE's: transformers' Mixtral ignores it, so the loader does too.
    CHECK(std::get<0>(w.layers)[0].attention.runtime.clip_qkv == 0.0f);
}

TEST_CASE("run-time fields out of range: every problem in one error, before any NaN", "[models][config]") {
    auto c = read_config("deepseek_v3");
    c["rms_norm_eps"] = -1;
    c["rope_theta"] = 0;
    c["rope_parameters"]["factor"] = 0;
    c["rope_parameters"]["beta_fast"] = -3;
    c["rope_parameters"]["mscale"] = -1;
    c["routed_scaling_factor"] = 0;
    c["max_position_embeddings"] = 0;
    const auto m = config_problem<moe::cpu::deepseek_v3<tiny_v3>>(c);
    INFO(m);
    CHECK(has(m, "config.json: "));
    CHECK(has(m, "rms_norm_eps is -1, must be > 0"));
    CHECK(has(m, "rope_theta is 0, must be > 1"));
    CHECK(has(m, "rope_parameters.factor is 0, must be >= 1"));
    CHECK(has(m, "rope_parameters.beta_fast is -3, must be >= 0"));
    CHECK(has(m, "rope_parameters.mscale is -1, must be >= 0"));
    CHECK(has(m, "routed_scaling_factor is 0, must be > 0"));
    CHECK(has(m, "max_position_embeddings is 0, must be >= 1"));

    auto o = read_config("olmoe_clip");
    o["clip_qkv"] = 0;
    o["rms_norm_eps"] = 1e-50;  // a positive double that is 0 as a float
    const auto mo = config_problem<moe::cpu::olmoe<tiny_olmoe>>(o);
    CHECK(has(mo, "clip_qkv is 0, must be > 0"));
    CHECK(has(mo, "rms_norm_eps is 1e-50, must be > 0 as a 32-bit float"));

    // And load_model refuses before reading a tensor (no model computing NaN with exit status 0).
    auto bad = read_config("qwen2_moe");
    bad["rms_norm_eps"] = 0;
    const fs::path dir = write_checkpoint(bad, "qwen2_moe");
    CHECK_THROWS_WITH(moe::load_model<qwen2>(dir), Catch::Contains("rms_norm_eps is 0, must be > 0"));
    fs::remove_all(dir);
}

TEST_CASE("wrong JSON types name the file and the field, never a raw nlohmann::type_error", "[models][config]") {
    auto c = read_config("qwen2_moe");
    c["num_experts"] = "six";
    c["num_attention_heads"] = 4.0;
    c["hidden_size"] = nullptr;
    c["vocab_size"] = 18446744073709551615ull;  // > 2^63
    c["rms_norm_eps"] = "1e-6";
    c["rope_parameters"] = "default";
    c["max_window_layers"] = std::string(300, 'x') + "\n";
    c["use_sliding_window"] = true;
    c.erase("layer_types");  // so that max_window_layers is read
    c["mlp_only_layers"] = nlohmann::json::array({1, 2, 3});
    const auto m = config_problem<qwen2>(c);
    INFO(m);
    CHECK(has(m, "config.json: "));
    CHECK(has(m, "num_experts is \"six\", expected an integer"));
    CHECK(has(m, "num_attention_heads is 4.0, expected an integer"));
    CHECK(has(m, "hidden_size is null, expected an integer"));
    CHECK(has(m, "vocab_size is 18446744073709551615 (beyond the int64 range), expected an integer"));
    CHECK(has(m, "rms_norm_eps is \"1e-6\", expected a number"));
    CHECK(has(m, "rope_parameters is \"default\", expected an object"));
    CHECK(has(m, "max_window_layers is \"xxxxxxxx"));
    CHECK(has(m, "…(301 bytes)\", expected an integer"));  // capped by moe::excerpt
    CHECK(!has(m, "\n"));
    CHECK(has(m, "mlp_only_layers is an array of 3 entries"));
    // A number too large for a double: nlohmann refuses it while parsing, as a config_error naming the file.
    auto huge = read_config("qwen2_moe");
    huge["rope_theta"] = 0;
    std::string text = huge.dump();
    text.replace(text.find("\"rope_theta\":0"), 14, "\"rope_theta\":1e999");
    const fs::path dir = write_checkpoint(nlohmann::json::object());
    std::ofstream(dir / "config.json") << text;
    CHECK_THROWS_WITH(moe::check_config<qwen2>(dir / "config.json"),
                      Catch::Contains("config.json: malformed JSON") && Catch::Contains("number overflow"));
    fs::remove_all(dir);
}

}  // namespace test_config_fields
