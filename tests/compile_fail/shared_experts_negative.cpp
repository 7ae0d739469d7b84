// compile_fail/shared_experts_negative.cpp — .shared_experts = -1.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: .shared_experts cannot be negative
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .shared_experts = -1};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .shared_experts = 1};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
