// Checks the CPU attention layers against transformers' own modules (MixtralAttention (also with a sliding window), Qwen2MoeAttention,
// Qwen3MoeAttention, OlmoeAttention, DeepseekV2Attention, DeepseekV3Attention with YaRN), from the golden files
// written by tools/make_layer_reference.py: the RoPE tables and softmax scale, then the output of a full prefill,
// of token-by-token decoding through the KV cache and of a chunked prefill (3 + 4 tokens), all in fp32 within
// 1e-5 · max|output|.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <string>

#include "layer_test_support.hpp"
#include "moe/cpu/attention/grouped_query_attention.hpp"
#include "moe/cpu/attention/multi_head_latent_attention.hpp"
#include "moe/io.hpp"

namespace test_attention_vs_transformers {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::matrix_view;
using moe::test::relative_error;

constexpr double tolerance = 1e-5;  // × max|output|

// One golden file; tensors are loaded on first use and kept alive with the file.
class reference {
   public:
    explicit reference(const std::string& name)
        : name_(name), file_(std::string(MOE_TEST_DATA_DIR) + "/layer_reference/" + name + ".safetensors") {}

    matrix_view<const float> operator[](const std::string& tensor) {
        auto it = tensors_.find(tensor);
        if (it == tensors_.end()) it = tensors_.emplace(tensor, moe::io::load_tensor<float>(file_.require(tensor))).first;
        return it->second.matrix();
    }
    const std::string& name() const { return name_; }

   private:
    std::string name_;
    moe::io::safetensors_file file_;
    std::map<std::string, moe::io::loaded_tensor<float>> tensors_;
};

// The rotary module's inv_freq, attention factor and cos/sin rows, and the module's softmax scale.
void check_rope(reference& ref, const moe::cpu::rotary_embedding& rope, float softmax_scale) {
    const auto inv_freq = ref["rope.inv_freq"];
    REQUIRE(inv_freq.cols == std::int64_t(rope.inverse_frequencies().size()));
    for (std::int64_t i = 0; i < inv_freq.cols; ++i) {
        CHECK(rope.inverse_frequencies()[std::size_t(i)] == Approx(inv_freq.data[i]).epsilon(2e-7));
    }
    CHECK(rope.attention_factor() == Approx(ref["rope.attention_scaling"].data[0]).epsilon(1e-7));
    CHECK(softmax_scale == Approx(ref["scaling"].data[0]).epsilon(1e-7));

    const auto position_ids = ref["position_ids"];
    for (std::int64_t t = 0; t < position_ids.cols; ++t) REQUIRE(position_ids.data[t] == float(t));
    moe::host_matrix<float> cos, sin;
    rope.tables(0, position_ids.cols, cos, sin);
    CHECK(relative_error(cos.view(), ref["rope.cos"]) <= 1e-6);
    CHECK(relative_error(sin.view(), ref["rope.sin"]) <= 1e-6);
}

// Runs `layer` over x as one prefill, token by token, and as 3 + 4 tokens; each must match the HF output.
template <class Layer>
void check_outputs(reference& ref, Layer& layer) {
    const auto x = ref["x"];
    const auto expected = ref["output"];
    const std::int64_t T = x.rows, D = x.cols;
    moe::cpu::thread_pool pool(2);

    moe::host_matrix<float> prefill(T, D), decode(T, D), chunked(T, D);
    auto cache = layer.make_cache(T);
    layer.forward(x, cache, prefill.view(), pool);
    CHECK(cache.size() == T);

    auto decode_cache = layer.make_cache(T);
    for (std::int64_t t = 0; t < T; ++t) {
        layer.forward(moe::test::rows_of(x, t, 1), decode_cache, moe::test::rows_of(decode.view(), t, 1), pool);
    }
    auto chunk_cache = layer.make_cache(T);
    layer.forward(moe::test::rows_of(x, 0, 3), chunk_cache, moe::test::rows_of(chunked.view(), 0, 3), pool);
    layer.forward(moe::test::rows_of(x, 3, T - 3), chunk_cache, moe::test::rows_of(chunked.view(), 3, T - 3), pool);

    const double e_prefill = relative_error(prefill.view(), expected);
    const double e_decode = relative_error(decode.view(), expected);
    const double e_chunked = relative_error(chunked.view(), expected);
    std::printf("%-16s max|out| %.4f  max abs err / max|out|: prefill %.2e  decode %.2e  chunked %.2e\n",
                ref.name().c_str(), double(moe::test::max_abs(expected)), e_prefill, e_decode, e_chunked);
    CHECK(e_prefill <= tolerance);
    CHECK(e_decode <= tolerance);
    CHECK(e_chunked <= tolerance);
    // HF's own cached decode agrees with its prefill to the same tolerance (checked by the generator too).
    CHECK(relative_error(ref["output_decode"], expected) <= tolerance);

    // A full cache refuses more tokens and stays as it was.
    CHECK_THROWS_AS(layer.forward(moe::test::rows_of(x, 0, 1), cache, moe::test::rows_of(prefill.view(), 0, 1), pool),
                    moe::cpu::kv_cache_full);
    CHECK(cache.size() == T);
}

template <moe::attention_config C>
void check_gqa(const std::string& name, moe::attention_runtime runtime) {
    reference ref(name);
    moe::attention_weights<C> w;
    w.q_proj = ref["q_proj.weight"];
    w.k_proj = ref["k_proj.weight"];
    w.v_proj = ref["v_proj.weight"];
    w.o_proj = ref["o_proj.weight"];
    if constexpr (C.qkv_bias) {
        w.q_bias = ref["q_proj.bias"];
        w.k_bias = ref["k_proj.bias"];
        w.v_bias = ref["v_proj.bias"];
    }
    if constexpr (C.output_bias) w.o_bias = ref["o_proj.bias"];
    if constexpr (C.qk_norm != moe::qk_norm_kind::none) {
        w.q_norm = ref["q_norm.weight"];
        w.k_norm = ref["k_norm.weight"];
    }
    moe::cpu::grouped_query_attention<C> layer(w, runtime);
    check_rope(ref, layer.rotary(), layer.softmax_scale());
    check_outputs(ref, layer);
}

template <moe::mla_config C>
void check_mla(const std::string& name, moe::mla_runtime runtime) {
    reference ref(name);
    moe::mla_weights<C> w;
    if constexpr (C.q_lora_rank == 0) {
        w.q_proj = ref["q_proj.weight"];
    } else {
        w.q_a_proj = ref["q_a_proj.weight"];
        if constexpr (C.bias) w.q_a_bias = ref["q_a_proj.bias"];
        w.q_a_norm = ref["q_a_layernorm.weight"];
        w.q_b_proj = ref["q_b_proj.weight"];
    }
    w.kv_a_proj = ref["kv_a_proj_with_mqa.weight"];
    if constexpr (C.bias) w.kv_a_bias = ref["kv_a_proj_with_mqa.bias"];
    w.kv_a_norm = ref["kv_a_layernorm.weight"];
    w.kv_b_proj = ref["kv_b_proj.weight"];
    w.o_proj = ref["o_proj.weight"];
    if constexpr (C.bias) w.o_bias = ref["o_proj.bias"];
    moe::cpu::multi_head_latent_attention<C> layer(w, runtime);
    check_rope(ref, layer.rotary(), layer.softmax_scale());
    check_outputs(ref, layer);
}

// The tiny configs of tools/make_layer_reference.py: D = 64, 4 heads, 2 kv heads, head_dim 16.
constexpr moe::attention_config tiny_gqa{.model_width = 64, .heads = 4, .kv_heads = 2, .head_dim = 16};

moe::rope_parameters deepseek_yarn(double factor, double mscale, double mscale_all_dim) {
    return {.type = moe::rope_type::yarn, .theta = 1e4, .factor = factor, .original_max_position_embeddings = 4096,
            .beta_fast = 32, .beta_slow = 1, .mscale = mscale, .mscale_all_dim = mscale_all_dim};
}

}  // namespace

TEST_CASE("Mixtral attention matches MixtralAttention", "[layers][transformers]") {
    check_gqa<tiny_gqa>("mixtral", {.rope = moe::rope_parameters::plain(1e6)});
}

TEST_CASE("Mixtral attention with a sliding window matches MixtralAttention", "[layers][transformers]") {
    check_gqa<tiny_gqa>("mixtral_sliding", {.rope = moe::rope_parameters::plain(1e6), .sliding_window = 3});
}

TEST_CASE("Qwen2-MoE attention (q/k/v bias) matches Qwen2MoeAttention", "[layers][transformers]") {
    constexpr auto config = [] { auto c = tiny_gqa; c.qkv_bias = true; return c; }();
    check_gqa<config>("qwen2_moe", {.rope = moe::rope_parameters::plain(1e6)});
}

TEST_CASE("Qwen3-MoE attention (per-head QK-norm, biases) matches Qwen3MoeAttention", "[layers][transformers]") {
    constexpr auto config = [] {
        auto c = tiny_gqa;
        c.qkv_bias = c.output_bias = true;
        c.qk_norm = moe::qk_norm_kind::per_head;
        return c;
    }();
    check_gqa<config>("qwen3_moe", {.rope = moe::rope_parameters::plain(1e6), .rms_norm_eps = 1e-6f});
}

TEST_CASE("OLMoE attention (whole-projection QK-norm, clip_qkv) matches OlmoeAttention", "[layers][transformers]") {
    constexpr auto config = [] { auto c = tiny_gqa; c.qk_norm = moe::qk_norm_kind::whole_projection; return c; }();
    check_gqa<config>("olmoe", {.rope = moe::rope_parameters::plain(1e4), .rms_norm_eps = 1e-5f, .clip_qkv = 2.0f});
}

TEST_CASE("DeepSeek-V2-Lite MLA (no q compression, YaRN) matches DeepseekV2Attention", "[layers][transformers]") {
    constexpr moe::mla_config config{.model_width = 64, .heads = 4, .q_lora_rank = 0, .kv_lora_rank = 32,
                                     .qk_nope_head_dim = 16, .qk_rope_head_dim = 8, .v_head_dim = 16};
    check_mla<config>("deepseek_v2", {.rope = deepseek_yarn(40.0, 0.707, 0.707)});
}

TEST_CASE("DeepSeek-V3 MLA (q_lora_rank, bias, YaRN mscale) matches DeepseekV3Attention", "[layers][transformers]") {
    constexpr moe::mla_config config{.model_width = 64, .heads = 4, .q_lora_rank = 24, .kv_lora_rank = 32,
                                     .qk_nope_head_dim = 16, .qk_rope_head_dim = 8, .v_head_dim = 16, .bias = true};
    check_mla<config>("deepseek_v3", {.rope = deepseek_yarn(4.0, 1.0, 0.8)});
}

}  // namespace test_attention_vs_transformers
