// moe/routing/activations.hpp — the two logistic formulas every backend evaluates, written once.
//
//   sigmoid(x) = 1 / (1 + e^-x)   sigmoid router scores (DeepSeek-V3) and the Qwen2-MoE shared-expert gate
//   silu(x)    = x / (1 + e^-x)   the SwiGLU of every expert FFN: down(silu(gate · x) ⊙ (up · x))
// Host and device (MOE_HOST_DEVICE): a backend that spells these differently would round differently, and the
// backends are tested against each other bit for bit where they can be.
#pragma once

#include <cmath>

#include "moe/macros.hpp"

namespace moe {

MOE_HOST_DEVICE inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

MOE_HOST_DEVICE inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace moe
