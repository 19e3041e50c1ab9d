// The TemporalUNet forward over one tile of sequences (docs/engine_contract.md), with every
// activation kept in the tile's workspace so it stays in cache from layer to layer.
#include "ops.hpp"

namespace dawm {
namespace DAWM_ISA {
namespace {

Act temp(float* p, int L, int C) { return Act{p, L, C, 0, C}; }

// out = Mish(GN(conv1(Mish(GN(conv0(in))) + emb(Mish(e))))) + (skip(in) or in).
void block(const Block& b, const float* prm, int nseq, const Act& in, const Act& out,
           Workspace& ws) {
  const Act t1 = temp(ws.T1, in.L, b.cout);
  conv(b.conv0, prm, nseq, in, t1, ConvKind::Same, ws);
  linear(b.emb, prm, nseq, ws.emb, b.emb.cin, ws.E, b.cout, ws);
  norm_mish(b.norm0, prm, nseq, t1, t1, ws.E, b.cout, nullptr);
  const Act t2 = temp(ws.T2, in.L, b.cout);
  conv(b.conv1, prm, nseq, t1, t2, ConvKind::Same, ws);
  if (b.has_skip) {
    const Act t3 = temp(ws.T3, in.L, b.cout);
    conv(b.skip, prm, nseq, in, t3, ConvKind::Same, ws);
    norm_mish(b.norm1, prm, nseq, t2, out, nullptr, 0, &t3);
  } else {
    norm_mish(b.norm1, prm, nseq, t2, out, nullptr, 0, &in);
  }
}

}  // namespace

void unet_forward(const UNetDesc& u, const float* prm, int nseq, Workspace& ws) {
  const int n = u.n_levels;
  const int* ch = u.ch;
  // Level l's output (the skip) lives in the right half of cat[l] (l >= 1): the up path
  // writes h into the left half, so torch.cat([h, skip]) costs nothing.
  auto skip_of = [&](int l) {
    const int L = u.Lp >> l;
    return l == 0 ? Act{ws.S0, L, ch[1], 0, ch[1]}
                  : Act{ws.cat[l], L, 2 * ch[l + 1], ch[l + 1], ch[l + 1]};
  };
  const Act final_in{ws.F, u.Lp, ch[1], 0, ch[1]};
  auto h_into = [&](int l) {  // where the tensor concatenated at level l goes (left half)
    return l == 0 ? final_in : Act{ws.cat[l], u.Lp >> l, 2 * ch[l + 1], 0, ch[l + 1]};
  };

  Act h{ws.X, u.Lp, u.x_dim, 0, u.x_dim};
  for (int l = 0; l < n; ++l) {
    const Act a = temp(ws.A, h.L, ch[l + 1]);
    const Act s = skip_of(l);
    block(u.down[l][0], prm, nseq, h, a, ws);
    block(u.down[l][1], prm, nseq, a, s, ws);
    if (l < n - 1) {
      const Act d{ws.D[l + 1], s.L / 2, ch[l + 1], 0, ch[l + 1]};
      conv(u.downsample[l], prm, nseq, s, d, ConvKind::Down, ws);
      h = d;
    } else {
      h = s;
    }
  }
  {
    const Act a = temp(ws.A, h.L, ch[n]);
    block(u.mid[0], prm, nseq, h, a, ws);
    block(u.mid[1], prm, nseq, a, h_into(n - 1), ws);
  }
  for (int j = 0; j < n - 1; ++j) {
    const int l = n - 1 - j;  // concat buffer of this up level
    const int L = u.Lp >> l;
    const Act c{ws.cat[l], L, 2 * ch[l + 1], 0, 2 * ch[l + 1]};
    const Act a = temp(ws.A, L, ch[l]);
    const Act b = temp(ws.U, L, ch[l]);
    block(u.up[j][0], prm, nseq, c, a, ws);
    block(u.up[j][1], prm, nseq, a, b, ws);
    const Act dst = h_into(l - 1);
    conv(u.up_even[j], prm, nseq, b, dst, ConvKind::UpEven, ws);
    conv(u.up_odd[j], prm, nseq, b, dst, ConvKind::UpOdd, ws);
  }
  const Act t1 = temp(ws.T1, u.Lp, u.dim);
  conv(u.final_conv, prm, nseq, final_in, t1, ConvKind::Same, ws);
  norm_mish(u.final_norm, prm, nseq, t1, t1, nullptr, 0, nullptr);
  conv(u.final_out, prm, nseq, t1, temp(ws.T2, u.Lp, u.x_dim), ConvKind::Same, ws);
}

}  // namespace DAWM_ISA
}  // namespace dawm
