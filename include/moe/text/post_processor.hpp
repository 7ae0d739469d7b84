// moe/text/post_processor.hpp — tokenizer.json "post_processor", applied when add_special_tokens is true:
// TemplateProcessing (single sequence), RobertaProcessing/BertProcessing, ByteLevel (no change to ids), Sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "moe/text/json_access.hpp"

namespace moe::text {

class post_processor {
   public:
    static post_processor from_json(const detail::json& spec, const std::string& where) {
        post_processor p;
        const std::string type = detail::type_of(spec, where);
        if (type == "ByteLevel") return p;
        if (type == "TemplateProcessing") {
            const auto& specials = detail::field(spec, "special_tokens", where);
            for (const auto& item : detail::field(spec, "single", where)) {
                if (item.contains("Sequence")) {
                    p.items_.push_back({true, {}});
                } else if (item.contains("SpecialToken")) {
                    const std::string name = detail::string_field(item.at("SpecialToken"), "id", where + ".single");
                    if (!specials.contains(name))
                        throw detail::error_at(where, "template token '" + name + "' is not in special_tokens");
                    p.items_.push_back({false, specials.at(name).at("ids").get<std::vector<std::int32_t>>()});
                } else {
                    throw detail::error_at(where, "template item is neither Sequence nor SpecialToken");
                }
            }
        } else if (type == "RobertaProcessing" || type == "BertProcessing") {
            const auto& cls = detail::field(spec, "cls", where);
            const auto& sep = detail::field(spec, "sep", where);
            p.items_.push_back({false, {cls.at(1).get<std::int32_t>()}});
            p.items_.push_back({true, {}});
            p.items_.push_back({false, {sep.at(1).get<std::int32_t>()}});
        } else if (type == "Sequence") {
            for (std::size_t i = 0; i < detail::field(spec, "processors", where).size(); ++i) {
                auto child = from_json(spec.at("processors")[i], where + ".processors[" + std::to_string(i) + "]");
                if (!child.items_.empty()) {
                    if (!p.items_.empty())
                        throw detail::error_at(where, "more than one id-changing processor in a Sequence");
                    p.items_ = std::move(child.items_);
                }
            }
        } else {
            throw detail::error_at(where, "unsupported post_processor type '" + type +
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
