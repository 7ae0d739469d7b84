// moe/decoding/finite_logits.hpp — the non-finite policy: logits with a NaN or an infinity are never sampled from.
//
// NaN weights or an overflow make a model's logits NaN or ±inf; sorting NaNs breaks the candidates' ordering, a
// NaN softmax picks garbage, and generation silently degrades into repeated tokens. Every function that picks or
// scores tokens from raw logits (sample, top_logprobs, statistics; generate's every step, forced tokens included;
// CoT-decoding's top-k start) checks them first and throws non_finite_logits naming where and how many. −inf is
// refused too: a model's raw logit is finite unless something overflowed.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "moe/error.hpp"

namespace moe::decoding {

// Raw logits holding NaN or ±inf.
class non_finite_logits : public error_with<std::domain_error> {
   public:
    using error_with::error_with;
};

// logits: (V). Throws non_finite_logits "<where>: 3 of 276 logits are not finite (first: token 17 = nan) ..."
inline void require_finite_logits(std::span<const float> logits, std::string_view where) {
    std::size_t bad = 0, first = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        if (!std::isfinite(logits[i])) {
            if (bad == 0) first = i;
            ++bad;
        }
    }
    if (bad == 0) return;
    const float f = logits[first];
    const char* value = std::isnan(f) ? "nan" : f > 0 ? "inf" : "-inf";
    throw non_finite_logits(std::string(where) + ": " + std::to_string(bad) + " of " + std::to_string(logits.size()) +
                            " logits are not finite (first: token " + std::to_string(first) + " = " + value +
                            "); the model produced NaN or infinity — check its weights (docs/decoding.md, non-finite "
                            "logits)");
}

}  // namespace moe::decoding
