// moe/cpu.hpp — the CPU backend (Eigen 3.4): layers that run on the host.
#pragma once

#include "moe/core.hpp"
#include "moe/cpu/moe_layer.hpp"
#include "moe/runtime/thread_pool.hpp"
