// moe/models/families.hpp — the supported model families, one file each (moe/models/families/): its model card (a
// struct of named values, field names as close to config.json as C++ allows), the description it composes from
// the card, and its checkpoint's tensor names and config.json quirks. Backend-free.
//
//   constexpr moe::mixtral_config my_card{.vocab_size = 32000, .model_width = 1024, .layers = 16, ...};
//   using my_description = moe::mixtral<my_card>;             // moe::model::causal_lm<...>
//   using my_cpu_model = moe::cpu::model<my_description>;     // moe/models/cpu.hpp: moe::cpu::mixtral<my_card>
//
// moe/models/released.hpp has the cards of released checkpoints. A model of your own that fits no family is
// composed directly from moe::model::causal_lm, stack and decoder (examples/custom_model.cpp).
// A new family: one file under families/, one line here, one enum value in config/model_config.hpp.
#pragma once

#include "moe/models/families/deepseek_v2.hpp"
#include "moe/models/families/deepseek_v3.hpp"
#include "moe/models/families/mixtral.hpp"
#include "moe/models/families/olmoe.hpp"
#include "moe/models/families/qwen2_moe.hpp"
#include "moe/models/families/qwen3_moe.hpp"
