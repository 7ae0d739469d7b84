// compile_fail/top_k_groups_above_groups.cpp — .router.top_k_groups = 3 with 2 groups.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: router_config: .top_k_groups exceeds .groups
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = moe::routers::deepseek_v2_group_limited(2, 3)};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = moe::routers::deepseek_v2_group_limited(2, 2)};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
