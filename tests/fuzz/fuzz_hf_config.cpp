// libFuzzer target: random bytes parsed as a config.json and checked against shipped model types (the tiny
// reasoner's Qwen3-MoE, a Qwen2-MoE with per-layer sliding windows, a DeepSeek-V3 with YaRN).
// The contract under test: any input is either accepted — and then every run-time value the loader would read is
// in range (finite RoPE theta > 1, eps > 0, windows >= 1, ...) — or refused with a moe::error (config_error);
// no crash, no undefined behaviour (UBSan), no other exception (a raw nlohmann::type_error aborts the fuzzer).
// Seed corpus: tests/fuzz/corpus/fuzz_hf_config/. Build by hand, e.g.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_hf_config.cpp -o fuzz_hf_config
//   ./fuzz_hf_config -max_total_time=60 -max_len=16384 tests/fuzz/corpus/fuzz_hf_config
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "moe/model/description.hpp"
#include "moe/models/families.hpp"
#include "moe/models/hf_config.hpp"
#include "moe/models/load_model.hpp"
#include "moe/models/tiny_reasoner.hpp"

namespace {

constexpr moe::qwen2_moe_config qwen2_card{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 48, .experts = 6,
                                           .top_k = 3, .shared_expert_width = 80, .weights = moe::weight_format::fp32};
constexpr moe::deepseek_v3_config v3_card{.vocab_size = 160, .model_width = 64, .layers = 3, .heads = 4,
                                          .q_lora_rank = 24, .kv_lora_rank = 32, .qk_nope_head_dim = 16,
                                          .qk_rope_head_dim = 8, .v_head_dim = 16, .dense_layers = 1,
                                          .dense_width = 96, .expert_width = 32, .experts = 12, .top_k = 3,
                                          .shared_experts = 1, .groups = 4, .top_k_groups = 2,
                                          .weights = moe::weight_format::fp32};

void require(bool ok) {
    if (!ok) __builtin_trap();
}

void check_rope(const moe::rope_parameters& r) {
    require(std::isfinite(r.theta) && r.theta > 1.0);
    if (r.type == moe::rope_type::yarn) {
        require(std::isfinite(r.factor) && r.factor >= 1.0 && r.original_max_position_embeddings >= 1);
        require(r.beta_fast > 0 && r.beta_slow > 0 && std::isfinite(r.beta_fast) && std::isfinite(r.beta_slow));
        require(r.mscale >= 0 && r.mscale_all_dim >= 0 && r.attention_factor >= 0);
    }
}

// Checks `config` against Description; when accepted, reads the run-time values as the loader does.
template <class Description>
void check_against(const moe::hf_config& parsed) {
    using loader = moe::loading::model_loader<Description>;
    using conventions = typename loader::conventions;
    moe::hf_config config = parsed;
    try {
        loader::check(config);
    } catch (const moe::config_error&) {
        return;  // refused: fine
    }
    require(config.mismatches().empty());
    check_rope(config.rope(conventions::default_rope_theta));
    const float eps = moe::rms_norm_eps<conventions>(config);
    require(std::isfinite(eps) && eps > 0.0f);
    const float scale = conventions::routed_scaling_factor(config);
    require(std::isfinite(scale) && scale > 0.0f);
    const float clip = conventions::clip_qkv(config);
    require(std::isfinite(clip) && clip >= 0.0f);
    for (int layer = 0; layer < Description::layer_count; ++layer) require(conventions::sliding_window(config, layer) >= 0);
    require(config.integer({"max_position_embeddings"}, std::nullopt, 1) >= 1);
    require(config.mismatches().empty());  // reading again finds nothing new
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto config = moe::hf_config::parse(text, "fuzz-input/config.json");
        check_against<moe::qwen3_moe<moe::tiny_reasoner>>(config);
        check_against<moe::qwen2_moe<qwen2_card>>(config);
        check_against<moe::deepseek_v3<v3_card>>(config);
    } catch (const moe::config_error&) {
        // Malformed JSON or not an object: the expected outcome for most random bytes.
    }
    return 0;
}
