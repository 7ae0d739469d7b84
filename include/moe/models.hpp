// moe/models.hpp — whole models on the CPU: the supported families as types, released checkpoints, and the
// Hugging Face checkpoint loader. Needs Eigen (moe::cpu) and nlohmann_json (moe::io).
#pragma once

#include "moe/cpu.hpp"
#include "moe/cpu/causal_lm.hpp"
#include "moe/cpu/decoder_layer.hpp"
#include "moe/models/families.hpp"
#include "moe/models/hf_config.hpp"
#include "moe/models/load_model.hpp"
