// compile_fail/top_k_above_experts.cpp — .top_k = 5 with 4 experts.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: .top_k exceeds .experts
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 5};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 4};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
