// moe/text/incremental_decoder.hpp — streaming detokenization: feed ids one at a time, get back only text that is
// final, ending on a UTF-8 character boundary (a multi-byte character split over several byte tokens is held
// back until it is complete). The concatenated output equals tokenizer::decode of all the ids.
//
// Method (as in text-generation-inference): decode a short window of recent ids twice — with and without the new
// ones — and emit the difference, so decoders that look at neighbours (Metaspace's leading space, Strip) stay right.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "moe/text/tokenizer.hpp"

namespace moe::text {

class incremental_decoder {
   public:
    explicit incremental_decoder(const tokenizer& tok, bool skip_special_tokens = false)
        : tok_(&tok), skip_special_(skip_special_tokens) {}

    // Adds one id; returns the text that became final (often empty while a character is incomplete).
    std::string push(std::int32_t id) {
        ids_.push_back(id);
        bool incomplete = false;
        const std::span<const std::int32_t> all(ids_);
        const std::string before = tok_->decode(all.subspan(prefix_, read_ - prefix_), skip_special_);
        const std::string now = tok_->decode_tracking(all.subspan(prefix_), skip_special_, incomplete);
        if (incomplete || now.size() <= before.size() || now.compare(0, before.size(), before) != 0) {
            at_boundary_ = !incomplete && now.size() == before.size();
            return {};
        }
        at_boundary_ = true;
        prefix_ = read_;
        read_ = ids_.size();
        return now.substr(before.size());
    }

    // Text still held back (an unfinished character becomes U+FFFD, as decode() would write it).
    std::string flush() {
        const std::span<const std::int32_t> all(ids_);
        const std::string before = tok_->decode(all.subspan(prefix_, read_ - prefix_), skip_special_);
        const std::string now = tok_->decode(all.subspan(prefix_), skip_special_);
        prefix_ = read_ = ids_.size();
        at_boundary_ = true;
        return now.size() > before.size() && now.compare(0, before.size(), before) == 0 ? now.substr(before.size())
                                                                                          : std::string();
    }

    // True when everything pushed so far has been emitted: the stream stands on a character boundary.
    // Ending a thinking block early waits for this.
    bool at_character_boundary() const { return at_boundary_; }

    const std::vector<std::int32_t>& ids() const { return ids_; }

   private:
    const tokenizer* tok_;
    bool skip_special_;
    std::vector<std::int32_t> ids_;
    std::size_t prefix_ = 0, read_ = 0;
    bool at_boundary_ = true;
};

}  // namespace moe::text
