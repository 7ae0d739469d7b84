// compile_fail/groups_without_group_by.cpp — .router.groups = 2 with .group_by = none.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: router_config: .groups > 1 needs a .group_by rule
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = {.group_by = moe::group_scoring::none, .groups = 2, .top_k_groups = 2}};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = {.group_by = moe::group_scoring::max, .groups = 2, .top_k_groups = 2}};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
