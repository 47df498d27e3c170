// Runs the convdyn binary (CONVDYN_BINARY) and captures exit code, stdout and stderr.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fixture_path.hpp"

namespace convdyn::testing {

struct CliRun {
  int code = -1;
  std::string out, err;
};

inline CliRun run_cli(const std::string& args) {
  namespace fs = std::filesystem;
  // ctest runs tests in parallel processes: keep each one's files apart.
  const auto dir = fs::temp_directory_path();
  const auto tag = std::to_string(::getpid());
  const auto out = dir / ("convdyn_cli_stdout_" + tag), err = dir / ("convdyn_cli_stderr_" + tag);
  const std::string cmd = std::string(CONVDYN_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

}  // namespace convdyn::testing
