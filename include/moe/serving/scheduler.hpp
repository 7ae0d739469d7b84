// moe/serving/scheduler.hpp — continuous batching: many requests, one running batch, joined and left at token
// boundaries.
//
//   moe::serving::scheduler<Model> s(model, tokenizer, pool, meter, {.parallel_sequences = 4, .queue = 64});
//   auto handle = s.submit(std::move(request));     // from any thread; throws queue_full / invalid_argument
//   for (auto& e : handle->wait_events(100ms)) …    // streamed text (when request.stream), then
//   const moe::serving::outcome& o = handle->result();   // after done(): the generation, votes, ledger
//
// One worker thread owns the model. Every turn of its loop:
//   1. drops cancelled requests (their sequences and caches go with them);
//   2. admits the oldest waiting request if its branches fit the free sequence slots — one per turn, so that its
//      first token is sampled right after its prefill and the running requests get a token between two prefills
//      (a burst of N requests sees first tokens after 1, 2, … N prefills, not all after N): its
//      prompt is prefilled in a forward call of its own, exactly as generate() prefills it, and frozen as the
//      branches' shared prompt (CoT-decoding takes its first tokens from those logits). The frozen prompt and its
//      last logits stay in a prompt cache: a later request with the same prompt computes none of it; a later
//      one-branch request whose prompt begins with it computes only the rest (multi-turn chat);
//   3. steps every live branch of every running request (decoding::detail::engine: sampling, reasoning controls,
//      stop rules, streaming) and runs one forward call with one token per live branch of all requests;
//   4. a request whose branches have all finished leaves at once: its outcome (self-consistency votes,
//      CoT-decoding scores, energy ledger) is handed to its owner.
// Same request, same seed: same tokens as decoding::generate / self_consistency / cot_decoding, whatever else is
// running — up to the last-bit differences the batch size makes in the products (docs/design.md, Determinism;
// docs/serving.md measures them).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "moe/decoding/answer.hpp"
#include "moe/decoding/cot_decoding.hpp"
#include "moe/decoding/generator.hpp"
#include "moe/decoding/language_model.hpp"
#include "moe/decoding/sampler.hpp"
#include "moe/decoding/self_consistency.hpp"
#include "moe/error.hpp"
#include "moe/ledger/ledger.hpp"
#include "moe/serving/batch_meter.hpp"
#include "moe/tensor/matrix_view.hpp"
#include "moe/text/tokenizer.hpp"

namespace moe::serving {

enum class request_mode { sample, self_consistency, cot_decoding };

// One request, in the library's terms (moe/serving/openai_request.hpp builds it from an OpenAI request body).
struct request {
    std::vector<std::int32_t> prompt;          // token ids, at least one
    decoding::generation_options generation;   // .branches: choices (sample), paths (self-consistency)
    request_mode mode = request_mode::sample;
    int cot_k = 0;                             // cot_decoding: first tokens branched on (≥ 1)
    decoding::answer_rule answer;              // self-consistency / CoT-decoding answer extraction
    bool stream = false;                       // queue text events for wait_events()
};

// What a finished request produced.
struct outcome {
    decoding::generation_result generation;
    std::optional<decoding::self_consistency_result> self_consistency;  // mode self_consistency (its .generation empty)
    std::optional<decoding::cot_result> cot;                            // mode cot_decoding (its .generation empty)
    ledger::request_ledger ledger;
    double queued_seconds = 0;        // submitted → admitted
    std::int64_t cached_tokens = 0;   // prompt positions reused from the prompt cache, not computed again
};

// The waiting queue is full: the caller should answer "try again later" (HTTP 503).
class queue_full : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

// The request was cancelled (by its owner) or the scheduler shut down before it finished.
class request_cancelled : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

// Shared by the scheduler's worker (writes) and the request's owner (reads; may cancel). Thread-safe.
class request_handle {
   public:
    struct event {
        std::size_t branch = 0;
        decoding::text_stream stream = decoding::text_stream::answer;
        std::string text;                            // final text of that stream, in order
        std::vector<decoding::token_record> tokens;  // tokens recorded since the branch's previous event
    };

    // Waits up to `timeout` for events or the end; returns the events queued so far (possibly none).
    std::vector<event> wait_events(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, timeout, [&] { return !events_.empty() || done_; });
        std::vector<event> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
        events_.clear();
        return out;
    }
    // Blocks until the request finished, failed or was cancelled.
    void wait() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return done_; });
    }
    bool done() const {
        std::lock_guard lock(mutex_);
        return done_;
    }
    // The outcome; rethrows the request's error (request_cancelled, non_finite_logits, …). Call after done().
    const outcome& result() const {
        std::lock_guard lock(mutex_);
        if (!done_) throw moe::logic_error("request_handle::result: the request has not finished");
        if (error_) std::rethrow_exception(error_);
        return *outcome_;
    }
    // Asks the scheduler to drop the request at the next token boundary (or before it starts).
    void cancel() { cancelled_.store(true); }
    bool cancelled() const { return cancelled_.load(); }

    // ---- the worker's side ----
    void push(event e) {
        {
            std::lock_guard lock(mutex_);
            events_.push_back(std::move(e));
        }
        changed_.notify_all();
    }
    void finish(outcome o) {
        {
            std::lock_guard lock(mutex_);
            outcome_ = std::move(o);
            done_ = true;
        }
        changed_.notify_all();
    }
    void fail(std::exception_ptr e) {
        {
            std::lock_guard lock(mutex_);
            error_ = std::move(e);
            done_ = true;
        }
        changed_.notify_all();
    }

   private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<event> events_;
    std::optional<outcome> outcome_;
    std::exception_ptr error_;
    bool done_ = false;
    std::atomic<bool> cancelled_{false};
};

struct scheduler_limits {
    // Prompts kept after their request (KV cache and last logits) for requests that repeat or extend them;
    // 0 turns the prompt cache off. Bytes as the model counts them (sequence::cache_bytes()), least recently used
    // dropped first.
    std::int64_t prompt_cache_bytes = std::int64_t{256} << 20;
    std::size_t prompt_cache_entries = 32;
    int parallel_sequences = 4;  // most branches decoded at once, summed over running requests (llama-server's -np)
    std::size_t queue = 64;      // most requests waiting for a slot (0: none wait); submit() throws queue_full beyond
};

template <decoding::language_model Model>
class scheduler {
   public:
    using executor = decoding::executor_of<Model>;

    // model, tokenizer, pool and meter must outlive the scheduler; only its worker thread uses model and pool.
    scheduler(Model& model, const text::tokenizer& tok, executor& pool, batch_meter meter, scheduler_limits limits,
              std::string energy_note = {})
        : model_(model), tok_(tok), pool_(pool), meter_(std::move(meter)), limits_(limits), note_(std::move(energy_note)) {
        if (limits_.parallel_sequences < 1) throw moe::invalid_argument("scheduler: parallel_sequences must be at least 1");
        worker_ = std::thread([this] { run(); });
    }
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;

    // Stops the worker; requests still waiting or running fail with request_cancelled.
    ~scheduler() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        worker_.join();
    }

    // Queues a request. Throws invalid_argument when it can never run (more branches than sequence slots, an empty
    // prompt, a prompt that leaves no room in the context) and queue_full when the queue is full.
    std::shared_ptr<request_handle> submit(request r) {
        if (r.prompt.empty()) throw moe::invalid_argument("the prompt needs at least one token");
        const int branches = branches_of(r);
        if (branches < 1) throw moe::invalid_argument("a request needs at least one branch");
        if (branches > limits_.parallel_sequences) {
            throw moe::invalid_argument("the request needs " + std::to_string(branches) +
                                        " sequences at once; this server decodes at most " +
                                        std::to_string(limits_.parallel_sequences) + " (-np)");
        }
        if (std::int64_t(r.prompt.size()) >= model_.max_positions()) {
            throw moe::invalid_argument("the prompt is " + std::to_string(r.prompt.size()) +
                                        " tokens; the context holds " + std::to_string(model_.max_positions()));
        }
        for (const std::int32_t id : r.prompt)
            if (id < 0 || id >= model_.vocab_size())
                throw moe::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                            std::to_string(model_.vocab_size()) + ")");
        auto handle = std::make_shared<request_handle>();
        {
            std::lock_guard lock(mutex_);
            if (stopping_) throw request_cancelled("the server is shutting down");
            // Requests the free slots will take at once are not waiting; the queue bounds the others (oldest first,
            // no overtaking: behind one that does not fit, all wait).
            int free = limits_.parallel_sequences - busy_.load();
            std::size_t waiting = 0;
            for (const queued& q : waiting_) {
                if (waiting == 0 && branches_of(q.req) <= free) free -= branches_of(q.req);
                else ++waiting;
            }
            if ((waiting > 0 || branches > free) && waiting >= limits_.queue) {
                throw queue_full("the server is busy: " + std::to_string(waiting) + " request(s) already wait for " +
                                 std::to_string(limits_.parallel_sequences) + " sequence slots (--queue " +
                                 std::to_string(limits_.queue) + "); try again later");
            }
            waiting_.push_back({std::move(r), handle, std::chrono::steady_clock::now()});
        }
        wake_.notify_all();
        return handle;
    }

    std::size_t waiting() const {
        std::lock_guard lock(mutex_);
        return waiting_.size();
    }
    const scheduler_limits& limits() const { return limits_; }

   private:
    struct queued {
        request req;
        std::shared_ptr<request_handle> handle;
        std::chrono::steady_clock::time_point submitted;
    };

    // A running request: its options (which the engine refers to), branches, sequences and ledger.
    struct running {
        request req;
        std::shared_ptr<request_handle> handle;
        double queued_seconds = 0;
        ledger::tracker tracker;
        decoding::stream_callback on_text;
        std::unique_ptr<decoding::detail::engine> engine;
        std::vector<typename Model::sequence> sequences;
        std::vector<decoding::detail::branch_state> branches;
        std::vector<ledger::phase> phases;  // per branch: the phase its next fed token is in
        std::vector<std::size_t> reported;  // per branch: tokens already sent with an event
        std::vector<std::int32_t> next;     // per branch: the token fed this step
        std::vector<std::int32_t> first_tokens;  // CoT-decoding
        host_matrix<float> logits;               // (B, V) each branch's next-token logits
        std::int64_t capacity = 0;
        std::int64_t cached_tokens = 0;  // prompt positions read from the prompt cache

        running(request r, std::shared_ptr<request_handle> h, double waited, ledger::tracker t)
            : req(std::move(r)), handle(std::move(h)), queued_seconds(waited), tracker(std::move(t)) {}
    };

    static int branches_of(const request& r) {
        return r.mode == request_mode::cot_decoding ? r.cot_k : r.generation.branches;
    }

    int busy_sequences() const {  // the worker's count: slots of the running requests
        int n = 0;
        for (const auto& r : running_) n += branches_of(r->req);
        return n;
    }

    void run() {
        while (true) {
            std::vector<queued> admitted;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
                if (stopping_) break;
                // Oldest first; a request that does not fit waits (and so do those behind it: no overtaking).
                int free = limits_.parallel_sequences - busy_sequences();
                while (!waiting_.empty()) {
                    if (waiting_.front().handle->cancelled()) {
                        waiting_.front().handle->fail(std::make_exception_ptr(request_cancelled("cancelled")));
                        waiting_.pop_front();
                        continue;
                    }
                    const int need = branches_of(waiting_.front().req);
                    if (need > free) break;
                    free -= need;
                    busy_ += need;
                    admitted.push_back(std::move(waiting_.front()));
                    waiting_.pop_front();
                    break;  // one prefill per turn (see the header)
                }
            }
            drop_cancelled();
            for (queued& q : admitted) admit(std::move(q));
            step_all();
            busy_.store(busy_sequences());  // requests that left (finished, failed, cancelled) free their slots
        }
        const auto stopped = std::make_exception_ptr(request_cancelled("the server is shutting down"));
        for (auto& r : running_) r->handle->fail(stopped);
        running_.clear();
        std::lock_guard lock(mutex_);
        for (auto& q : waiting_) q.handle->fail(stopped);
        waiting_.clear();
    }

    void drop_cancelled() {
        std::erase_if(running_, [](const std::unique_ptr<running>& r) {
            if (!r->handle->cancelled()) return false;
            r->handle->fail(std::make_exception_ptr(request_cancelled("cancelled")));
            return true;
        });
    }

    // Prefills the prompt alone (as generate() does), freezes it, and makes the branches.
    void admit(queued q) {
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - q.submitted).count();
        auto r = std::make_unique<running>(std::move(q.req), std::move(q.handle), waited,
                                           ledger::tracker(meter_.cost(), meter_.meter(), meter_.constants(), note_));
        try {
            const request& req = r->req;
            const std::int64_t V = model_.vocab_size(), P = std::int64_t(req.prompt.size());
            const auto B = std::size_t(branches_of(req));
            r->logits = host_matrix<float>(std::int64_t(B), V);
            r->capacity = decoding::branch_capacity(model_, P, req.generation.max_tokens);
            // The prompt: reused whole from the prompt cache, or its cached beginning extended (one branch), or
            // prefilled alone and cached.
            std::shared_ptr<const typename Model::sequence> shared;
            std::optional<typename Model::sequence> extended;  // one branch continuing a cached beginning
            const cached_prompt* hit = find_cached(req.prompt, B == 1);
            if (hit && std::int64_t(hit->tokens.size()) == P) {
                shared = hit->sequence;
                std::copy(hit->logits.begin(), hit->logits.end(), r->logits.row(0));
                r->cached_tokens = P;
            } else if (hit) {
                const auto C = std::int64_t(hit->tokens.size());
                extended.emplace(model_.new_sequence(r->capacity, hit->sequence));
                const std::span<const std::int32_t> rest(req.prompt.data() + C, std::size_t(P - C));
                const typename Model::step prefill{rest, &*extended, matrix_view<float>{r->logits.row(0), 1, V}};
                const batch_meter::share s{&r->tracker, ledger::phase::prompt, P - C, C, 1};
                meter_.measure(std::span<const batch_meter::share>(&s, 1), [&] {
                    model_.forward(std::span<const typename Model::step>(&prefill, 1), pool_);
                });
                r->cached_tokens = C;
            } else {
                auto root = model_.new_sequence(P);
                const typename Model::step prefill{req.prompt, &root, matrix_view<float>{r->logits.row(0), 1, V}};
                const batch_meter::share s{&r->tracker, ledger::phase::prompt, P, 0, 1};
                meter_.measure(std::span<const batch_meter::share>(&s, 1), [&] {
                    model_.forward(std::span<const typename Model::step>(&prefill, 1), pool_);
                });
                shared = Model::share(std::move(root));
                remember(req.prompt, shared, std::span<const float>(r->logits.row(0), std::size_t(V)));
            }
            if (req.mode == request_mode::cot_decoding) {
                const std::span<const float> first(r->logits.row(0), std::size_t(V));
                decoding::require_finite_logits(first, "cot_decoding: the prompt's last logits");
                for (const auto& t : decoding::top_logprobs(first, int(B))) r->first_tokens.push_back(t.id);
            }
            for (std::size_t b = 1; b < B; ++b)
                std::copy(r->logits.row(0), r->logits.row(0) + V, r->logits.row(std::int64_t(b)));

            running* self = r.get();
            if (req.stream) {
                r->on_text = [self](std::size_t b, decoding::text_stream s, std::string_view text) {
                    request_handle::event e{b, s, std::string(text), {}};
                    const auto& tokens = self->branches[b].result.tokens;
                    e.tokens.assign(tokens.begin() + std::ptrdiff_t(self->reported[b]), tokens.end());
                    self->reported[b] = tokens.size();
                    self->handle->push(std::move(e));
                };
            }
            r->engine = std::make_unique<decoding::detail::engine>(tok_, req.generation, r->on_text);
            const ledger::phase first_phase =
                req.generation.reasoning.starts_in_thinking ? ledger::phase::thinking : ledger::phase::answer;
            for (std::size_t b = 0; b < B; ++b) {
                r->sequences.push_back(extended ? std::move(*extended) : model_.new_sequence(r->capacity, shared));
                r->branches.push_back(r->engine->make_branch(b, req.prompt));
                if (b < r->first_tokens.size()) r->branches.back().forced.push_back(r->first_tokens[b]);
            }
            r->phases.assign(B, first_phase);
            r->reported.assign(B, 0);
            r->next.assign(B, 0);
            if (req.generation.max_tokens == 0)
                for (std::size_t b = 0; b < B; ++b)
                    r->engine->finish(b, r->branches[b], decoding::finish_reason::max_tokens);
            running_.push_back(std::move(r));
        } catch (...) {
            r->handle->fail(std::current_exception());
        }
    }

    // One token for every live branch of every running request, in one forward call.
    void step_all() {
        std::vector<typename Model::step> steps;
        std::vector<batch_meter::share> shares;
        std::vector<running*> owners;  // per step
        for (auto it = running_.begin(); it != running_.end();) {
            running& r = **it;
            bool live = false;
            try {
                const std::int64_t V = model_.vocab_size();
                for (std::size_t b = 0; b < r.branches.size(); ++b) {
                    auto& br = r.branches[b];
                    if (!br.live) continue;
                    auto& seq = r.sequences[b];
                    const auto id = r.engine->step(b, br, std::span<const float>(r.logits.row(std::int64_t(b)), std::size_t(V)),
                                                   seq.size(), r.capacity - seq.size());
                    if (!id) continue;
                    live = true;
                    r.next[b] = *id;
                    // The token's phase, as metered_model counts it: <think> opens thinking, </think> the answer.
                    if (const auto open = r.engine->open_id(); open && *id == *open) r.phases[b] = ledger::phase::thinking;
                    if (const auto close = r.engine->close_id(); close && *id == *close) r.phases[b] = ledger::phase::answer;
                    steps.push_back({std::span<const std::int32_t>(&r.next[b], 1), &seq,
                                     matrix_view<float>{r.logits.row(std::int64_t(b)), 1, V}});
                    shares.push_back({&r.tracker, r.phases[b], 1, seq.size(), 1});
                    owners.push_back(&r);
                }
            } catch (...) {  // this request's logits or options failed it; the others go on
                std::erase(owners, &r);
                std::erase_if(shares, [&](const batch_meter::share& s) { return s.tracker == &r.tracker; });
                std::erase_if(steps, [&](const typename Model::step& s) { return owns(r, s.state); });
                r.handle->fail(std::current_exception());
                it = running_.erase(it);
                continue;
            }
            if (!live) {
                complete(r);
                it = running_.erase(it);
                continue;
            }
            ++it;
        }
        if (steps.empty()) return;
        try {
            meter_.measure(std::span<const batch_meter::share>(shares), [&] {
                model_.forward(std::span<const typename Model::step>(steps), pool_);
            });
        } catch (...) {  // the call failed for everyone in it
            const auto error = std::current_exception();
            std::erase_if(running_, [&](const std::unique_ptr<running>& r) {
                if (std::find(owners.begin(), owners.end(), r.get()) == owners.end()) return false;
                r->handle->fail(error);
                return true;
            });
        }
    }

    static bool owns(const running& r, const typename Model::sequence* s) {
        for (const auto& seq : r.sequences)
            if (&seq == s) return true;
        return false;
    }

    void complete(running& r) {
        outcome o;
        o.queued_seconds = r.queued_seconds;
        o.cached_tokens = r.cached_tokens;
        decoding::generation_result g;
        g.prompt_tokens = std::int64_t(r.req.prompt.size());
        // Forward calls after the prefill this request took part in (generate()'s count for the same request).
        std::int64_t calls = 0;
        for (const auto& br : r.branches) calls = std::max<std::int64_t>(calls, std::int64_t(br.result.tokens.size()));
        g.forward_calls = std::max<std::int64_t>(calls - 1, 0);
        for (auto& br : r.branches) g.branches.push_back(std::move(br.result));
        if (r.req.stream) {  // tokens recorded since the last text (stop tokens, delimiters) still go out
            for (std::size_t b = 0; b < g.branches.size(); ++b) {
                const auto& tokens = g.branches[b].tokens;
                if (r.reported[b] < tokens.size())
                    r.handle->push({b, decoding::text_stream::none, {},
                                    {tokens.begin() + std::ptrdiff_t(r.reported[b]), tokens.end()}});
            }
        }
        if (r.req.mode == request_mode::self_consistency) {
            o.self_consistency = decoding::tally_votes(std::move(g), r.req.answer);
            o.generation = std::move(o.self_consistency->generation);
            o.self_consistency->generation = {};
        } else if (r.req.mode == request_mode::cot_decoding) {
            o.cot = decoding::score_cot_branches(std::move(g), r.first_tokens, r.req.answer);
            o.generation = std::move(o.cot->generation);
            o.cot->generation = {};
        } else {
            o.generation = std::move(g);
        }
        o.ledger = r.tracker.finish();
        r.handle->finish(std::move(o));
    }

    struct cached_prompt {
        std::vector<std::int32_t> tokens;
        std::shared_ptr<const typename Model::sequence> sequence;
        std::vector<float> logits;  // (V) the last position's
        std::uint64_t used = 0;     // recency
        std::int64_t bytes = 0;
    };

    // The cached prompt equal to `prompt`, else (when `extend`: a request of one branch, which can continue a
    // shared prompt in its own sequence) the longest one that begins it; null when none.
    const cached_prompt* find_cached(const std::vector<std::int32_t>& prompt, bool extend) {
        cached_prompt* best = nullptr;
        for (auto& c : prompt_cache_) {
            if (c.tokens.size() > prompt.size() || !std::equal(c.tokens.begin(), c.tokens.end(), prompt.begin())) continue;
            if (c.tokens.size() < prompt.size() && !extend) continue;
            if (!best || c.tokens.size() > best->tokens.size()) best = &c;
        }
        if (best) best->used = ++clock_;
        return best;
    }

    void remember(const std::vector<std::int32_t>& prompt, std::shared_ptr<const typename Model::sequence> sequence,
                  std::span<const float> logits) {
        if (limits_.prompt_cache_bytes <= 0 || limits_.prompt_cache_entries == 0) return;
        std::int64_t bytes = 0;
        if constexpr (requires { { sequence->cache_bytes() } -> std::convertible_to<std::int64_t>; })
            bytes = sequence->cache_bytes();
        bytes += std::int64_t(logits.size() * sizeof(float) + prompt.size() * sizeof(std::int32_t));
        if (bytes > limits_.prompt_cache_bytes) return;
        prompt_cache_.push_back({prompt, std::move(sequence), {logits.begin(), logits.end()}, ++clock_, bytes});
        std::int64_t total = 0;
        for (const auto& c : prompt_cache_) total += c.bytes;
        while (total > limits_.prompt_cache_bytes || prompt_cache_.size() > limits_.prompt_cache_entries) {
            const auto oldest = std::min_element(prompt_cache_.begin(), prompt_cache_.end(),
                                                 [](const auto& a, const auto& b) { return a.used < b.used; });
            total -= oldest->bytes;
            prompt_cache_.erase(oldest);  // branches still reading it keep it alive (shared_ptr)
        }
    }

    Model& model_;
    const text::tokenizer& tok_;
    executor& pool_;
    batch_meter meter_;
    scheduler_limits limits_;
    std::string note_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<queued> waiting_;
    bool stopping_ = false;
    std::atomic<int> busy_{0};                       // sequence slots taken by admitted requests (submit reads it)
    std::vector<std::unique_ptr<running>> running_;  // only the worker touches it
    std::vector<cached_prompt> prompt_cache_;        // the worker's too
    std::uint64_t clock_ = 0;
    std::thread worker_;
};

}  // namespace moe::serving
