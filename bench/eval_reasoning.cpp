// eval_reasoning — what thinking buys and costs on the tiny reasoner (models/tiny-reasoner): accuracy against the
// thinking budget, self-consistency and CoT-decoding on held-out problems, each row with tokens, FLOPs, bytes,
// time and joules per answer from the energy ledger. Writes a CSV and a markdown table
// (tools/update_reasoning_doc.sh puts both into docs/).
//
//   eval_reasoning [--model DIR] [--problems N] [--seed S] [--held-out N] [--threads N] [--csv FILE] [--markdown FILE]
//
// Problems: the held-out split of tools/train_tiny_reasoner.py — held_out() draws EVAL_N = 500 pairs with Python's
// random.Random(EVAL_SEED = 99).randint(10000, 99999), and training skips exactly those pairs. python_random below
// reproduces CPython's Mersenne Twister seeding and randint, so the first N ≤ 500 problems here are that split
// (checked against the first pair CPython draws).
//
// Prompts. "no thinking": Qwen3's enable_thinking=false prompt (an empty block pre-filled). Thinking: the
// enable_thinking=true prompt plus "<think>\n", so a budget of n cuts the reasoning after exactly n reasoning
// tokens and forces "\n</think>" — the training script's forced_prompt() format (budget 0 = "<think>\n\n</think>").
// Cost convention: the ledger prices every path as a batch-1 request (weights read once per path and token). The
// paths of self-consistency and CoT-decoding really run batched over a shared prompt, which reads the weights once
// per step for all paths: their measured time is real, their bytes and estimated joules are the unbatched cost.
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
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

// CPython's random.Random(seed) for a non-negative seed < 2³²: MT19937 seeded by init_by_array({seed}), and
// randint(lo, hi) = lo + _randbelow(n): draw getrandbits(bit_length(n)) until it is below n.
class python_random {
   public:
    explicit python_random(std::uint32_t seed) {
        init_genrand(19650218U);
        std::size_t i = 1;
        for (std::size_t k = N; k; --k) {  // max(N, key length) with a one-word key
            mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525U)) + seed;
            if (++i >= N) mt_[0] = mt_[N - 1], i = 1;
        }
        for (std::size_t k = N - 1; k; --k) {
            mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941U)) - std::uint32_t(i);
            if (++i >= N) mt_[0] = mt_[N - 1], i = 1;
        }
        mt_[0] = 0x80000000U;
    }

    long randint(long lo, long hi) {
        const auto n = std::uint32_t(hi - lo + 1);
        int k = 0;
        while ((n >> k) != 0) ++k;
        std::uint32_t r = next() >> (32 - k);
        while (r >= n) r = next() >> (32 - k);
        return lo + long(r);
    }

   private:
    static constexpr std::size_t N = 624, M = 397;

    void init_genrand(std::uint32_t s) {
        mt_[0] = s;
        for (std::size_t i = 1; i < N; ++i) mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + std::uint32_t(i);
        index_ = N;
    }

    std::uint32_t next() {
        if (index_ >= N) {
            for (std::size_t i = 0; i < N; ++i) {
                const std::uint32_t y = (mt_[i] & 0x80000000U) | (mt_[(i + 1) % N] & 0x7fffffffU);
                mt_[i] = mt_[(i + M) % N] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0U);
            }
            index_ = 0;
        }
        std::uint32_t y = mt_[index_++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680U;
        y ^= (y << 15) & 0xefc60000U;
        return y ^ (y >> 18);
    }

    std::array<std::uint32_t, N> mt_{};
    std::size_t index_ = N;
};

struct problem {
    long a, b;
};

// tools/train_tiny_reasoner.py's held_out(): [draw(rng) for _ in range(EVAL_N)], draw = two randint(10⁴, 10⁵ − 1).
std::vector<problem> held_out(std::uint32_t seed, int count) {
    python_random rng(seed);
    std::vector<problem> out;
    for (int i = 0; i < count; ++i) {
        const long a = rng.randint(10000, 99999);
        const long b = rng.randint(10000, 99999);
        out.push_back({a, b});
    }
    return out;
}

using moe::ledger::metered_model;

enum class method { greedy, self_consistency, cot_decoding };
enum class prompt_kind { no_thinking, thinking, plain };  // plain: the generation prompt, the model decides

struct row_spec {
    std::string name;     // method column
    std::string setting;  // settings column
    method how = method::greedy;
    prompt_kind prompt = prompt_kind::thinking;
    std::optional<int> budget;  // thinking budget (thinking prompts)
    int paths = 1;              // self-consistency paths / CoT-decoding k
    float temperature = 0;
};

// Sums over the problems of one row (CoT-decoding fills two rows, max path and aggregated, from one run).
struct row_result {
    std::string name, setting, budget;
    int paths = 1, problems = 0, correct = 0;
    long digits = 0, digits_right = 0;  // answer digits, compared place by place from the right
    double generated = 0, thinking = 0, answer = 0;  // tokens
    moe::ledger::phase_entry prompt_cost, total;
    int chose_thinking = 0;  // CoT-decoding: problems whose chosen branch (max path / best of the winner) thought
};

struct context {
    model_type& model;
    const moe::text::tokenizer& tok;
    moe::cpu::thread_pool& pool;
    moe::ledger::opened_meter& meter;
    moe::ledger::model_cost cost;
    std::int32_t open, close, im_end;
};

std::vector<std::int32_t> prompt_of(const context& c, const problem& p, prompt_kind kind) {
    const std::vector<moe::text::chat_message> chat{{"user", std::to_string(p.a) + "+" + std::to_string(p.b), std::nullopt}};
    std::string text = moe::text::apply_chat_template(moe::text::chat_family::qwen3, chat,
                                                      {.add_generation_prompt = true,
                                                       .enable_thinking = kind != prompt_kind::no_thinking});
    if (kind == prompt_kind::thinking) text += "<think>\n";
    return c.tok.encode(text, false);
}

void count_tokens(row_result& r, const moe::decoding::generation_result& g) {
    for (const auto& b : g.branches) {
        r.generated += double(b.tokens.size());
        r.thinking += b.thinking_tokens;
        r.answer += double(std::count_if(b.tokens.begin(), b.tokens.end(), [](const auto& t) {
            return t.stream == moe::decoding::text_stream::answer;
        }));
    }
}

std::string budget_label(const row_spec& s) {
    if (s.prompt == prompt_kind::no_thinking) return "none";
    if (s.prompt == prompt_kind::plain) return "model decides";
    return s.budget ? std::to_string(*s.budget) : "unlimited";
}

std::vector<row_result> run_row(const context& c, const row_spec& spec, std::span<const problem> problems) {
    const int max_tokens = 96;  // 46 thinking tokens, the delimiter, a blank line, 6 digits and <|im_end|> fit
    row_result one{spec.name, spec.setting, budget_label(spec), spec.paths, 0, 0, 0, 0, 0, 0, 0, {}, {}, 0};
    std::vector<row_result> out{one};
    if (spec.how == method::cot_decoding) {
        out[0].name += ", max path";
        out.push_back(one);
        out[1].name += ", aggregated";
    }
    for (std::size_t i = 0; i < problems.size(); ++i) {
        const problem& p = problems[i];
        const auto prompt = prompt_of(c, p, spec.prompt);
        const std::string want = std::to_string(p.a + p.b);
        moe::ledger::tracker tracker(c.cost, c.meter.meter.get(), {}, c.meter.note);
        tracker.begin(phase::prompt);
        metered_model<model_type> metered(c.model, tracker, c.open, c.close,
                                          spec.prompt == prompt_kind::thinking ? phase::thinking : phase::answer);
        moe::decoding::reasoning_options reasoning;
        reasoning.starts_in_thinking = spec.prompt == prompt_kind::thinking;
        reasoning.thinking_budget = spec.budget;
        reasoning.budget_message = "\n";  // "…\n</think>": the training format of a cut chain of thought

        std::vector<std::optional<std::string>> answers;
        const moe::decoding::generation_result* g = nullptr;
        moe::decoding::generation_result greedy_result;
        moe::decoding::self_consistency_result sc_result;
        moe::decoding::cot_result cot_result;
        if (spec.how == method::cot_decoding) {
            moe::decoding::cot_options o;
            o.k = spec.paths;
            o.max_tokens = max_tokens;
            o.stop_tokens = {c.im_end};
            o.reasoning = reasoning;
            cot_result = moe::decoding::cot_decoding(metered, c.tok, prompt, o, c.pool);
            answers = {cot_result.max_path_answer, cot_result.aggregated_answer};
            g = &cot_result.generation;
            const auto thought = [&](std::size_t b) { return cot_result.generation.branches[b].thinking_tokens > 0; };
            if (cot_result.max_path_branch) out[0].chose_thinking += thought(*cot_result.max_path_branch);
            if (!cot_result.aggregated.empty()) out[1].chose_thinking += thought(cot_result.aggregated.front().first_branch);
        } else {
            moe::decoding::generation_options o;
            o.max_tokens = max_tokens;
            o.stop_tokens = {c.im_end};
            o.reasoning = reasoning;
            o.loop.max_ngram = 0;  // 55555+44444 repeats one 9-token line legitimately; max_tokens bounds a branch
            if (spec.how == method::greedy) {
                o.sampler = moe::decoding::sampler_config::greedy();
                greedy_result = moe::decoding::generate(metered, c.tok, prompt, o, c.pool);
                const auto a = moe::decoding::extract_answer(greedy_result.branches[0].answer, {});
                answers = {a ? std::optional<std::string>(a->value) : std::nullopt};
                g = &greedy_result;
            } else {
                // Pure temperature sampling, as the paper (no top-k / top-p / min-p truncation).
                o.sampler = moe::decoding::sampler_config::greedy();
                o.sampler.temperature = spec.temperature;
                o.branches = spec.paths;
                o.seed = 1000 + i;
                sc_result = moe::decoding::self_consistency(metered, c.tok, prompt, {o, {}}, c.pool);
                answers = {sc_result.answer};
                g = &sc_result.generation;
            }
        }
        const auto ledger = tracker.finish();
        for (std::size_t k = 0; k < out.size(); ++k) {
            row_result& r = out[k];
            ++r.problems;
            r.correct += answers[k] && *answers[k] == want;
            r.digits += long(want.size());
            if (answers[k])  // as the training script's per-digit accuracy: from the right, over the true sum's digits
                for (std::size_t d = 0; d < want.size() && d < answers[k]->size(); ++d)
                    r.digits_right += want[want.size() - 1 - d] == (*answers[k])[answers[k]->size() - 1 - d];
            count_tokens(r, *g);
            r.prompt_cost += ledger.prompt;
            r.total += ledger.total();
        }
    }
    return out;
}

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string sci(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

// 3 significant digits with an SI prefix (markdown table).
std::string si(double v, const char* unit) {
    static constexpr const char* up[] = {"", "k", "M", "G", "T"};
    static constexpr const char* down[] = {"", "m", "µ", "n", "p"};
    if (v == 0) return "0 " + std::string(unit);
    int i = 0;
    const char* prefix = "";
    if (v >= 1) {
        while (v >= 1000 && i < 4) v /= 1000, ++i;
        prefix = up[i];
    } else {
        while (v < 1 && i < 4) v *= 1000, ++i;
        prefix = down[i];
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f %s%s" : v >= 10 ? "%.1f %s%s" : "%.2f %s%s", v, prefix, unit);
    return buf;
}

// 95 % Wilson interval, in percent: honest error bars for a few hundred problems.
std::string wilson(int k, int n) {
    if (n == 0) return "";
    const double z = 1.96, p = double(k) / n, d = 1 + z * z / n;
    const double centre = (p + z * z / (2.0 * n)) / d, half = z * std::sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / d;
    return fixed(100 * std::max(0.0, centre - half), 1) + "–" + fixed(100 * std::min(1.0, centre + half), 1);
}

void write_csv(const std::filesystem::path& path, const std::vector<row_result>& rows) {
    std::ofstream f(path);
    if (!f) throw std::runtime_error("cannot write " + path.string());
    f << "method,setting,thinking_budget,paths,problems,correct,accuracy,digit_accuracy,generated_tokens,thinking_tokens,"
         "answer_tokens,prompt_tokens,flops,bytes,seconds,joules,energy_source,dense_flops,dense_bytes,dense_joules\n";
    for (const row_result& r : rows) {
        const double n = r.problems;
        f << '"' << r.name << "\",\"" << r.setting << "\"," << r.budget << ',' << r.paths << ',' << r.problems << ','
          << r.correct << ',' << fixed(r.correct / n, 4) << ',' << fixed(double(r.digits_right) / double(r.digits), 4) << ',' << fixed(r.generated / n, 2) << ','
          << fixed(r.thinking / n, 2) << ',' << fixed(r.answer / n, 2) << ',' << fixed(double(r.prompt_cost.tokens) / n, 2)
          << ',' << sci(r.total.cost.flops / n) << ',' << sci(r.total.cost.bytes / n) << ',' << sci(r.total.seconds / n)
          << ',' << sci(r.total.joules / n) << ',' << moe::ledger::name_of(r.total.source) << ','
          << sci(r.total.cost.dense_flops / n) << ',' << sci(r.total.cost.dense_bytes / n) << ','
          << sci(r.total.dense_joules / n) << '\n';
    }
}

std::string markdown(const std::vector<row_result>& rows, int problems, std::uint32_t seed, double seconds,
                     const std::string& note) {
    std::ostringstream m;
    m << "| method | settings | thinking budget | accuracy | 95 % interval | digits right | generated tokens / answer | thinking "
         "tokens / answer | answer tokens / answer | FLOPs / answer | bytes / answer | time / answer | joules / "
         "answer (source) | dense-equivalent joules |\n";
    m << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const row_result& r : rows) {
        const double n = r.problems;
        m << "| " << r.name << " | " << r.setting << " | " << r.budget << " | " << fixed(100.0 * r.correct / n, 1)
          << " % | " << wilson(r.correct, r.problems) << " % | "
          << fixed(100.0 * double(r.digits_right) / double(r.digits), 1) << " % | " << fixed(r.generated / n, 1) << " | "
          << fixed(r.thinking / n, 1) << " | " << fixed(r.answer / n, 1) << " | " << si(r.total.cost.flops / n, "")
          << " | " << si(r.total.cost.bytes / n, "B") << " | " << si(r.total.seconds / n, "s") << " | "
          << si(r.total.joules / n, "J") << " (" << moe::ledger::name_of(r.total.source) << ") | "
          << si(r.total.dense_joules / n, "J") << " |\n";
    }
    // The headline, computed rather than written by hand: unlimited thinking against no thinking.
    const auto find = [&](std::string_view budget) {
        return std::find_if(rows.begin(), rows.end(), [&](const row_result& r) { return r.name == "greedy" && r.budget == budget; });
    };
    const auto off = find("none"), on = find("unlimited");
    if (off != rows.end() && on != rows.end()) {
        const double a0 = 100.0 * off->correct / off->problems, a1 = 100.0 * on->correct / on->problems;
        m << "\n- Greedy, thinking (unlimited) against no thinking: " << fixed(a1, 1) << " % against " << fixed(a0, 1)
          << " % (" << (a1 >= a0 ? "+" : "") << fixed(a1 - a0, 1) << " points), for "
          << fixed(on->generated / off->generated, 1) << "× the generated tokens and "
          << fixed(on->total.joules / off->total.joules, 1) << "× the joules per answer.\n";
        // Partial thinking: the budgets that stop before the model's full chain.
        const row_result* best = nullptr;
        for (const row_result& r : rows) {
            if (r.name != "greedy" || r.budget == "none" || r.budget == "unlimited") continue;
            if (std::stod(r.budget) + 2 >= on->thinking / on->problems) continue;  // 44 only drops the last newline
            if (!best || r.correct > best->correct) best = &r;
        }
        if (best)
            m << "- Thinking cut short (budgets below the full chain of " << fixed(on->thinking / on->problems, 0)
              << " tokens): at best " << fixed(100.0 * best->correct / best->problems, 1) << " % (budget "
              << best->budget << ").\n";
        for (const row_result& r : rows) {
            if (r.name == "self-consistency" && r.budget == "unlimited")
                m << "- Self-consistency, " << r.setting << ": " << fixed(100.0 * r.correct / r.problems, 1)
                  << " % against greedy thinking's " << fixed(a1, 1) << " %, for "
                  << fixed(r.total.joules / on->total.joules, 1) << "× its joules.\n";
            if (r.name.starts_with("CoT-decoding"))
                m << "- " << r.name << " (" << r.setting << "): " << fixed(100.0 * r.correct / r.problems, 1)
                  << " %; the chosen branch thought in " << fixed(100.0 * r.chose_thinking / r.problems, 1)
                  << " % of problems.\n";
        }
    }
    m << "\n" << problems << " held-out problems (`held_out()` of tools/train_tiny_reasoner.py, seed " << seed
      << "), " << fixed(seconds, 0) << " s in all. Energy: " << note << ".\n";
    return m.str();
}

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "eval_reasoning: %s\n"
                 "usage: eval_reasoning [--model DIR] [--problems N] [--seed S] [--held-out N] [--threads N]\n"
                 "                      [--csv FILE] [--markdown FILE]\n"
                 "  --problems N   the first N held-out problems (default: all of them)\n"
                 "  --seed S, --held-out N   the training script's EVAL_SEED and EVAL_N (default 99, 500)\n",
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

}  // namespace

int main(int argc, char** argv) {
    std::filesystem::path dir = MOE_SOURCE_DIR "/models/tiny-reasoner", csv = "reasoning_eval.csv", md;
    long seed = 99, split = 500, count = -1, threads = 2;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--model") dir = value();
        else if (a == "--problems") count = integer(a, value(), 1, 1 << 20);
        else if (a == "--seed") seed = integer(a, value(), 0, 0xffffffffL);
        else if (a == "--held-out") split = integer(a, value(), 1, 1 << 20);
        else if (a == "--threads") threads = integer(a, value(), 1, 256);
        else if (a == "--csv") csv = value();
        else if (a == "--markdown") md = value();
        else usage("unknown argument '" + a + "'");
    }
    if (count < 0) count = split;
    if (count > split) usage("--problems " + std::to_string(count) + " is more than the held-out split's " +
                             std::to_string(split) + " (later draws may be training data)");
    try {
        for (const auto& out : {csv, md})  // fail before minutes of work, not after
            if (!out.empty() && !std::ofstream(out)) throw std::runtime_error("cannot write " + out.string());
        const auto problems = held_out(std::uint32_t(seed), int(count));
        // CPython: random.Random(99) → randint(10000, 99999) twice = 62950, 59906.
        if (seed == 99 && (problems[0].a != 62950 || problems[0].b != 59906))
            throw std::logic_error("the held-out generator no longer matches CPython's random.Random(99)");
        if (!std::filesystem::is_directory(dir)) throw std::runtime_error("'" + dir.string() + "' is not a directory");
        const auto tok = moe::text::tokenizer::from_file(dir / "tokenizer.json");
        auto model = moe::load_model<model_type>(dir);
        moe::cpu::thread_pool pool(static_cast<int>(threads));
        auto meter = moe::ledger::open_meter();
        const auto open = tok.token_to_id("<think>"), close = tok.token_to_id("</think>");
        const auto im_end = tok.special_token_id("<|im_end|>");
        if (!open || !close || !im_end) throw std::runtime_error("tokenizer.json lacks <think>, </think> or <|im_end|>");
        const context c{model, tok, pool, meter, moe::ledger::cost_of<model_type>(), *open, *close, *im_end};
        const std::string note = meter.meter ? meter.note : "estimate (" + meter.note + ")";

        // Each reasoning line ("3+1+0=04\n") is 9 tokens: the budgets stop after 1, 2, 3, 4 columns, half-way
        // through the fifth and just before the last newline; unlimited thinks 45 tokens.
        std::vector<row_spec> specs{
            {"greedy", "no thinking (`enable_thinking=false`)", method::greedy, prompt_kind::no_thinking, std::nullopt, 1, 0},
        };
        for (int budget : {0, 9, 18, 27, 36, 40, 44})
            specs.push_back({"greedy", "thinking, budget " + std::to_string(budget), method::greedy, prompt_kind::thinking, budget, 1, 0});
        specs.push_back({"greedy", "thinking, unlimited", method::greedy, prompt_kind::thinking, std::nullopt, 1, 0});
        for (int m : {5, 9})
            specs.push_back({"self-consistency", std::to_string(m) + " paths, T 0.7, thinking", method::self_consistency,
                             prompt_kind::thinking, std::nullopt, m, 0.7f});
        specs.push_back({"self-consistency", "9 paths, T 0.7, no thinking", method::self_consistency,
                         prompt_kind::no_thinking, std::nullopt, 9, 0.7f});
        specs.push_back({"CoT-decoding", "k = 10, no-thinking prompt", method::cot_decoding, prompt_kind::no_thinking,
                         std::nullopt, 10, 0});
        specs.push_back({"CoT-decoding", "k = 10, plain generation prompt", method::cot_decoding, prompt_kind::plain,
                         std::nullopt, 10, 0});

        const auto start = std::chrono::steady_clock::now();
        std::vector<row_result> rows;
        for (const row_spec& s : specs) {
            const auto t0 = std::chrono::steady_clock::now();
            for (row_result& r : run_row(c, s, problems)) {
                std::fprintf(stderr, "%-32s %-40s %5.1f %%  %6.1f tokens  %.1f s\n", r.name.c_str(), r.setting.c_str(),
                             100.0 * r.correct / r.problems, r.generated / r.problems,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                rows.push_back(std::move(r));
            }
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        write_csv(csv, rows);
        const std::string table = markdown(rows, int(count), std::uint32_t(seed), seconds, note);
        std::fputs(table.c_str(), stdout);
        if (!md.empty()) {
            std::ofstream f(md);
            if (!(f << table)) throw std::runtime_error("cannot write " + md.string());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "eval_reasoning: %s\n", e.what());
        return 1;
    }
    return 0;
}
