// compile_fail/groups_not_dividing_experts.cpp — 6 experts in 4 groups.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: router_config: .groups must divide .experts evenly
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 6, .top_k = 2,
    .router = moe::routers::deepseek_v2_group_limited(4, 2)};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 6, .top_k = 2,
    .router = moe::routers::deepseek_v2_group_limited(3, 2)};
#endif

// The weights type runs the same check, so a bad config cannot even describe its tensors.
[[maybe_unused]] moe::moe_layer_weights<config> weights;
