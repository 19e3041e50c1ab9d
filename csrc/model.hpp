// The engine's model: every weight packed into one flat float array, described by offsets.
// The same description drives the CPU kernels (base pointer + offset) and the CUDA kernels
// (device copy of the array + the same offsets). Plain data only: no inline code with loops,
// because this header is included by translation units compiled for different ISAs.
#pragma once
#include <cstdint>

namespace dawm {

constexpr int kPanel = 32;     // packed weight panel width (output columns)
constexpr int kMaxLevels = 6;  // U-Net resolutions (len(dim_mults))
constexpr int kMaxIdmLayers = 8;
constexpr int kGroups = 8;     // GroupNorm(8)
constexpr int kMaxSteps = 64;  // DDIM steps
constexpr int kHalo = 2;       // zero rows kept before/after every sequence (conv k5 padding)

// y[r, :] = b + sum_t sum_c x[row(r, t), c] * W_t[c, :]: a conv with `taps` shifted input rows
// (taps = 1 is a linear layer). B is (taps*cin, cout) in panels of kPanel columns, panel p at
// w + p*taps*cin*kPanel, zero-padded to a multiple of kPanel; the bias is padded likewise.
struct Dense {
  int64_t w = -1, b = -1;
  int cin = 0, cout = 0, taps = 1;
};

struct Norm {
  int64_t gamma = -1, beta = -1;
  int channels = 0;
};

struct Block {
  Dense conv0, conv1, emb, skip;
  Norm norm0, norm1;
  int cin = 0, cout = 0;
  bool has_skip = false;
};

struct UNetDesc {
  int x_dim = 0, L = 0, Lp = 0, c_dim = 0, g_dim = 0, dim = 0, n_levels = 0;  // L: tokens
  int ch[kMaxLevels + 1] = {};  // [x_dim, dim*m0, dim*m1, ...]
  bool epsilon = true;
  Dense ctx0, ctx2, guide0, guide2;
  Block down[kMaxLevels][2];
  Dense downsample[kMaxLevels];
  Block mid[2];
  Block up[kMaxLevels][2];
  Dense up_even[kMaxLevels], up_odd[kMaxLevels];  // ConvTranspose1d(k4, s2, p1) split by parity
  Dense final_conv, final_out;
  Norm final_norm;
};

enum class Activation : int { ReLU = 0, Mish = 1, SiLU = 2, Tanh = 3, GELU = 4 };

struct IdmDesc {
  int obs_dim = 0, act_dim = 0, history = 0, n_layers = 0, in_dim = 0, max_width = 0;
  Activation act = Activation::ReLU;
  Dense layers[kMaxIdmLayers];
  int64_t obs_mean = -1, obs_std = -1, act_mean = -1, act_std = -1, act_low = -1, act_high = -1;
};

struct SamplerDesc {
  int steps = 0;
  int passes = 1;                 // 2: [conditional; unconditional] per step, 1: one pass
  bool single_uses_guide = true;  // with one pass: is the guide embedding on (ω != 0)?
  float guidance = 1.0f, clip = 1.0f;
  float sqrt_a[kMaxSteps] = {}, sqrt_1ma[kMaxSteps] = {};
  float sqrt_ap[kMaxSteps] = {}, sqrt_1map[kMaxSteps] = {};
  int64_t temb = -1;  // (steps, dim): time_mlp(sinusoidal(t_i)) precomputed per step
};

// Which x columns hold the state and the reward (the DAWM layout), and the normalizers.
struct LayoutDesc {
  int obs_dim = 0, act_dim = 0, H = 0;  // H = unet.L - 1 generated steps (set by build_model)
  int state_col = 0, reward_col = 0, action_col = -1;  // action_col -1: no action slots
  bool inpaint_first = true;
  int64_t x_lo = -1, x_range = -1, c_mean = -1, c_std = -1, g_mean = -1, g_std = -1;
};

struct EngineDesc {
  UNetDesc unet;
  IdmDesc idm;
  SamplerDesc sampler;
  LayoutDesc layout;
  int64_t n_params = 0;
};

// One generate() call. Inputs raw (denormalized); `noise` (B, L, x_dim) is optional: without
// it x_K is drawn from the counter-based RNG (rng.hpp) keyed by `seed` and the sample index
// sample0 + b, so a batch run in parts (row offset sample0 each) draws the noise of one call.
struct Batch {
  int64_t B = 0;
  int64_t sample0 = 0;             // index of row 0 in the caller's whole batch (RNG key)
  const float* states = nullptr;   // (B, obs_dim)
  const float* actions = nullptr;  // (B, act_dim)
  const float* rtg = nullptr;      // (B, g_dim) or null when g_dim == 0
  const float* noise = nullptr;
  uint64_t seed = 0;
  float* out_states = nullptr;   // (B, H, obs_dim)
  float* out_rewards = nullptr;  // (B, H)
  float* out_actions = nullptr;  // (B, H, act_dim)
  float* out_x = nullptr;        // (B, L, x_dim) normalized, optional
};

}  // namespace dawm
