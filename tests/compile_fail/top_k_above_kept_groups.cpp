// compile_fail/top_k_above_kept_groups.cpp — .top_k = 3 but only 1 kept group × 2 experts per group.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: .top_k exceeds the experts in the kept groups
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 8, .top_k = 3,
    .router = moe::routers::deepseek_v2_group_limited(4, 1)};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 8, .top_k = 3,
    .router = moe::routers::deepseek_v2_group_limited(4, 2)};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
