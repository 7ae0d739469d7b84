// compile_fail/sum_of_top_2_single_expert_groups.cpp — DeepSeek-V3 sum_of_top_2 group scoring with 1 expert per group.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: router_config: sum_of_top_2 group scoring needs at least 2 experts per group
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .router = moe::routers::deepseek_v3(4, 2)};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .router = moe::routers::deepseek_v3(2, 1)};
#endif

// The weights type runs the same check, so a bad config cannot even describe its tensors.
[[maybe_unused]] moe::moe_layer_weights<config> weights;
