// moe/text/spm.hpp — SentencePiece BPE driven by piece scores, as llama.cpp runs a GGUF "llama" vocabulary
// (Llama-2, Mistral, Mixtral; llama.cpp's llama-vocab.cpp, llm_tokenizer_spm): the model tokenizer_from_gguf plugs in where
// a tokenizer.json has its BPE model.
//
// A word starts as its UTF-8 characters. Every adjacent pair whose concatenation is a token is a candidate; the
// candidate whose token has the highest score is merged (the leftmost on ties), and the new neighbours become
// candidates, until none is left. Each symbol is then its token, or, when it is a character with no token of its
// own, its bytes as <0xNN> tokens (a one-byte token of the byte itself when there is no <0xNN>, as llama.cpp).
//
// Why not tokenizer.json's BPE with merges derived from the scores: Hugging Face merges by the rank of a *pair* and
// only pairs listed as merges, SentencePiece by the score of the *merged piece* and any pair that makes a token.
// Pieces with equal scores (a converter that writes -1000 for every piece), a token reachable by a pair the merge
// list does not hold, a character with no token inside a longer token: each makes the two disagree, so the GGUF
// route runs SentencePiece's own rule rather than an approximation of it.
//
// The model's form inside the tokenizer.json document the GGUF route builds (a moe extension; `tokenizers` has no
// such model type):
//   {"type": "SentencePieceBPE", "vocab": [["<unk>", 0.0], ["<s>", 0.0], ..., null, ...], "unk_token": "<unk>"}
// the entry at index i is token i and its score, null for an id that names no token.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/json_access.hpp"
#include "moe/text/limits.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

class spm_model {
   public:
    static constexpr std::string_view type_name = "SentencePieceBPE";

    static spm_model from_json(const detail::json& spec, const std::string& where) {
        spm_model m;
        const auto& vocab = detail::field(spec, "vocab", where);
        if (!vocab.is_array()) throw detail::error_at(where, "model.vocab must be an array of [piece, score]");
        if (vocab.size() > static_cast<std::uint64_t>(tokenizer_limits::max_id))
            throw detail::error_at(where, "model.vocab: " + std::to_string(vocab.size()) +
                                              " tokens do not fit int32 ids");
        m.tokens_.resize(vocab.size());
        m.scores_.resize(vocab.size(), 0.0f);
        m.has_token_.resize(vocab.size(), false);
        for (std::size_t i = 0; i < vocab.size(); ++i) {
            const auto& entry = vocab[i];
            if (entry.is_null()) continue;
            const std::string at = where + ": model.vocab[" + std::to_string(i) + "]";
            if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number())
                throw detail::error_at(at, "must be [piece, score] or null");
            std::string piece = entry[0].get<std::string>();
            const auto score = static_cast<float>(entry[1].get<double>());
            // A NaN would break the ordering the merge queue relies on.
            if (std::isnan(score)) throw detail::error_at(at, "the score of '" + excerpt(piece, 64) + "' is NaN");
            if (piece.empty()) throw detail::error_at(at, "the piece is empty");
            const auto id = static_cast<std::int32_t>(i);
            if (const auto [it, fresh] = m.vocab_.emplace(piece, id); !fresh)
                throw detail::error_at(at, "'" + excerpt(piece, 64) + "' is also token " + std::to_string(it->second));
            m.tokens_[i] = std::move(piece);
            m.scores_[i] = score;
            m.has_token_[i] = true;
        }
        const std::string unk = detail::optional_field<std::string>(spec, "unk_token", "", where);
        if (!unk.empty()) {
            m.unk_ = m.token_to_id(unk);
            if (!m.unk_) throw detail::error_at(where, "unk_token '" + excerpt(unk, 64) + "' is not in the vocab");
        }
        // Byte fallback targets, looked up once: <0xNN>, else the one-byte token, else none.
        static constexpr char hex[] = "0123456789ABCDEF";
        for (unsigned b = 0; b < 256; ++b) {
            const std::string name{'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            m.byte_ids_[b] = m.token_to_id(name);
            if (!m.byte_ids_[b]) m.byte_ids_[b] = m.token_to_id(std::string(1, static_cast<char>(b)));
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
    float score(std::int32_t id) const { return scores_.at(static_cast<std::size_t>(id)); }

    // Tokenizes one piece of normalized text (spaces already ▁). A byte with no token of any form becomes the
    // unknown token (llama.cpp aborts there); without one, it is a tokenizer_error.
    void tokenize(std::string_view text, std::vector<std::int32_t>& out) const {
        if (text.empty()) return;
        // The symbols: [begin, begin + length) of `text`, linked; length 0 marks one merged into its left neighbour.
        struct symbol {
            std::size_t begin, length;
            std::int32_t prev, next;
        };
        std::vector<symbol> symbols;
        for (std::size_t at = 0; at < text.size();) {
            const std::size_t length = utf8::decode(text, at).length;
            const auto n = static_cast<std::int32_t>(symbols.size());
            symbols.push_back({at, length, n - 1, at + length == text.size() ? -1 : n + 1});
            at += length;
        }
        struct bigram {
            float score;
            std::int32_t left, right;
            std::size_t size;
            // Highest score first, then the leftmost (llama.cpp's llm_bigram_spm::comparator).
            bool operator<(const bigram& o) const { return score < o.score || (score == o.score && left > o.left); }
        };
        std::priority_queue<bigram> queue;
        auto consider = [&](std::int32_t left, std::int32_t right) {
            if (left < 0 || right < 0) return;
            const symbol& l = symbols[static_cast<std::size_t>(left)];
            const symbol& r = symbols[static_cast<std::size_t>(right)];
            const std::size_t size = l.length + r.length;
            const auto id = token_to_id(text.substr(l.begin, size));
            if (id) queue.push({scores_[static_cast<std::size_t>(*id)], left, right, size});
        };
        for (std::int32_t i = 1; i < static_cast<std::int32_t>(symbols.size()); ++i) consider(i - 1, i);
        while (!queue.empty()) {
            const bigram top = queue.top();
            queue.pop();
            symbol& left = symbols[static_cast<std::size_t>(top.left)];
            symbol& right = symbols[static_cast<std::size_t>(top.right)];
            // Stale: one side was merged away or grew since (llama.cpp's test, by size).
            if (left.length == 0 || right.length == 0 || left.length + right.length != top.size) continue;
            left.length += right.length;
            right.length = 0;
            left.next = right.next;
            if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.left;
            consider(left.prev, top.left);
            consider(top.left, left.next);
        }
        for (std::int32_t i = 0; i != -1; i = symbols[static_cast<std::size_t>(i)].next) {
            const symbol& s = symbols[static_cast<std::size_t>(i)];
            const std::string_view piece = text.substr(s.begin, s.length);
            if (const auto id = token_to_id(piece)) {
                out.push_back(*id);
                continue;
            }
            for (const unsigned char b : piece) {
                if (const auto id = byte_ids_[b]) out.push_back(*id);
                else if (unk_) out.push_back(*unk_);
                else
                    throw tokenizer_error("SentencePiece model: byte 0x" + std::string{"0123456789ABCDEF"[b >> 4]} +
                                          "0123456789ABCDEF"[b & 15] +
                                          " has no token <0x..>, and the vocabulary has no unknown token");
            }
        }
    }

   private:
    std::unordered_map<std::string, std::int32_t> vocab_;
    std::vector<std::string> tokens_;
    std::vector<float> scores_;
    std::vector<bool> has_token_;
    std::optional<std::int32_t> unk_;
    std::optional<std::int32_t> byte_ids_[256];
};

}  // namespace moe::text
