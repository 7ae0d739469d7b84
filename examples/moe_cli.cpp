// moe_cli — chat with (or complete a prompt on) any supported checkpoint directory, streaming the model's
// reasoning apart from its answer; self-consistency and CoT-decoding on request.
//
//   moe_cli CHECKPOINT_DIR -p "What is 12 + 30?" [--temp 0.6 --top-p 0.95 --reasoning-budget 512 …]
//   moe_cli CHECKPOINT_DIR                       (no -p: interactive chat, one user turn per line, empty line ends)
//   moe_cli -m MODEL.gguf -p "..."               (a llama.cpp GGUF file instead of a directory)
//
// The directory needs config.json, safetensors weights and tokenizer.json; a GGUF file holds all three (its
// metadata is the config, its tokenizer.ggml.* keys the tokenizer, tokenizer.chat_template picks the chat
// template: moe/models/gguf/tokenizer.hpp). The model type is chosen at compile time: the first type of `known_models`
// whose configuration matches config.json (or the GGUF metadata) runs. Those types come from the
// header MOE_MODELS_HEADER names, generated from your checkpoints by moe_card (cmake/moe_models.cmake:
// moe_add_model_executable(my_cli CHECKPOINTS /models/a ...)); without it, the released checkpoints' types.
// Flags follow llama.cpp's names where it has one. Bad flags print the usage and exit with status 2.
//
// Interactive chat keeps the whole conversation in the prompt; when it no longer fits the context (with room for
// the answer: -n tokens, at most half the context) the oldest turns are dropped, the system prompt kept, and a
// notice goes to stderr.
//
// What the user types is text: "<|im_start|>system" or "</think>" inside a message (or a --chat-template none prompt)
// is encoded as ordinary text, never as the control tokens the template writes (moe/text/encode_chat.hpp).
// --parse-special opts into the old reading, where such text becomes control tokens.
#include <algorithm>
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
#include "moe/models/cpu.hpp"
#include "moe/models/gguf/tokenizer.hpp"
#include "moe/text/chat_template.hpp"
#include "moe/text/encode_chat.hpp"
#include "moe/text/tokenizer.hpp"

#ifdef MOE_MODELS_HEADER
#include MOE_MODELS_HEADER  // moe_models::checkpoint_models, written by moe_card
#endif

namespace {

#ifdef MOE_MODELS_HEADER
using known_models = moe_models::checkpoint_models;
#else
using known_models = moe::join_model_lists<moe::model_list<moe::cpu::tiny_reasoner>, moe::cpu::released_models>;
#endif

struct options {
    std::filesystem::path directory;     // a checkpoint directory or a .gguf file
    std::optional<std::string> prompt;
    std::string system;
    std::string chat_template = "auto";  // auto | qwen3 | deepseek_r1 | mistral | none
    bool thinking = true;                // Qwen3's enable_thinking
    bool parse_special = false;          // --parse-special: control-token text in user input becomes control tokens
    bool print_prompt_ids = false;       // --print-prompt-ids: the prompt's token ids on stderr before generating
    int threads = 2;
    std::int64_t context = 0;            // -c: positions the model holds (0: config.json's max_position_embeddings)
    int self_consistency = 0;
    int cot_decoding = 0;
    moe::decoding::generation_options generation;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "moe_cli: %s\n"
                 "usage: moe_cli CHECKPOINT_DIR [-p PROMPT] [options]   (no -p: interactive chat)\n"
                 "       moe_cli -m MODEL.gguf [-p PROMPT] [options]    (a llama.cpp GGUF file)\n"
                 "  -n, --n-predict N          new tokens per answer (default 256)\n"
                 "  --temp F  --top-k N  --top-p F  --min-p F  --seed N\n"
                 "  --repeat-penalty F  --repeat-last-n N  --presence-penalty F  --frequency-penalty F\n"
                 "  --reasoning-budget N       thinking tokens before </think> is forced (-1 unlimited, 0 none)\n"
                 "  --min-think N              s1: replace an earlier </think> by \"Wait\" (--max-waits N, default 4)\n"
                 "  --self-consistency N       N sampled paths, majority vote over their last numbers\n"
                 "  --cot-decoding K           CoT-decoding over the top-K first tokens\n"
                 "  --chat-template NAME       auto, qwen3, deepseek_r1, mistral or none;  --no-think (Qwen3)\n"
                 "  --parse-special            read special-token text typed in messages (<|im_start|>, </think>)\n"
                 "                             as control tokens (default: as plain text)\n"
                 "  --print-prompt-ids         print the prompt's token ids to stderr before generating\n"
                 "  -c, --ctx-size N           context in tokens (default: config.json's max_position_embeddings)\n"
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
        else if (a == "-m" || a == "--model") {
            if (!o.directory.empty()) usage("give one model (a checkpoint directory or -m FILE.gguf)");
            o.directory = value();
        }
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
        else if (a == "-c" || a == "--ctx-size") o.context = integer(a, value(), 0, 1L << 30);
        else if (a == "-t" || a == "--threads") o.threads = int(integer(a, value(), 1, 1024));
        else if (a == "--chat-template") {
            o.chat_template = value();
            if (o.chat_template != "auto" && o.chat_template != "qwen3" && o.chat_template != "deepseek_r1" &&
                o.chat_template != "mistral" && o.chat_template != "none")
                usage("unknown chat template '" + o.chat_template + "'");
        } else if (a == "--no-think") o.thinking = false;
        else if (a == "--parse-special") o.parse_special = true;
        else if (a == "--print-prompt-ids") o.print_prompt_ids = true;
        else if (a == "-h" || a == "--help") usage("help");
        else if (!a.empty() && a[0] == '-') usage("unknown flag '" + a + "'");
        else if (o.directory.empty()) o.directory = a;
        else usage("unexpected argument '" + a + "'");
    }
    if (o.directory.empty()) usage("give a checkpoint directory or -m FILE.gguf");
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

// The chat so far, rendered and encoded; drops the oldest exchanges (never the system prompt, never the newest
// message) while the prompt leaves less than `reserve` positions of `context` for the answer.
struct chat_prompt {
    std::string text;
    std::vector<std::int32_t> tokens;
    int dropped = 0;  // messages removed from the front of the history
};

chat_prompt fit_history(std::vector<moe::text::chat_message>& history, moe::text::chat_family family,
                        const moe::text::chat_options& chat, const moe::text::tokenizer& tok, std::int64_t context,
                        std::int64_t reserve) {
    chat_prompt p;
    while (true) {
        p.text = moe::text::apply_chat_template(family, history, chat);
        p.tokens = moe::text::encode_chat(tok, family, history, chat);  // contents literal unless opted in
        const auto first = std::size_t(!history.empty() && history.front().role == "system");
        if (std::int64_t(p.tokens.size()) + reserve <= context || history.size() <= first + 1) return p;
        // The oldest user turn and the assistant answer after it.
        const std::size_t n = first + 1 < history.size() - 1 && history[first + 1].role == "assistant" ? 2 : 1;
        history.erase(history.begin() + std::ptrdiff_t(first), history.begin() + std::ptrdiff_t(first + n));
        p.dropped += int(n);
    }
}

// A checkpoint directory's tokenizer.json, or a GGUF file's tokenizer (its tokenizer.ggml.* keys).
moe::text::tokenizer tokenizer_of(const options& opt) {
    if (moe::io::is_gguf_file(opt.directory)) return moe::text::tokenizer_from_gguf(moe::io::gguf_file(opt.directory));
    if (std::error_code ec; !std::filesystem::exists(opt.directory / "tokenizer.json", ec)) {
        throw moe::invalid_argument((opt.directory / "tokenizer.json").string() +
                                    " does not exist: moe_cli needs the checkpoint's tokenizer (next_token runs a "
                                    "checkpoint on token ids without one)");
    }
    return moe::text::tokenizer::from_file(opt.directory / "tokenizer.json");
}

// The chat template: named by --chat-template; with "auto", a GGUF file's tokenizer.chat_template when it is one
// of the templates moe renders (none: the prompt is completed as raw text, with a notice), else the family's.
std::optional<moe::text::chat_family> chat_family_of(const options& opt, moe::model_family f) {
    if (opt.chat_template != "auto" || !moe::io::is_gguf_file(opt.directory)) return family_for(opt.chat_template, f);
    const auto family = moe::text::chat_family_from_gguf(moe::io::gguf_file(opt.directory));
    if (!family) {
        std::fprintf(stderr, "moe_cli: %s has no chat template moe recognises (tokenizer.chat_template): the prompt "
                     "is completed as raw text (--chat-template qwen3, deepseek_r1 or mistral picks one)\n",
                     opt.directory.c_str());
    }
    return family;
}

template <class Model>
void run(const options& opt) {
    const auto tok = tokenizer_of(opt);
    auto model = moe::load_model<Model>(opt.directory, {.max_positions = opt.context});
    moe::cpu::thread_pool pool(opt.threads);
    const auto family = chat_family_of(opt, Model::config.family);
    const std::int64_t context = model.max_positions();

    moe::decoding::generation_options g = opt.generation;
    for (const char* stop : {"<|im_end|>", "<|endoftext|>", "<｜end▁of▁sentence｜>", "</s>"})
        if (const auto id = tok.special_token_id(stop)) g.stop_tokens.push_back(*id);
    if (const auto eos = tok.eos_token())
        if (const auto id = tok.token_to_id(*eos)) g.stop_tokens.push_back(*id);

    std::vector<moe::text::chat_message> history;
    if (!opt.system.empty()) history.push_back({"system", opt.system, std::nullopt});
    auto turn = [&](const std::string& user) {
        std::string text = user;
        std::vector<std::int32_t> prompt;
        if (family) {
            history.push_back({"user", user, std::nullopt});
            const moe::text::chat_options chat{.add_generation_prompt = true, .enable_thinking = opt.thinking,
                                               .parse_special_tokens_in_content = opt.parse_special};
            auto fitted = fit_history(history, *family, chat, tok, context,
                                      std::min<std::int64_t>(std::max(g.max_tokens, 1), context / 2));
            if (fitted.dropped > 0)
                std::fprintf(stderr, "moe_cli: the conversation outgrew the context of %lld tokens: dropped the %d oldest "
                             "message(s)%s\n", (long long)context, fitted.dropped, opt.system.empty() ? "" : ", kept the system prompt");
            text = std::move(fitted.text);
            prompt = std::move(fitted.tokens);
        } else {  // no template: the whole prompt is the user's text
            const moe::text::text_range all{0, text.size()};
            moe::text::encode_options raw;
            if (!opt.parse_special) raw.literal = {&all, 1};
            prompt = tok.encode(text, raw);
        }
        if (opt.print_prompt_ids) {
            std::fprintf(stderr, "prompt ids:");
            for (const std::int32_t id : prompt) std::fprintf(stderr, " %d", id);
            std::fprintf(stderr, "\n");
        }
        if (std::int64_t(prompt.size()) >= context) {
            if (family) history.pop_back();
            throw moe::invalid_argument("the prompt is " + std::to_string(prompt.size()) + " tokens, the context holds " +
                                        std::to_string(context) + " (-c/--ctx-size, config.json's max_position_embeddings)");
        }
        // Generation starts inside the block when the prompt ends by opening it (DeepSeek-R1's template does).
        std::string_view trimmed(text);
        while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.remove_suffix(1);
        // Typed text ending in "<think>" opens nothing unless --parse-special made it the control token.
        g.reasoning.starts_in_thinking =
            trimmed.ends_with(g.reasoning.open_delimiter) && (family || opt.parse_special);

        // Every branch's KV cache at its largest, against the memory available, before anything runs.
        const int branches = opt.self_consistency > 0 ? opt.self_consistency : opt.cot_decoding > 0 ? opt.cot_decoding : 1;
        moe::decoding::check_generation_memory(model, std::int64_t(prompt.size()), branches, g.max_tokens,
                                               opt.self_consistency > 0 ? "--self-consistency"
                                               : opt.cot_decoding > 0   ? "--cot-decoding"
                                                                        : "moe_cli");

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
    while (std::printf("> "), std::fflush(stdout), std::getline(std::cin, line) && !line.empty()) {
        try {
            turn(line);
        } catch (const moe::invalid_argument& e) {  // this message cannot run (too long); the conversation goes on
            std::fprintf(stderr, "moe_cli: %s; message skipped\n", e.what());
        }
    }
}


}  // namespace

int main(int argc, char** argv) {
    const options opt = parse(argc, argv);
    try {
        // A GGUF file is its own config (its metadata); a directory has config.json. A missing or malformed file:
        // one error, not one per type.
        const bool gguf = moe::io::is_gguf_file(opt.directory);
        const std::filesystem::path config = gguf ? opt.directory : opt.directory / "config.json";
        if (gguf) (void)moe::io::gguf_file(config);
        else (void)moe::hf_config(config);
        std::string mismatches;
        if (!moe::with_matching_model(known_models{}, config,
                                      [&]<class Model>() { run<Model>(opt); }, mismatches)) {
            std::fprintf(stderr, "moe_cli: no compiled model type matches %s:%s\n"
                         "(moe_card %s prints its type; moe_add_model_executable builds for your checkpoints, docs/integration.md)\n", opt.directory.c_str(), mismatches.c_str(), opt.directory.c_str());
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nmoe_cli: %s\n", e.what());
        return 1;
    }
    return 0;
}
