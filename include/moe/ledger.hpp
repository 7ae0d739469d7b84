// moe/ledger.hpp — the energy ledger: per request and per phase (prompt, thinking, answer) the tokens, FLOPs, bytes
// moved, wall time and energy (RAPL / amd_energy / NVML when readable, else an estimate that says so), and what a
// dense model with the same total parameters would have spent. docs/reasoning.md has the formulas and sources.
#pragma once

#include "moe/ledger/cost.hpp"
#include "moe/ledger/energy.hpp"
#include "moe/ledger/json.hpp"
#include "moe/ledger/ledger.hpp"
#include "moe/ledger/metered_model.hpp"
