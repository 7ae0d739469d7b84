// moe/text/bpe.hpp — the BPE model of tokenizer.json: vocab, ranked merges ("a b" strings or ["a", "b"] pairs),
// unk_token / fuse_unk, byte_fallback to <0xNN> tokens, ignore_merges, continuing_subword_prefix, end_of_word_suffix.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/json_access.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

class bpe_model {
   public:
    static bpe_model from_json(const detail::json& spec, const std::string& where) {
        bpe_model m;
        const std::string type = detail::optional_field<std::string>(spec, "type", "BPE", where);
        if (type != "BPE")
            throw detail::error_at(where, "unsupported model type '" + excerpt(type) + "' (only BPE is supported)");
        if (detail::optional_field(spec, "dropout", 0.0, where) > 0.0)
            throw detail::error_at(where, "BPE dropout is not supported");
        const auto& vocab = detail::field(spec, "vocab", where);
        if (!vocab.is_object()) throw detail::error_at(where, "model.vocab must be an object");
        // Ids are checked before anything is allocated for them: in range, dense, each used once.
        std::vector<std::pair<std::string, std::int32_t>> entries;
        entries.reserve(vocab.size());
        std::int64_t max_id = -1;
        for (const auto& [token, id] : vocab.items()) {
            entries.emplace_back(token, detail::token_id(id, token, where + ": model.vocab"));
            max_id = std::max<std::int64_t>(max_id, entries.back().second);
        }
        detail::check_id_density(max_id, entries.size(), where + ": model.vocab");
        m.tokens_.resize(static_cast<std::size_t>(max_id + 1));
        m.has_token_.resize(static_cast<std::size_t>(max_id + 1), false);
        for (auto& [token, id] : entries) {
            if (m.has_token_[static_cast<std::size_t>(id)])
                throw detail::error_at(where, "model.vocab: tokens '" +
                                                  excerpt(m.tokens_[static_cast<std::size_t>(id)], 64) + "' and '" +
                                                  excerpt(token, 64) + "' share id " + std::to_string(id));
            m.add_token(std::move(token), id);
        }
        m.unk_ = detail::optional_field<std::string>(spec, "unk_token", "", where);
        m.fuse_unk_ = detail::optional_field(spec, "fuse_unk", false, where);
        m.byte_fallback_ = detail::optional_field(spec, "byte_fallback", false, where);
        m.ignore_merges_ = detail::optional_field(spec, "ignore_merges", false, where);
        m.prefix_ = detail::optional_field<std::string>(spec, "continuing_subword_prefix", "", where);
        m.suffix_ = detail::optional_field<std::string>(spec, "end_of_word_suffix", "", where);

        const auto& merges = detail::field(spec, "merges", where);
        if (!merges.is_array()) throw detail::error_at(where, "model.merges must be an array");
        for (std::size_t rank = 0; rank < merges.size(); ++rank) {
            const auto& entry = merges[rank];
            std::string a, b;
            if (entry.is_string()) {  // "a b": split at the first space (tokens never contain a raw space here)
                const auto s = entry.get<std::string>();
                const auto space = s.find(' ');
                if (space == std::string::npos)
                    throw detail::error_at(where,
                                           "merge #" + std::to_string(rank) + " '" + excerpt(s, 64) + "' has no space");
                a = s.substr(0, space), b = s.substr(space + 1);
            } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
                a = entry[0].get<std::string>(), b = entry[1].get<std::string>();
            } else {
                throw detail::error_at(where, "merge #" + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
            }
            const auto ia = m.vocab_.find(a), ib = m.vocab_.find(b), ic = m.vocab_.find(a + b);
            if (ia == m.vocab_.end() || ib == m.vocab_.end() || ic == m.vocab_.end())
                throw detail::error_at(where, "merge #" + std::to_string(rank) + " ('" + excerpt(a, 64) + "', '" +
                                                  excerpt(b, 64) + "') uses a token missing from the vocab");
            m.merges_.try_emplace(pair_key(ia->second, ib->second), merge{static_cast<std::int32_t>(rank), ic->second});
        }
        return m;
    }

    std::size_t size() const { return vocab_.size(); }
    const std::unordered_map<std::string, std::int32_t>& vocab() const { return vocab_; }

    std::optional<std::int32_t> token_to_id(std::string_view token) const {
        const auto it = vocab_.find(std::string(token));
        if (it == vocab_.end()) return std::nullopt;
        return it->second;
    }
    const std::string* id_to_token(std::int32_t id) const {
        if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || !has_token_[static_cast<std::size_t>(id)])
            return nullptr;
        return &tokens_[static_cast<std::size_t>(id)];
    }

    // Tokenizes one pre-tokenized word.
    void tokenize(std::string_view word, std::vector<std::int32_t>& out) const {
        if (word.empty()) return;
        if (ignore_merges_) {
            if (auto id = token_to_id(word)) {
                out.push_back(*id);
                return;
            }
        }
        std::vector<symbol> symbols = initial_symbols(word);
        merge_all(symbols);
        for (const auto& s : symbols)
            if (s.length != 0) out.push_back(s.id);
    }

   private:
    struct merge {
        std::int32_t rank;
        std::int32_t result;
    };
    // A symbol of the word being merged, in a doubly linked list; length 0 marks a symbol merged away.
    struct symbol {
        std::int32_t id;
        std::int32_t prev, next;
        std::size_t length;
    };

    static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
    }

    void add_token(std::string token, std::int32_t id) {  // id validated and inside tokens_
        vocab_[token] = id;
        const auto index = static_cast<std::size_t>(id);
        tokens_[index] = std::move(token);
        has_token_[index] = true;
    }

    std::vector<symbol> initial_symbols(std::string_view word) const {
        std::vector<symbol> symbols;
        bool last_was_unk = false;
        auto push = [&](std::int32_t id, std::size_t length) {
            const auto n = static_cast<std::int32_t>(symbols.size());
            symbols.push_back({id, n - 1, n + 1, length});
        };
        for (std::size_t at = 0; at < word.size();) {
            const auto step = utf8::decode(word, at);
            std::string piece(word.substr(at, step.length));
            const bool first = at == 0, last = at + step.length == word.size();
            at += step.length;
            if (!first) piece.insert(0, prefix_);
            if (last) piece += suffix_;
            if (auto id = token_to_id(piece)) {
                push(*id, step.length);
                last_was_unk = false;
                continue;
            }
            if (byte_fallback_ && push_bytes(word.substr(at - step.length, step.length), symbols)) {
                last_was_unk = false;
                continue;
            }
            if (unk_.empty()) continue;  // no unk token: Hugging Face drops the character
            const auto unk = token_to_id(unk_);
            if (!unk) throw tokenizer_error("BPE model: unk_token '" + excerpt(unk_, 64) + "' is not in the vocab");
            if (fuse_unk_ && last_was_unk) {
                symbols.back().length += step.length;
            } else {
                push(*unk, step.length);
            }
            last_was_unk = true;
        }
        if (!symbols.empty()) symbols.back().next = -1;
        return symbols;
    }

    bool push_bytes(std::string_view bytes, std::vector<symbol>& symbols) const {
        static constexpr char hex[] = "0123456789ABCDEF";
        std::vector<std::int32_t> ids;
        for (unsigned char b : bytes) {
            const std::string name{'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            auto id = token_to_id(name);
            if (!id) return false;
            ids.push_back(*id);
        }
        for (auto id : ids) {
            const auto n = static_cast<std::int32_t>(symbols.size());
            symbols.push_back({id, n - 1, n + 1, 1});
        }
        return true;
    }

    // Repeatedly merges the adjacent pair with the lowest rank (leftmost first on ties), as Hugging Face does.
    void merge_all(std::vector<symbol>& symbols) const {
        struct candidate {
            std::int32_t rank, pos, result;
            bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
        };
        std::priority_queue<candidate, std::vector<candidate>, std::greater<>> queue;
        auto consider = [&](std::int32_t left) {
            if (left < 0) return;
            const std::int32_t right = symbols[static_cast<std::size_t>(left)].next;
            if (right < 0) return;
            const auto it = merges_.find(pair_key(symbols[static_cast<std::size_t>(left)].id,
                                                  symbols[static_cast<std::size_t>(right)].id));
            if (it != merges_.end())
                queue.push({it->second.rank, left, it->second.result});
        };
        for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(symbols.size()); ++i) consider(i);
        while (!queue.empty()) {
            const candidate top = queue.top();
            queue.pop();
            symbol& left = symbols[static_cast<std::size_t>(top.pos)];
            if (left.length == 0 || left.next < 0) continue;
            symbol& right = symbols[static_cast<std::size_t>(left.next)];
            // Stale entry: the pair there now no longer merges into the same token (Hugging Face's exact test).
            const auto it = merges_.find(pair_key(left.id, right.id));
            if (it == merges_.end() || it->second.result != top.result) continue;
            left.id = top.result;
            left.length += right.length;
            right.length = 0;
            left.next = right.next;
            if (left.next >= 0) symbols[static_cast<std::size_t>(left.next)].prev = top.pos;
            consider(left.prev);
            consider(top.pos);
        }
    }

    std::unordered_map<std::string, std::int32_t> vocab_;
    std::vector<std::string> tokens_;
    std::vector<bool> has_token_;
    std::unordered_map<std::uint64_t, merge> merges_;
    std::string unk_, prefix_, suffix_;
    bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
};

}  // namespace moe::text
