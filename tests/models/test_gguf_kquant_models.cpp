// Whole models from GGUF files quantized by llama.cpp's own quantizer (tools/make_gguf_kquant_models.py: a tiny
// Qwen3-MoE — hidden 256, 1 layer, 4 heads / 2 KV heads of 64, 4 experts of width 256, top-2, vocab 512 — converted
// to f32 by convert_hf_to_gguf.py, then llama_model_quantize with `pure`: every matrix Q4_0, Q5_0, Q4_K, Q5_K or Q6_K,
// norms and the router F32) against the logits llama.cpp computes on the same files (llama-cpp-python, f32 KV
// cache, tests/data/gguf_kquant_models/<case>.logits.safetensors):
//   - each file in a model of its own format: the blocks used in place (the embedding's bytes are the file's), a
//     prefill of each of three sequences (lengths 7, 12, 3) and sequence 1 token by token;
//   - each file in an fp32 model (dequantized at load): within the activation-quantization error;
//   - the Q5_0 file in a gguf_mixed model (Q5_0 as one of a mixture's block types): the fixed format's logits;
//   - llama.cpp's Q4_K_M mixture (Q4_K and Q6_K tensors) refused by a q4_k model, naming a Q6_K tensor.
// Routing: the script measured the gap between the 2nd and 3rd router logit on every token of every run, with the
// dequantized weights of each file (fp32 activations): at least 0.186 (q4_k; recorded in each logits file) — far
// above the 1e-5 relative difference of the two engines' kernels, so both pick the same experts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "moe/models.hpp"
#include "reference_logits.hpp"

namespace test_gguf_kquant_models {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe_test::max_abs;
using moe_test::max_abs_diff;
using moe_test::message_of;

constexpr moe::qwen3_moe_config kquant_qwen3(moe::weight_format format) {
    return {.vocab_size = 512, .model_width = 256, .layers = 1, .heads = 4, .kv_heads = 2, .head_dim = 64,
            .expert_width = 256, .experts = 4, .top_k = 2, .norm_topk_prob = true, .tied_embeddings = true,
            .weights = format};
}
template <moe::weight_format Format>
using kquant_model = moe::cpu::qwen3_moe<kquant_qwen3(Format)>;

std::string gguf_path(const std::string& name) {
    return std::string(MOE_TEST_DATA_DIR) + "/gguf_kquant_models/" + name + ".gguf";
}

using reference = moe_test::reference_logits;
reference read_llama_logits(const std::string& name) {
    return moe_test::read_reference_logits(std::string(MOE_TEST_DATA_DIR) + "/gguf_kquant_models/" + name +
                                               ".logits.safetensors",
                                           512);
}

struct errors {
    double prefill = 0, stepped = 0;  // largest |ours - llama.cpp| / max |logit| over the sequences
};

// Model loaded from <name>.gguf against llama.cpp's prefill logits of every sequence, and sequence 1 token by
// token against llama.cpp's token-by-token run. Prefill and decode are different kernels in both engines (GEMM
// tiles / dot products), summing in different orders: at one position of the q6_k file (sequence 1, token 8) that
// is enough to tip a near-tie, and llama.cpp's own decode differs there from its prefill by 0.045 (1.2% of max
// |logit|). Which side the library's decode lands on depends on its summation order, so on the kernel path the
// target compiles (the AVX2 decode lands on llama.cpp's decode, the portable one on llama.cpp's prefill). So each
// token-by-token row must match llama.cpp's decode, or — only at a position where llama.cpp's decode and prefill
// disagree beyond the bound themselves — llama.cpp's prefill.
template <class Model>
errors against_llama_cpp(const std::string& name, double tolerance) {
    auto model = moe::load_model<Model>(gguf_path(name));
    const auto ref = read_llama_logits(name);
    moe::cpu::thread_pool pool(2);
    errors worst;
    for (int s = 0; s < 3; ++s) {
        const auto logits = moe_test::run_logits(model, ref.tokens[s], false, pool);
        const double scale = max_abs(ref.logits[s].view()), error = max_abs_diff(logits.view(), ref.logits[s].view());
        INFO(name << " prefill of sequence " << s << ": max error " << error << " (max |logit| " << scale << ")");
        CHECK(error <= tolerance * scale);
        worst.prefill = std::max(worst.prefill, error / scale);
    }
    const auto logits = moe_test::run_logits(model, ref.tokens[1], true, pool);
    const double scale = max_abs(ref.logits[1].view()), bound = tolerance * scale;
    int llama_cpp_ties = 0;
    for (std::int64_t t = 0; t < logits.rows(); ++t) {
        const auto row = [&](const moe::host_matrix<float>& m) { return moe::matrix_view<const float>{m.row(t), 1, 512}; };
        const double vs_steps = max_abs_diff(row(logits), row(ref.logits_step));
        const double vs_prefill = max_abs_diff(row(logits), row(ref.logits[1]));
        const bool llama_cpp_tie = max_abs_diff(row(ref.logits_step), row(ref.logits[1])) > bound;
        llama_cpp_ties += llama_cpp_tie;
        INFO(name << " token " << t << " by token: max error " << vs_steps << " against llama.cpp's token-by-token run, "
                  << vs_prefill << " against its prefill (max |logit| " << scale << "; llama.cpp's two differ here: "
                  << llama_cpp_tie << ")");
        const double error = llama_cpp_tie ? std::min(vs_steps, vs_prefill) : vs_steps;
        CHECK(error <= bound);
        if (!llama_cpp_tie) CHECK(vs_prefill <= bound);
        worst.stepped = std::max(worst.stepped, error / scale);
    }
    CHECK(llama_cpp_ties <= 1);  // a near-tie is rare: one position in these files (q6_k)
    return worst;
}

// The model of the file's own format: the token embedding's blocks are the file's bytes, not requantized.
template <moe::weight_format Format>
void check_in_place(const std::string& name) {
    const auto weights = moe::load_weights<kquant_model<Format>>(gguf_path(name));
    const moe::io::gguf_file file(gguf_path(name));
    const auto bytes = file.tensor_bytes(file.require_tensor("token_embd.weight"));
    using block = moe::storage_t<Format>;
    REQUIRE(bytes.size() == 512 * 256 / moe::weight_format_traits<Format>::block_width * sizeof(block));
    CHECK(std::memcmp(weights.embedding.data, bytes.data(), bytes.size()) == 0);
}

}  // namespace

// ---- each file in a model of its format: the blocks in place, the same products as llama.cpp ----
// Both engines multiply the file's blocks by activations quantized per token with the same quantizer (Q8_0 for
// q4_0, Q8_K for the K-quants) and sum exact integers within a block; only the order of the fp32 sums differs
// (docs/design.md: each product within (blocks per row + 10) · 2^-23 · Σ|x|·|w| of the exact sum). Bound 1e-5 ·
// max |logit|; an activation landing on a rounding boundary of the quantizer in one engine only would move by
// half a step of its block (1/254 of its max) — not seen here.

TEST_CASE("GGUF qwen3moe Q4_0 (llama.cpp's quantizer, pure): logits match llama.cpp's", "[models][gguf][kquants]") {
    check_in_place<moe::weight_format::q4_0>("qwen3_moe_q4_0");
    const auto e = against_llama_cpp<kquant_model<moe::weight_format::q4_0>>("qwen3_moe_q4_0", 1e-5);
    WARN("q4_0 vs llama.cpp: prefill " << e.prefill << ", token by token " << e.stepped << " · max |logit|");
}
TEST_CASE("GGUF qwen3moe Q5_0 (llama.cpp's quantizer, pure): logits match llama.cpp's", "[models][gguf][kquants]") {
    check_in_place<moe::weight_format::q5_0>("qwen3_moe_q5_0");
    const auto e = against_llama_cpp<kquant_model<moe::weight_format::q5_0>>("qwen3_moe_q5_0", 1e-5);
    WARN("q5_0 vs llama.cpp: prefill " << e.prefill << ", token by token " << e.stepped << " · max |logit|");
}
TEST_CASE("GGUF qwen3moe Q4_K (llama.cpp's quantizer, pure): logits match llama.cpp's", "[models][gguf][kquants]") {
    check_in_place<moe::weight_format::q4_k>("qwen3_moe_q4_k");
    const auto e = against_llama_cpp<kquant_model<moe::weight_format::q4_k>>("qwen3_moe_q4_k", 1e-5);
    WARN("q4_k vs llama.cpp: prefill " << e.prefill << ", token by token " << e.stepped << " · max |logit|");
}
TEST_CASE("GGUF qwen3moe Q5_K (llama.cpp's quantizer, pure): logits match llama.cpp's", "[models][gguf][kquants]") {
    check_in_place<moe::weight_format::q5_k>("qwen3_moe_q5_k");
    const auto e = against_llama_cpp<kquant_model<moe::weight_format::q5_k>>("qwen3_moe_q5_k", 1e-5);
    WARN("q5_k vs llama.cpp: prefill " << e.prefill << ", token by token " << e.stepped << " · max |logit|");
}
TEST_CASE("GGUF qwen3moe Q6_K (llama.cpp's quantizer, pure): logits match llama.cpp's", "[models][gguf][kquants]") {
    check_in_place<moe::weight_format::q6_k>("qwen3_moe_q6_k");
    const auto e = against_llama_cpp<kquant_model<moe::weight_format::q6_k>>("qwen3_moe_q6_k", 1e-5);
    WARN("q6_k vs llama.cpp: prefill " << e.prefill << ", token by token " << e.stepped << " · max |logit|");
}

// ---- the same files in an fp32 model: dequantized at load, fp32 activations ----

TEST_CASE("GGUF K-quant files in an fp32 model: dequantized, within the activation quantization of llama.cpp",
          "[models][gguf][kquants]") {
    // The weights are exactly the file's (dequantized as ggml does); llama.cpp rounds the activations of each
    // product to 8 bits (Q8_0 / Q8_K), the fp32 model does not: that rounding is the whole difference.
    using fp32 = kquant_model<moe::weight_format::fp32>;
    for (const char* name : {"qwen3_moe_q4_0", "qwen3_moe_q5_0", "qwen3_moe_q4_k", "qwen3_moe_q5_k", "qwen3_moe_q6_k"}) {
        auto model = moe::load_model<fp32>(gguf_path(name));
        const auto ref = read_llama_logits(name);
        moe::cpu::thread_pool pool(2);
        double worst = 0;
        for (int s = 0; s < 3; ++s) {
            const auto logits = moe_test::run_logits(model, ref.tokens[s], false, pool);
            worst = std::max(worst, max_abs_diff(logits.view(), ref.logits[s].view()) / max_abs(ref.logits[s].view()));
        }
        INFO(name << ": fp32 model vs llama.cpp, max error " << worst << " · max |logit|");
        // Measured 1.8e-2 (q4_0), 2.5e-2 (q4_k, q6_k), 2.6e-2 (q5_k) · max |logit|, about one 8-bit step (1/127)
        // of each product's largest activation carried through the layer; bound 4e-2.
        CHECK(worst > 1e-5);   // not the same arithmetic: the activations are not rounded here
        CHECK(worst <= 4e-2);
        WARN(name << " in an fp32 model vs llama.cpp: " << worst << " · max |logit|");
    }
}

// ---- Q5_0 as a block type of weight_format::gguf_mixed ----

TEST_CASE("GGUF Q5_0 file in a gguf_mixed model: llama.cpp's logits, the Q5_0 model's bits", "[models][gguf][kquants]") {
    // llama.cpp writes Q5_0 inside Q4_K_M files where a width is not a multiple of 256; a gguf_mixed model keeps
    // such a matrix's blocks and multiplies them with the q5_0 kernels, so it computes the q5_0 model's bits.
    using mixed = kquant_model<moe::weight_format::gguf_mixed>;
    using fixed = kquant_model<moe::weight_format::q5_0>;
    const auto e = against_llama_cpp<mixed>("qwen3_moe_q5_0", 1e-5);
    WARN("q5_0 in gguf_mixed vs llama.cpp: prefill " << e.prefill << ", token by token " << e.stepped << " · max |logit|");
    auto a = moe::load_model<mixed>(gguf_path("qwen3_moe_q5_0"));
    auto b = moe::load_model<fixed>(gguf_path("qwen3_moe_q5_0"));
    const auto ref = read_llama_logits("qwen3_moe_q5_0");
    moe::cpu::thread_pool pool(2);
    for (const bool stepped : {false, true}) {
        const auto la = moe_test::run_logits(a, ref.tokens[1], stepped, pool);
        const auto lb = moe_test::run_logits(b, ref.tokens[1], stepped, pool);
        INFO((stepped ? "token by token" : "prefill"));
        CHECK(max_abs_diff(la.view(), lb.view()) == 0.0);
    }
}

// ---- a mixed file: llama.cpp's Q4_K_M default (Q4_K and Q6_K tensors) ----

TEST_CASE("A GGUF whose tensors have several types (Q4_K_M) is refused by a q4_k model, naming a Q6_K tensor",
          "[models][gguf][kquants][errors]") {
    const std::string path = gguf_path("qwen3_moe_q4_k_m");
    const std::string m = message_of([&] { (void)moe::load_model<kquant_model<moe::weight_format::q4_k>>(path); });
    INFO(m);
    CHECK(m.starts_with(path + ": "));
    CHECK(m.find("is Q6_K, which a model of format q4_k cannot use (it reads F32, F16, BF16 and Q4_K tensors)") !=
          std::string::npos);
    // The same file in an fp32 model: every tensor dequantized, whatever its type.
    auto model = moe::load_model<kquant_model<moe::weight_format::fp32>>(path);
    moe::cpu::thread_pool pool(1);
    const auto logits = moe_test::run_logits(model, {1, 2, 3}, false, pool);
    CHECK(std::isfinite(max_abs(logits.view())));
}

}  // namespace test_gguf_kquant_models
