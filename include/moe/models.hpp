// moe/models.hpp — whole models: the supported families (backend-free descriptions), released checkpoints, the
// Hugging Face checkpoint loader, and the CPU model types (moe::cpu::model<D>, moe::cpu::qwen3_moe<card>, ...).
// Needs Eigen (moe::cpu) and nlohmann_json (moe::io).
#pragma once

#include "moe/cpu.hpp"
#include "moe/cpu/causal_lm.hpp"
#include "moe/model/description.hpp"
#include "moe/model/with_kv_cache.hpp"
#include "moe/models/cpu.hpp"
#include "moe/models/families.hpp"
#include "moe/models/gguf/ledger_cost.hpp"
#include "moe/models/gguf/tokenizer.hpp"
#include "moe/models/hf_config.hpp"
#include "moe/models/load_model.hpp"
#include "moe/models/released.hpp"
#include "moe/models/tiny_reasoner.hpp"
