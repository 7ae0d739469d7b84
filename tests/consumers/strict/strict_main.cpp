// The strict consumer (tests/consumers/strict): one translation unit that includes every public header of moe
// (the all-headers list its CMakeLists.txt generates from the include tree) and instantiates the main templates —
// the tokenizer and chat template, moe::load_model of the tiny reasoner (safetensors, config.json checks,
// moe::cpu::model), one forward, moe::decoding::generate, the ledger — built with a consumer's strict flags
// (-O3 -Wall -Wextra -Wpedantic -Werror, with and without -march=native) and none of moe's own warning exceptions.
// Every result is checked against transformers' (models/tiny-reasoner/reference.safetensors).
// It also compiles the README's "Whole models" snippet as written (readme_whole_models.inc, cut from README.md).
// Exit code 0: the headers build cleanly and the model computes what transformers computes.
#include "moe_all_headers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#ifndef MOE_TINY_REASONER_DIR
#error "define MOE_TINY_REASONER_DIR (the models/tiny-reasoner folder)"
#endif

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    if (!ok) ++failures;
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
}

std::vector<std::int32_t> ids_of(const moe::io::safetensors_file& file, const std::string& name) {
    const auto v = moe::io::read_integers(file.require(name));
    return {v.begin(), v.end()};
}

// One MoE layer per weight format (each format's CPU kernels: dot/gemm tiles, widening, Q8_0), T tokens, against a
// plain double loop over the weights as the format stores them (widened / dequantized by its own read_row).
template <moe::weight_format Format>
void check_moe_layer(double tolerance) {
    constexpr moe::moe_layer_config config{
        .model_width = 64, .expert_width = 96, .experts = 4, .top_k = 2, .weights = Format};
    constexpr int D = config.model_width, F = config.expert_width, K = config.top_k, T = 7;
    using traits = moe::weight_format_traits<Format>;
    const auto weights = moe::owned_moe_layer_weights<config>::random(7);
    moe::cpu::moe_layer<config> layer(weights.view());
    moe::host_matrix<float> x(T, D), y(T, D);  // (T, D)
    for (int t = 0; t < T; ++t)
        for (int d = 0; d < D; ++d) x(t, d) = std::sin(0.37f * float(t + 1) * float(d + 1));
    moe::cpu::thread_pool pool(2);
    layer.forward(x.view(), y.view(), pool);

    const moe::moe_layer_weights<config> w = weights.view();
    const moe::routing_plan& plan = layer.last_routing();
    auto widened = [](moe::matrix_view<const typename traits::storage> m, std::int64_t r) {
        std::vector<float> row(std::size_t(m.cols));
        traits::read_row(m.row(r), m.cols, row.data());
        return row;
    };
    double error = 0, largest = 0;
    for (int t = 0; t < T; ++t) {
        std::vector<double> expected(D, 0.0);
        for (int j = 0; j < K; ++j) {
            const auto& expert = w.experts[plan.expert_ids[t * K + j]];
            std::vector<double> hidden(F);
            for (int f = 0; f < F; ++f) {
                const auto gate = widened(expert.gate, f), up = widened(expert.up, f);
                double g = 0, u = 0;
                for (int d = 0; d < D; ++d) g += double(gate[d]) * x(t, d), u += double(up[d]) * x(t, d);
                hidden[f] = g / (1.0 + std::exp(-g)) * u;
            }
            for (int d = 0; d < D; ++d) {
                const auto down = widened(expert.down, d);
                double out = 0;
                for (int f = 0; f < F; ++f) out += double(down[f]) * hidden[f];
                expected[d] += plan.weights[t * K + j] * out;
            }
        }
        for (int d = 0; d < D; ++d) {
            error = std::max(error, std::abs(y(t, d) - expected[d]));
            largest = std::max(largest, std::abs(expected[d]));
        }
    }
    check(error <= tolerance * largest, std::string("moe_layer, ") + std::string(traits::name) + " weights: max error " +
                                            std::to_string(error) + " vs bound " + std::to_string(tolerance * largest));
}

}  // namespace

// README.md, "Whole models": compiled (it instantiates moe::cpu::qwen3_30b_a3b), never called — no checkpoint here.
[[maybe_unused]] void readme_whole_models(const std::vector<std::int32_t>& prompt_ids) {
#include "readme_whole_models.inc"
}

int main() try {
    using model_type = moe::cpu::tiny_reasoner;
    const std::string dir = MOE_TINY_REASONER_DIR;
    const moe::io::safetensors_file ref(dir + "/reference.safetensors");  // transformers' logits and greedy tokens

    // Tokenizer and chat template: the prompt's ids as transformers' tokenizer gave them.
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    const std::vector<moe::text::chat_message> chat{
        {.role = "user", .content = ref.metadata().at("question"), .reasoning_content = std::nullopt}};
    const auto prompt = tok.encode(moe::text::apply_chat_template(moe::text::chat_family::qwen3, chat,
                                                                   {.add_generation_prompt = true}),
                                   false);
    check(prompt == ids_of(ref, "prompt_thinking"), "tokenizer + qwen3 chat template = transformers' prompt ids");

    // One forward over the reference tokens: logits within 1e-4 of the largest transformers logit.
    auto model = moe::load_model<model_type>(dir);
    moe::cpu::thread_pool pool(2);
    const auto tokens = ids_of(ref, "tokens");
    const auto expected = moe::io::copy_matrix<float>(ref.require("logits"));  // (T, V)
    moe::host_matrix<float> logits(std::int64_t(tokens.size()), model_type::V);  // (T, V)
    auto seq = model.new_sequence(model.max_positions());
    model.forward(tokens, seq, logits.view(), pool);
    double largest = 0, error = 0;
    for (std::int64_t i = 0; i < expected.view().size(); ++i) {
        largest = std::max(largest, double(std::abs(expected.data()[i])));
        error = std::max(error, double(std::abs(logits.data()[i] - expected.data()[i])));
    }
    check(expected.rows() == logits.rows() && expected.cols() == logits.cols() && error <= 1e-4 * largest,
          "prefill logits: max error " + std::to_string(error) + " vs bound " + std::to_string(1e-4 * largest));

    // Greedy generation with thinking: transformers' generate() tokens, through the ledger's metered model.
    moe::decoding::generation_options options;
    options.sampler = moe::decoding::sampler_config::greedy();
    options.max_tokens = 80;
    options.stop_tokens = {*tok.special_token_id("<|im_end|>")};
    const auto cost = moe::ledger::cost_of<model_type>();
    moe::ledger::tracker tracker(cost);
    tracker.begin(moe::ledger::phase::prompt);
    moe::ledger::metered_model<model_type> metered(model, tracker, *tok.token_to_id("<think>"),
                                                   *tok.token_to_id("</think>"), moe::ledger::phase::thinking);
    const auto result = moe::decoding::generate(metered, tok, prompt, options, pool);
    const auto ledger = tracker.finish();
    const auto generated = result.branches.at(0).ids();  // ends with the stop token, as transformers' does
    check(generated == ids_of(ref, "greedy_thinking"), "greedy generate = transformers' generate: " +
                                                           tok.decode(generated, false));
    check(ledger.thinking.tokens > 0 && ledger.total().cost.flops < ledger.total().cost.dense_flops,
          "the ledger counted thinking tokens and 2-of-8-expert FLOPs");

    // Every weight format's kernels; bf16_compute rounds activations to bf16, q8_0 quantizes them to 8 bits.
    check_moe_layer<moe::weight_format::fp32>(1e-5);
    check_moe_layer<moe::weight_format::bf16>(1e-5);
    check_moe_layer<moe::weight_format::fp16>(1e-5);
    check_moe_layer<moe::weight_format::bf16_compute>(2e-2);
    check_moe_layer<moe::weight_format::q8_0>(3e-2);

    std::printf("moe %d.%d.%d strict consumer: %s\n", moe::version_major, moe::version_minor, moe::version_patch,
                failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "strict consumer: %s\n", e.what());
    return 1;
}
