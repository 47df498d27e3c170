// convdyn inspect CKPT: what the checkpoint holds and which recurrent operators convdyn finds in it.
#include <fmt/format.h>

#include "analysis/convrnn_operators.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"

namespace convdyn::apps {

namespace {
struct InspectArgs {
  CheckpointArgs ckpt;
  bool tensors = false;
};

void print_zoo(const model::ConvRNNModel& zoo) {
  fmt::print("architecture ConvRNN model zoo, {} ({} cell layers)\n\n", zoo.family, zoo.layers.size());
  fmt::print("{:<8} {:<17} {:<7} {:>5} {:>4} {:>8} {:>9}  {}\n", "layer", "cell", "state", "C_s", "Cin", "H x W", "n",
             "kernels / geometry / config");
  for (const auto& L : zoo.layers)
    fmt::print("{:<8} {:<17} {:<7} {:>5} {:>4} {:>8} {:>9}  k {}; {}; {}\n", L.name, model::to_string(L.type),
               L.cell.state_layout(), L.cell.state_channels(), L.cell.input_channels(),
               fmt::format("{}x{}", L.height, L.width), L.cell.state_size(), fmt::join(L.cell.kernel_sizes(), ","),
               L.geometry_source, L.config_source);
  fmt::print("\noperators (use with --layer; the cell's own name = its state Jacobian at its fixed point):\n");
  for (const auto& t : analysis::convrnn_targets(zoo))
    fmt::print("  {:<28} {:>9}  {}{}\n", t.name, t.square ? std::to_string(t.n()) : std::string("-"), t.role,
               t.square ? "" : " (not square: no spectrum)");
  fmt::print("\neach cell layer is analysed on its own under a constant drive (--drive, default x = 0); with every\n"
             "layer conv1 .. imnetds in the checkpoint, the whole network (feed-forward path, rgc feedback) runs on\n"
             "images (`run`) and is linearised jointly (`spectrum --layer network --image`, `stability --network`).\n");
}

int run_inspect(const InspectArgs& a) {
  auto m = load_model(a.ckpt, {});
  const auto& c = m.ckpt;
  fmt::print("checkpoint   {}\n", c.path);
  fmt::print("format       {}{}\n", c.format, c.state_key.empty() ? "" : fmt::format(" (state dict under '{}')", c.state_key));
  fmt::print("sha256       {}\n", c.sha256);
  fmt::print("tensors      {}{}\n", c.names.size(),
             c.stripped_prefix.empty() ? "" : fmt::format(" (prefix '{}' stripped)", c.stripped_prefix));
  if (m.kind == ModelKind::ConvRNN) {
    print_zoo(*m.convrnn);
  } else if (m.kind == ModelKind::Kernels) {
    fmt::print("architecture not recognised as CordsNet; 4-D kernels (analyse one with --layer KEY --size H,W):\n");
    for (const auto& k : model::list_kernels(c)) fmt::print("  {}\n", k);
  } else {
    fmt::print("architecture {}\n\n", m.net.architecture);
    fmt::print("{:<14} {:>5} {:>5} {:>5} {:>7} {:>9}  {}\n", "layer", "C", "H", "W", "kernel", "n", "parametrisation");
    for (const auto& l : m.net.layers)
      fmt::print("{:<14} {:>5} {:>5} {:>5} {:>7} {:>9}  {}\n", l.name, l.channels, l.height, l.width,
                 fmt::format("{}x{}", l.kernel, l.kernel), l.n(), l.parametrisation);
  }
  if (a.tensors) {
    fmt::print("\n{:<56} {:<10} {}\n", "tensor", "dtype", "shape");
    for (const auto& name : c.names) {
      const auto& t = c.tensors.at(name);
      fmt::print("{:<56} {:<10} [{}]\n", name, std::string(c10::toString(t.scalar_type())), fmt::join(t.sizes(), ", "));
    }
  }
  return 0;
}
}  // namespace

void add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand("inspect", "Show the architecture and the recurrent operators of a checkpoint");
  add_checkpoint_options(*cmd, args->ckpt);
  cmd->add_flag("--tensors", args->tensors, "also list every tensor with dtype and shape");
  cmd->callback([args] { throw CommandResult(run_inspect(*args)); });
}

}  // namespace convdyn::apps
