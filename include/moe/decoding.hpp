// moe/decoding.hpp — entry header of the decoding module: sampler chain, multi-branch generation over a shared
// prompt with streaming and reasoning controls, self-consistency, CoT-decoding. See docs/decoding.md.
#pragma once

#include "moe/decoding/answer.hpp"
#include "moe/decoding/cot_decoding.hpp"
#include "moe/decoding/generator.hpp"
#include "moe/decoding/language_model.hpp"
#include "moe/decoding/loop_detection.hpp"
#include "moe/decoding/memory_budget.hpp"
#include "moe/decoding/rng.hpp"
#include "moe/decoding/sampler.hpp"
#include "moe/decoding/self_consistency.hpp"
