// Run-time choice of the CPU kernel variant (compiled without ISA flags).
#include "cpu/dispatch.hpp"

#include <stdexcept>

#define DAWM_DECLARE_KERNELS(ns)                                                          \
  namespace ns {                                                                          \
  bool run(const EngineDesc& d, const float* prm, const Batch& b, int threads, int tile); \
  GroupNormMishForwardFn group_norm_mish_forward;                                         \
  GroupNormMishBackwardFn group_norm_mish_backward;                                       \
  }

namespace dawm {

DAWM_DECLARE_KERNELS(generic)
#if defined(DAWM_X86)
DAWM_DECLARE_KERNELS(avx2)
DAWM_DECLARE_KERNELS(avx512)
#endif

namespace {

bool cpu_has(const std::string& isa) {
  if (isa == "generic") return true;
#if defined(DAWM_X86)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == "avx2") return avx2;
  if (isa == "avx512")
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
  return false;
}

#define DAWM_KERNELS_OF(ns) \
  CpuKernels { &ns::run, &ns::group_norm_mish_forward, &ns::group_norm_mish_backward }

CpuKernels by_name(const std::string& isa) {
#if defined(DAWM_X86)
  if (isa == "avx512") return DAWM_KERNELS_OF(avx512);
  if (isa == "avx2") return DAWM_KERNELS_OF(avx2);
#endif
  if (isa == "generic") return DAWM_KERNELS_OF(generic);
  return {};
}

}  // namespace

std::string supported_isas() {
  std::string out;
  for (const char* isa : {"avx512", "avx2", "generic"})
    if (by_name(isa).run && cpu_has(isa)) out += std::string(out.empty() ? "" : ",") + isa;
  return out;
}

CpuKernels select_cpu_kernels(const std::string& isa, std::string* chosen) {
  if (isa == "auto") {
    for (const char* name : {"avx512", "avx2", "generic"})
      if (by_name(name).run && cpu_has(name)) {
        *chosen = name;
        return by_name(name);
      }
  }
  if (by_name(isa).run == nullptr || !cpu_has(isa))
    throw std::invalid_argument(
        "CPU kernel variant '" + isa +
        "' is not available here; choose auto or one of: " + supported_isas());
  *chosen = isa;
  return by_name(isa);
}

}  // namespace dawm
