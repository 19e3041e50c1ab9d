// The CUDA engine: the same graph and packed weights as the CPU engine, as device kernels.
#pragma once
#include <memory>
#include <string>

#include "model.hpp"

namespace dawm {
namespace cuda {

// Number of usable devices; 0 with `why` filled when there is no device or no driver.
int device_count(std::string* why);

class Engine {
 public:
  // Copies the packed weights to `device`; throws std::runtime_error on CUDA errors. `tf32`:
  // GEMMs on the tensor cores with TF32 inputs (std::invalid_argument below capability 8.0).
  Engine(const EngineDesc& desc, const float* params, int device, int chunk, bool tf32);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  // Host arrays in, host arrays out; the whole k-step loop runs on the device.
  void run(const Batch& host_batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cuda
}  // namespace dawm
