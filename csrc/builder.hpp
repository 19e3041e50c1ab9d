// Builds the engine's packed parameters and description from exported weights (by name).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model.hpp"

namespace dawm {

struct Tensor {
  std::vector<int64_t> shape;
  const float* data = nullptr;  // float32, C-contiguous (checked by the Python face)
};
using WeightMap = std::map<std::string, Tensor>;

struct BuildConfig {
  // TemporalUNet (docs/engine_contract.md)
  int x_dim = 0, context_dim = 0, guide_dim = 0, dim = 32;
  std::vector<int> dim_mults;
  bool epsilon = true;
  // DDIM table from the sampler (never re-derived here), guidance ω and x0 clip
  std::vector<int64_t> t;
  std::vector<float> alpha, alpha_prev;
  float guidance = 1.0f, clip = 1.0f;
  // inverse dynamics MLP
  int obs_dim = 0, act_dim = 0, history = 0;
  std::vector<int> hidden;
  std::string activation = "relu";
  // DAWM layout: sequence length L (the U-Net export's "length"; build_model derives the
  // H = L - 1 generated steps), columns of the state and the reward, and of the action when
  // tokens carry it (-1: they do not; token 0's a_t is then inpainted beside s_t)
  int length = 2, state_col = 0, reward_col = 0, action_col = -1;
  bool inpaint_first = true;
};

struct Model {
  EngineDesc desc;
  std::vector<float> params;
};

// Throws std::invalid_argument naming the missing or mis-shaped weight.
Model build_model(const WeightMap& unet, const WeightMap& idm, const BuildConfig& cfg);

}  // namespace dawm
