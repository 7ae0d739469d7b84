// moe/text/post_processor.hpp — tokenizer.json "post_processor", applied when add_special_tokens is true:
// TemplateProcessing (single sequence), RobertaProcessing/BertProcessing, ByteLevel (no change to ids), Sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/json_access.hpp"

namespace moe::text {

class post_processor {
   public:
    // `depth`: how many Sequences this one sits in (capped: tokenizer_limits::max_sequence_depth).
    static post_processor from_json(const detail::json& spec, const std::string& where, std::size_t depth = 0) {
        post_processor p;
        const std::string type = detail::type_of(spec, where);
        if (type == "ByteLevel") return p;
        if (type == "TemplateProcessing") {
            const auto& specials = detail::field(spec, "special_tokens", where);
            const auto& single = detail::field(spec, "single", where);
            if (!specials.is_object() || !single.is_array())
                throw detail::error_at(where, "special_tokens must be an object and single an array");
            for (const auto& item : single) {
                if (item.is_object() && item.contains("Sequence")) {
                    p.items_.push_back({true, {}});
                } else if (item.is_object() && item.contains("SpecialToken")) {
                    const std::string name = detail::string_field(item.at("SpecialToken"), "id", where + ".single");
                    if (!specials.contains(name))
                        throw detail::error_at(where, "template token '" + excerpt(name, 64) +
                                                          "' is not in special_tokens");
                    const auto& ids = detail::field(specials.at(name), "ids", where + ".special_tokens");
                    if (!ids.is_array()) throw detail::error_at(where, "special_tokens ids must be an array");
                    std::vector<std::int32_t> values;
                    for (const auto& id : ids) values.push_back(detail::token_id(id, name, where + ".special_tokens"));
                    p.items_.push_back({false, std::move(values)});
                } else {
                    throw detail::error_at(where, "template item is neither Sequence nor SpecialToken");
                }
            }
        } else if (type == "RobertaProcessing" || type == "BertProcessing") {
            // cls and sep are ["token", id] pairs.
            auto pair_id = [&](const char* key) {
                const auto& v = detail::field(spec, key, where);
                if (!v.is_array() || v.size() != 2 || !v[0].is_string())
                    throw detail::error_at(where, std::string(key) + " must be [\"token\", id]");
                return detail::token_id(v[1], v[0].get<std::string>(), where + "." + key);
            };
            p.items_.push_back({false, {pair_id("cls")}});
            p.items_.push_back({true, {}});
            p.items_.push_back({false, {pair_id("sep")}});
        } else if (type == "Sequence") {
            const auto& list = detail::field(spec, "processors", where);
            if (!list.is_array()) throw detail::error_at(where, "processors must be an array");
            const std::size_t inner = detail::nested(depth, where);
            for (std::size_t i = 0; i < list.size(); ++i) {
                auto child = from_json(list[i], where + ".processors[" + std::to_string(i) + "]", inner);
                if (!child.items_.empty()) {
                    if (!p.items_.empty())
                        throw detail::error_at(where, "more than one id-changing processor in a Sequence");
                    p.items_ = std::move(child.items_);
                }
            }
        } else {
            throw detail::error_at(where, "unsupported post_processor type '" + excerpt(type) +
                                              "' (supported: TemplateProcessing, ByteLevel, RobertaProcessing, "
                                              "BertProcessing, Sequence)");
        }
        return p;
    }

    std::vector<std::int32_t> operator()(std::vector<std::int32_t> ids) const {
        if (items_.empty()) return ids;
        std::vector<std::int32_t> out;
        for (const auto& item : items_) {
            if (item.is_sequence) out.insert(out.end(), ids.begin(), ids.end());
            else out.insert(out.end(), item.ids.begin(), item.ids.end());
        }
        return out;
    }

    // The ids added in front of the sequence (e.g. BOS), for callers that build prompts piecewise.
    std::vector<std::int32_t> prefix() const {
        std::vector<std::int32_t> out;
        for (const auto& item : items_) {
            if (item.is_sequence) break;
            out.insert(out.end(), item.ids.begin(), item.ids.end());
        }
        return out;
    }

   private:
    struct item {
        bool is_sequence;
        std::vector<std::int32_t> ids;
    };
    std::vector<item> items_;  // empty: ids pass through unchanged
};

}  // namespace moe::text
