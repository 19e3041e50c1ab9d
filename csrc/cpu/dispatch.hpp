// Picks the CPU kernels for the running machine (AVX-512, AVX2+FMA or portable).
#pragma once
#include <string>

#include "model.hpp"

namespace dawm {

using RunFn = bool (*)(const EngineDesc&, const float*, const Batch&, int, int);

// `isa`: "auto", "avx512", "avx2" or "generic". Throws std::invalid_argument if the CPU or the
// build lacks it; `chosen` receives the name of the variant used.
RunFn select_cpu_kernels(const std::string& isa, std::string* chosen);

// The variants this build holds that the running CPU supports, best first.
std::string supported_isas();

}  // namespace dawm
