// compile_fail/shared_expert_gate_without_shared.cpp — .shared_expert_gate = true with no shared expert.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: .shared_expert_gate needs .shared_experts >= 1
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .shared_experts = 0, .shared_expert_gate = true};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .shared_experts = 1, .shared_expert_gate = true};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
