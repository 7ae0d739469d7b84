// FLOPs and bytes of moe::ledger::cost_of<Model>() against hand computation for a small Qwen3-MoE type, and the
// tracker's per-phase bookkeeping (estimate path: no meter).
#include <catch2/catch.hpp>

#include <tuple>

#include "moe/ledger.hpp"
#include "moe/models/families.hpp"

namespace test_ledger_cost {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

// V 10, D 8, 2 layers, GQA 2 heads / 1 kv head of width 4, 4 experts top-2 of width 6, fp32, untied head.
constexpr moe::qwen3_moe_config small{.vocab_size = 10, .model_width = 8, .layers = 2, .heads = 2, .kv_heads = 1,
                                      .head_dim = 4, .expert_width = 6, .experts = 4, .top_k = 2,
                                      .norm_topk_prob = true, .weights = moe::weight_format::fp32};
using small_model = moe::qwen3_moe<small>;

}  // namespace

TEST_CASE("cost_of: per-token constants of a small Qwen3-MoE by hand") {
    const auto c = moe::ledger::cost_of<small_model>();
    CHECK(c.family == "qwen3_moe");
    CHECK(c.layers == 2);
    // Per layer: attention q 8·8 + k 4·8 + v 4·8 + o 8·8 = 192 matmul weights, + q_norm/k_norm 2·4 = 200;
    // router 4·8 = 32; one expert 3·8·6 = 144; norms 2·8 = 16.
    // total  = 2·(200 + 32 + 4·144 + 16) + embedding 80 + final norm 8 + head 80 = 2·824 + 168 = 1816
    // active = 2·(200 + 32 + 2·144 + 16) + 168 = 2·536 + 168 = 1240
    CHECK(c.parameters_total == 1816);
    CHECK(c.parameters_active == 1240);
    CHECK(c.shared_matmul_parameters == 2 * (192 + 32));
    CHECK(c.head_matmul_parameters == 80);
    CHECK(c.attention_flops_per_position == 2 * (4 * 2 * 4));  // 2 layers · 4·H·Dh
    CHECK(c.kv_bytes_per_position == 2 * (2 * 4 * 4));         // 2 layers · (K + V of 1 kv head · 4) · 4 bytes
    // Fixed bytes: per layer (attention 200 + norms 16) · 4 + router 32 · 4 (fp32) = 992; + final norm 32 + head 320.
    CHECK(c.fixed_weight_bytes == 2 * 992 + 32 + 320);
    CHECK(c.embedding_row_bytes == 32);
    REQUIRE(c.experts.size() == 1);
    CHECK(c.experts[0] == moe::ledger::expert_group{.layers = 2, .experts = 4, .top_k = 2, .expert_parameters = 144,
                                                    .expert_bytes = 576});

    // Same totals as the description's own parameter counts of its layer.
    using layer = std::tuple_element_t<0, small_model::stacks>::layer;  // the stack's model::decoder
    CHECK(c.parameters_total == 2 * layer::parameters() + 168);
    CHECK(c.parameters_active == 2 * layer::active_parameters() + 168);
}

TEST_CASE("cost_of: q8_0 weights count 34 bytes per 32 matrix weights, vectors and routers in fp32") {
    // V 10, D 32, 2 layers, 2 heads / 1 kv head of width 16, 4 experts top-2 of width 32.
    constexpr moe::qwen3_moe_config q8{.vocab_size = 10, .model_width = 32, .layers = 2, .heads = 2, .kv_heads = 1,
                                       .head_dim = 16, .expert_width = 32, .experts = 4, .top_k = 2,
                                       .norm_topk_prob = true, .weights = moe::weight_format::q8_0};
    const auto c = moe::ledger::cost_of<moe::qwen3_moe<q8>>();
    // Per layer: attention matrices q 32·32 + k 16·32 + v 16·32 + o 32·32 = 3072 → 3072·34/32 = 3264 bytes, q/k norms
    // 2·16 fp32 = 128; router 4·32 fp32 = 512; norms 2·32 fp32 = 256 → 4160. Final norm 32 fp32 = 128, head 320 → 340.
    CHECK(c.fixed_weight_bytes == 2 * 4160 + 128 + 340);
    CHECK(c.embedding_row_bytes == 34);
    REQUIRE(c.experts.size() == 1);
    CHECK(c.experts[0].expert_parameters == 3 * 32 * 32);
    CHECK(c.experts[0].expert_bytes == 3 * 32 * 32 * 34 / 32);
}

namespace {
// D 256 (the K-quants' block width), 2 layers, 2 heads / 1 kv head of width 128, 4 experts top-2 of width 256.
template <moe::weight_format Format>
void check_ggml_block_bytes(std::int64_t bytes_per_256_weights) {
    constexpr moe::qwen3_moe_config q{.vocab_size = 10, .model_width = 256, .layers = 2, .heads = 2, .kv_heads = 1,
                                      .head_dim = 128, .expert_width = 256, .experts = 4, .top_k = 2,
                                      .norm_topk_prob = true, .weights = Format};
    const auto c = moe::ledger::cost_of<moe::qwen3_moe<q>>();
    const std::int64_t b = bytes_per_256_weights;
    // Per layer: attention matrices q 256·256 + k 128·256 + v 128·256 + o 256·256 = 196608 weights; q/k norms
    // 2·128 fp32 = 1024 bytes; router 4·256 fp32 = 4096; norms 2·256 fp32 = 2048. Final norm 1024, head 10·256.
    CHECK(c.fixed_weight_bytes == 2 * (196608 * b / 256 + 1024 + 4096 + 2048) + 1024 + 2560 * b / 256);
    CHECK(c.embedding_row_bytes == b);
    REQUIRE(c.experts.size() == 1);
    CHECK(c.experts[0].expert_bytes == 3 * 256 * b);
}
}  // namespace

TEST_CASE("cost_of: q4_0 counts 18 bytes per 32 weights, q4_k 144, q5_k 176, q6_k 210 per 256") {
    check_ggml_block_bytes<moe::weight_format::q4_0>(8 * 18);
    check_ggml_block_bytes<moe::weight_format::q4_k>(144);
    check_ggml_block_bytes<moe::weight_format::q5_k>(176);
    check_ggml_block_bytes<moe::weight_format::q6_k>(210);
}

TEST_CASE("cost_of: fp8_e4m3 counts 132 bytes per 128 matrix weights (codes + the block's fp32 scale)") {
    check_ggml_block_bytes<moe::weight_format::fp8_e4m3>(2 * 132);
}

TEST_CASE("cost_of: one decoding step and one prefill by hand") {
    const auto c = moe::ledger::cost_of<small_model>();

    // One token after 5 cached positions: matmuls 2·(448 + 2 layers·2 experts·144) = 2048, head 2·80 = 160,
    // attention 64 FLOPs per position · 6 positions = 384.
    const auto step = c.forward(1, 5);
    CHECK(step.flops == 2048 + 160 + 384);
    CHECK(step.dense_flops == 2 * (448 + 2 * 4 * 144) + 160 + 384);
    // Bytes: fixed 2336 + embedding row 32 + KV (read 6 positions, write 1) · 64 + experts 2 layers · 2 · 576.
    CHECK(step.bytes == 2336 + 32 + 7 * 64 + 2 * 2 * 576);
    CHECK(step.dense_bytes == 2336 + 32 + 7 * 64 + 2 * 4 * 576);

    // A 3-token prefill, logits of the last row only: attended positions 1 + 2 + 3 = 6; experts touched per layer
    // min(4, 3·2) = 4, i.e. every one — the dense model's bytes.
    const auto prefill = c.forward(3, 0);
    CHECK(prefill.flops == 2 * 3 * (448 + 576) + 160 + 64 * 6);
    CHECK(prefill.dense_flops == 2 * 3 * (448 + 1152) + 160 + 64 * 6);
    CHECK(prefill.bytes == 2336 + 3 * 32 + (3 + 3) * 64 + 2 * 4 * 576);
    CHECK(prefill.dense_bytes == prefill.bytes);

    // All rows' logits: 3 head products.
    CHECK(c.forward(3, 0, 3).flops == prefill.flops + 2 * 160);
    // Nothing fed, nothing spent.
    CHECK(c.forward(0, 9) == moe::ledger::call_cost{});
}

TEST_CASE("cost_of: a DeepSeek-V3 type with a dense first layer and MLA") {
    constexpr moe::deepseek_v3_config v3{.vocab_size = 16, .model_width = 8, .layers = 3, .heads = 2,
                                         .q_lora_rank = 4, .kv_lora_rank = 6, .qk_nope_head_dim = 4,
                                         .qk_rope_head_dim = 2, .v_head_dim = 4, .dense_layers = 1,
                                         .dense_width = 12, .expert_width = 4, .experts = 8, .top_k = 2,
                                         .shared_experts = 1, .groups = 2, .top_k_groups = 1,
                                         .weights = moe::weight_format::fp32};
    const auto c = moe::ledger::cost_of<moe::deepseek_v3<v3>>();
    CHECK(c.layers == 3);
    // MLA caches R + Dr = 8 floats per position and layer; absorbed attention 2·H·(R+Dr) + 2·H·R = 32 + 24 = 56.
    CHECK(c.kv_bytes_per_position == 3 * 8 * 4);
    CHECK(c.attention_flops_per_position == 3 * 56);
    REQUIRE(c.experts.size() == 1);  // the dense layer has no routed experts
    CHECK(c.experts[0].layers == 2);
    CHECK(c.experts[0].expert_parameters == 3 * 8 * 4);
    // The dense-equivalent differs from the MoE only in the routed experts: 2 layers · (8 − 2) · 96 weights.
    const auto s = c.forward(1, 0);
    CHECK(s.dense_flops - s.flops == 2.0 * 2 * 6 * 96);
    CHECK(s.dense_bytes - s.bytes == 2.0 * 6 * 96 * 4);  // 2 layers · 6 more experts · 96 weights · 4 bytes
}

TEST_CASE("tracker: tokens and costs per phase, estimate energy without a meter") {
    const auto c = moe::ledger::cost_of<small_model>();
    moe::ledger::tracker t(c);
    CHECK_THROWS_AS(t.forward(1, 0), std::logic_error);
    t.begin(moe::ledger::phase::prompt);
    t.forward(3, 0);
    t.begin(moe::ledger::phase::thinking);
    t.forward(1, 3);
    t.forward(1, 4);
    t.begin(moe::ledger::phase::answer);
    t.forward(1, 5);
    const auto r = t.finish();

    CHECK(r.model == "qwen3_moe");
    CHECK(r.parameters_total == 1816);
    CHECK(r.energy_note == "no energy meter: estimate");
    CHECK(r.prompt.tokens == 3);
    CHECK(r.prompt.cost == c.forward(3, 0));
    CHECK(r.thinking.tokens == 2);
    CHECK(r.thinking.calls == 2);
    CHECK(r.thinking.cost.flops == c.forward(1, 3).flops + c.forward(1, 4).flops);
    CHECK(r.answer.cost == c.forward(1, 5));
    for (auto p : moe::ledger::all_phases) {
        const auto& e = r[p];
        CHECK(e.source == moe::ledger::energy_source::estimate);
        CHECK(e.seconds >= 0);
        CHECK(e.joules_estimate == Approx(e.cost.flops * 2.3e-12 + e.cost.bytes * 160e-12));
        CHECK(e.joules == e.joules_estimate);
        CHECK(e.dense_joules == e.dense_joules_estimate);
        CHECK(e.dense_joules_estimate >= e.joules_estimate);
    }
    const auto total = r.total();
    CHECK(total.tokens == 6);
    CHECK(total.calls == 4);
    CHECK(total.source == moe::ledger::energy_source::estimate);
    CHECK(total.joules == Approx(r.prompt.joules + r.thinking.joules + r.answer.joules));

    // The tracker starts over after finish().
    t.begin(moe::ledger::phase::answer);
    t.forward(1, 0);
    const auto again = t.finish();
    CHECK(again.prompt.tokens == 0);
    CHECK(again.answer.tokens == 1);
}

}  // namespace test_ledger_cost
