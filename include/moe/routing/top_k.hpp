// moe/routing/top_k.hpp — the top-k selection every router uses, with one documented order.
//
// Order ("ranks before"): a larger value first; NaN ranks above every number (as torch.topk does), so NaN input
// still yields k distinct, valid indices and propagates into the weights instead of crashing; equal values
// (ties) go to the LOWER index first. CPU and GPU use this same function, so they pick identical experts.
#pragma once

#include "moe/macros.hpp"

namespace moe {

// True when (a, index_a) ranks before (b, index_b).
MOE_HOST_DEVICE constexpr bool ranks_before(float a, int index_a, float b, int index_b) {
    const bool a_nan = a != a;
    const bool b_nan = b != b;
    if (a_nan != b_nan) return a_nan;
    if (!a_nan && a != b) return a > b;
    return index_a < index_b;
}

// Writes the indices of the `k` best of values[0, n) into out_index[0, k) in rank order (best first), considering
// only indices with eligible(i). The caller guarantees at least k eligible indices (validated at compile time).
// O(n·k) insertion: n ≤ a few hundred and k ≤ a few dozen in every MoE router.
template <class Eligible>
MOE_HOST_DEVICE void top_k_indices(const float* values /* (n) */, int n, int k, Eligible eligible,
                                   int* out_index /* (k) */) {
    int filled = 0;
    for (int i = 0; i < n; ++i) {
        if (!eligible(i)) continue;
        if (filled == k && !ranks_before(values[i], i, values[out_index[k - 1]], out_index[k - 1])) continue;
        int slot = filled < k ? filled++ : k - 1;
        while (slot > 0 && ranks_before(values[i], i, values[out_index[slot - 1]], out_index[slot - 1])) {
            out_index[slot] = out_index[slot - 1];
            --slot;
        }
        out_index[slot] = i;
    }
}

}  // namespace moe
