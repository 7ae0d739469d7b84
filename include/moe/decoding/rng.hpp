// moe/decoding/rng.hpp — the random numbers of sampling: xoshiro256** seeded through SplitMix64.
//
// A fixed algorithm implemented here (not std::mt19937 + std::uniform_real_distribution, whose floating-point
// output differs between standard libraries), so a seed gives the same tokens with libstdc++, libc++ and MSVC.
// Each branch of a generation draws from its own stream, rng(seed, branch), so branches do not depend on how
// many others run or in which order their numbers are drawn.
#pragma once

#include <cstdint>

namespace moe::decoding {

// SplitMix64 (Steele, Lea, Flood 2014): one step of the seeding sequence.
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// xoshiro256** 1.0 (Blackman, Vigna 2018).
class rng {
   public:
    constexpr explicit rng(std::uint64_t seed, std::uint64_t stream = 0) {
        // The stream index is mixed in before SplitMix64 expands the seed into the 256-bit state.
        std::uint64_t sm = seed ^ (stream * 0xD1B54A32D192ED03ull);
        for (auto& word : s_) word = splitmix64(sm);
    }

    constexpr std::uint64_t next() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1): the top 53 bits as a double (exact, no rounding up to 1).
    constexpr double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

   private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4]{};
};

}  // namespace moe::decoding
