// Python bindings of the engine. The Python face (python/dawm_kernels) has already checked
// shapes, dtypes, finiteness and contiguity; the checks here only guard the pointers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include "builder.hpp"
#include "cpu/dispatch.hpp"
#include "cpu/pack.hpp"
#include "rng.hpp"
#if defined(DAWM_WITH_CUDA)
#include "cuda/engine.hpp"
#endif

namespace py = pybind11;
using dawm::Batch;
using dawm::Model;

namespace {

using F32 = py::array_t<float, py::array::c_style>;

dawm::WeightMap to_weights(const py::dict& d, const char* what) {
  dawm::WeightMap out;
  for (auto item : d) {
    const std::string name = py::cast<std::string>(item.first);
    py::array a = py::reinterpret_borrow<py::array>(item.second);
    if (!py::isinstance<F32>(a) || !(a.flags() & py::array::c_style))
      throw std::invalid_argument(std::string(what) + " weight '" + name +
                                  "' must be a C-contiguous float32 array");
    dawm::Tensor t;
    t.shape.assign(a.shape(), a.shape() + a.ndim());
    t.data = static_cast<const float*>(a.data());
    out.emplace(name, std::move(t));
  }
  return out;
}

template <class T>
T get(const py::dict& d, const char* key) {
  if (!d.contains(key))
    throw std::invalid_argument(std::string("engine config lacks '") + key + "'");
  return py::cast<T>(d[key]);
}

std::shared_ptr<Model> build(const py::dict& unet, const py::dict& idm, const py::dict& c) {
  dawm::BuildConfig cfg;
  cfg.x_dim = get<int>(c, "x_dim");
  cfg.context_dim = get<int>(c, "context_dim");
  cfg.guide_dim = get<int>(c, "guide_dim");
  cfg.dim = get<int>(c, "dim");
  cfg.dim_mults = get<std::vector<int>>(c, "dim_mults");
  cfg.epsilon = get<bool>(c, "epsilon");
  cfg.t = get<std::vector<int64_t>>(c, "t");
  cfg.alpha = get<std::vector<float>>(c, "alpha");
  cfg.alpha_prev = get<std::vector<float>>(c, "alpha_prev");
  cfg.guidance = get<float>(c, "guidance");
  cfg.clip = get<float>(c, "clip");
  cfg.obs_dim = get<int>(c, "obs_dim");
  cfg.act_dim = get<int>(c, "act_dim");
  cfg.history = get<int>(c, "history");
  cfg.hidden = get<std::vector<int>>(c, "hidden_sizes");
  cfg.activation = get<std::string>(c, "activation");
  cfg.length = get<int>(c, "length");
  cfg.state_col = get<int>(c, "state_col");
  cfg.reward_col = get<int>(c, "reward_col");
  cfg.action_col = get<int>(c, "action_col");
  cfg.inpaint_first = get<bool>(c, "inpaint_first");
  auto m = std::make_shared<Model>();
  {
    dawm::WeightMap u = to_weights(unet, "U-Net"), i = to_weights(idm, "IDM");
    *m = dawm::build_model(u, i, cfg);
  }
  return m;
}

// The data of a C-contiguous array of T holding exactly n values (nullptr for None), writable
// when `write`; anything else is refused rather than converted into a temporary copy.
template <class T>
T* array_ptr(const py::object& o, int64_t n, const char* name, const char* type, bool write) {
  using A = py::array_t<T, py::array::c_style>;
  if (o.is_none()) return nullptr;
  if (!py::isinstance<A>(o))
    throw std::invalid_argument(std::string(name) + " must be a C-contiguous " + type + " array");
  auto a = py::reinterpret_borrow<A>(o);
  if (!write && a.size() != n)
    throw std::invalid_argument(std::string(name) + " has the wrong size");
  if (write && (a.size() != n || !a.writeable()))
    throw std::invalid_argument(std::string(name) + " must be a writable array of the right size");
  return write ? a.mutable_data() : const_cast<T*>(a.data());
}

const float* ptr(const py::object& o, int64_t n, const char* name) {
  return array_ptr<float>(o, n, name, "float32", false);
}

float* out_ptr(const py::object& o, int64_t n, const char* name) {
  return array_ptr<float>(o, n, name, "float32", true);
}

// Fills `b` from Python objects; the arrays stay alive in the caller's frame.
Batch make_batch(const Model& m, int64_t B, const py::object& states, const py::object& actions,
                 const py::object& rtg, const py::object& noise, uint64_t seed, int64_t sample0,
                 const py::object& out_states, const py::object& out_rewards,
                 const py::object& out_actions, const py::object& out_x) {
  const auto& d = m.desc;
  const int64_t obs = d.layout.obs_dim, act = d.layout.act_dim, H = d.layout.H;
  const int64_t Lx = int64_t(d.unet.L) * d.unet.x_dim;
  if (B < 0 || sample0 < 0) throw std::invalid_argument("B and sample0 must be >= 0");
  Batch b;
  b.B = B;
  b.sample0 = sample0;
  b.states = ptr(states, B * obs, "states");
  b.actions = ptr(actions, B * act, "actions");
  b.rtg = ptr(rtg, B * d.unet.g_dim, "rtg");
  b.noise = ptr(noise, B * Lx, "noise");
  b.seed = seed;
  b.out_states = out_ptr(out_states, B * H * obs, "out_states");
  b.out_rewards = out_ptr(out_rewards, B * H, "out_rewards");
  b.out_actions = out_ptr(out_actions, B * H * act, "out_actions");
  b.out_x = out_ptr(out_x, B * Lx, "out_x");
  if (!b.states || !b.actions || !b.out_states || !b.out_rewards || !b.out_actions ||
      (d.unet.g_dim && !b.rtg))
    throw std::invalid_argument("states, actions, rtg and the outputs are required");
  return b;
}

class CpuEngine {
 public:
  CpuEngine(std::shared_ptr<Model> m, const std::string& isa) : m_(std::move(m)) {
    run_ = dawm::select_cpu_kernels(isa, &isa_).run;
  }
  void run(int64_t B, const py::object& states, const py::object& actions, const py::object& rtg,
           const py::object& noise, uint64_t seed, int64_t sample0, const py::object& out_states,
           const py::object& out_rewards, const py::object& out_actions, const py::object& out_x,
           int threads, int tile) {
    if (threads < 1 || tile < 1) throw std::invalid_argument("threads and tile must be >= 1");
    const Batch b = make_batch(*m_, B, states, actions, rtg, noise, seed, sample0, out_states,
                               out_rewards, out_actions, out_x);
    bool ok;
    {
      py::gil_scoped_release release;
      ok = run_(m_->desc, m_->params.data(), b, threads, tile);
    }
    if (!ok) throw std::bad_alloc();
  }
  const std::string& isa() const { return isa_; }

 private:
  std::shared_ptr<Model> m_;
  dawm::RunFn run_;
  std::string isa_;
};

#if defined(DAWM_WITH_CUDA)
class CudaEngine {
 public:
  CudaEngine(std::shared_ptr<Model> m, int device, int chunk, bool tf32)
      : m_(std::move(m)), e_(m_->desc, m_->params.data(), device, chunk, tf32) {}
  void run(int64_t B, const py::object& states, const py::object& actions, const py::object& rtg,
           const py::object& noise, uint64_t seed, int64_t sample0, const py::object& out_states,
           const py::object& out_rewards, const py::object& out_actions, const py::object& out_x) {
    const Batch b = make_batch(*m_, B, states, actions, rtg, noise, seed, sample0, out_states,
                               out_rewards, out_actions, out_x);
    py::gil_scoped_release release;
    e_.run(b);
  }

 private:
  std::shared_ptr<Model> m_;
  dawm::cuda::Engine e_;
};
#endif

// Mish(GroupNorm) for training on x of shape (N, C, L); `isa` as the engine's ("auto": the
// best this CPU runs). Every array must already be C-contiguous float32 of its exact size
// (no silent conversion: a converted output would be written into a temporary copy).
struct NormShape {
  int N, C, L, groups;
  int64_t size() const { return int64_t(N) * C * L; }
};

// (N, C, L) of a C-contiguous float32 array, each below 2^31 (the kernels index with int).
std::array<int, 3> ncl_shape(const py::object& o, const char* name) {
  if (!py::isinstance<F32>(o) || py::reinterpret_borrow<F32>(o).ndim() != 3)
    throw std::invalid_argument(std::string(name) +
                                " must be a C-contiguous float32 array of shape (N, C, L)");
  auto a = py::reinterpret_borrow<F32>(o);
  for (int i = 0; i < 3; ++i)
    if (a.shape(i) > std::numeric_limits<int>::max())
      throw std::invalid_argument(std::string(name) + " has a dimension of 2^31 or more");
  return {int(a.shape(0)), int(a.shape(1)), int(a.shape(2))};
}

NormShape norm_shape(const py::object& x, int groups, int threads) {
  const auto [N, C, L] = ncl_shape(x, "x");
  const NormShape s{N, C, L, groups};
  if (groups < 1 || s.C % groups || threads < 1)
    throw std::invalid_argument("groups must divide the channels; threads must be >= 1");
  return s;
}

dawm::CpuKernels kernels(const std::string& isa) {
  std::string chosen;
  return dawm::select_cpu_kernels(isa, &chosen);
}

void group_norm_mish_forward(const py::object& x, const py::object& gamma, const py::object& beta,
                             int groups, float eps, const py::object& out,
                             const py::object& mean, const py::object& rstd, int threads,
                             const std::string& isa) {
  const NormShape s = norm_shape(x, groups, threads);
  const int64_t stats = int64_t(s.N) * groups;
  const float *px = ptr(x, s.size(), "x"), *pg = ptr(gamma, s.C, "gamma"),
              *pb = ptr(beta, s.C, "beta");
  float *po = out_ptr(out, s.size(), "out"), *pm = out_ptr(mean, stats, "mean"),
        *pr = out_ptr(rstd, stats, "rstd");
  if (!px || !pg || !pb || !po || !pm || !pr) throw std::invalid_argument("arrays are required");
  const auto fn = kernels(isa).group_norm_mish_forward;
  py::gil_scoped_release release;
  fn(px, pg, pb, s.N, s.C, s.L, groups, eps, po, pm, pr, threads);
}

void group_norm_mish_backward(const py::object& dout, const py::object& x,
                              const py::object& gamma, const py::object& beta,
                              const py::object& mean, const py::object& rstd, int groups,
                              const py::object& dx, const py::object& dgamma,
                              const py::object& dbeta, int threads, const std::string& isa) {
  const NormShape s = norm_shape(x, groups, threads);
  const int64_t stats = int64_t(s.N) * groups;
  const float *pd = ptr(dout, s.size(), "dout"), *px = ptr(x, s.size(), "x"),
              *pg = ptr(gamma, s.C, "gamma"), *pb = ptr(beta, s.C, "beta"),
              *pm = ptr(mean, stats, "mean"), *pr = ptr(rstd, stats, "rstd");
  float *pdx = out_ptr(dx, s.size(), "dx"), *pdg = out_ptr(dgamma, s.C, "dgamma"),
        *pdb = out_ptr(dbeta, s.C, "dbeta");
  if (!pd || !px || !pg || !pb || !pm || !pr || !pdx || !pdg || !pdb)
    throw std::invalid_argument("arrays are required");
  if (pdx == px || pdx == pd) throw std::invalid_argument("dx must not alias x or dout");
  const auto fn = kernels(isa).group_norm_mish_backward;
  py::gil_scoped_release release;
  fn(pd, px, pg, pb, pm, pr, s.N, s.C, s.L, groups, pdx, pdg, pdb, threads);
}

// The training convolution's copies (cpu/pack.hpp). bfloat16 travels as its uint16 bits.
// An output overlapping its input would be read after it was written: refused.
void refuse_overlap(const void* in, size_t in_bytes, const void* out, size_t out_bytes) {
  const auto a = reinterpret_cast<uintptr_t>(in), b = reinterpret_cast<uintptr_t>(out);
  if (a < b + out_bytes && b < a + in_bytes)
    throw std::invalid_argument("the output array must not overlap the input");
}

void conv_columns_bf16(const py::object& x, int k, const py::object& cols, int threads) {
  const auto [N, C, L] = ncl_shape(x, "x");
  if (k < 1 || k % 2 == 0 || threads < 1)
    throw std::invalid_argument("k must be odd and positive; threads must be >= 1");
  uint16_t* out = array_ptr<uint16_t>(cols, int64_t(N) * L * k * C, "cols", "uint16", true);
  if (out == nullptr) throw std::invalid_argument("cols is required");
  const float* px = ptr(x, int64_t(N) * C * L, "x");
  refuse_overlap(px, size_t(N) * C * L * sizeof(float), out, size_t(N) * L * k * C * 2);
  py::gil_scoped_release release;
  dawm::conv_columns_bf16(px, N, C, L, k, out, threads);
}

void ncl_from_bf16_rows(const py::object& rows, const py::object& out, int threads) {
  const auto [N, C, L] = ncl_shape(out, "out");
  if (threads < 1) throw std::invalid_argument("threads must be >= 1");
  float* po = out_ptr(out, int64_t(N) * C * L, "out");
  const uint16_t* pr = array_ptr<uint16_t>(rows, int64_t(N) * L * C, "rows", "uint16", false);
  if (pr == nullptr) throw std::invalid_argument("rows is required");
  refuse_overlap(pr, size_t(N) * L * C * 2, po, size_t(N) * C * L * sizeof(float));
  py::gil_scoped_release release;
  dawm::ncl_from_bf16_rows(pr, N, C, L, po, threads);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "dawm_kernels native core: use the Python face (dawm_kernels.Engine) instead.";
  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_property_readonly("length", [](const Model& mo) { return mo.desc.unet.L; })
      .def_property_readonly("generated", [](const Model& mo) { return mo.desc.layout.H; })
      .def_property_readonly("padded_length", [](const Model& mo) { return mo.desc.unet.Lp; })
      .def_property_readonly("passes", [](const Model& mo) { return mo.desc.sampler.passes; });
  m.def("build", &build, py::arg("unet"), py::arg("idm"), py::arg("config"));
  m.def("supported_isas", &dawm::supported_isas);
  m.def("group_norm_mish_forward", &group_norm_mish_forward);
  m.def("group_norm_mish_backward", &group_norm_mish_backward);
  m.def("conv_columns_bf16", &conv_columns_bf16);
  m.def("ncl_from_bf16_rows", &ncl_from_bf16_rows);
  m.def("initial_noise", [](int64_t B, int64_t per_sample, uint64_t seed) {
    F32 out({B, per_sample});
    float* p = out.mutable_data();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t e = 0; e < per_sample; ++e)
        p[b * per_sample + e] = dawm::normal_at(seed, b, e, per_sample);
    return out;
  });
  py::class_<CpuEngine>(m, "CpuEngine")
      .def(py::init<std::shared_ptr<Model>, const std::string&>())
      .def_property_readonly("isa", &CpuEngine::isa)
      .def("run", &CpuEngine::run);
#if defined(DAWM_WITH_CUDA)
  m.attr("cuda_compiled") = true;
  m.def("cuda_device_count", []() {
    std::string why;
    const int n = dawm::cuda::device_count(&why);
    return py::make_tuple(n, why);
  });
  py::class_<CudaEngine>(m, "CudaEngine")
      .def(py::init<std::shared_ptr<Model>, int, int, bool>())
      .def("run", &CudaEngine::run);
#else
  m.attr("cuda_compiled") = false;
  m.def("cuda_device_count",
        []() { return py::make_tuple(0, std::string("built without nvcc: no CUDA engine")); });
#endif
}
