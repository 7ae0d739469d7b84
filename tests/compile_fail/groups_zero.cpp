// compile_fail/groups_zero.cpp — .router.groups = 0.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: router_config: .groups must be at least 1
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = {.group_by = moe::group_scoring::max, .groups = 0, .top_k_groups = 1}};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2,
    .router = {.group_by = moe::group_scoring::max, .groups = 1, .top_k_groups = 1}};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
