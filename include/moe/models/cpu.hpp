// moe/models/cpu.hpp — the families and released checkpoints as CPU model types, for short:
//
//   moe::cpu::qwen3_moe<card>   is   moe::cpu::model<moe::qwen3_moe<card>>
//   moe::cpu::qwen3_30b_a3b     is   moe::cpu::model<moe::qwen3_moe<moe::qwen3_30b_a3b>>
//
// Any description runs as moe::cpu::model<D> without a line here; these names only save typing.
#pragma once

#include "moe/cpu/causal_lm.hpp"
#include "moe/models/families.hpp"
#include "moe/models/load_model.hpp"  // moe::model_list
#include "moe/models/released.hpp"
#include "moe/models/tiny_reasoner.hpp"

namespace moe::cpu {

template <mixtral_config C>
using mixtral = model<moe::mixtral<C>>;
template <qwen2_moe_config C>
using qwen2_moe = model<moe::qwen2_moe<C>>;
template <qwen3_moe_config C>
using qwen3_moe = model<moe::qwen3_moe<C>>;
template <olmoe_config C>
using olmoe = model<moe::olmoe<C>>;
template <deepseek_v2_config C>
using deepseek_v2 = model<moe::deepseek_v2<C>>;
template <deepseek_v3_config C>
using deepseek_v3 = model<moe::deepseek_v3<C>>;

using mixtral_8x7b = mixtral<moe::mixtral_8x7b>;
using qwen3_30b_a3b = qwen3_moe<moe::qwen3_30b_a3b>;
using olmoe_1b_7b = olmoe<moe::olmoe_1b_7b>;
using qwen1_5_moe_a2_7b = qwen2_moe<moe::qwen1_5_moe_a2_7b>;
using deepseek_v2_lite = deepseek_v2<moe::deepseek_v2_lite>;
using deepseek_v3_671b = deepseek_v3<moe::deepseek_v3_671b>;
using tiny_reasoner = qwen3_moe<moe::tiny_reasoner>;

// The released checkpoints' types, in the order moe_cli / next_token (and moe_card --released) try them.
using released_models = moe::model_list<qwen3_30b_a3b, mixtral_8x7b, olmoe_1b_7b, qwen1_5_moe_a2_7b, deepseek_v2_lite,
                                        deepseek_v3_671b>;

}  // namespace moe::cpu
