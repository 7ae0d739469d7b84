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

#include "moe/text/error.hpp"

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

inline std::string render_qwen3(std::span<const chat_message> messages, const chat_options& options) {
    std::string out;
    if (!messages.empty() && messages[0].role == "system")
        out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
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
            out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
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
                out += "<|im_start|>assistant\n<think>\n" + lstrip_newlines(rstrip_newlines(reasoning)) +
                       "\n</think>\n\n" + lstrip_newlines(content);
            } else {
                out += "<|im_start|>assistant\n" + content;
            }
            out += "<|im_end|>\n";
        } else if (m.role != "system") {
            throw tokenizer_error("qwen3 chat template: unsupported role '" + m.role +
                                  "' (supported: system, user, assistant)");
        }
    }
    if (options.add_generation_prompt) {
        out += "<|im_start|>assistant\n";
        if (!options.enable_thinking) out += "<think>\n\n</think>\n\n";
    }
    return out;
}

inline std::string render_deepseek_r1(std::span<const chat_message> messages, const chat_options& options) {
    std::string system;
    for (const auto& m : messages)
        if (m.role == "system") system = m.content;  // the last system message wins, as in the template
    std::string out = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>" + system;
    for (const auto& m : messages) {
        if (m.role == "user") {
            out += "<\xEF\xBD\x9CUser\xEF\xBD\x9C>" + m.content;
        } else if (m.role == "assistant") {
            out += "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>" + after_last(m.content, think_close) +
                   "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
        } else if (m.role != "system") {
            throw tokenizer_error("deepseek_r1 chat template: unsupported role '" + m.role +
                                  "' (supported: system, user, assistant)");
        }
    }
    if (options.add_generation_prompt) out += "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C><think>\n";
    return out;
}

inline std::string render_mistral(std::span<const chat_message> messages) {
    std::string out = "<s>";
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const chat_message& m = messages[i];
        if ((m.role == "user") != (i % 2 == 0))
            throw tokenizer_error("mistral chat template: conversation roles must alternate user/assistant/user/... "
                                  "(message " + std::to_string(i) + " is '" + m.role + "')");
        if (m.role == "user") out += "[INST] " + m.content + " [/INST]";
        else if (m.role == "assistant") out += m.content + "</s>";
        else
            throw tokenizer_error("mistral chat template: only user and assistant roles are supported (got '" +
                                  m.role + "')");
    }
    return out;
}

}  // namespace detail

// Renders a conversation into the prompt text the family's model was trained on. Encode the result with
// add_special_tokens=false: the template already writes BOS where the family wants it.
inline std::string apply_chat_template(chat_family family, std::span<const chat_message> messages,
                                       const chat_options& options = {}) {
    if (messages.empty()) throw tokenizer_error("chat template: the conversation is empty");
    switch (family) {
        case chat_family::qwen3: return detail::render_qwen3(messages, options);
        case chat_family::deepseek_r1: return detail::render_deepseek_r1(messages, options);
        case chat_family::mistral: return detail::render_mistral(messages);
    }
    throw tokenizer_error("chat template: unknown family");
}

}  // namespace moe::text
