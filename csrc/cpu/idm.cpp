// The inverse dynamics model's mean action for every generated step of a tile: windows
// [s_{t+i-m}, ..., s_{t+i}, s_{t+i+1}] built from the real s_t (repeated before t) and the
// generated states, standardized, through the MLP, then denormalized and clipped.
#include <algorithm>

#include "ops.hpp"

namespace dawm {
namespace DAWM_ISA {

void idm_tile(const EngineDesc& d, const float* prm, int n, const float* s_t, const float* states,
              float* actions, float* buf0, float* buf1, Workspace& ws) {
  const IdmDesc& id = d.idm;
  const int H = d.layout.H, obs = id.obs_dim, act = id.act_dim, m = id.history;
  if (H < 2) return;
  const int rows = n * (H - 1);
  const float* mean = prm + id.obs_mean;
  const float* stdv = prm + id.obs_std;
  for (int i = 0; i < n; ++i) {
    for (int k = 1; k < H; ++k) {
      float* w = buf0 + int64_t(i * (H - 1) + k - 1) * id.in_dim;
      for (int s = 0; s < m + 2; ++s) {
        const int j = k - m + s;  // step offset from t of this window entry
        const float* src =
            j <= 0 ? s_t + int64_t(i) * obs : states + (int64_t(i) * H + j - 1) * obs;
        for (int o = 0; o < obs; ++o) w[s * obs + o] = (src[o] - mean[o]) / stdv[o];
      }
    }
  }
  float* cur = buf0;
  float* nxt = buf1;
  for (int li = 0; li < id.n_layers; ++li) {
    const Dense& L = id.layers[li];
    linear(L, prm, rows, cur, L.cin, nxt, L.cout, ws);
    if (li + 1 < id.n_layers) activate_rows(id.act, nxt, rows, L.cout, L.cout);
    std::swap(cur, nxt);
  }
  const float* astd = prm + id.act_std;
  const float* amean = prm + id.act_mean;
  const float* lo = prm + id.act_low;
  const float* hi = prm + id.act_high;
  for (int i = 0; i < n; ++i)
    for (int k = 1; k < H; ++k) {
      const float* o = cur + int64_t(i * (H - 1) + k - 1) * 2 * act;  // [mean, log_std]
      float* a = actions + (int64_t(i) * H + k) * act;
      for (int j = 0; j < act; ++j)
        a[j] = std::max(std::min(o[j] * astd[j] + amean[j], hi[j]), lo[j]);
    }
}

}  // namespace DAWM_ISA
}  // namespace dawm
