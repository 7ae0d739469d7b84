// moe/serving/scheduler.hpp on the tiny reasoner: requests of every mode, run together in one batch, give the tokens
// that serial decoding::generate / self_consistency / cot_decoding give for the same seeds (the reference: the
// library's one-request path, run afterwards on the same model); their ledgers count the same FLOPs per phase as
// metered_model's serial ledger; a full queue, cancellation and shutdown end requests cleanly.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "moe/decoding.hpp"
#include "moe/ledger/cost.hpp"
#include "moe/ledger/metered_model.hpp"
#include "moe/models.hpp"
#include "moe/models/cpu.hpp"
#include "moe/serving/scheduler.hpp"
#include "moe/text/chat_template.hpp"
#include "moe/text/encode_chat.hpp"
#include "moe/text/tokenizer.hpp"

namespace test_scheduler {

namespace {

using model_type = moe::cpu::tiny_reasoner;
using moe::serving::request;
using moe::serving::request_mode;

struct fixture {
    moe::text::tokenizer tok = moe::text::tokenizer::from_file(std::string(MOE_TINY_REASONER_DIR) + "/tokenizer.json");
    model_type model = moe::load_model<model_type>(MOE_TINY_REASONER_DIR);
    moe::cpu::thread_pool pool{2};
    moe::ledger::model_cost cost = moe::ledger::cost_of<model_type>();

    request make(int a, int b, std::uint64_t seed, float temperature, int branches = 1,
                 request_mode mode = request_mode::sample) const {
        const std::vector<moe::text::chat_message> chat{{"user", std::to_string(a) + "+" + std::to_string(b), std::nullopt}};
        request r;
        r.prompt = moe::text::encode_chat(tok, moe::text::chat_family::qwen3, chat, {});
        r.generation.sampler.temperature = temperature;
        r.generation.sampler.top_k = 0;
        r.generation.sampler.top_p = 1.0f;
        r.generation.sampler.min_p = 0.0f;
        r.generation.seed = seed;
        r.generation.max_tokens = 70;
        r.generation.branches = branches;
        r.generation.top_logprobs = 2;
        r.generation.stop_tokens = {*tok.special_token_id("<|im_end|>")};
        r.mode = mode;
        if (mode == request_mode::cot_decoding) {
            r.cot_k = branches;
            r.generation.sampler = moe::decoding::sampler_config::greedy();
        }
        return r;
    }

    // The serial reference: the library's single-request functions, with metered_model's ledger.
    struct serial_result {
        moe::decoding::generation_result generation;
        moe::ledger::request_ledger ledger;
    };
    serial_result serial(const request& r) {
        moe::ledger::tracker tracker(cost);
        tracker.begin(moe::ledger::phase::prompt);
        moe::ledger::metered_model metered(model, tracker, *tok.token_to_id("<think>"), *tok.token_to_id("</think>"),
                                           moe::ledger::phase::answer);
        serial_result out;
        if (r.mode == request_mode::self_consistency) {
            out.generation = moe::decoding::self_consistency(metered, tok, r.prompt, {r.generation, r.answer}, pool).generation;
        } else if (r.mode == request_mode::cot_decoding) {
            moe::decoding::cot_options c;
            c.k = r.cot_k;
            c.max_tokens = r.generation.max_tokens;
            c.stop_tokens = r.generation.stop_tokens;
            c.reasoning = r.generation.reasoning;
            // cot_decoding prefills a probe of the prompt first: its ledger is not compared.
            out.generation = moe::decoding::cot_decoding(model, tok, r.prompt, c, pool).generation;
        } else {
            out.generation = moe::decoding::generate(metered, tok, r.prompt, r.generation, pool);
        }
        out.ledger = tracker.finish();
        return out;
    }
};

}  // namespace

TEST_CASE("scheduler: requests batched together equal serial runs of each", "[serving]") {
    fixture f;
    std::vector<request> requests{
        f.make(57486, 68937, 1, 0.0f),       f.make(12345, 67890, 2, 0.8f),
        f.make(99999, 10001, 3, 1.0f, 2),    f.make(31415, 92653, 4, 0.7f, 3, request_mode::self_consistency),
        f.make(27182, 81828, 5, 0.0f, 2, request_mode::cot_decoding), f.make(11111, 22222, 6, 1.2f),
        f.make(40000, 60000, 7, 0.9f, 2),    f.make(55555, 44444, 8, 0.5f),
    };
    requests[1].generation.stop_strings = {"+1"};              // a stop string
    requests[5].generation.reasoning.thinking_budget = 9;      // the budget forces </think>
    requests[5].generation.reasoning.budget_message = "\n";
    requests[7].generation.reasoning.min_thinking_tokens = 60;  // s1: "Wait" instead of an early </think>
    requests[7].generation.reasoning.max_waits = 2;
    requests[0].stream = requests[2].stream = true;

    std::vector<std::shared_ptr<moe::serving::request_handle>> handles;
    std::vector<moe::serving::outcome> outcomes;
    std::vector<std::string> streamed(2);
    {
        moe::serving::scheduler<model_type> s(f.model, f.tok, f.pool, moe::serving::batch_meter(f.cost, nullptr),
                                              {.parallel_sequences = 8, .queue = 16});
        for (const auto& r : requests) handles.push_back(s.submit(r));
        for (auto& h : handles) h->wait();
        for (auto& h : handles) outcomes.push_back(h->result());
        for (const auto& e : handles[0]->wait_events(std::chrono::milliseconds(0)))
            if (e.branch == 0) streamed[e.stream == moe::decoding::text_stream::reasoning ? 0 : 1] += e.text;
    }  // the scheduler's thread is gone: the model is free for the serial runs

    double worst_logprob = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        INFO("request " << i);
        const auto ref = f.serial(requests[i]);
        const auto& got = outcomes[i].generation;
        REQUIRE(got.branches.size() == ref.generation.branches.size());
        CHECK(got.prompt_tokens == ref.generation.prompt_tokens);
        CHECK(got.forward_calls == ref.generation.forward_calls);
        for (std::size_t b = 0; b < got.branches.size(); ++b) {
            INFO("branch " << b);
            const auto& x = got.branches[b];
            const auto& y = ref.generation.branches[b];
            CHECK(x.ids() == y.ids());
            CHECK(x.reasoning == y.reasoning);
            CHECK(x.answer == y.answer);
            CHECK(x.finish == y.finish);
            CHECK(x.thinking_tokens == y.thinking_tokens);
            CHECK(x.waits == y.waits);
            for (std::size_t t = 0; t < std::min(x.tokens.size(), y.tokens.size()); ++t)
                worst_logprob = std::max(worst_logprob, std::abs(x.tokens[t].logprob - y.tokens[t].logprob));
        }
        if (requests[i].mode != request_mode::cot_decoding) {  // FLOPs per phase: exact, whatever the batch
            for (const auto p : moe::ledger::all_phases) {
                CHECK(outcomes[i].ledger[p].cost.flops == ref.ledger[p].cost.flops);
                CHECK(outcomes[i].ledger[p].tokens == ref.ledger[p].tokens);
            }
        }
    }
    // The batch changes which product kernels run (docs/design.md, Determinism), so log-probabilities may differ
    // in the last bits; the tokens above may not.
    CHECK(worst_logprob < 1e-4);
    WARN("largest |logprob(batched) - logprob(serial)|: " << worst_logprob);

    // The modes' summaries: the same votes and scores as the serial functions.
    const auto sc = moe::decoding::tally_votes(outcomes[3].generation, requests[3].answer);
    REQUIRE(outcomes[3].self_consistency);
    CHECK(outcomes[3].self_consistency->answer == sc.answer);
    REQUIRE(outcomes[4].cot);
    CHECK(outcomes[4].cot->branches.size() == 2);
    // Streamed text is the final text.
    CHECK(streamed[0] == outcomes[0].generation.branches[0].reasoning);
    CHECK(streamed[1] == outcomes[0].generation.branches[0].answer);
    CHECK(outcomes[0].generation.branches[0].answer.find("126423") != std::string::npos);
}

TEST_CASE("scheduler: a full queue refuses, cancelled requests end, shutdown fails the rest", "[serving]") {
    fixture f;
    std::vector<std::shared_ptr<moe::serving::request_handle>> accepted;
    int refused = 0;
    {
        moe::serving::scheduler<model_type> s(f.model, f.tok, f.pool, moe::serving::batch_meter(f.cost, nullptr),
                                              {.parallel_sequences = 1, .queue = 1});
        CHECK_THROWS_AS(s.submit(f.make(1, 2, 1, 0.0f, 2)), moe::invalid_argument);  // 2 branches > 1 slot
        request empty = f.make(1, 2, 1, 0.0f);
        empty.prompt.clear();
        CHECK_THROWS_AS(s.submit(empty), moe::invalid_argument);
        request bad_id = f.make(1, 2, 1, 0.0f);
        bad_id.prompt.push_back(100000);
        CHECK_THROWS_AS(s.submit(bad_id), moe::invalid_argument);
        // Back to back: one running, one waiting, the rest refused (each takes milliseconds, a submit microseconds).
        for (int i = 0; i < 20; ++i) {
            try {
                accepted.push_back(s.submit(f.make(10000 + i, 20000, std::uint64_t(i), 0.9f)));
            } catch (const moe::serving::queue_full&) {
                ++refused;
            }
        }
        CHECK(refused > 0);
        accepted.front()->cancel();
        for (auto& h : accepted) h->wait();  // none hangs
        // A cancelled request fails with request_cancelled — unless it had finished already.
        try {
            (void)accepted.front()->result();
        } catch (const moe::serving::request_cancelled&) {
        }
        // The scheduler still serves.
        auto after = s.submit(f.make(57486, 68937, 1, 0.0f));
        after->wait();
        CHECK(after->result().generation.branches[0].answer.find("126423") != std::string::npos);
        // Shutdown with requests waiting: they fail, nothing hangs.
        accepted.clear();
        for (int i = 0; i < 2; ++i) {
            try {
                accepted.push_back(s.submit(f.make(1, 2, 1, 0.9f)));
            } catch (const moe::serving::queue_full&) {
            }
        }
    }
    for (auto& h : accepted) {
        REQUIRE(h->done());
        try {
            (void)h->result();
        } catch (const moe::serving::request_cancelled&) {
        }
    }
}


TEST_CASE("scheduler: the prompt cache reuses a repeated prompt exactly and extends a cached beginning", "[serving]") {
    fixture f;
    const request first = f.make(57486, 68937, 3, 0.9f);
    request again = first;
    request three = f.make(57486, 68937, 4, 1.0f, 3);  // same prompt, three branches
    // A second turn: the first prompt, an answer, a new question (its beginning is the cached prompt).
    request turn = f.make(1, 1, 5, 0.8f);
    const std::vector<moe::text::chat_message> chat{{"user", "57486+68937", std::nullopt},
                                                    {"assistant", "126423", std::nullopt},
                                                    {"user", "12+30", std::nullopt}};
    turn.prompt = moe::text::encode_chat(f.tok, moe::text::chat_family::qwen3, chat, {});
    REQUIRE(std::equal(first.prompt.begin(), first.prompt.end(), turn.prompt.begin()));
    turn.generation.max_tokens = 20;

    std::vector<moe::serving::outcome> got;
    {
        moe::serving::scheduler<model_type> s(f.model, f.tok, f.pool, moe::serving::batch_meter(f.cost, nullptr),
                                              {.parallel_sequences = 4, .queue = 4});
        for (const request* r : std::vector<const request*>{&first, &again, &three, &turn}) {  // one by one: each sees the cache
            auto h = s.submit(*r);
            h->wait();
            got.push_back(h->result());
        }
    }
    const auto P = std::int64_t(first.prompt.size());
    CHECK(got[0].cached_tokens == 0);
    CHECK(got[1].cached_tokens == P);
    CHECK(got[2].cached_tokens == P);
    CHECK(got[3].cached_tokens == P);
    // A reused prompt costs nothing: no prompt call in the ledger.
    CHECK(got[1].ledger.prompt.tokens == 0);
    CHECK(got[0].ledger.prompt.tokens == P);
    CHECK(got[3].ledger.prompt.tokens == std::int64_t(turn.prompt.size()) - P);
    // The same prompt's logits, bit for bit: the same tokens and log-probabilities.
    const auto& a = got[0].generation.branches[0];
    const auto& b = got[1].generation.branches[0];
    REQUIRE(a.ids() == b.ids());
    for (std::size_t t = 0; t < a.tokens.size(); ++t) CHECK(a.tokens[t].logprob == b.tokens[t].logprob);
    // Against serial runs (the scheduler is gone).
    const auto ref3 = f.serial(three).generation;
    for (std::size_t i = 0; i < 3; ++i) CHECK(got[2].generation.branches[i].ids() == ref3.branches[i].ids());
    const auto ref_turn = f.serial(turn).generation;
    CHECK(got[3].generation.branches[0].ids() == ref_turn.branches[0].ids());
    for (std::size_t t = 0; t < ref_turn.branches[0].tokens.size(); ++t)
        CHECK(std::abs(got[3].generation.branches[0].tokens[t].logprob - ref_turn.branches[0].tokens[t].logprob) < 1e-4);

    // Off: nothing reused.
    moe::serving::scheduler<model_type> off(f.model, f.tok, f.pool, moe::serving::batch_meter(f.cost, nullptr),
                                            {.prompt_cache_bytes = 0, .parallel_sequences = 2, .queue = 2});
    for (int i = 0; i < 2; ++i) {
        auto h = off.submit(first);
        h->wait();
        CHECK(h->result().cached_tokens == 0);
    }
}

}  // namespace test_scheduler
