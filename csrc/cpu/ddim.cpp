// generate() on the CPU: OpenMP over tiles of samples; each tile runs the whole k-step DDIM
// loop with classifier-free guidance ([conditional; unconditional] as 2n sequences), the
// inpainting of token 0 and then the IDM, without leaving its cache-resident workspace.

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "ops.hpp"
#include "rng.hpp"

namespace dawm {
namespace DAWM_ISA {
namespace {

// All per-thread memory of a tile, carved from one zeroed allocation.
class Scratch {
 public:
  Scratch(const EngineDesc& d, int tile) {
    const UNetDesc& u = d.unet;
    const int n = u.n_levels, nseq = d.sampler.passes * tile, Lx = u.L * u.x_dim;
    auto halo = [&](int l, int C) { return int64_t(nseq) * ((u.Lp >> l) + 2 * kHalo) * C; };
    int cmax = u.x_dim;
    int64_t tmp = 0;
    for (int l = 0; l <= n; ++l) cmax = std::max(cmax, u.ch[l]);
    for (int l = 0; l < n; ++l)
      tmp = std::max(tmp, halo(l, std::max({u.ch[l], u.ch[l + 1], u.x_dim})));
    const int H = d.layout.H;
    const int idm_rows = tile * std::max(H - 1, 1);
    const int64_t rows = std::max<int64_t>({int64_t(nseq) * u.Lp, idm_rows, tile});
    const int64_t idm_w = int64_t(idm_rows) * d.idm.max_width;

    int64_t total = 0;
    auto take = [&](int64_t nfloats) {
      const int64_t off = total;
      total += (nfloats + 15) / 16 * 16;
      return off;
    };
    const int64_t oX = take(halo(0, u.x_dim)), oS0 = take(halo(0, u.ch[1])),
                  oF = take(halo(0, u.ch[1]));
    int64_t ocat[kMaxLevels] = {}, oD[kMaxLevels] = {};
    for (int l = 1; l < n; ++l) {
      ocat[l] = take(halo(l, 2 * u.ch[l + 1]));
      oD[l] = take(halo(l, u.ch[l]));
    }
    const int64_t oA = take(tmp), oU = take(tmp), oT1 = take(tmp), oT2 = take(tmp), oT3 = take(tmp);
    const int64_t oE = take(int64_t(nseq) * cmax), oEmb = take(int64_t(nseq) * u.dim);
    const int64_t ox = take(int64_t(tile) * Lx), oKnown = take(int64_t(tile) * u.x_dim);
    const int64_t oCin = take(int64_t(tile) * std::max(u.c_dim, u.g_dim)),
                  oHid = take(int64_t(tile) * 4 * u.dim), oCemb = take(int64_t(tile) * u.dim),
                  oGemb = take(int64_t(tile) * u.dim);
    const int64_t oI0 = take(idm_w), oI1 = take(idm_w);
    const int64_t oRows = take(2 * rows * int64_t(sizeof(void*) / sizeof(float)) + 16);

    base_ = static_cast<float*>(std::calloc(size_t(total) + 16, sizeof(float)));
    if (!base_) return;
    float* b = base_ + (16 - (reinterpret_cast<uintptr_t>(base_) / sizeof(float)) % 16) % 16;
    ws.nseq = nseq;
    ws.X = b + oX, ws.S0 = b + oS0, ws.F = b + oF;
    for (int l = 1; l < n; ++l) ws.cat[l] = b + ocat[l], ws.D[l] = b + oD[l];
    ws.A = b + oA, ws.U = b + oU, ws.T1 = b + oT1, ws.T2 = b + oT2, ws.T3 = b + oT3;
    ws.E = b + oE, ws.emb = b + oEmb;
    ws.arow = reinterpret_cast<const float**>(b + oRows);
    ws.crow = reinterpret_cast<float**>(b + oRows) + rows;
    x = b + ox, known = b + oKnown, cin = b + oCin, hid = b + oHid, cemb = b + oCemb,
    gemb = b + oGemb, idm0 = b + oI0, idm1 = b + oI1;
  }
  ~Scratch() { std::free(base_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  bool ok() const { return base_ != nullptr; }

  Workspace ws;
  float *x = nullptr, *known = nullptr, *cin = nullptr, *hid = nullptr, *cemb = nullptr,
        *gemb = nullptr, *idm0 = nullptr, *idm1 = nullptr;

 private:
  float* base_ = nullptr;
};

// Embeds the standardized rows v (n, k) through `first` -> Mish -> `second` into out (n, dim).
void embed_mlp(const Dense& first, const Dense& second, const float* prm, int n, const float* v,
               float* hid, float* out, Workspace& ws) {
  linear(first, prm, n, v, first.cin, hid, first.cout, ws);
  mish_rows(hid, n, first.cout, first.cout);
  linear(second, prm, n, hid, second.cin, out, second.cout, ws);
}

void inpaint(const LayoutDesc& l, int n, int x_dim, int L, const float* known, float* x) {
  if (!l.inpaint_first) return;
  for (int i = 0; i < n; ++i) {
    float* row = x + int64_t(i) * L * x_dim;  // token 0
    const float* k = known + int64_t(i) * x_dim;
    for (int o = 0; o < l.obs_dim; ++o) row[l.state_col + o] = k[l.state_col + o];
    if (l.action_col >= 0)
      for (int a = 0; a < l.act_dim; ++a) row[l.action_col + a] = k[l.action_col + a];
    row[l.reward_col] = k[l.reward_col];
  }
}

void process_tile(const EngineDesc& d, const float* prm, const Batch& bt, int64_t b0, int n,
                  Scratch& sc) {
  const UNetDesc& u = d.unet;
  const SamplerDesc& sm = d.sampler;
  const LayoutDesc& lay = d.layout;
  Workspace& ws = sc.ws;
  const int obs = lay.obs_dim, act = lay.act_dim, xd = u.x_dim, L = u.L, H = lay.H;
  const int Lx = L * xd, P = sm.passes, nseq = P * n;
  const float* s_t = bt.states + b0 * obs;
  const float* a_t = bt.actions + b0 * act;
  const float* lo = prm + lay.x_lo;
  const float* range = prm + lay.x_range;

  // Context [s_t, a_t] and guide, standardized and embedded once per tile.
  if (u.c_dim) {
    const float *mu = prm + lay.c_mean, *sd = prm + lay.c_std;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < u.c_dim; ++j) {
        const float v = j < obs ? s_t[i * obs + j] : a_t[i * act + j - obs];
        sc.cin[i * u.c_dim + j] = (v - mu[j]) / sd[j];
      }
    embed_mlp(u.ctx0, u.ctx2, prm, n, sc.cin, sc.hid, sc.cemb, ws);
  }
  if (u.g_dim) {
    const float *mu = prm + lay.g_mean, *sd = prm + lay.g_std;
    const float* g = bt.rtg + b0 * u.g_dim;
    for (int i = 0; i < n * u.g_dim; ++i) sc.cin[i] = (g[i] - mu[i % u.g_dim]) / sd[i % u.g_dim];
    embed_mlp(u.guide0, u.guide2, prm, n, sc.cin, sc.hid, sc.gemb, ws);
  }

  // x_K and the known token 0 = normalize([s_t, (a_t,) reward 0]).
  for (int i = 0; i < n; ++i) {
    float* x = sc.x + int64_t(i) * Lx;
    if (bt.noise) {
      std::memcpy(x, bt.noise + (b0 + i) * Lx, sizeof(float) * Lx);
    } else {
      for (int e = 0; e < Lx; ++e) x[e] = normal_at(bt.seed, bt.sample0 + b0 + i, e, Lx);
    }
    float* k = sc.known + int64_t(i) * xd;
    for (int o = 0; o < obs; ++o) {
      const int c = lay.state_col + o;
      k[c] = 2.0f * (s_t[i * obs + o] - lo[c]) / range[c] - 1.0f;
    }
    if (lay.action_col >= 0)
      for (int a = 0; a < act; ++a) {
        const int c = lay.action_col + a;
        k[c] = 2.0f * (a_t[i * act + a] - lo[c]) / range[c] - 1.0f;
      }
    k[lay.reward_col] = 2.0f * (0.0f - lo[lay.reward_col]) / range[lay.reward_col] - 1.0f;
  }
  inpaint(lay, n, xd, L, sc.known, sc.x);

  const Act in{ws.X, u.Lp, xd, 0, xd};
  for (int st = 0; st < sm.steps; ++st) {
    const float* te = prm + sm.temb + int64_t(st) * u.dim;
    for (int q = 0; q < nseq; ++q) {
      const int i = q % n;
      const bool use_guide = P == 2 ? q < n : sm.single_uses_guide;
      float* e = ws.emb + int64_t(q) * u.dim;
      for (int c = 0; c < u.dim; ++c) {
        float v = te[c];
        if (u.c_dim) v = v + sc.cemb[i * u.dim + c];
        if (u.g_dim && use_guide) v = v + sc.gemb[i * u.dim + c];
        e[c] = v;
      }
      std::memcpy(in.row(q, 0), sc.x + int64_t(i) * Lx, sizeof(float) * Lx);
    }
    mish_rows(ws.emb, nseq, u.dim, u.dim);
    unet_forward(u, prm, nseq, ws);

    // Guided DDIM step (η = 0) in the reference's float32 op order.
    const Act out{ws.T2, u.Lp, xd, 0, xd};
    const float w = sm.guidance, clip = sm.clip;
    const float sa = sm.sqrt_a[st], sb = sm.sqrt_1ma[st], sap = sm.sqrt_ap[st],
                sbp = sm.sqrt_1map[st];
    for (int i = 0; i < n; ++i) {
      float* x = sc.x + int64_t(i) * Lx;
      for (int r = 0; r < L; ++r) {
        const float* pc = out.row(i, r);
        const float* pu = P == 2 ? out.row(n + i, r) : nullptr;
        for (int c = 0; c < xd; ++c) {
          float p = pu ? pu[c] + w * (pc[c] - pu[c]) : pc[c];
          float xv = x[r * xd + c];
          float x0 = u.epsilon ? (xv - sb * p) / sa : p;
          x0 = std::min(std::max(x0, -clip), clip);
          const float eps = (xv - sa * x0) / sb;
          x[r * xd + c] = sap * x0 + sbp * eps;
        }
      }
    }
    inpaint(lay, n, xd, L, sc.known, sc.x);
  }

  // Outputs: normalized x, raw states and rewards of tokens 1..H, then the IDM's actions.
  if (bt.out_x) std::memcpy(bt.out_x + b0 * Lx, sc.x, sizeof(float) * n * Lx);
  float* states = bt.out_states + b0 * H * obs;
  float* rewards = bt.out_rewards + b0 * H;
  float* actions = bt.out_actions + b0 * H * act;
  for (int i = 0; i < n; ++i) {
    for (int j = 1; j <= H; ++j) {
      const float* x = sc.x + int64_t(i) * Lx + j * xd;
      for (int o = 0; o < obs; ++o) {
        const int c = lay.state_col + o;
        states[(int64_t(i) * H + j - 1) * obs + o] = (x[c] + 1.0f) * 0.5f * range[c] + lo[c];
      }
      const int c = lay.reward_col;
      rewards[int64_t(i) * H + j - 1] = (x[c] + 1.0f) * 0.5f * range[c] + lo[c];
    }
    for (int j = 0; j < act; ++j) actions[int64_t(i) * H * act + j] = a_t[i * act + j];
  }
  idm_tile(d, prm, n, s_t, states, actions, sc.idm0, sc.idm1, ws);
}

}  // namespace

bool run(const EngineDesc& d, const float* prm, const Batch& b, int threads, int tile) {
  const int64_t ntiles = (b.B + tile - 1) / tile;
  bool failed = false;
#pragma omp parallel num_threads(threads)
  {
    Scratch sc(d, tile);
    const bool ok = sc.ok();
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntiles; ++t) {
      if (!ok) continue;
      const int64_t b0 = t * tile;
      process_tile(d, prm, b, b0, int(std::min<int64_t>(tile, b.B - b0)), sc);
    }
    if (!ok) {
#pragma omp atomic write
      failed = true;
    }
  }
  return !failed;
}

}  // namespace DAWM_ISA
}  // namespace dawm
