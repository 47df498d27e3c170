#include "apps/common.hpp"

#include <fmt/format.h>

#include <iostream>

#include "linalg/error.hpp"

namespace convdyn::apps {

namespace {
std::string g_command_line;  // set once in main
}

void set_command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    const bool plain = !a.empty() && a.find_first_not_of(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./=:,+@%") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char c : a) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    s += (i ? " " : "") + a;
  }
  g_command_line = s;
}

std::string command_line() { return g_command_line; }

void note(bool quiet, const std::string& msg) {
  if (!quiet) std::cerr << msg << std::endl;
}

void add_checkpoint_options(CLI::App& cmd, CheckpointArgs& a) {
  cmd.add_option("checkpoint", a.path, "PyTorch checkpoint (.pth/.pt, torch.save zip format)")->required();
  cmd.add_option("--key", a.key,
                 "where the state dict sits in a training checkpoint, e.g. model_state_dict "
                 "(default: the top level, else the usual keys)");
  cmd.add_option("--size", a.size, "H,W grid for a kernel given by key with --layer (non-CordsNet checkpoints)")
      ->delimiter(',')
      ->expected(2);
}

LoadedModel load_model(const CheckpointArgs& a, const std::vector<std::string>& generic_keys) {
  model::LoadOptions lo;
  lo.key = a.key;
  LoadedModel m{model::load_checkpoint(a.path, lo), {}};
  if (auto net = model::detect_cordsnet(m.ckpt); net && a.size.empty()) {
    m.net = std::move(*net);
    return m;
  }
  m.net.path = a.path;
  m.net.architecture = "generic kernels";
  if (generic_keys.empty()) return m;
  CONVDYN_CHECK(a.size.size() == 2, ValueError,
                "{}: not a CordsNet checkpoint; give the grid of kernel '{}' with --size H,W", a.path,
                generic_keys.front());
  for (const auto& key : generic_keys) m.net.layers.push_back(model::kernel_layer(m.ckpt, key, a.size[0], a.size[1]));
  return m;
}

}  // namespace convdyn::apps
