// moe_cli — chat with (or complete a prompt on) any supported checkpoint directory, streaming the model's
// reasoning apart from its answer; self-consistency and CoT-decoding on request.
//
//   moe_cli CHECKPOINT_DIR -p "What is 12 + 30?" [--temp 0.6 --top-p 0.95 --reasoning-budget 512 …]
//   moe_cli CHECKPOINT_DIR                       (no -p: interactive chat, one user turn per line, empty line ends)
//
// The directory needs config.json, safetensors weights and tokenizer.json. As in next_token, the model type is
// chosen at compile time: the first type of `known_models` whose configuration matches config.json runs.
// Flags follow llama.cpp's names where it has one. Bad flags print the usage and exit with status 2.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moe/decoding.hpp"
#include "moe/models.hpp"
#include "moe/models/released.hpp"
#include "moe/text/chat_template.hpp"
#include "moe/text/tokenizer.hpp"

namespace {

// tests/data/chat_model (tools/make_chat_model.py) and two tiny test checkpoints of tests/data/models.
constexpr moe::qwen3_moe_config tiny_chat{.vocab_size = 384, .model_width = 32, .layers = 2, .heads = 4,
                                          .kv_heads = 2, .head_dim = 8, .expert_width = 32, .experts = 4,
                                          .top_k = 2, .norm_topk_prob = true, .tied_embeddings = false,
                                          .weights = moe::weight_format::fp32};
constexpr moe::qwen3_moe_config tiny_qwen3{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 48, .experts = 6,
                                           .top_k = 4, .norm_topk_prob = true, .tied_embeddings = true,
                                           .weights = moe::weight_format::fp32};
constexpr moe::deepseek_v3_config tiny_deepseek_v3{
    .vocab_size = 160, .model_width = 64, .layers = 3, .heads = 4, .q_lora_rank = 24, .kv_lora_rank = 32,
    .qk_nope_head_dim = 16, .qk_rope_head_dim = 8, .v_head_dim = 16, .dense_layers = 1, .dense_width = 96,
    .expert_width = 32, .experts = 12, .top_k = 3, .shared_experts = 1, .groups = 4, .top_k_groups = 2,
    .norm_topk_prob = true, .weights = moe::weight_format::fp32};

using known_models = moe::model_list<moe::cpu::qwen3_moe<tiny_chat>, moe::cpu::qwen3_moe<tiny_qwen3>,
                                moe::cpu::deepseek_v3<tiny_deepseek_v3>, moe::cpu::qwen3_30b_a3b,
                                moe::cpu::deepseek_v3_671b, moe::cpu::mixtral_8x7b, moe::cpu::olmoe_1b_7b,
                                moe::cpu::qwen1_5_moe_a2_7b, moe::cpu::deepseek_v2_lite>;

struct options {
    std::filesystem::path directory;
    std::optional<std::string> prompt;
    std::string system;
    std::string chat_template = "auto";  // auto | qwen3 | deepseek_r1 | mistral | none
    bool thinking = true;                // Qwen3's enable_thinking
    int threads = 2;
    int self_consistency = 0;
    int cot_decoding = 0;
    moe::decoding::generation_options generation;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "moe_cli: %s\n"
                 "usage: moe_cli CHECKPOINT_DIR [-p PROMPT] [options]   (no -p: interactive chat)\n"
                 "  -n, --n-predict N          new tokens per answer (default 256)\n"
                 "  --temp F  --top-k N  --top-p F  --min-p F  --seed N\n"
                 "  --repeat-penalty F  --repeat-last-n N  --presence-penalty F  --frequency-penalty F\n"
                 "  --reasoning-budget N       thinking tokens before </think> is forced (-1 unlimited, 0 none)\n"
                 "  --min-think N              s1: replace an earlier </think> by \"Wait\" (--max-waits N, default 4)\n"
                 "  --self-consistency N       N sampled paths, majority vote over their last numbers\n"
                 "  --cot-decoding K           CoT-decoding over the top-K first tokens\n"
                 "  --chat-template NAME       auto, qwen3, deepseek_r1, mistral or none;  --no-think (Qwen3)\n"
                 "  -sys, --system-prompt S    -t, --threads N    --top-logprobs N\n",
                 problem.c_str());
    std::exit(2);
}

long integer(const std::string& flag, const char* text, long low, long high) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || n < low || n > high)
        usage(flag + " needs an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "], got '" + text + "'");
    return n;
}

float real(const std::string& flag, const char* text, double low, double high) {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(text, &end);
    if (*text == '\0' || *end != '\0' || errno != 0 || !(x >= low && x <= high))
        usage(flag + " needs a number in [" + std::to_string(low) + ", " + std::to_string(high) + "], got '" + text + "'");
    return static_cast<float>(x);
}

options parse(int argc, char** argv) {
    options o;
    o.generation.max_tokens = 256;
    auto& s = o.generation.sampler;
    auto& r = o.generation.reasoning;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "-p" || a == "--prompt") o.prompt = value();
        else if (a == "-sys" || a == "--system-prompt") o.system = value();
        else if (a == "-n" || a == "--n-predict") o.generation.max_tokens = int(integer(a, value(), 0, 1 << 20));
        else if (a == "--temp") s.temperature = real(a, value(), 0, 100);
        else if (a == "--top-k") s.top_k = int(integer(a, value(), 0, 1 << 24));
        else if (a == "--top-p") s.top_p = real(a, value(), 0, 1);
        else if (a == "--min-p") s.min_p = real(a, value(), 0, 1);
        else if (a == "--seed") o.generation.seed = std::uint64_t(integer(a, value(), 0, 0x7fffffffL));
        else if (a == "--repeat-penalty") s.repeat_penalty = real(a, value(), 0.01, 100);
        else if (a == "--repeat-last-n") s.penalty_last_n = int(integer(a, value(), -1, 1 << 24));
        else if (a == "--presence-penalty") s.presence_penalty = real(a, value(), -100, 100);
        else if (a == "--frequency-penalty") s.frequency_penalty = real(a, value(), -100, 100);
        else if (a == "--reasoning-budget") {
            const long n = integer(a, value(), -1, 1 << 24);
            if (n >= 0) r.thinking_budget = int(n);
        } else if (a == "--min-think") {
            r.min_thinking_tokens = int(integer(a, value(), 0, 1 << 24));
            if (r.max_waits == 0) r.max_waits = 4;
        } else if (a == "--max-waits") r.max_waits = int(integer(a, value(), 0, 1 << 16));
        else if (a == "--self-consistency") o.self_consistency = int(integer(a, value(), 1, 1024));
        else if (a == "--cot-decoding") o.cot_decoding = int(integer(a, value(), 1, 1024));
        else if (a == "--top-logprobs") o.generation.top_logprobs = int(integer(a, value(), 0, 100));
        else if (a == "-t" || a == "--threads") o.threads = int(integer(a, value(), 1, 1024));
        else if (a == "--chat-template") {
            o.chat_template = value();
            if (o.chat_template != "auto" && o.chat_template != "qwen3" && o.chat_template != "deepseek_r1" &&
                o.chat_template != "mistral" && o.chat_template != "none")
                usage("unknown chat template '" + o.chat_template + "'");
        } else if (a == "--no-think") o.thinking = false;
        else if (a == "-h" || a == "--help") usage("help");
        else if (!a.empty() && a[0] == '-') usage("unknown flag '" + a + "'");
        else if (o.directory.empty()) o.directory = a;
        else usage("unexpected argument '" + a + "'");
    }
    if (o.directory.empty()) usage("give a checkpoint directory");
    if (o.self_consistency && o.cot_decoding) usage("--self-consistency and --cot-decoding exclude each other");
    return o;
}

std::optional<moe::text::chat_family> family_for(const std::string& name, moe::model_family f) {
    if (name == "qwen3") return moe::text::chat_family::qwen3;
    if (name == "deepseek_r1") return moe::text::chat_family::deepseek_r1;
    if (name == "mistral") return moe::text::chat_family::mistral;
    if (name == "none") return std::nullopt;
    switch (f) {  // auto
        case moe::model_family::qwen3_moe: return moe::text::chat_family::qwen3;
        case moe::model_family::deepseek_v3: return moe::text::chat_family::deepseek_r1;
        case moe::model_family::mixtral: return moe::text::chat_family::mistral;
        default: return std::nullopt;
    }
}

// Prints reasoning and answer as they stream, each under its own heading.
struct printer {
    moe::decoding::text_stream shown = moe::decoding::text_stream::none;
    void operator()(std::size_t, moe::decoding::text_stream s, std::string_view text) {
        if (s != shown) {
            std::printf(s == moe::decoding::text_stream::reasoning ? "%s[thinking]\n" : "%s[answer]\n",
                        shown == moe::decoding::text_stream::none ? "" : "\n");
            shown = s;
        }
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    }
};

template <class Model>
void run(const options& opt) {
    const auto tok = moe::text::tokenizer::from_file(opt.directory / "tokenizer.json");
    auto model = moe::load_model<Model>(opt.directory);
    moe::cpu::thread_pool pool(opt.threads);
    const auto family = family_for(opt.chat_template, Model::config.family);

    moe::decoding::generation_options g = opt.generation;
    for (const char* stop : {"<|im_end|>", "<|endoftext|>", "<｜end▁of▁sentence｜>", "</s>"})
        if (const auto id = tok.special_token_id(stop)) g.stop_tokens.push_back(*id);
    if (const auto eos = tok.eos_token())
        if (const auto id = tok.token_to_id(*eos)) g.stop_tokens.push_back(*id);

    std::vector<moe::text::chat_message> history;
    if (!opt.system.empty()) history.push_back({"system", opt.system, std::nullopt});
    auto turn = [&](const std::string& user) {
        std::string text = user;
        if (family) {
            history.push_back({"user", user, std::nullopt});
            text = moe::text::apply_chat_template(*family, history, {.add_generation_prompt = true, .enable_thinking = opt.thinking});
        }
        const auto prompt = tok.encode(text, !family.has_value());
        // Generation starts inside the block when the prompt ends by opening it (DeepSeek-R1's template does).
        std::string_view trimmed(text);
        while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.remove_suffix(1);
        g.reasoning.starts_in_thinking = trimmed.ends_with(g.reasoning.open_delimiter);

        if (opt.self_consistency > 0) {
            moe::decoding::self_consistency_options sc{g, {}};
            sc.generation.branches = opt.self_consistency;
            const auto r = moe::decoding::self_consistency(model, tok, prompt, sc, pool);
            for (std::size_t b = 0; b < r.generation.branches.size(); ++b) {
                const auto& p = r.path_answers[b];
                std::printf("path %zu: %zu tokens (%s), answer %s\n", b, r.generation.branches[b].tokens.size(),
                            moe::decoding::name_of(r.generation.branches[b].finish), p ? p->value.c_str() : "(none)");
            }
            std::printf("votes:");
            for (const auto& v : r.votes) std::printf(" %s×%d", v.answer.c_str(), v.votes);
            std::printf("\nmajority answer: %s\n", r.answer ? r.answer->c_str() : "(none)");
            return;
        }
        if (opt.cot_decoding > 0) {
            moe::decoding::cot_options c;
            c.k = opt.cot_decoding;
            c.max_tokens = g.max_tokens;
            c.stop_tokens = g.stop_tokens;
            c.reasoning = g.reasoning;
            const auto r = moe::decoding::cot_decoding(model, tok, prompt, c, pool);
            for (std::size_t b = 0; b < r.branches.size(); ++b) {
                const auto& br = r.branches[b];
                std::printf("branch %zu: first token %d, answer %s, delta %.4f\n", b, br.first_token,
                            br.answer ? br.answer->value.c_str() : "(none)", br.delta);
            }
            std::printf("max path answer: %s\naggregated answer: %s\n",
                        r.max_path_answer ? r.max_path_answer->c_str() : "(none)",
                        r.aggregated_answer ? r.aggregated_answer->c_str() : "(none)");
            return;
        }
        printer show;
        const auto r = moe::decoding::generate(model, tok, prompt, g, pool, std::ref(show));
        const auto& b = r.branches[0];
        std::printf("\n[%zu tokens, %d thinking, finish: %s]\n", b.tokens.size(), b.thinking_tokens,
                    moe::decoding::name_of(b.finish));
        if (family) history.push_back({"assistant", b.answer, std::nullopt});
    };

    if (opt.prompt) {
        turn(*opt.prompt);
        return;
    }
    std::string line;
    while (std::printf("> "), std::fflush(stdout), std::getline(std::cin, line) && !line.empty()) turn(line);
}


}  // namespace

int main(int argc, char** argv) {
    const options opt = parse(argc, argv);
    try {
        std::string mismatches;
        if (!moe::with_matching_model(known_models{}, opt.directory / "config.json",
                                      [&]<class Model>() { run<Model>(opt); }, mismatches)) {
            std::fprintf(stderr, "moe_cli: no compiled model type matches %s:%s\n", opt.directory.c_str(), mismatches.c_str());
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nmoe_cli: %s\n", e.what());
        return 1;
    }
    return 0;
}
