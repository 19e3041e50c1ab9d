// Packs exported PyTorch weights into the engine's panel layout (model.hpp) and precomputes
// what depends only on the model and the DDIM table: the time embedding of every step.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "builder.hpp"

namespace dawm {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

class Packer {
 public:
  Packer(const WeightMap& w, std::string what) : w_(w), what_(std::move(what)) {}

  const Tensor& get(const std::string& name, const std::vector<int64_t>& shape) const {
    auto it = w_.find(name);
    if (it == w_.end())
      throw std::invalid_argument(what_ + " export has no weight '" + name + "'; was it made by " +
                                  "a matching version of the exporter?");
    if (it->second.shape != shape)
      throw std::invalid_argument(what_ + " weight '" + name + "' has shape " +
                                  shape_str(it->second.shape) + ", the config implies " +
                                  shape_str(shape));
    return it->second;
  }

  int64_t vec(const std::string& name, int64_t n, int64_t pad_to = 0) {
    const Tensor& t = get(name, {n});
    return append(t.data, n, pad_to);
  }

  int64_t append(const float* data, int64_t n, int64_t pad_to = 0) {
    const int64_t off = static_cast<int64_t>(out.size());
    out.insert(out.end(), data, data + n);
    if (pad_to > n) out.insert(out.end(), static_cast<size_t>(pad_to - n), 0.0f);
    // Keep every array 64-byte aligned relative to the base.
    while (out.size() % 16) out.push_back(0.0f);
    return off;
  }

  // Generic panel packing: value(k, n) for k < K = taps*cin, n < cout.
  template <class F>
  int64_t panels(int64_t K, int64_t cout, F value) {
    const int64_t np = (cout + kPanel - 1) / kPanel;
    const int64_t off = static_cast<int64_t>(out.size());
    out.resize(out.size() + static_cast<size_t>(np * K * kPanel), 0.0f);
    for (int64_t p = 0; p < np; ++p)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < kPanel && p * kPanel + j < cout; ++j)
          out[off + (p * K + k) * kPanel + j] = value(k, p * kPanel + j);
    while (out.size() % 16) out.push_back(0.0f);
    return off;
  }

  static int64_t padded(int64_t n) { return (n + kPanel - 1) / kPanel * kPanel; }

  // Conv1d weight (cout, cin, k); `taps` lists the kernel indices in input-row order.
  Dense conv(const std::string& name, int cin, int cout, int k, const std::vector<int>& taps) {
    const Tensor& w = get(name + ".weight", {cout, cin, k});
    Dense d;
    d.cin = cin, d.cout = cout, d.taps = static_cast<int>(taps.size());
    d.w = panels(int64_t(d.taps) * cin, cout, [&](int64_t kk, int64_t n) {
      const int64_t t = kk / cin, c = kk % cin;
      return w.data[(n * cin + c) * k + taps[t]];
    });
    d.b = vec(name + ".bias", cout, padded(cout));
    return d;
  }

  // ConvTranspose1d weight (cin, cout, k).
  Dense conv_t(const std::string& name, int cin, int cout, int k, const std::vector<int>& taps,
               int64_t bias) {
    const Tensor& w = get(name + ".weight", {cin, cout, k});
    Dense d;
    d.cin = cin, d.cout = cout, d.taps = static_cast<int>(taps.size());
    d.w = panels(int64_t(d.taps) * cin, cout, [&](int64_t kk, int64_t n) {
      const int64_t t = kk / cin, c = kk % cin;
      return w.data[(c * cout + n) * k + taps[t]];
    });
    d.b = bias;
    return d;
  }

  Dense linear(const std::string& name, int in, int outn) {
    const Tensor& w = get(name + ".weight", {outn, in});
    Dense d;
    d.cin = in, d.cout = outn, d.taps = 1;
    d.w = panels(in, outn, [&](int64_t k, int64_t n) { return w.data[n * in + k]; });
    d.b = vec(name + ".bias", outn, padded(outn));
    return d;
  }

  Norm norm(const std::string& name, int c) {
    Norm n;
    n.channels = c;
    n.gamma = vec(name + ".weight", c);
    n.beta = vec(name + ".bias", c);
    return n;
  }

  Block block(const std::string& p, int cin, int cout, int dim) {
    Block b;
    b.cin = cin, b.cout = cout;
    b.conv0 = conv(p + ".conv0", cin, cout, 5, {0, 1, 2, 3, 4});
    b.norm0 = norm(p + ".norm0", cout);
    b.emb = linear(p + ".emb", dim, cout);
    b.conv1 = conv(p + ".conv1", cout, cout, 5, {0, 1, 2, 3, 4});
    b.norm1 = norm(p + ".norm1", cout);
    b.has_skip = cin != cout;
    if (b.has_skip) b.skip = conv(p + ".skip", cin, cout, 1, {0});
    return b;
  }

  std::vector<float> out;

 private:
  const WeightMap& w_;
  std::string what_;
};

float mish_ref(float x) { return x * std::tanh(std::log1p(std::exp(x))); }

// y = W x + b for one vector (W (out, in) row-major as exported).
std::vector<float> dense_ref(const Tensor& w, const Tensor& b, const std::vector<float>& x) {
  const int64_t outn = w.shape[0], in = w.shape[1];
  std::vector<float> y(static_cast<size_t>(outn));
  for (int64_t o = 0; o < outn; ++o) {
    float s = 0.0f;
    for (int64_t i = 0; i < in; ++i) s += w.data[o * in + i] * x[static_cast<size_t>(i)];
    y[static_cast<size_t>(o)] = s + b.data[o];
  }
  return y;
}

// time_mlp(sinusoidal(t, dim)) for one step, with the reference's float32 op order.
std::vector<float> time_embedding(const Packer& pk, int64_t t, int dim) {
  const int half = dim / 2;
  std::vector<float> s(static_cast<size_t>(dim));
  const float c = static_cast<float>(-std::log(10000.0));
  for (int i = 0; i < half; ++i) {
    const float f = std::exp(c * static_cast<float>(i) / static_cast<float>(half - 1));
    const float a = static_cast<float>(t) * f;
    s[static_cast<size_t>(i)] = std::sin(a);
    s[static_cast<size_t>(half + i)] = std::cos(a);
  }
  const Tensor& w0 = pk.get("time_mlp.0.weight", {4 * dim, dim});
  const Tensor& b0 = pk.get("time_mlp.0.bias", {4 * dim});
  const Tensor& w2 = pk.get("time_mlp.2.weight", {dim, 4 * dim});
  const Tensor& b2 = pk.get("time_mlp.2.bias", {dim});
  std::vector<float> h = dense_ref(w0, b0, s);
  for (float& v : h) v = mish_ref(v);
  return dense_ref(w2, b2, h);
}

Activation parse_activation(const std::string& a) {
  if (a == "relu") return Activation::ReLU;
  if (a == "mish") return Activation::Mish;
  if (a == "silu") return Activation::SiLU;
  if (a == "tanh") return Activation::Tanh;
  if (a == "gelu") return Activation::GELU;
  throw std::invalid_argument("IDM activation '" + a +
                              "' is not supported; use relu, mish, silu, tanh or gelu");
}

void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

}  // namespace

Model build_model(const WeightMap& unet, const WeightMap& idm, const BuildConfig& cfg) {
  const int n = static_cast<int>(cfg.dim_mults.size());
  require(n >= 1 && n <= kMaxLevels,
          "dim_mults must have 1.." + std::to_string(kMaxLevels) + " entries");
  require(cfg.dim >= 8 && cfg.dim % 8 == 0, "dim must be a positive multiple of 8");
  require(cfg.x_dim >= 1, "x_dim must be >= 1");
  require(cfg.length >= 2, "length must be >= 2 (token 0 is s_t, tokens 1..length-1 generated)");
  const int steps = static_cast<int>(cfg.t.size());
  require(steps >= 1 && steps <= kMaxSteps,
          "the DDIM table needs 1.." + std::to_string(kMaxSteps) + " steps");
  require(cfg.alpha.size() == cfg.t.size() && cfg.alpha_prev.size() == cfg.t.size(),
          "the DDIM table's t, alpha and alpha_prev must have the same length");
  require(static_cast<int>(cfg.hidden.size()) + 1 <= kMaxIdmLayers, "too many IDM layers");

  Model m;
  EngineDesc& d = m.desc;
  Packer pk(unet, "U-Net");
  UNetDesc& u = d.unet;
  u.x_dim = cfg.x_dim, u.c_dim = cfg.context_dim, u.g_dim = cfg.guide_dim, u.dim = cfg.dim;
  u.n_levels = n, u.epsilon = cfg.epsilon;
  u.L = cfg.length;
  const int mult = 1 << (n - 1);
  u.Lp = (u.L + mult - 1) / mult * mult;
  u.ch[0] = cfg.x_dim;
  for (int i = 0; i < n; ++i) {
    require(cfg.dim_mults[i] >= 1, "dim_mults must be positive");
    u.ch[i + 1] = cfg.dim * cfg.dim_mults[i];
  }
  const int dim = cfg.dim;
  if (u.c_dim) {
    u.ctx0 = pk.linear("context_mlp.0", u.c_dim, 4 * dim);
    u.ctx2 = pk.linear("context_mlp.2", 4 * dim, dim);
  }
  if (u.g_dim) {
    u.guide0 = pk.linear("guide_mlp.0", u.g_dim, 4 * dim);
    u.guide2 = pk.linear("guide_mlp.2", 4 * dim, dim);
  }
  for (int i = 0; i < n; ++i) {
    const std::string p = "down." + std::to_string(i);
    u.down[i][0] = pk.block(p + ".block0", u.ch[i], u.ch[i + 1], dim);
    u.down[i][1] = pk.block(p + ".block1", u.ch[i + 1], u.ch[i + 1], dim);
    if (i < n - 1)
      u.downsample[i] = pk.conv(p + ".downsample", u.ch[i + 1], u.ch[i + 1], 3, {0, 1, 2});
  }
  u.mid[0] = pk.block("mid.block0", u.ch[n], u.ch[n], dim);
  u.mid[1] = pk.block("mid.block1", u.ch[n], u.ch[n], dim);
  for (int j = 0; j < n - 1; ++j) {
    const int i = n - 2 - j;  // up level j mirrors down level i + 1
    const std::string p = "up." + std::to_string(j);
    const int c_in = u.ch[i + 1], c_out = u.ch[i + 2];
    u.up[j][0] = pk.block(p + ".block0", 2 * c_out, c_in, dim);
    u.up[j][1] = pk.block(p + ".block1", c_in, c_in, dim);
    // out[2q] = x[q-1] W3 + x[q] W1, out[2q+1] = x[q] W2 + x[q+1] W0 (k4, s2, p1).
    const int64_t bias = pk.vec(p + ".upsample.bias", c_in, Packer::padded(c_in));
    u.up_even[j] = pk.conv_t(p + ".upsample", c_in, c_in, 4, {3, 1}, bias);
    u.up_odd[j] = pk.conv_t(p + ".upsample", c_in, c_in, 4, {2, 0}, bias);
  }
  u.final_conv = pk.conv("final.conv", dim, dim, 5, {0, 1, 2, 3, 4});
  u.final_norm = pk.norm("final.norm", dim);
  u.final_out = pk.conv("final.out", dim, cfg.x_dim, 1, {0});

  // Sampler: the exported table's ᾱ in float32, square roots in float32 as the reference does.
  SamplerDesc& s = d.sampler;
  s.steps = steps;
  s.guidance = cfg.guidance;
  s.clip = cfg.clip;
  const bool both = u.g_dim > 0 && cfg.guidance != 0.0f && cfg.guidance != 1.0f;
  s.passes = both ? 2 : 1;
  s.single_uses_guide = !(u.g_dim > 0 && cfg.guidance == 0.0f);
  std::vector<float> temb;
  for (int i = 0; i < steps; ++i) {
    const float a = cfg.alpha[i], ap = cfg.alpha_prev[i];
    require(a > 0.0f && a < 1.0f && ap > 0.0f && ap <= 1.0f,
            "DDIM table alphas must lie in (0, 1] (alpha < 1)");
    s.sqrt_a[i] = std::sqrt(a);
    s.sqrt_1ma[i] = std::sqrt(1.0f - a);
    s.sqrt_ap[i] = std::sqrt(ap);
    s.sqrt_1map[i] = std::sqrt(1.0f - ap);
    std::vector<float> e = time_embedding(pk, cfg.t[i], dim);
    temb.insert(temb.end(), e.begin(), e.end());
  }
  s.temb = pk.append(temb.data(), static_cast<int64_t>(temb.size()));

  // Layout and normalizers (hi - lo floored at 1e-6 as in diffusion_wm's normalizer).
  LayoutDesc& l = d.layout;
  // DAWM layout: token 0 is the inpainted s_t, tokens 1..L-1 the generated steps. The one
  // place the number of generated steps H is derived from the sequence length.
  l.obs_dim = cfg.obs_dim, l.act_dim = cfg.act_dim, l.H = u.L - 1;
  l.state_col = cfg.state_col, l.reward_col = cfg.reward_col, l.inpaint_first = cfg.inpaint_first;
  l.action_col = cfg.action_col;
  require(cfg.state_col >= 0 && cfg.state_col + cfg.obs_dim <= cfg.x_dim,
          "the state columns fall outside x");
  require(cfg.reward_col >= 0 && cfg.reward_col < cfg.x_dim &&
              (cfg.reward_col < cfg.state_col || cfg.reward_col >= cfg.state_col + cfg.obs_dim),
          "the reward column must be an x column outside the state columns");
  require(cfg.action_col == -1 ||
              (cfg.action_col >= 0 && cfg.action_col + cfg.act_dim <= cfg.x_dim &&
               (cfg.action_col >= cfg.state_col + cfg.obs_dim ||
                cfg.action_col + cfg.act_dim <= cfg.state_col) &&
               (cfg.reward_col < cfg.action_col || cfg.reward_col >= cfg.action_col + cfg.act_dim)),
          "the action columns must be x columns apart from the state and reward columns");
  require(u.c_dim == 0 || u.c_dim == cfg.obs_dim + cfg.act_dim,
          "the U-Net's context_dim must be obs_dim + act_dim (context = [s_t, a_t]) or 0");
  const Tensor& lo = pk.get("normalizer.x_lo", {cfg.x_dim});
  const Tensor& hi = pk.get("normalizer.x_hi", {cfg.x_dim});
  std::vector<float> range(static_cast<size_t>(cfg.x_dim));
  for (int i = 0; i < cfg.x_dim; ++i) range[i] = std::max(hi.data[i] - lo.data[i], 1e-6f);
  l.x_lo = pk.append(lo.data, cfg.x_dim);
  l.x_range = pk.append(range.data(), cfg.x_dim);
  if (u.c_dim) {
    l.c_mean = pk.vec("normalizer.c_mean", u.c_dim);
    l.c_std = pk.vec("normalizer.c_std", u.c_dim);
  }
  if (u.g_dim) {
    l.g_mean = pk.vec("normalizer.g_mean", u.g_dim);
    l.g_std = pk.vec("normalizer.g_std", u.g_dim);
  }

  // Inverse dynamics: net.0, net.2, ... Linear layers; outputs [mean_norm, log_std].
  IdmDesc& id = d.idm;
  Packer pi(idm, "IDM");
  pi.out.swap(pk.out);
  id.obs_dim = cfg.obs_dim, id.act_dim = cfg.act_dim, id.history = cfg.history;
  require(cfg.obs_dim >= 1 && cfg.act_dim >= 1 && cfg.history >= 0,
          "IDM obs_dim, act_dim must be >= 1 and history >= 0");
  id.act = parse_activation(cfg.activation);
  id.in_dim = (cfg.history + 2) * cfg.obs_dim;
  int in = id.in_dim;
  id.max_width = in;
  id.n_layers = static_cast<int>(cfg.hidden.size()) + 1;
  for (int i = 0; i < id.n_layers; ++i) {
    const int outn = i + 1 < id.n_layers ? cfg.hidden[i] : 2 * cfg.act_dim;
    require(outn >= 1, "IDM hidden sizes must be positive");
    id.layers[i] = pi.linear("net." + std::to_string(2 * i), in, outn);
    id.max_width = std::max(id.max_width, outn);
    in = outn;
  }
  id.obs_mean = pi.vec("obs_mean", cfg.obs_dim);
  id.obs_std = pi.vec("obs_std", cfg.obs_dim);
  id.act_mean = pi.vec("act_mean", cfg.act_dim);
  id.act_std = pi.vec("act_std", cfg.act_dim);
  id.act_low = pi.vec("act_low", cfg.act_dim);
  id.act_high = pi.vec("act_high", cfg.act_dim);
  m.params.swap(pi.out);
  d.n_params = static_cast<int64_t>(m.params.size());
  return m;
}

}  // namespace dawm
