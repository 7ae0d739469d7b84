// compile_fail/expert_width_zero.cpp — .expert_width = 0.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: set .expert_width (moe_intermediate_size) to at least 1
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 0, .experts = 4, .top_k = 2};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 1, .experts = 4, .top_k = 2};
#endif

// The weights type runs the same check, so a bad config cannot even describe its tensors.
[[maybe_unused]] moe::moe_layer_weights<config> weights;
