// moe/text/chat_template.hpp — hand-written chat templates for the reasoning families, equal to what
// transformers' apply_chat_template renders from the families' Jinja templates (tool-calling branches left out;
// tests/data/tokenizers/chat_reference.json holds the Jinja text and the recorded renderings).
//
//   qwen3        <|im_start|>role\n...<|im_end|>\n; the last assistant turn after the final user turn keeps its
//                <think>...</think> block, earlier ones lose it; enable_thinking=false pre-fills an empty block.
//   deepseek_r1  <｜begin▁of▁sentence｜>{system}<｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>; reasoning is
//                dropped from history; the generation prompt opens <think>\n itself.
//   mistral      <s>[INST] user [/INST]answer</s>...; roles must alternate user/assistant; no system role.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/error.hpp"
#include "moe/text/text_range.hpp"

namespace moe::text {

enum class chat_family { qwen3, deepseek_r1, mistral };

struct chat_message {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
    std::optional<std::string> reasoning_content;  // Qwen3: used instead of a <think> block inside content
};

struct chat_options {
    bool add_generation_prompt = true;
    bool enable_thinking = true;  // Qwen3 only; DeepSeek-R1 always thinks, Mistral never does
    // encode_chat only: let special-token text inside message contents ("<|im_start|>", "</think>") become control
    // tokens, as encoding the rendered string does. Off: contents are encoded as plain text, so a user cannot
    // forge a turn or close the thinking block.
    bool parse_special_tokens_in_content = false;
};

// A rendered prompt and where the message contents sit in it (everything else is the template's markup).
struct rendered_chat {
    std::string text;
    std::vector<text_range> content;

    void add_markup(std::string_view s) { text += s; }
    void add_content(std::string_view s) {
        if (s.empty()) return;
        content.push_back({text.size(), text.size() + s.size()});
        text += s;
    }
};

// The delimiters of a thinking block.
inline constexpr std::string_view think_open = "<think>";
inline constexpr std::string_view think_close = "</think>";

// Whether the generation prompt leaves the model inside an open <think> block (the answer parser must then
// start in reasoning mode rather than wait for <think>).
inline bool generation_starts_in_thinking(chat_family family, const chat_options& options = {}) {
    return family == chat_family::deepseek_r1 && options.add_generation_prompt;
}

namespace detail {

// Python's str.split(sep)[-1] and str.split(sep)[0].
inline std::string after_last(const std::string& s, std::string_view sep) {
    const auto at = s.rfind(sep);
    return at == std::string::npos ? s : s.substr(at + sep.size());
}
inline std::string before_first(const std::string& s, std::string_view sep) {
    const auto at = s.find(sep);
    return at == std::string::npos ? s : s.substr(0, at);
}
inline std::string lstrip_newlines(const std::string& s) {
    const auto at = s.find_first_not_of('\n');
    return at == std::string::npos ? std::string() : s.substr(at);
}
inline std::string rstrip_newlines(const std::string& s) {
    const auto at = s.find_last_not_of('\n');
    return at == std::string::npos ? std::string() : s.substr(0, at + 1);
}

inline rendered_chat render_qwen3(std::span<const chat_message> messages, const chat_options& options) {
    rendered_chat out;
    if (!messages.empty() && messages[0].role == "system") {
        out.add_markup("<|im_start|>system\n");
        out.add_content(messages[0].content);
        out.add_markup("<|im_end|>\n");
    }
    // Reasoning is kept only for assistant turns after the last user turn.
    std::size_t last_query = messages.size() - 1;
    for (std::size_t i = messages.size(); i-- > 0;)
        if (messages[i].role == "user") {
            last_query = i;
            break;
        }
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const chat_message& m = messages[i];
        if (m.role == "user" || (m.role == "system" && i != 0)) {
            out.add_markup("<|im_start|>" + m.role + "\n");
            out.add_content(m.content);
            out.add_markup("<|im_end|>\n");
        } else if (m.role == "assistant") {
            std::string content = m.content, reasoning;
            if (m.reasoning_content) {
                reasoning = *m.reasoning_content;
            } else if (content.find(think_close) != std::string::npos) {
                content = lstrip_newlines(after_last(m.content, think_close));
                reasoning = lstrip_newlines(after_last(rstrip_newlines(before_first(m.content, think_close)), think_open));
            }
            const bool last = i + 1 == messages.size();
            if (i > last_query && (last || !reasoning.empty())) {
                out.add_markup("<|im_start|>assistant\n<think>\n");
                out.add_content(lstrip_newlines(rstrip_newlines(reasoning)));
                out.add_markup("\n</think>\n\n");
                out.add_content(lstrip_newlines(content));
            } else {
                out.add_markup("<|im_start|>assistant\n");
                out.add_content(content);
            }
            out.add_markup("<|im_end|>\n");
        } else if (m.role != "system") {
            throw tokenizer_error("qwen3 chat template: unsupported role '" + excerpt(m.role) +
                                  "' (supported: system, user, assistant)");
        }
    }
    if (options.add_generation_prompt) {
        out.add_markup("<|im_start|>assistant\n");
        if (!options.enable_thinking) out.add_markup("<think>\n\n</think>\n\n");
    }
    return out;
}

inline rendered_chat render_deepseek_r1(std::span<const chat_message> messages, const chat_options& options) {
    const std::string* system = nullptr;
    for (const auto& m : messages)
        if (m.role == "system") system = &m.content;  // the last system message wins, as in the template
    rendered_chat out;
    out.add_markup("<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
    if (system) out.add_content(*system);
    for (const auto& m : messages) {
        if (m.role == "user") {
            out.add_markup("<\xEF\xBD\x9CUser\xEF\xBD\x9C>");
            out.add_content(m.content);
        } else if (m.role == "assistant") {
            out.add_markup("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>");
            out.add_content(after_last(m.content, think_close));
            out.add_markup("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
        } else if (m.role != "system") {
            throw tokenizer_error("deepseek_r1 chat template: unsupported role '" + excerpt(m.role) +
                                  "' (supported: system, user, assistant)");
        }
    }
    if (options.add_generation_prompt) out.add_markup("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C><think>\n");
    return out;
}

inline rendered_chat render_mistral(std::span<const chat_message> messages) {
    rendered_chat out;
    out.add_markup("<s>");
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const chat_message& m = messages[i];
        if ((m.role == "user") != (i % 2 == 0))
            throw tokenizer_error("mistral chat template: conversation roles must alternate user/assistant/user/... "
                                  "(message " + std::to_string(i) + " is '" + excerpt(m.role) + "')");
        if (m.role == "user") {
            out.add_markup("[INST] ");
            out.add_content(m.content);
            out.add_markup(" [/INST]");
        } else if (m.role == "assistant") {
            out.add_content(m.content);
            out.add_markup("</s>");
        } else {
            throw tokenizer_error("mistral chat template: only user and assistant roles are supported (got '" +
                                  excerpt(m.role) + "')");
        }
    }
    return out;
}

}  // namespace detail

// Renders a conversation and records where each message's content landed (encode_chat encodes those ranges as
// plain text).
inline rendered_chat render_chat(chat_family family, std::span<const chat_message> messages,
                                 const chat_options& options = {}) {
    if (messages.empty()) throw tokenizer_error("chat template: the conversation is empty");
    switch (family) {
        case chat_family::qwen3: return detail::render_qwen3(messages, options);
        case chat_family::deepseek_r1: return detail::render_deepseek_r1(messages, options);
        case chat_family::mistral: return detail::render_mistral(messages);
    }
    throw tokenizer_error("chat template: unknown family");
}

// Renders a conversation into the prompt text the family's model was trained on. Encode the result with
// add_special_tokens=false: the template already writes BOS where the family wants it. Encoding this string
// turns special-token text inside messages into control tokens; to encode a conversation with untrusted
// contents use encode_chat (moe/text/encode_chat.hpp).
inline std::string apply_chat_template(chat_family family, std::span<const chat_message> messages,
                                       const chat_options& options = {}) {
    return render_chat(family, messages, options).text;
}

}  // namespace moe::text
