// convdyn: spectral and stability analysis of recurrent convolutional networks.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "analysis/temporary_files.hpp"
#include "apps/allocator.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "linalg/error.hpp"

#ifndef CONVDYN_VERSION
#define CONVDYN_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  using namespace convdyn;
  apps::keep_freed_memory();
  analysis::remove_temporaries_on_signal();  // SIGINT/SIGTERM (Ctrl-C, scancel) leave no `.NAME.tmp-*` behind
  apps::set_command_line(argc, argv);
  CLI::App app{"convdyn " CONVDYN_VERSION
               ": eigenvalue spectra and stability of recurrent convolutional networks\n"
               "(CordsNet .pth checkpoints, ConvRNN model-zoo TensorFlow 1 checkpoints; see README.md). Every command\nhas --help."};
  app.set_version_flag("--version", CONVDYN_VERSION);
  app.require_subcommand(1);
  apps::add_inspect_command(app);
  apps::add_spectrum_command(app);
  apps::add_stability_command(app);
  apps::add_eigvec_command(app);
  apps::add_pseudospectrum_command(app);
  apps::add_run_command(app);
  apps::add_sweep_command(app);
  try {
    app.parse(argc, argv);
  } catch (const apps::CommandResult& r) {
    return r.code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    fmt::print(stderr, "convdyn: error: {}\n", e.what());
    return 2;
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    fmt::print(stderr, "convdyn: error: {}\n", msg.substr(0, msg.find('\n')));
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "convdyn: error: out of memory\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "convdyn: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
