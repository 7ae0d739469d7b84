// compile_fail/top_k_groups_zero.cpp — .router.top_k_groups = 0.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: router_config: .top_k_groups must be at least 1
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = moe::routers::deepseek_v2_group_limited(2, 0)};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = moe::routers::deepseek_v2_group_limited(2, 1)};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
