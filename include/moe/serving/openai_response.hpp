// moe/serving/openai_response.hpp — OpenAI response bodies from a finished request (moe/serving/scheduler.hpp), and
// the chunks of a streamed one.
//
//   chat.completion        choices[i].message {role, content, reasoning_content}; finish_reason "stop" | "length"
//                          (+ moe_finish_reason: the library's reason, e.g. "loop"); logprobs.content when asked
//   text_completion        choices[i].text (the answer) and reasoning_content
//   usage                  prompt_tokens (prompt_tokens_details.cached_tokens: reused from the prompt cache),
//                          completion_tokens, total_tokens,
//                          completion_tokens_details.reasoning_tokens (tokens inside the thinking block, delimiters
//                          and a forced budget message excluded: branch_result::thinking_tokens),
//                          moe_ledger: the request's energy ledger (moe/ledger/json.hpp)
//   moe_self_consistency   {answer, votes [{answer, votes}], path_answers}   (self_consistency = N)
//   moe_cot_decoding       {max_path_answer, aggregated_answer, branches [{first_token, answer, delta}]}
// Text is sent as the model produced it; bytes that are not UTF-8 (a token cut inside a character by a stop) are
// replaced by U+FFFD when the JSON is written (dump()).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/decoding/generator.hpp"
#include "moe/ledger/json.hpp"
#include "moe/serving/openai_request.hpp"
#include "moe/serving/scheduler.hpp"
#include "moe/text/tokenizer.hpp"

namespace moe::serving {

// What every response of one request shares.
struct response_header {
    std::string id;       // "chatcmpl-…" / "cmpl-…"
    std::int64_t created = 0;  // Unix seconds
    std::string model;
};

// JSON text with invalid UTF-8 replaced (never throws on the model's bytes).
inline std::string dump(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline const char* openai_finish_reason(decoding::finish_reason r) {
    switch (r) {
        case decoding::finish_reason::max_tokens:
        case decoding::finish_reason::context_full: return "length";
        default: return "stop";
    }
}

namespace detail {

inline nlohmann::json token_entry(const text::tokenizer& tok, std::int32_t id, double logprob) {
    const std::string text = tok.decode(std::span<const std::int32_t>(&id, 1));
    nlohmann::json bytes = nlohmann::json::array();
    for (const char c : text) bytes.push_back(int(static_cast<unsigned char>(c)));
    return {{"token", text}, {"logprob", logprob}, {"bytes", bytes}};
}

// Chat's logprobs.content entries for `tokens`.
inline nlohmann::json chat_logprobs(const text::tokenizer& tok, std::span<const decoding::token_record> tokens) {
    nlohmann::json content = nlohmann::json::array();
    for (const auto& t : tokens) {
        nlohmann::json e = token_entry(tok, t.id, t.logprob);
        nlohmann::json top = nlohmann::json::array();
        for (const auto& c : t.top) top.push_back(token_entry(tok, c.id, c.logprob));
        e["top_logprobs"] = std::move(top);
        content.push_back(std::move(e));
    }
    return {{"content", std::move(content)}};
}

// The completions API's logprobs object: tokens, token_logprobs, top_logprobs, text_offset.
inline nlohmann::json completion_logprobs(const text::tokenizer& tok, std::span<const decoding::token_record> tokens,
                                          std::size_t offset) {
    nlohmann::json out = {{"tokens", nlohmann::json::array()}, {"token_logprobs", nlohmann::json::array()},
                          {"top_logprobs", nlohmann::json::array()}, {"text_offset", nlohmann::json::array()}};
    for (const auto& t : tokens) {
        const std::string text = tok.decode(std::span<const std::int32_t>(&t.id, 1));
        out["tokens"].push_back(text);
        out["token_logprobs"].push_back(t.logprob);
        nlohmann::json top = nlohmann::json::object();
        for (const auto& c : t.top) top[tok.decode(std::span<const std::int32_t>(&c.id, 1))] = c.logprob;
        out["top_logprobs"].push_back(std::move(top));
        out["text_offset"].push_back(offset);
        offset += text.size();
    }
    return out;
}

}  // namespace detail

inline nlohmann::json usage_of(const outcome& o) {
    std::int64_t completion = 0, reasoning = 0;
    for (const auto& b : o.generation.branches) {
        completion += std::int64_t(b.tokens.size());
        reasoning += b.thinking_tokens;
    }
    return {{"prompt_tokens", o.generation.prompt_tokens},
            {"prompt_tokens_details", {{"cached_tokens", o.cached_tokens}}},
            {"completion_tokens", completion},
            {"total_tokens", o.generation.prompt_tokens + completion},
            {"completion_tokens_details", {{"reasoning_tokens", reasoning}}},
            {"moe_ledger", o.ledger}};
}

// The whole (non-streamed) response.
inline nlohmann::json response_body(const parsed_request& p, const outcome& o, const response_header& h,
                                    const text::tokenizer& tok) {
    const bool chat = p.kind == endpoint::chat;
    nlohmann::json choices = nlohmann::json::array();
    for (std::size_t i = 0; i < o.generation.branches.size(); ++i) {
        const auto& b = o.generation.branches[i];
        nlohmann::json c = {{"index", i},
                            {"finish_reason", openai_finish_reason(b.finish)},
                            {"moe_finish_reason", decoding::name_of(b.finish)}};
        const nlohmann::json reasoning = b.reasoning.empty() && b.thinking_tokens == 0 ? nlohmann::json(nullptr)
                                                                                     : nlohmann::json(b.reasoning);
        if (chat) {
            c["message"] = {{"role", "assistant"}, {"content", b.answer}, {"reasoning_content", reasoning}};
            c["logprobs"] = p.logprobs ? detail::chat_logprobs(tok, b.tokens) : nlohmann::json(nullptr);
        } else {
            c["text"] = b.answer;
            c["reasoning_content"] = reasoning;
            c["logprobs"] = p.logprobs ? detail::completion_logprobs(tok, b.tokens, 0) : nlohmann::json(nullptr);
        }
        choices.push_back(std::move(c));
    }
    nlohmann::json body = {{"id", h.id},
                           {"object", chat ? "chat.completion" : "text_completion"},
                           {"created", h.created},
                           {"model", h.model},
                           {"system_fingerprint", "moe"},
                           {"moe_seed", p.seed},
                           {"choices", std::move(choices)},
                           {"usage", usage_of(o)}};
    if (o.self_consistency) {
        const auto& sc = *o.self_consistency;
        nlohmann::json votes = nlohmann::json::array(), paths = nlohmann::json::array();
        for (const auto& v : sc.votes) votes.push_back({{"answer", v.answer}, {"votes", v.votes}});
        for (const auto& a : sc.path_answers) paths.push_back(a ? nlohmann::json(a->value) : nlohmann::json(nullptr));
        body["moe_self_consistency"] = {{"answer", sc.answer ? nlohmann::json(*sc.answer) : nlohmann::json(nullptr)},
                                        {"votes", std::move(votes)},
                                        {"path_answers", std::move(paths)}};
    }
    if (o.cot) {
        const auto& cot = *o.cot;
        nlohmann::json branches = nlohmann::json::array();
        for (const auto& b : cot.branches) {
            branches.push_back({{"first_token", b.first_token},
                                {"answer", b.answer ? nlohmann::json(b.answer->value) : nlohmann::json(nullptr)},
                                {"delta", b.delta}});
        }
        body["moe_cot_decoding"] = {
            {"max_path_answer", cot.max_path_answer ? nlohmann::json(*cot.max_path_answer) : nlohmann::json(nullptr)},
            {"aggregated_answer", cot.aggregated_answer ? nlohmann::json(*cot.aggregated_answer) : nlohmann::json(nullptr)},
            {"branches", std::move(branches)}};
    }
    return body;
}

// ---- streaming: the chunks of "data: …" lines ----

// A chunk with the given choices (each {index, delta | text, logprobs, finish_reason}).
inline nlohmann::json stream_chunk(const parsed_request& p, const response_header& h, nlohmann::json choices) {
    return {{"id", h.id},
            {"object", p.kind == endpoint::chat ? "chat.completion.chunk" : "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"system_fingerprint", "moe"},
            {"choices", std::move(choices)}};
}

// Chat's opening chunk: every choice's role.
inline nlohmann::json stream_start(const parsed_request& p, const response_header& h, int choices) {
    nlohmann::json c = nlohmann::json::array();
    for (int i = 0; i < choices; ++i)
        c.push_back({{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
    return stream_chunk(p, h, std::move(c));
}

// A streamed event (new text of one choice); `offset`: that choice's answer bytes sent so far (completions'
// text_offset). Returns null when there is nothing to send.
inline nlohmann::json stream_event(const parsed_request& p, const response_header& h, const request_handle::event& e,
                                   const text::tokenizer& tok, std::size_t offset) {
    if (e.text.empty() && (!p.logprobs || e.tokens.empty())) return nullptr;
    nlohmann::json c = {{"index", e.branch}, {"finish_reason", nullptr}};
    const bool reasoning = e.stream == decoding::text_stream::reasoning;
    if (p.kind == endpoint::chat) {
        nlohmann::json delta = nlohmann::json::object();
        if (!e.text.empty()) delta[reasoning ? "reasoning_content" : "content"] = e.text;
        c["delta"] = std::move(delta);
        c["logprobs"] = p.logprobs ? detail::chat_logprobs(tok, e.tokens) : nlohmann::json(nullptr);
    } else {
        c["text"] = reasoning ? std::string() : e.text;
        if (reasoning) c["reasoning_content"] = e.text;
        c["logprobs"] = p.logprobs ? detail::completion_logprobs(tok, e.tokens, offset) : nlohmann::json(nullptr);
    }
    return stream_chunk(p, h, nlohmann::json::array({std::move(c)}));
}

// The closing chunk: every choice's finish_reason.
inline nlohmann::json stream_finish(const parsed_request& p, const response_header& h, const outcome& o) {
    nlohmann::json c = nlohmann::json::array();
    for (std::size_t i = 0; i < o.generation.branches.size(); ++i) {
        const auto& b = o.generation.branches[i];
        nlohmann::json choice = {{"index", i},
                                 {"logprobs", nullptr},
                                 {"finish_reason", openai_finish_reason(b.finish)},
                                 {"moe_finish_reason", decoding::name_of(b.finish)}};
        if (p.kind == endpoint::chat) choice["delta"] = nlohmann::json::object();
        else choice["text"] = "";
        c.push_back(std::move(choice));
    }
    return stream_chunk(p, h, std::move(c));
}

// The usage chunk (stream_options.include_usage): no choices.
inline nlohmann::json stream_usage(const parsed_request& p, const response_header& h, const outcome& o) {
    nlohmann::json chunk = stream_chunk(p, h, nlohmann::json::array());
    chunk["usage"] = usage_of(o);
    return chunk;
}

}  // namespace moe::serving
