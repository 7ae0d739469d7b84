// moe/text/byte_trie.hpp — longest-prefix lookup over a fixed set of byte strings (the added tokens' contents),
// built once at load.
//
// Comparing every added token at every input byte costs (input bytes x added tokens): a file with 10^5 added
// tokens made encoding 100 KB take minutes. A lookup here walks one trie edge per input byte it reads and never
// reads more than the longest key, whatever the number of keys.
//
// Keys can be matched by up to `kinds` kinds of query (added tokens: normalized or not x special tokens skipped or
// not). Among equal keys a query of kind k finds the first key, in the order given, that has kind k.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <numeric>
#include <span>
#include <string_view>
#include <vector>

namespace moe::text {

class byte_trie {
   public:
    static constexpr std::size_t kinds = 4;

    struct key {
        std::string_view bytes;  // empty keys are never matched
        std::uint8_t kind_mask;  // bit k: a query of kind k may match this key
    };

    byte_trie() = default;

    // Memory: at most one 12-byte node per key byte (shared prefixes share nodes) plus 16 bytes per distinct key;
    // while building, 20 bytes per key more.
    explicit byte_trie(std::span<const key> keys) {
        std::vector<std::uint32_t> order(keys.size());  // key indices sorted by bytes, equal keys in given order
        std::iota(order.begin(), order.end(), 0u);
        std::stable_sort(order.begin(), order.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return keys[a].bytes < keys[b].bytes; });
        for (const key& k : keys) max_key_length_ = std::max(max_key_length_, k.bytes.size());
        std::size_t node_count = 1;  // each key adds the nodes past its common prefix with the key before it
        for (std::size_t i = 0; i < order.size(); ++i) {
            const std::string_view k = keys[order[i]].bytes, before = i ? keys[order[i - 1]].bytes : "";
            node_count += k.size() - static_cast<std::size_t>(
                                         std::mismatch(k.begin(), k.end(), before.begin(), before.end()).first - k.begin());
        }
        nodes_.reserve(node_count);

        // Breadth first: a node's keys are the sorted range [lo, hi) sharing its first `depth` bytes; its children
        // are the runs of that range with equal byte at `depth`, stored next to each other in byte order.
        struct pending {
            std::uint32_t node, lo, hi, depth;
        };
        nodes_.push_back({});
        std::deque<pending> queue{{0, 0, static_cast<std::uint32_t>(order.size()), 0}};  // one level at most
        while (!queue.empty()) {
            const auto [n, lo, hi, depth] = queue.front();
            queue.pop_front();
            std::uint32_t i = lo;
            if (depth > 0 && keys[order[i]].bytes.size() == depth) {  // keys ending here sort first
                std::array<std::int32_t, kinds> first;
                first.fill(-1);
                for (; i < hi && keys[order[i]].bytes.size() == depth; ++i)
                    for (std::size_t k = 0; k < kinds; ++k)
                        if (first[k] < 0 && (keys[order[i]].kind_mask >> k & 1u))
                            first[k] = static_cast<std::int32_t>(order[i]);
                nodes_[n].terminal = static_cast<std::int32_t>(terminals_.size());
                terminals_.push_back(first);
            }
            for (; i < hi && keys[order[i]].bytes.size() == depth; ++i) {}  // empty keys (depth 0): skipped
            nodes_[n].first_child = static_cast<std::uint32_t>(nodes_.size());
            while (i < hi) {
                const char b = keys[order[i]].bytes[depth];
                std::uint32_t j = i;
                while (j < hi && keys[order[j]].bytes[depth] == b) ++j;
                queue.push_back({static_cast<std::uint32_t>(nodes_.size()), i, j, depth + 1});
                nodes_.push_back({0, 0, static_cast<std::uint8_t>(b), -1});
                ++nodes_[n].child_count;
                i = j;
            }
        }
    }

    // The index of the longest key of kind `kind` that `text` starts with, or -1.
    std::int32_t longest_prefix(std::string_view text, std::size_t kind) const {
        if (nodes_.empty()) return -1;
        std::int32_t best = -1;
        std::uint32_t n = 0;
        for (const char c : text) {
            n = child(nodes_[n], static_cast<std::uint8_t>(c));
            if (n == 0) break;
            if (const std::int32_t t = nodes_[n].terminal; t >= 0 && terminals_[static_cast<std::size_t>(t)][kind] >= 0)
                best = terminals_[static_cast<std::size_t>(t)][kind];
        }
        return best;
    }

    std::size_t max_key_length() const { return max_key_length_; }
    std::size_t node_count() const { return nodes_.size(); }

   private:
    struct node {
        std::uint32_t first_child = 0;  // children: nodes_[first_child, first_child + child_count), by byte
        std::uint16_t child_count = 0;
        std::uint8_t byte = 0;          // the edge into this node
        std::int32_t terminal = -1;     // index into terminals_ when a key ends here
    };

    // The child along `byte`, or 0 (the root is nobody's child). Binary search over at most 256 children.
    std::uint32_t child(const node& parent, std::uint8_t byte) const {
        std::uint32_t lo = parent.first_child, hi = parent.first_child + parent.child_count;
        while (lo < hi) {
            const std::uint32_t mid = lo + (hi - lo) / 2;
            if (nodes_[mid].byte < byte) lo = mid + 1;
            else hi = mid;
        }
        return lo < parent.first_child + parent.child_count && nodes_[lo].byte == byte ? lo : 0;
    }

    std::vector<node> nodes_;                                // nodes_[0] is the root
    std::vector<std::array<std::int32_t, kinds>> terminals_;  // per kind: the first key of that kind, or -1
    std::size_t max_key_length_ = 0;
};

}  // namespace moe::text
