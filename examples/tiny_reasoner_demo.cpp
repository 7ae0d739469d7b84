// tiny_reasoner_demo — the tiny reasoner (models/tiny-reasoner) adds 5-digit numbers with and without thinking;
// its reasoning streams apart from its answer, each answer is checked, and the energy ledger of every request is
// printed: tokens, FLOPs, bytes, time and joules per phase (prompt / thinking / answer), with the dense equivalent.
//
//   tiny_reasoner_demo [MODEL_DIR]        (default: the repository's models/tiny-reasoner)
//
// Thinking requests pre-fill "<think>\n" after the Qwen3 generation prompt, so a thinking budget of n tokens cuts
// the reasoning after exactly n reasoning tokens and forces "\n</think>": the format the model was trained on for
// a cut chain of thought (tools/train_tiny_reasoner.py). Budget 0 is then the trained "answer at once" block.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moe/decoding.hpp"
#include "moe/ledger.hpp"
#include "moe/models.hpp"
#include "moe/models/tiny_reasoner.hpp"
#include "moe/text.hpp"

#ifndef MOE_SOURCE_DIR
#define MOE_SOURCE_DIR "."
#endif

namespace {

using model_type = moe::cpu::tiny_reasoner;
using moe::ledger::phase;

using moe::ledger::metered_model;

// 3 significant digits with an SI prefix: 1.26 M, 2.52 MB, 412 µJ.
std::string si(double v, const char* unit) {
    static constexpr const char* up[] = {"", "k", "M", "G", "T", "P"};
    static constexpr const char* down[] = {"", "m", "µ", "n", "p"};
    int i = 0;
    if (v == 0) return "0 " + std::string(unit);
    const char* prefix = "";
    if (std::abs(v) >= 1) {
        while (std::abs(v) >= 1000 && i < 5) v /= 1000, ++i;
        prefix = up[i];
    } else {
        while (std::abs(v) < 1 && i < 4) v *= 1000, ++i;
        prefix = down[i];
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f %s%s" : v >= 10 ? "%.1f %s%s" : "%.2f %s%s", v, prefix, unit);
    return buf;
}

// Right-aligns to `width` characters (not bytes: "µ" is two bytes, one column).
std::string right(const std::string& s, std::size_t width) {
    const auto chars = std::size_t(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
    return std::string(chars < width ? width - chars : 0, ' ') + s;
}

void print_ledger(const moe::ledger::request_ledger& r, const char* indent) {
    std::printf("%s%-9s%s%s%s%s%s%s%s%s\n", indent, "ledger", right("tokens", 7).c_str(), right("calls", 6).c_str(),
                right("FLOPs", 9).c_str(), right("bytes", 10).c_str(), right("time", 10).c_str(),
                right("energy (source)", 21).c_str(), right("dense FLOPs", 13).c_str(), right("dense energy", 14).c_str());
    auto row = [&](const char* name, const moe::ledger::phase_entry& e) {
        const std::string energy = si(e.joules, "J") + " (" + std::string(moe::ledger::name_of(e.source)) + ")";
        std::printf("%s%-9s%s%s%s%s%s%s%s%s\n", indent, name, right(std::to_string(e.tokens), 7).c_str(),
                    right(std::to_string(e.calls), 6).c_str(), right(si(e.cost.flops, ""), 9).c_str(),
                    right(si(e.cost.bytes, "B"), 10).c_str(), right(si(e.seconds, "s"), 10).c_str(),
                    right(energy, 21).c_str(), right(si(e.cost.dense_flops, ""), 13).c_str(),
                    right(si(e.dense_joules, "J"), 14).c_str());
    };
    for (phase p : moe::ledger::all_phases) row(std::string(moe::ledger::name_of(p)).c_str(), r[p]);
    row("total", r.total());
}

// Streams reasoning as indented (dim on a terminal) "thinking │" lines and the answer on an "answer:" line.
struct stream_printer {
    bool tty = false;
    bool line_open = false;  // a thinking line has its prefix printed
    bool answer_started = false;
    int answer_newlines = 0;

    void operator()(std::size_t, moe::decoding::text_stream s, std::string_view text) {
        if (s == moe::decoding::text_stream::reasoning) {
            for (char c : text) {
                if (c == '\n') {
                    if (line_open) std::printf("%s\n", tty ? "\033[0m" : "");
                    line_open = false;
                    continue;
                }
                if (!line_open) std::printf("%s    thinking │ ", tty ? "\033[2m" : "");
                line_open = true;
                std::putchar(c);
            }
        } else if (s == moe::decoding::text_stream::answer) {
            close_line();
            for (char c : text) {
                if (!answer_started && (c == '\n' || c == ' ')) continue;  // the blank line after </think>
                if (!answer_started) std::printf("    answer: %s", tty ? "\033[1m" : "");
                answer_started = true;
                if (c == '\n') {
                    ++answer_newlines;  // printed before the next character: a multi-line answer stays under "answer:"
                    continue;
                }
                if (answer_newlines > 0) std::printf("%s%12s", std::string(std::size_t(answer_newlines), '\n').c_str(), "");
                answer_newlines = 0;
                std::putchar(c);
            }
        }
        std::fflush(stdout);
    }
    void close_line() {
        if (line_open) std::printf("%s\n", tty ? "\033[0m" : "");
        line_open = false;
    }
    void end() {
        close_line();
        if (!answer_started) std::printf("    answer: (none)");
        std::printf("%s\n", tty ? "\033[0m" : "");
    }
};

struct question {
    long a, b;
    std::optional<int> budget;  // thinking budget in tokens; nullopt: unlimited
    const char* what;
};

int run(const std::filesystem::path& dir) {
    if (!std::filesystem::is_directory(dir)) {
        std::fprintf(stderr, "tiny_reasoner_demo: '%s' is not a directory (give the models/tiny-reasoner folder)\n",
                     dir.c_str());
        return 1;
    }
    const auto tok = moe::text::tokenizer::from_file(dir / "tokenizer.json");
    auto model = moe::load_model<model_type>(dir);
    moe::cpu::thread_pool pool(2);

    const auto open = tok.token_to_id("<think>"), close = tok.token_to_id("</think>");
    const auto im_end = tok.special_token_id("<|im_end|>");
    if (!open || !close || !im_end) {
        std::fprintf(stderr, "tiny_reasoner_demo: %s/tokenizer.json lacks <think>, </think> or <|im_end|>\n", dir.c_str());
        return 1;
    }
    const auto cost = moe::ledger::cost_of<model_type>();
    auto meter = moe::ledger::open_meter();
    std::printf("tiny-reasoner (%s): Qwen3-MoE, %lld layers, %lld parameters, %lld active per token (%.0f %%)\n",
                dir.c_str(), (long long)cost.layers, (long long)cost.parameters_total,
                (long long)cost.parameters_active, 100.0 * double(cost.parameters_active) / double(cost.parameters_total));
    std::printf("energy: %s\n\n", meter.meter ? meter.note.c_str() : ("estimate (" + meter.note + ")").c_str());

    const std::vector<question> questions{
        {48213, 39071, 0, "budget 0: answer at once"},
        {57486, 68937, 18, "budget 18 tokens: two columns, then answer"},
        {57486, 68937, std::nullopt, "unlimited thinking"},
        {99999, 10001, std::nullopt, "unlimited thinking: a carry through every column"},
    };
    const bool tty = isatty(fileno(stdout)) != 0;
    moe::ledger::request_ledger all;
    int correct = 0;
    for (std::size_t i = 0; i < questions.size(); ++i) {
        const question& q = questions[i];
        const std::string user = std::to_string(q.a) + "+" + std::to_string(q.b);
        const std::vector<moe::text::chat_message> chat{{"user", user, std::nullopt}};
        const std::string prompt_text =
            moe::text::apply_chat_template(moe::text::chat_family::qwen3, chat, {.add_generation_prompt = true}) +
            "<think>\n";
        const auto prompt = tok.encode(prompt_text, false);

        moe::decoding::generation_options g;
        g.sampler = moe::decoding::sampler_config::greedy();
        g.max_tokens = 96;  // 46 thinking tokens and a 6-digit answer fit easily
        g.stop_tokens = {*im_end};
        g.reasoning.starts_in_thinking = true;
        g.reasoning.thinking_budget = q.budget;
        g.reasoning.budget_message = "\n";  // closes the cut line as training did: "…\n</think>"
        g.loop.max_ngram = 0;  // no loop check: 55555+44444 repeats one 9-token line legitimately; max_tokens bounds it

        std::printf("[%zu] %s   (%s)\n", i + 1, user.c_str(), q.what);
        moe::ledger::tracker tracker(cost, meter.meter.get(), {}, meter.note);
        tracker.begin(phase::prompt);
        metered_model<model_type> metered(model, tracker, *open, *close, phase::thinking);
        stream_printer show{.tty = tty};
        const auto result = moe::decoding::generate(metered, tok, prompt, g, pool, std::ref(show));
        show.end();
        const auto ledger = tracker.finish();

        const auto& b = result.branches[0];
        const auto got = moe::decoding::extract_answer(b.answer, {});
        const std::string want = std::to_string(q.a + q.b);
        const bool ok = got && got->value == want;
        correct += ok;
        std::printf("    %s %s%s · %d thinking tokens%s\n", ok ? "✓" : "✗", ok ? "correct: " : "wrong, the sum is ",
                    want.c_str(), b.thinking_tokens, b.budget_forced ? " (budget reached: </think> forced)" : "");
        print_ledger(ledger, "    ");
        std::printf("\n");
        for (phase p : moe::ledger::all_phases) all[p] += ledger[p];
        all.energy_note = ledger.energy_note;
    }
    std::printf("all %zu requests\n", questions.size());
    print_ledger(all, "    ");
    const auto t = all.total();
    std::printf("    the MoE spent %.2fx fewer FLOPs and %.2fx fewer bytes than a dense model of the same %lld parameters\n",
                t.cost.dense_flops / t.cost.flops, t.cost.dense_bytes / t.cost.bytes, (long long)cost.parameters_total);
    std::printf("%d of %zu answers correct\n\n", correct, questions.size());
    // The commands as they run from here: run_demo builds both programs next to this one.
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    const std::string bin = ec ? std::string() : self.parent_path().string() + "/";
    std::printf("More:\n  %smoe_cli %s -p 12345+67890          (chat with it; no -p: interactive)\n"
                "  %smoe_layer_demo                      (one MoE layer as a type: routing, timing)\n"
                "  and the accuracy-vs-energy evaluation in docs/reasoning.md.\n",
                bin.c_str(), dir.c_str(), bin.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 2 || (argc == 2 && (std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help"))) {
        std::fprintf(stderr, "usage: tiny_reasoner_demo [MODEL_DIR]   (default: %s/models/tiny-reasoner)\n", MOE_SOURCE_DIR);
        return 2;
    }
    const std::filesystem::path dir = argc == 2 ? argv[1] : MOE_SOURCE_DIR "/models/tiny-reasoner";
    try {
        return run(dir);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\ntiny_reasoner_demo: %s\n", e.what());
        return 1;
    }
}
