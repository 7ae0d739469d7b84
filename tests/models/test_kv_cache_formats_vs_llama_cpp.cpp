// Whole models with bf16, fp16 and q8_0 KV caches (model/with_kv_cache.hpp), on two tiny GGUF files whose head widths
// are whole q8_0 blocks (tools/make_gguf_models.py: mixtral_hd32_f32 — GQA 2/1, head_dim 32 — and
// deepseek_v2_kv32_f32 — MLA, latent 32 + rope key 32; f32 weights, so the cache is the only rounding):
//   - q8_0 cache against llama.cpp with `-ctk q8_0 -ctv q8_0` and flash attention on the same file
//     (tests/data/gguf_models/<case>.q8_0_cache.logits.safetensors): prefill of three sequences and one token by
//     token, within 2e-5 · max |logit| (same stored bytes, same Q rounding; the sums run in other orders);
//   - fp16 cache against llama.cpp's f16 cache: within 2e-3 · max |logit| — llama.cpp's flash attention keeps its
//     V accumulator in fp16 when V is f16 (the library accumulates in fp32); measured 6.3e-4 and 5.8e-4, and
//     7.6e-4 between llama.cpp's own f16-cache prefill and decode;
//   - every format against the library's fp32 cache: bf16 within 1e-2, fp16 2e-3, q8_0 5e-2 of max |logit|
//     (measured 2.4e-3, 3.4e-4, 3.0e-2 on Mixtral; 2.3e-3, 3.2e-4, 7.7e-3 on DeepSeek-V2);
//   - the ledger's cache bytes per position, and what a sequence holds, from the type.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "moe/ledger/cost.hpp"
#include "moe/model/with_kv_cache.hpp"
#include "moe/models.hpp"
#include "reference_logits.hpp"

namespace test_kv_cache_formats_vs_llama_cpp {  // the file's own namespace: a test group is one translation unit

namespace {

using moe::kv_cache_format;
using moe_test::max_abs;
using moe_test::max_abs_diff;

constexpr moe::mixtral_config mixtral_hd32{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 2,
                                           .kv_heads = 1, .head_dim = 32, .expert_width = 96, .experts = 4,
                                           .top_k = 2, .weights = moe::weight_format::fp32};
constexpr moe::deepseek_v2_config deepseek_v2_kv32{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                                   .q_lora_rank = 0, .kv_lora_rank = 32, .qk_nope_head_dim = 16,
                                                   .qk_rope_head_dim = 32, .v_head_dim = 16, .dense_layers = 1,
                                                   .dense_width = 96, .expert_width = 32, .experts = 8, .top_k = 3,
                                                   .shared_experts = 1, .weights = moe::weight_format::fp32};

template <class Description, kv_cache_format Format>
using cpu_model = moe::cpu::model<moe::model::with_kv_cache<Description, Format>>;

std::string data(const std::string& file) { return std::string(MOE_TEST_DATA_DIR) + "/gguf_models/" + file; }

struct logits_set {
    std::vector<moe::host_matrix<float>> prefill;  // one per reference sequence
    moe::host_matrix<float> stepped;               // sequence 1, one token per forward
};

template <class Model>
logits_set run(const std::string& gguf, const moe_test::reference_logits& ref) {
    auto model = moe::load_model<Model>(data(gguf));
    moe::cpu::thread_pool pool(2);
    logits_set out;
    for (int s = 0; s < 3; ++s) out.prefill.push_back(moe_test::run_logits(model, ref.tokens[s], false, pool));
    out.stepped = moe_test::run_logits(model, ref.tokens[1], true, pool);
    return out;
}

// Largest |a − b| / max |b| over the three prefills and the stepped sequence.
double worst_relative(const logits_set& a, const logits_set& b) {
    double worst = 0;
    for (int s = 0; s < 3; ++s) {
        worst = std::max(worst, max_abs_diff(a.prefill[s].view(), b.prefill[s].view()) / max_abs(b.prefill[s].view()));
    }
    return std::max(worst, max_abs_diff(a.stepped.view(), b.stepped.view()) / max_abs(b.stepped.view()));
}

logits_set as_set(const moe_test::reference_logits& ref) {
    logits_set out;
    for (int s = 0; s < 3; ++s) out.prefill.push_back(ref.logits[s]);
    out.stepped = ref.logits_step;
    return out;
}

template <class Description>
void check_formats(const std::string& name) {
    const auto llama_f32 = moe_test::read_reference_logits(data(name + ".logits.safetensors"), 160);
    const auto llama_q8 = moe_test::read_reference_logits(data(name + ".q8_0_cache.logits.safetensors"), 160);
    const auto llama_f16 = moe_test::read_reference_logits(data(name + ".f16_cache.logits.safetensors"), 160);

    const auto fp32 = run<cpu_model<Description, kv_cache_format::fp32>>(name + ".gguf", llama_f32);
    const auto bf16 = run<cpu_model<Description, kv_cache_format::bf16>>(name + ".gguf", llama_f32);
    const auto fp16 = run<cpu_model<Description, kv_cache_format::fp16>>(name + ".gguf", llama_f32);
    const auto q8_0 = run<cpu_model<Description, kv_cache_format::q8_0>>(name + ".gguf", llama_f32);

    const double fp32_vs_llama = worst_relative(fp32, as_set(llama_f32));
    const double q8_vs_llama = worst_relative(q8_0, as_set(llama_q8));
    const double fp16_vs_llama = worst_relative(fp16, as_set(llama_f16));
    const double bf16_vs_fp32 = worst_relative(bf16, fp32), fp16_vs_fp32 = worst_relative(fp16, fp32),
                 q8_vs_fp32 = worst_relative(q8_0, fp32);
    const double llama_q8_vs_f32 = worst_relative(as_set(llama_q8), as_set(llama_f32));
    INFO(name << ": fp32 cache vs llama.cpp f32 " << fp32_vs_llama << "; q8_0 vs llama.cpp q8_0 " << q8_vs_llama
              << "; fp16 vs llama.cpp f16 " << fp16_vs_llama << "; against our fp32 cache: bf16 " << bf16_vs_fp32
              << ", fp16 " << fp16_vs_fp32 << ", q8_0 " << q8_vs_fp32 << " (llama.cpp's q8_0 vs its f32 cache "
              << llama_q8_vs_f32 << ")");
    CHECK(fp32_vs_llama <= 1e-5);
    CHECK(q8_vs_llama <= 5e-6);
    // The q8_0 cache moves the logits as far from the fp32 ones as llama.cpp's q8_0 cache moves its own.
    CHECK(std::abs(q8_vs_fp32 - llama_q8_vs_f32) <= 0.1 * llama_q8_vs_f32);
    CHECK(fp16_vs_llama <= 2e-3);
    CHECK(bf16_vs_fp32 <= 1e-2);
    CHECK(fp16_vs_fp32 <= 2e-3);
    CHECK(q8_vs_fp32 <= 5e-2);
    // The rounding is real: a cache that silently stayed fp32 would match the fp32 logits to the last bits.
    CHECK(q8_vs_fp32 > 1e-5);
    CHECK(bf16_vs_fp32 > 1e-5);
}

}  // namespace

TEST_CASE("Mixtral-shaped GGUF with bf16/fp16/q8_0 KV caches: q8_0 equals llama.cpp's q8_0 cache",
          "[models][gguf][formats]") {
    check_formats<moe::mixtral<mixtral_hd32>>("mixtral_hd32_f32");
}

TEST_CASE("DeepSeek-V2 MLA GGUF with bf16/fp16/q8_0 latent caches: q8_0 equals llama.cpp's q8_0 cache",
          "[models][gguf][formats]") {
    check_formats<moe::deepseek_v2<deepseek_v2_kv32>>("deepseek_v2_kv32_f32");
}

TEST_CASE("the ledger and the sequences count cache bytes in the type's format", "[models][formats][ledger]") {
    using q8 = moe::model::with_kv_cache<moe::mixtral<mixtral_hd32>, kv_cache_format::q8_0>;
    using latent_bf16 = moe::model::with_kv_cache<moe::deepseek_v2<deepseek_v2_kv32>, kv_cache_format::bf16>;
    STATIC_REQUIRE(moe::model::kv_cache_format_of_model<q8> == kv_cache_format::q8_0);
    // Mixtral hd32: 2 layers × (keys + values: 1 kv head × 32 values = one 34-byte block each).
    CHECK(moe::ledger::cost_of<q8>().kv_bytes_per_position == 2 * 2 * 34);
    // DeepSeek-V2 kv32: 2 layers × (32 + 32) bf16 values.
    CHECK(moe::ledger::cost_of<latent_bf16>().kv_bytes_per_position == 2 * 64 * 2);

    auto model = moe::load_model<moe::cpu::model<q8>>(data("mixtral_hd32_f32.gguf"));
    CHECK(model.cache_bytes_per_position() == 2 * 2 * 34);
    auto sequence = model.new_sequence(16);
    std::vector<std::int32_t> tokens(16, 5);
    moe::host_matrix<float> logits(1, 160);
    moe::cpu::thread_pool pool(1);
    model.forward(tokens, sequence, logits.view(), pool);
    CHECK(sequence.cache_bytes() == 16 * model.cache_bytes_per_position());  // 16 positions, the capacity
}

}  // namespace test_kv_cache_formats_vs_llama_cpp
