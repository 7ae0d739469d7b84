// compile_fail/shared_expert_width_negative.cpp — .shared_expert_width = -8.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: .shared_expert_width cannot be negative
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .shared_experts = 1, .shared_expert_width = -8};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 2, .shared_experts = 1, .shared_expert_width = 8};
#endif

// The weights type runs the same check, so a bad config cannot even describe its tensors.
[[maybe_unused]] moe::moe_layer_weights<config> weights;
