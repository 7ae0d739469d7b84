// moe/serving/openai_request.hpp — an OpenAI request body (POST /v1/chat/completions, /v1/completions) checked and
// turned into a moe::serving::request, or an api_error saying which field is wrong and why.
//
//   const moe::serving::served_model served{.id = "tiny-reasoner", .context = 4096, .parallel_sequences = 4, …};
//   moe::serving::parsed_request p = moe::serving::parse_request(body_text, endpoint::chat, served, tokenizer);
//   // throws api_error{400, "invalid_request_error", param "temperature", "… must be a number, got a string"}
//
// Fields (OpenAI's names and ranges): model (must be the served id), messages / prompt, temperature [0, 2],
// top_p (0, 1], n [1, -np], max_tokens / max_completion_tokens ≥ 1, stop (a string or up to 4), seed,
// presence_penalty / frequency_penalty [-2, 2], logprobs, top_logprobs [0, 20], stream, stream_options.include_usage.
// Extensions: top_k, min_p, repetition_penalty, thinking_budget, budget_message, min_thinking_tokens, max_waits,
// enable_thinking (or chat_template_kwargs.enable_thinking), self_consistency, cot_decoding.
// Defaults when absent are OpenAI's, not llama-cli's: temperature 1, top_p 1, top-k and min-p off; max_tokens is
// what the context leaves after the prompt. null means absent. Unknown fields are ignored (clients send "user",
// "metadata", …); features that would change the answer and that moe does not have (tools, response_format other
// than text, logit_bias, echo, suffix, best_of > 1, several prompts) are refused.
// Message contents are encoded as text (moe/text/encode_chat.hpp): "<|im_start|>" typed by a client is not a
// control token. A completion prompt is a string (encoded as text, with the tokenizer's BOS) or token ids.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/decoding/generator.hpp"
#include "moe/serving/scheduler.hpp"
#include "moe/text/chat_template.hpp"
#include "moe/text/encode_chat.hpp"
#include "moe/text/tokenizer.hpp"

namespace moe::serving {

// An error to send back as OpenAI's error object: {"error": {"message", "type", "param", "code"}} with `status`.
class api_error : public std::runtime_error {
   public:
    api_error(int status, std::string type, std::string message, std::optional<std::string> param = std::nullopt,
              std::optional<std::string> code = std::nullopt)
        : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)),
          code_(std::move(code)) {}

    int status() const { return status_; }
    const std::string& type() const { return type_; }
    nlohmann::json body() const {
        return {{"error",
                 {{"message", what()},
                  {"type", type_},
                  {"param", param_ ? nlohmann::json(*param_) : nlohmann::json(nullptr)},
                  {"code", code_ ? nlohmann::json(*code_) : nlohmann::json(nullptr)}}}};
    }

   private:
    int status_;
    std::string type_;
    std::optional<std::string> param_, code_;
};

inline api_error bad_request(std::string message, std::optional<std::string> param = std::nullopt,
                             std::optional<std::string> code = std::nullopt) {
    return api_error(400, "invalid_request_error", std::move(message), std::move(param), std::move(code));
}

enum class endpoint { chat, completions };

// What the server serves, as the parser needs it.
struct served_model {
    std::string id;                                // the "model" a request must name
    std::int64_t context = 0;                      // positions a sequence may hold
    int parallel_sequences = 1;                    // -np: most branches one request may have
    std::optional<text::chat_family> chat;         // none: /v1/chat/completions is refused
    std::vector<std::int32_t> stop_tokens;         // end-of-turn / end-of-text ids
};

struct parsed_request {
    request core;               // prompt, generation options, mode
    endpoint kind = endpoint::chat;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    bool logprobs = false;       // per-token log-probabilities in the response
    int top_logprobs = 0;
    std::uint64_t seed = 0;      // the one used (drawn when the request had none)
};

namespace detail {

inline std::string type_name(const nlohmann::json& v) {
    switch (v.type()) {
        case nlohmann::json::value_t::null: return "null";
        case nlohmann::json::value_t::boolean: return "a boolean";
        case nlohmann::json::value_t::string: return "a string";
        case nlohmann::json::value_t::array: return "an array";
        case nlohmann::json::value_t::object: return "an object";
        case nlohmann::json::value_t::number_float: return "a number";
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned: return "an integer";
        default: return "an unsupported value";
    }
}

// The field when present and not null.
inline const nlohmann::json* field(const nlohmann::json& body, const char* name) {
    const auto it = body.find(name);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

inline std::optional<double> number(const nlohmann::json& body, const char* name, double low, double high,
                                    bool low_open = false) {
    const nlohmann::json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw bad_request(std::string("'") + name + "' must be a number, got " + type_name(*v), name);
    const double x = v->get<double>();
    if (!(low_open ? x > low : x >= low) || !(x <= high)) {
        throw bad_request(std::string("'") + name + "' must be in " + (low_open ? "(" : "[") + std::to_string(low) +
                              ", " + std::to_string(high) + "], got " + v->dump(),
                          name);
    }
    return x;
}

inline std::optional<std::int64_t> integer(const nlohmann::json& body, const char* name, std::int64_t low,
                                           std::int64_t high, const std::string& why = {}) {
    const nlohmann::json* v = field(body, name);
    if (!v) return std::nullopt;
    const bool whole = v->is_number_integer() || v->is_number_unsigned() ||
                       (v->is_number_float() && v->get<double>() == double(std::int64_t(v->get<double>())));
    if (!whole) throw bad_request(std::string("'") + name + "' must be an integer, got " + type_name(*v), name);
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > std::uint64_t(high)) {
        throw bad_request(std::string("'") + name + "' must be at most " + std::to_string(high) + why + ", got " +
                              v->dump(), name);
    }
    const std::int64_t n = v->is_number_float() ? std::int64_t(v->get<double>()) : v->get<std::int64_t>();
    if (n < low || n > high) {
        throw bad_request(std::string("'") + name + "' must be in [" + std::to_string(low) + ", " +
                              std::to_string(high) + "]" + why + ", got " + std::to_string(n),
                          name);
    }
    return n;
}

inline std::optional<bool> boolean(const nlohmann::json& body, const char* name) {
    const nlohmann::json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw bad_request(std::string("'") + name + "' must be a boolean, got " + type_name(*v), name);
    return v->get<bool>();
}

inline std::optional<std::string> string(const nlohmann::json& body, const char* name) {
    const nlohmann::json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw bad_request(std::string("'") + name + "' must be a string, got " + type_name(*v), name);
    return v->get<std::string>();
}

inline void unsupported(const std::string& what, const char* param) {
    throw bad_request(what + " is not supported by moe_server", param, "unsupported");
}

// A message's content: a string, or text parts [{type: "text", text}]; null for an assistant turn.
inline std::string content_text(const nlohmann::json& message, std::size_t index) {
    const std::string param = "messages[" + std::to_string(index) + "].content";
    const auto it = message.find("content");
    if (it == message.end() || it->is_null()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (!it->is_array()) throw bad_request("'" + param + "' must be a string or an array of parts, got " + type_name(*it), param);
    std::string text;
    for (const auto& part : *it) {
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
            throw bad_request("'" + param + "' parts must be objects with a 'type'", param);
        if (part["type"] != "text") unsupported("content of type '" + part["type"].get<std::string>() + "'", param.c_str());
        if (!part.contains("text") || !part["text"].is_string())
            throw bad_request("'" + param + "' text parts need a string 'text'", param);
        text += part["text"].get<std::string>();
    }
    return text;
}

inline std::vector<text::chat_message> messages_of(const nlohmann::json& body) {
    const nlohmann::json* v = field(body, "messages");
    if (!v) throw bad_request("'messages' is required", "messages");
    if (!v->is_array()) throw bad_request("'messages' must be an array, got " + type_name(*v), "messages");
    if (v->empty()) throw bad_request("'messages' must not be empty", "messages");
    std::vector<text::chat_message> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const nlohmann::json& m = (*v)[i];
        const std::string param = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) throw bad_request("'" + param + "' must be an object, got " + type_name(m), param);
        if (!m.contains("role") || !m["role"].is_string()) throw bad_request("'" + param + ".role' must be a string", param + ".role");
        std::string role = m["role"].get<std::string>();
        if (role == "developer") role = "system";  // OpenAI's newer name for the system message
        if (role == "tool" || role == "function") unsupported("a message with role '" + role + "' (tool calls)", "messages");
        if (role != "system" && role != "user" && role != "assistant")
            throw bad_request("'" + param + ".role' must be system, developer, user or assistant, got '" + role + "'", param + ".role");
        if (m.contains("tool_calls") && !m["tool_calls"].is_null()) unsupported("tool calls", "messages");
        if (role != "assistant" && (!m.contains("content") || m["content"].is_null()))
            throw bad_request("'" + param + ".content' is required", param + ".content");
        text::chat_message message{role, content_text(m, i), std::nullopt};
        if (role == "assistant") message.reasoning_content = string(m, "reasoning_content");
        out.push_back(std::move(message));
    }
    return out;
}

}  // namespace detail

// Parses and checks `body` for `kind`, against what is served. `seed_source` draws a seed when the request has
// none. Throws api_error.
inline parsed_request parse_request(std::string_view body_text, endpoint kind, const served_model& served,
                                    const text::tokenizer& tok, std::uint64_t drawn_seed = std::random_device{}()) {
    using namespace detail;
    nlohmann::json body;
    try {
        body = nlohmann::json::parse(body_text);
    } catch (const nlohmann::json::exception& e) {  // syntax, or a number out of range (1e400)
        throw bad_request(std::string("the body is not valid JSON: ") + e.what());
    }
    if (!body.is_object()) throw bad_request("the body must be a JSON object, got " + type_name(body));

    // model
    const auto model = string(body, "model");
    if (!model) throw bad_request("'model' is required", "model");
    if (*model != served.id) {
        throw api_error(404, "not_found_error", "the model '" + *model + "' does not exist; this server serves '" +
                                                    served.id + "' (GET /v1/models)",
                        "model", "model_not_found");
    }

    // What moe does not do.
    if (const auto* t = field(body, "tools"); t && !(t->is_array() && t->empty())) unsupported("'tools'", "tools");
    if (field(body, "tool_choice") && *field(body, "tool_choice") != "none") unsupported("'tool_choice'", "tool_choice");
    if (field(body, "functions")) unsupported("'functions'", "functions");
    if (const auto* f = field(body, "response_format")) {
        if (!f->is_object() || !f->contains("type") || (*f)["type"] != "text")
            unsupported("'response_format' other than {\"type\": \"text\"}", "response_format");
    }
    if (const auto* b = field(body, "logit_bias"); b && !(b->is_object() && b->empty())) unsupported("'logit_bias'", "logit_bias");
    if (kind == endpoint::completions) {
        if (boolean(body, "echo").value_or(false)) unsupported("'echo'", "echo");
        if (field(body, "suffix")) unsupported("'suffix'", "suffix");
        if (integer(body, "best_of", 1, 1 << 20).value_or(1) != 1) unsupported("'best_of' other than 1", "best_of");
    }
    if (const auto* m = field(body, "modalities"); m && !(m->is_array() && m->size() == 1 && (*m)[0] == "text"))
        unsupported("'modalities' other than [\"text\"]", "modalities");

    parsed_request p;
    p.kind = kind;
    request& r = p.core;
    decoding::generation_options& g = r.generation;

    // The prompt.
    if (kind == endpoint::chat) {
        if (!served.chat) {
            throw bad_request("this model has no chat template moe renders; use /v1/completions with a prompt "
                              "(or start moe_server with --chat-template)", "messages");
        }
        auto messages = messages_of(body);
        bool thinking = boolean(body, "enable_thinking").value_or(true);
        if (const auto* kw = field(body, "chat_template_kwargs")) {
            if (!kw->is_object()) throw bad_request("'chat_template_kwargs' must be an object", "chat_template_kwargs");
            if (const auto t = boolean(*kw, "enable_thinking")) thinking = *t;
        }
        const text::chat_options chat{.add_generation_prompt = true, .enable_thinking = thinking};
        if (!messages.empty() && messages.back().role == "assistant")
            unsupported("a conversation ending with an assistant message (continuing it)", "messages");
        r.prompt = text::encode_chat(tok, *served.chat, messages, chat);
        // Generation starts inside the block when the prompt ends by opening it (DeepSeek-R1's template does).
        std::string text = text::apply_chat_template(*served.chat, messages, chat);
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        g.reasoning.starts_in_thinking = text.ends_with(g.reasoning.open_delimiter);
    } else {
        const nlohmann::json* prompt = field(body, "prompt");
        if (!prompt) throw bad_request("'prompt' is required", "prompt");
        if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
        if (prompt->is_string()) {
            const std::string text = prompt->get<std::string>();
            const text::text_range all{0, text.size()};
            text::encode_options raw;
            raw.literal = {&all, 1};
            r.prompt = tok.encode(text, raw);
        } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
            for (const auto& id : *prompt) {
                if (!id.is_number_integer() && !id.is_number_unsigned())
                    throw bad_request("'prompt' token ids must be integers, got " + type_name(id), "prompt");
                const auto v = id.is_number_unsigned() ? std::int64_t(std::min<std::uint64_t>(id.get<std::uint64_t>(), 1ull << 40))
                                                       : id.get<std::int64_t>();
                if (v < 0 || v >= std::int64_t(tok.vocab_size()))
                    throw bad_request("'prompt' token id " + std::to_string(v) + " is outside the vocabulary [0, " +
                                      std::to_string(tok.vocab_size()) + ")", "prompt");
                r.prompt.push_back(std::int32_t(v));
            }
        } else if (prompt->is_array()) {
            unsupported("several prompts in one request (or an empty prompt list)", "prompt");
        } else {
            throw bad_request("'prompt' must be a string or an array of token ids, got " + type_name(*prompt), "prompt");
        }
    }
    if (r.prompt.empty()) throw bad_request("the prompt is empty", kind == endpoint::chat ? "messages" : "prompt");
    const auto P = std::int64_t(r.prompt.size());
    if (P >= served.context) {
        throw bad_request("the prompt is " + std::to_string(P) + " tokens; this model's context is " +
                              std::to_string(served.context) + " tokens and needs room for at least one more",
                          kind == endpoint::chat ? "messages" : "prompt", "context_length_exceeded");
    }

    // Sampling: OpenAI's defaults (temperature 1, no truncation) unless asked.
    auto& s = g.sampler;
    s.temperature = float(number(body, "temperature", 0, 2).value_or(1.0));
    s.top_p = float(number(body, "top_p", 0, 1, /*low_open=*/true).value_or(1.0));
    s.top_k = int(integer(body, "top_k", -1, 1 << 24).value_or(0));
    s.min_p = float(number(body, "min_p", 0, 1).value_or(0.0));
    s.presence_penalty = float(number(body, "presence_penalty", -2, 2).value_or(0.0));
    s.frequency_penalty = float(number(body, "frequency_penalty", -2, 2).value_or(0.0));
    s.repeat_penalty = float(number(body, "repetition_penalty", 0, 100, /*low_open=*/true).value_or(1.0));
    p.seed = std::uint64_t(integer(body, "seed", std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max()).value_or(std::int64_t(drawn_seed)));
    g.seed = p.seed;

    // Length: prompt + max_tokens must fit the context, as OpenAI's API requires.
    const std::int64_t room = served.context - P;
    auto max_tokens = integer(body, "max_completion_tokens", 1, std::numeric_limits<std::int32_t>::max());
    if (!max_tokens) max_tokens = integer(body, "max_tokens", 1, std::numeric_limits<std::int32_t>::max());
    if (max_tokens && *max_tokens > room) {
        throw bad_request("the prompt is " + std::to_string(P) + " tokens and max_tokens " + std::to_string(*max_tokens) +
                              "; together they exceed this model's context of " + std::to_string(served.context) +
                              " tokens",
                          "max_tokens", "context_length_exceeded");
    }
    g.max_tokens = int(max_tokens.value_or(room));

    // Stops: the model's end-of-turn tokens, and up to 4 strings.
    g.stop_tokens = served.stop_tokens;
    if (const auto* stop = field(body, "stop")) {
        std::vector<std::string> stops;
        if (stop->is_string()) stops.push_back(stop->get<std::string>());
        else if (stop->is_array()) {
            if (stop->size() > 4) throw bad_request("'stop' takes at most 4 strings, got " + std::to_string(stop->size()), "stop");
            for (const auto& x : *stop) {
                if (!x.is_string()) throw bad_request("'stop' must be a string or an array of strings", "stop");
                stops.push_back(x.get<std::string>());
            }
        } else {
            throw bad_request("'stop' must be a string or an array of strings, got " + type_name(*stop), "stop");
        }
        for (const auto& x : stops)
            if (x.empty()) throw bad_request("'stop' strings must not be empty", "stop");
        g.stop_strings = std::move(stops);
    }

    // Log-probabilities: chat takes logprobs (bool) + top_logprobs; completions takes logprobs = N.
    if (kind == endpoint::chat) {
        p.logprobs = boolean(body, "logprobs").value_or(false);
        p.top_logprobs = int(integer(body, "top_logprobs", 0, 20).value_or(0));
        if (p.top_logprobs > 0 && !p.logprobs)
            throw bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    } else if (const auto n = integer(body, "logprobs", 0, 20)) {
        p.logprobs = true;
        p.top_logprobs = int(*n);
    }
    g.top_logprobs = p.top_logprobs;

    // Reasoning controls.
    auto& reasoning = g.reasoning;
    if (const auto budget = integer(body, "thinking_budget", 0, std::numeric_limits<std::int32_t>::max()))
        reasoning.thinking_budget = int(*budget);
    if (const auto message = string(body, "budget_message")) reasoning.budget_message = *message;
    if (const auto min = integer(body, "min_thinking_tokens", 0, std::numeric_limits<std::int32_t>::max())) {
        reasoning.min_thinking_tokens = int(*min);
        reasoning.max_waits = 4;
    }
    if (const auto waits = integer(body, "max_waits", 0, 1 << 16)) reasoning.max_waits = int(*waits);
    const bool needs_close = reasoning.thinking_budget || reasoning.min_thinking_tokens > 0;
    if (needs_close && !tok.token_to_id(reasoning.close_delimiter)) {
        unsupported("'thinking_budget' / 'min_thinking_tokens' on a model without a " + reasoning.close_delimiter +
                        " token",
                    reasoning.thinking_budget ? "thinking_budget" : "min_thinking_tokens");
    }

    // Choices and the aggregation modes.
    const std::string slots = " (this server decodes at most " + std::to_string(served.parallel_sequences) +
                              " sequences at once: -np)";
    const auto n = integer(body, "n", 1, served.parallel_sequences, slots);
    const auto paths = integer(body, "self_consistency", 1, served.parallel_sequences, slots);
    const auto k = integer(body, "cot_decoding", 1, served.parallel_sequences, slots);
    if (paths && k) throw bad_request("'self_consistency' and 'cot_decoding' exclude each other", "cot_decoding");
    if ((paths || k) && n.value_or(1) != 1)
        throw bad_request("'n' must be 1 with self_consistency / cot_decoding (their paths are the choices)", "n");
    g.branches = int(n.value_or(1));
    if (paths) {
        r.mode = request_mode::self_consistency;
        g.branches = int(*paths);
    }
    if (k) {
        r.mode = request_mode::cot_decoding;
        r.cot_k = int(std::min<std::int64_t>(*k, std::int64_t(tok.vocab_size())));
        g.branches = r.cot_k;
        g.sampler = decoding::sampler_config::greedy();  // CoT-decoding continues every branch greedily
    }

    // Streaming.
    p.stream = boolean(body, "stream").value_or(false);
    if (const auto* o = field(body, "stream_options")) {
        if (!o->is_object()) throw bad_request("'stream_options' must be an object", "stream_options");
        p.include_usage = boolean(*o, "include_usage").value_or(false);
    }
    if (p.stream && r.mode != request_mode::sample)
        unsupported("'stream' with self_consistency / cot_decoding", "stream");
    r.stream = p.stream;
    return p;
}

}  // namespace moe::serving
