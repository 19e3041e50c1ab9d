// Picks the CPU kernels for the running machine (AVX-512, AVX2+FMA or portable).
#pragma once
#include <string>

#include "model.hpp"

namespace dawm {

using RunFn = bool (*)(const EngineDesc&, const float*, const Batch&, int, int);
// Function types (not pointers): dispatch.cpp declares each ISA's kernels with them, so the
// signatures are written once here (ops.hpp names the parameters).
using GroupNormMishForwardFn = void(const float*, const float*, const float*, int, int, int, int,
                                    float, float*, float*, float*, int);
using GroupNormMishBackwardFn = void(const float*, const float*, const float*, const float*,
                                     const float*, const float*, int, int, int, int, float*,
                                     float*, float*, int);

// One ISA variant's entry points: the generation engine and the training kernels.
struct CpuKernels {
  RunFn run = nullptr;
  GroupNormMishForwardFn* group_norm_mish_forward = nullptr;
  GroupNormMishBackwardFn* group_norm_mish_backward = nullptr;
};

// `isa`: "auto", "avx512", "avx2" or "generic". Throws std::invalid_argument if the CPU or the
// build lacks it; `chosen` receives the name of the variant used.
CpuKernels select_cpu_kernels(const std::string& isa, std::string* chosen);

// The variants this build holds that the running CPU supports, best first.
std::string supported_isas();

}  // namespace dawm
