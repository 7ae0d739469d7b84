// compile_fail/top_k_zero.cpp — .top_k = 0 — tokens routed to no expert.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: .top_k must be at least 1
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 0};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 4, .top_k = 1};
#endif

// The weights type runs the same check, so a bad config cannot even describe its tensors.
[[maybe_unused]] moe::moe_layer_weights<config> weights;
