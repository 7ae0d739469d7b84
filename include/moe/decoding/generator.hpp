// moe/decoding/generator.hpp — generation of several branches of one prompt, with streaming and reasoning controls.
//
//   prompt ──prefill once──► shared prompt (its KV cache, frozen) ──► branch 0, 1, …, B−1 read it in place
//   every step: each live branch picks a token (forced queue, else the sampler chain) → one batched forward of all
//   live branches (one token each) through the model's multi-sequence forward → next logits.
//
// Per branch, in order, every step:
//   1. thinking budget: inside the thinking block with `thinking_budget` tokens spent, wait until the streamed text
//      stands on a UTF-8 character boundary (sampling on, at most 4 more tokens), then force the tokens of
//      `budget_message` and the end-of-thinking delimiter; the model then answers. Budget 0 answers at once.
//   2. choose: the forced queue first; else sample. Minimum thinking (s1): a sampled end-of-thinking delimiter
//      before `min_thinking_tokens` thinking tokens is replaced by the tokens of `wait_text` (at most `max_waits`).
//   3. record (log-probability and p(top1) − p(top2) of the raw logits, top-N log-probabilities when asked) and route
//      the text: <think> / </think> (by token id) switch between the reasoning and the answer stream and are not
//      streamed themselves; other tokens stream through an incremental decoder (text only at character boundaries).
//   0. logits with a NaN or infinity stop everything with non_finite_logits naming the branch, token and position
//      (finite_logits.hpp).
//   4. finish on: a stop token (recorded, not fed), a stop string (searched in each stream's text; the stream is cut
//      where it starts; text that could begin a stop string is held back while streaming), max_tokens (forced
//      tokens included), a loop (loop_detection.hpp), or a full context.
// Thinking tokens: tokens appended inside the block, delimiters and the forced budget message excluded (forced
// "Wait" tokens included).
// Determinism: branch b samples from rng(seed, b); steps visit branches in index order; the model's forward is
// bit-identical for any thread count, so the same seed gives the same tokens with 1 or 16 threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "moe/error.hpp"
#include "moe/decoding/language_model.hpp"
#include "moe/decoding/loop_detection.hpp"
#include "moe/decoding/memory_budget.hpp"
#include "moe/decoding/rng.hpp"
#include "moe/decoding/sampler.hpp"
#include "moe/tensor/matrix_view.hpp"
#include "moe/text/incremental_decoder.hpp"
#include "moe/text/tokenizer.hpp"

namespace moe::decoding {

// Thinking-block handling (see docs/decoding.md, Reasoning: hard cap, s1 minimum).
struct reasoning_options {
    bool starts_in_thinking = false;  // the prompt already opened <think> (DeepSeek-R1's template, Qwen3 prompts)
    std::string open_delimiter = "<think>";
    std::string close_delimiter = "</think>";
    std::optional<int> thinking_budget;  // hard cap on thinking tokens; nullopt: none; 0: answer at once
    std::string budget_message;          // forced before the delimiter when the budget ends thinking (may be empty)
    int min_thinking_tokens = 0;         // s1: suppress the end delimiter before this many thinking tokens …
    int max_waits = 0;                   // … at most this many times …
    std::string wait_text = "Wait";      // … appending this instead
};

struct generation_options {
    sampler_config sampler;
    std::uint64_t seed = 0;
    int branches = 1;     // continuations of the prompt, generated together
    int max_tokens = 256;  // new tokens per branch, forced ones included
    std::vector<std::int32_t> stop_tokens;
    std::vector<std::string> stop_strings;
    reasoning_options reasoning;
    loop_options loop;
    int top_logprobs = 0;  // N most likely tokens recorded per step (log-softmax of the raw logits)
};

enum class text_stream { reasoning, answer, none };  // none: delimiters and stop tokens
enum class finish_reason { stop_token, stop_string, max_tokens, loop, context_full };

inline const char* name_of(finish_reason r) {
    switch (r) {
        case finish_reason::stop_token: return "stop_token";
        case finish_reason::stop_string: return "stop_string";
        case finish_reason::max_tokens: return "max_tokens";
        case finish_reason::loop: return "loop";
        case finish_reason::context_full: return "context_full";
    }
    return "?";
}

struct token_record {
    std::int32_t id = 0;
    bool forced = false;   // placed by the generator (budget message, delimiter, "Wait", CoT first token)
    double logprob = 0.0;  // log p(id) from the softmax of the raw logits of its step
    double margin = 0.0;   // p(top1) − p(top2) of the same softmax
    text_stream stream = text_stream::none;
    std::size_t text_begin = 0, text_end = 0;  // its text in that stream: bytes [begin, end)
    std::vector<token_logprob> top;            // top-N, when asked
};

struct branch_result {
    std::vector<token_record> tokens;
    std::string reasoning, answer;
    finish_reason finish = finish_reason::max_tokens;
    int thinking_tokens = 0;
    int waits = 0;                // s1 continuations appended
    bool budget_forced = false;   // the thinking budget ended thinking
    std::vector<std::int32_t> ids() const {
        std::vector<std::int32_t> out;
        for (const auto& t : tokens) out.push_back(t.id);
        return out;
    }
};

struct generation_result {
    std::vector<branch_result> branches;
    std::int64_t prompt_tokens = 0;
    std::int64_t forward_calls = 0;  // batched forward() calls after the prefill
};

// Streaming: (branch, stream, text) as text becomes final.
using stream_callback = std::function<void(std::size_t, text_stream, std::string_view)>;

namespace detail {

// Longest suffix of `text` that is a proper prefix of a stop string (held back while streaming).
inline std::size_t stop_holdback(std::string_view text, const std::vector<std::string>& stops) {
    std::size_t hold = 0;
    for (const std::string& s : stops) {
        for (std::size_t n = std::min(text.size(), s.size() - 1); n > hold; --n) {
            if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
                hold = n;
                break;
            }
        }
    }
    return hold;
}

struct branch_state {
    branch_state(rng r, text::incremental_decoder d) : random(r), decoder(std::move(d)) {}

    branch_result result;
    rng random;
    text::incremental_decoder decoder;
    std::deque<std::int32_t> forced;
    bool thinking = false;
    bool closing = false;          // budget reached, delimiter queued or pending a character boundary
    int closing_wait = 0;          // tokens sampled past the budget while waiting for the boundary
    bool live = true;
    std::size_t emitted[2] = {0, 0};  // bytes of reasoning / answer streamed
    std::vector<std::size_t> pending;  // tokens whose text the decoder still holds
    std::vector<std::int32_t> history;  // prompt + generated, for the penalties
    std::vector<std::int32_t> generated;

    std::string& text(text_stream s) { return s == text_stream::reasoning ? result.reasoning : result.answer; }
};

// Everything one generate() call needs besides the model; split out so the stepping reads top to bottom.
class engine {
   public:
    engine(const text::tokenizer& tok, const generation_options& options, const stream_callback& on_text)
        : tok_(tok), options_(options), on_text_(on_text) {
        const auto& r = options.reasoning;
        open_ = tok.token_to_id(r.open_delimiter);
        close_ = tok.token_to_id(r.close_delimiter);
        if (!r.budget_message.empty()) message_ = tok.encode(r.budget_message, false);
        if (!r.wait_text.empty()) wait_ = tok.encode(r.wait_text, false);
        const bool needs_close = r.thinking_budget.has_value() || r.min_thinking_tokens > 0;
        if (needs_close && !close_) {
            throw moe::invalid_argument("generate: the tokenizer has no token '" + r.close_delimiter +
                                        "' to end thinking with");
        }
    }

    branch_state make_branch(std::size_t index, std::span<const std::int32_t> prompt) const {
        branch_state b(rng(options_.seed, index), text::incremental_decoder(tok_));
        b.thinking = options_.reasoning.starts_in_thinking;
        b.history.assign(prompt.begin(), prompt.end());
        return b;
    }

    // Steps 1–4 of the header for one branch; returns the token to feed, or nullopt when the branch finished.
    // logits: (V) for the token that goes to `position` of the sequence; non-finite ones stop generation.
    std::optional<std::int32_t> step(std::size_t index, branch_state& b, std::span<const float> logits,
                                     std::int64_t position, std::int64_t room) {
        require_finite_logits(logits, "generate: branch " + std::to_string(index) + ", generated token " +
                                          std::to_string(b.generated.size()) + " (position " +
                                          std::to_string(position) + " of the sequence)");
        apply_budget(b);
        bool forced = false;
        std::int32_t id = 0;
        if (!b.forced.empty()) {
            id = b.forced.front();
            b.forced.pop_front();
            forced = true;
        } else {
            id = sample(logits, b.history, options_.sampler, b.random);
            const auto& r = options_.reasoning;
            if (b.thinking && close_ && id == *close_ && b.result.thinking_tokens < r.min_thinking_tokens &&
                b.result.waits < r.max_waits && !wait_.empty()) {
                b.forced.assign(wait_.begin(), wait_.end());  // s1: "Wait" instead of ending the thought
                id = b.forced.front();
                b.forced.pop_front();
                forced = true;
                ++b.result.waits;
            }
        }
        record(index, b, id, forced, logits);
        if (!b.live) return std::nullopt;
        if (static_cast<int>(b.generated.size()) >= options_.max_tokens) return finish(index, b, finish_reason::max_tokens);
        if (is_looping(b.generated, options_.loop)) return finish(index, b, finish_reason::loop);
        if (room < 1) return finish(index, b, finish_reason::context_full);
        return id;
    }

    // Ends a branch: streams whatever is held back.
    std::nullopt_t finish(std::size_t index, branch_state& b, finish_reason why) {
        if (why != finish_reason::stop_string) {
            flush_decoder(index, b);
            for (const text_stream s : {text_stream::reasoning, text_stream::answer}) emit(index, b, s, true);
        }
        b.result.finish = why;
        b.live = false;
        return std::nullopt;
    }

    std::optional<std::int32_t> open_id() const { return open_; }
    std::optional<std::int32_t> close_id() const { return close_; }

   private:
    text_stream current(const branch_state& b) const { return b.thinking ? text_stream::reasoning : text_stream::answer; }

    void apply_budget(branch_state& b) {
        const auto& r = options_.reasoning;
        if (!b.thinking || b.closing || !r.thinking_budget || b.result.thinking_tokens < *r.thinking_budget) return;
        if (!b.decoder.at_character_boundary() && b.closing_wait < 4) {  // finish the character first
            ++b.closing_wait;
            return;
        }
        b.closing = true;
        b.result.budget_forced = true;
        b.forced.assign(message_.begin(), message_.end());
        b.forced.push_back(*close_);
    }

    void record(std::size_t index, branch_state& b, std::int32_t id, bool forced, std::span<const float> logits) {
        token_record t;
        t.id = id;
        t.forced = forced;
        const step_statistics s = statistics(logits, id);
        t.logprob = s.logprob;
        t.margin = s.margin;
        t.top = top_logprobs(logits, options_.top_logprobs);
        b.history.push_back(id);
        b.generated.push_back(id);
        b.result.tokens.push_back(std::move(t));
        const std::size_t at = b.result.tokens.size() - 1;

        if (std::find(options_.stop_tokens.begin(), options_.stop_tokens.end(), id) != options_.stop_tokens.end()) {
            finish(index, b, finish_reason::stop_token);
            return;
        }
        if (open_ && id == *open_ && !b.thinking) {
            flush_decoder(index, b);
            emit(index, b, text_stream::answer, true);
            b.thinking = true;
            return;
        }
        if (close_ && id == *close_ && b.thinking) {
            flush_decoder(index, b);
            emit(index, b, text_stream::reasoning, true);
            b.thinking = false;
            b.closing = false;
            return;
        }
        if (b.thinking && !b.closing) ++b.result.thinking_tokens;  // the forced budget message does not count
        b.pending.push_back(at);
        const std::string piece = b.decoder.push(id);
        if (!piece.empty()) add_text(index, b, piece);
    }

    void flush_decoder(std::size_t index, branch_state& b) {
        const std::string rest = b.decoder.flush();
        if (!rest.empty()) add_text(index, b, rest);
        b.pending.clear();
    }

    // New final text of the current stream: attribute it to the tokens that produced it, look for stop strings.
    void add_text(std::size_t index, branch_state& b, const std::string& piece) {
        const text_stream s = current(b);
        std::string& text = b.text(s);
        const std::size_t begin = text.size();
        text += piece;
        for (const std::size_t t : b.pending) {
            b.result.tokens[t].stream = s;
            b.result.tokens[t].text_begin = begin;
            b.result.tokens[t].text_end = text.size();
        }
        b.pending.clear();
        std::size_t cut = std::string::npos;
        for (const std::string& stop : options_.stop_strings) {
            const std::size_t from = begin >= stop.size() ? begin - stop.size() + 1 : 0;
            const std::size_t at = text.find(stop, from);
            if (at != std::string::npos) cut = std::min(cut, at);
        }
        if (cut != std::string::npos) {
            text.resize(cut);
            emit(index, b, s, true);
            finish(index, b, finish_reason::stop_string);
            return;
        }
        emit(index, b, s, false);
    }

    // Streams the stream's new text; unless `all`, holds back what could start a stop string.
    void emit(std::size_t index, branch_state& b, text_stream s, bool all) {
        const std::string& text = b.text(s);
        std::size_t& done = b.emitted[s == text_stream::reasoning ? 0 : 1];
        const std::size_t end = all ? text.size() : text.size() - stop_holdback(text, options_.stop_strings);
        if (end > done) {
            if (on_text_) on_text_(index, s, std::string_view(text).substr(done, end - done));
            done = end;
        }
    }

    const text::tokenizer& tok_;
    const generation_options& options_;
    const stream_callback& on_text_;
    std::optional<std::int32_t> open_, close_;
    std::vector<std::int32_t> message_, wait_;
};

// The step loop shared by generate() and cot_decoding(): `first_tokens`, when not empty, forces branch b's first
// token to first_tokens[b] (CoT-decoding's top-k start).
template <language_model Model>
generation_result run_branches(Model& model, const text::tokenizer& tok, std::span<const std::int32_t> prompt,
                               const generation_options& options, std::span<const std::int32_t> first_tokens,
                               executor_of<Model>& pool, const stream_callback& on_text,
                               std::vector<float>* prompt_logits_out = nullptr) {
    if (prompt.empty()) throw moe::invalid_argument("generate: the prompt needs at least one token");
    if (options.branches < 1) throw moe::invalid_argument("generate: branches must be at least 1");
    if (options.max_tokens < 0) throw moe::invalid_argument("generate: max_tokens cannot be negative");
    const std::int64_t V = model.vocab_size(), P = static_cast<std::int64_t>(prompt.size());
    const std::size_t B = static_cast<std::size_t>(options.branches);

    // Prefill once; the frozen prompt is shared by every branch.
    host_matrix<float> logits(static_cast<std::int64_t>(B), V);  // (B, V) each branch's next-token logits
    auto root = model.new_sequence(P);
    {
        const typename Model::step prefill{prompt, &root, matrix_view<float>{logits.row(0), 1, V}};
        model.forward(std::span<const typename Model::step>(&prefill, 1), pool);
    }
    if (prompt_logits_out) prompt_logits_out->assign(logits.row(0), logits.row(0) + V);
    for (std::size_t b = 1; b < B; ++b) std::copy(logits.row(0), logits.row(0) + V, logits.row(std::int64_t(b)));
    const auto shared = Model::share(std::move(root));
    const std::int64_t capacity = branch_capacity(model, P, options.max_tokens);

    engine e(tok, options, on_text);
    std::vector<typename Model::sequence> sequences;
    std::vector<branch_state> branches;
    for (std::size_t b = 0; b < B; ++b) {
        sequences.push_back(model.new_sequence(capacity, shared));
        branches.push_back(e.make_branch(b, prompt));
        if (b < first_tokens.size()) branches.back().forced.push_back(first_tokens[b]);
    }

    generation_result result;
    result.prompt_tokens = P;
    std::vector<std::int32_t> next(B);
    std::vector<typename Model::step> steps;
    for (std::size_t b = 0; b < B; ++b)
        if (options.max_tokens == 0) e.finish(b, branches[b], finish_reason::max_tokens);
    while (true) {
        steps.clear();
        for (std::size_t b = 0; b < B; ++b) {
            branch_state& br = branches[b];
            if (!br.live) continue;
            const std::int64_t room = capacity - sequences[b].size();  // positions left for this step's token
            const auto id = e.step(b, br, std::span<const float>(logits.row(std::int64_t(b)), std::size_t(V)),
                                   sequences[b].size(), room);
            if (!id) continue;
            next[b] = *id;
            steps.push_back({std::span<const std::int32_t>(&next[b], 1), &sequences[b],
                             matrix_view<float>{logits.row(std::int64_t(b)), 1, V}});
        }
        if (steps.empty()) break;
        model.forward(std::span<const typename Model::step>(steps), pool);  // every live branch, one token each
        ++result.forward_calls;
    }
    for (auto& br : branches) result.branches.push_back(std::move(br.result));
    return result;
}

}  // namespace detail

// Generates options.branches continuations of `prompt` (token ids) together; streams text through `on_text`.
template <language_model Model>
generation_result generate(Model& model, const text::tokenizer& tok, std::span<const std::int32_t> prompt,
                           const generation_options& options, executor_of<Model>& pool,
                           const stream_callback& on_text = {}) {
    return detail::run_branches(model, tok, prompt, options, {}, pool, on_text);
}

}  // namespace moe::decoding
