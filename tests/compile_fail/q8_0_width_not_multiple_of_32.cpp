// compile_fail/q8_0_width_not_multiple_of_32.cpp — weight_format::q8_0 with an expert width of 48: Q8_0 stores
// 32-weight blocks along each matrix row, so the down projection's rows (48 weights) cannot be blocked. The one
// block-width check of config/precision.hpp fails; the compiler shows inner_width_check<weight_format::q8_0, 32,
// "moe_layer_config.expert_width", 48> above its message.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: weight_format stores blocks of weights along each matrix row: the inner width named in inner_width_check
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 64, .expert_width = 48, .experts = 4, .top_k = 2,
                                              .weights = moe::weight_format::q8_0};
#else
inline constexpr moe::moe_layer_config config{.model_width = 64, .expert_width = 64, .experts = 4, .top_k = 2,
                                              .weights = moe::weight_format::q8_0};
#endif

[[maybe_unused]] moe::moe_layer_weights<config> weights;
