#include "apps/common.hpp"

#include "analysis/model_run.hpp"
#include "model/io/images.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <iostream>

#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/scalar_type.hpp"

namespace convdyn::apps {

namespace {
std::string g_command_line;  // set in main; a sweep shard sets each item's own while it runs
}

void set_command_line(int argc, char** argv) { g_command_line = shell_quote({argv, argv + argc}); }
void set_command_line(const std::string& quoted) { g_command_line = quoted; }

std::string shell_quote(const std::vector<std::string>& words) {
  std::string s;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string a = words[i];
    const bool plain = !a.empty() && a.find_first_not_of(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./=:,+@%") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char c : a) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    s += (i ? " " : "") + a;
  }
  return s;
}

std::string command_line() { return g_command_line; }

void note(bool quiet, const std::string& msg) {
  if (!quiet) std::cerr << msg << std::endl;
}

void add_checkpoint_options(CLI::App& cmd, CheckpointArgs& a) {
  cmd.add_option("checkpoint", a.path,
                 "PyTorch checkpoint (.pth/.pt, torch.save zip format), or a TensorFlow 1 checkpoint given by its "
                 "prefix (model.ckpt) or .index file (ConvRNN model zoo); recognised by content")
      ->required();
  cmd.add_option("--key", a.key,
                 "where the state dict sits in a training checkpoint, e.g. model_state_dict "
                 "(default: the top level, else the usual keys)");
  cmd.add_option("--size", a.size,
                 "H,W grid: for a kernel given by key with --layer (non-CordsNet checkpoints), or for every cell "
                 "layer of a ConvRNN zoo model (default: the zoo's shallow/intermediate geometry)")
      ->delimiter(',')
      ->expected(2);
}

std::optional<analysis::ResultsWriter> open_results(const std::string& out, bool force, bool append,
                                                    const CheckpointArgs& a, const LoadedModel& m) {
  if (out.empty()) return std::nullopt;
  // ResultsWriter is neither copyable nor movable: built in place in the returned prvalue.
  return std::optional<analysis::ResultsWriter>(
      std::in_place, out, force, analysis::RunInfo{a.path, m.ckpt.sha256, m.net.architecture, command_line()},
      append ? analysis::ResultsWriter::Mode::Append : analysis::ResultsWriter::Mode::Create);
}

ZooNetworkAtImage load_zoo_network(const CheckpointArgs& a, const std::string& image_path, bool any_size,
                                   const std::string& what) {
  CONVDYN_CHECK(!image_path.empty(), ValueError,
                "{} needs --image FILE: the constant image under which the network's fixed point is found (the "
                "file's first)", what);
  analysis::LoadModelOptions lo;
  lo.key = a.key;
  lo.zoo_cells = false;  // the network builds its cells at the sizes its image gives
  ZooNetworkAtImage z;
  z.model = analysis::load_model(a.path, lo);
  CONVDYN_CHECK(z.model.kind == ModelKind::ConvRNN, ValueError,
                "{}: {} is the ConvRNN zoo's whole network (a CordsNet's joint Jacobian is block-triangular over its "
                "areas: their spectra and verdicts are the whole network's)", a.path, what);
  model::check_whole_network(z.model.ckpt);
  model::InputOptions io;
  io.limit = 1;
  z.image = analysis::prepare_zoo_images(image_path, model::read_images(image_path, io), {}, {}, any_size,
                                         &z.described);
  model::ConvRNNNetworkOptions no;
  no.height = z.image.size(2);
  no.width = z.image.size(3);
  z.net = std::make_unique<model::ConvRNNNetwork>(z.model.ckpt, no);
  z.model.net.architecture = fmt::format("ConvRNN zoo network ({}, {} layers + imnetds)", z.net->family(),
                                         z.net->nodes().size() - 1);
  return z;
}

c10::ScalarType parse_dtype(const std::string& s) { return linalg::parse_scalar_type(s); }

c10::Device parse_operator_device(const std::string& s, linalg::Method method) {
  try {
    return linalg::parse_device(s);
  } catch (const DeviceError&) {
    // A CPU-only LibTorch cannot hold CUDA tensors, but the dense solve can still run on the GPU (cuSOLVER)
    // from a matrix materialised on the CPU; dense_eig reports its own DeviceError when no GPU is present.
#if CONVDYN_HAVE_CUSOLVER
    if (method == linalg::Method::Dense) return c10::Device(c10::DeviceType::CPU);
#endif
    throw;
  }
}

int dense_cuda_device(const std::string& s, linalg::Method method) {
  if (method != linalg::Method::Dense) return -1;
  const c10::Device d(s);  // already validated by parse_operator_device
  return d.is_cuda() ? (d.has_index() ? d.index() : 0) : -1;
}

const LoadedModel& ModelCache::get(const CheckpointArgs& a, const std::vector<std::string>& generic_keys,
                                   c10::ScalarType cell_dtype) {
  const std::string key = fmt::format("{}\n{}\n{}\n{}", a.path, a.key, fmt::join(a.size, ","),
                                      static_cast<int>(cell_dtype));
  // Generic kernels are built per requested key; a recognised model holds all of its operators.
  const bool same = model_ && key == key_ &&
                    (model_->kind != ModelKind::Kernels || generic_keys == generic_keys_);
  last_load_seconds_ = 0;
  if (same) return *model_;
  model_.reset();  // free the previous model first: one in memory
  const auto t0 = std::chrono::steady_clock::now();
  model_ = load_model(a, generic_keys, cell_dtype);
  last_load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  key_ = key;
  generic_keys_ = generic_keys;
  return *model_;
}

LoadedModel load_model(const CheckpointArgs& a, const std::vector<std::string>& generic_keys,
                       c10::ScalarType cell_dtype) {
  analysis::LoadModelOptions o;
  o.key = a.key;
  o.size = a.size;
  o.generic_keys = generic_keys;
  o.cell_dtype = cell_dtype;
  return analysis::load_model(a.path, o);
}

}  // namespace convdyn::apps
