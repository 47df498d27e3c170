// convdyn sweep plan: checkpoints (globs) x requests -> DIR/plan.json.
#include <fmt/format.h>
#include <glob.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "analysis/convrnn_operators.hpp"
#include "analysis/results.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/sweep/sweep.hpp"
#include "linalg/error.hpp"

#ifndef CONVDYN_VERSION
#define CONVDYN_VERSION "unknown"
#endif

namespace convdyn::apps::sweep {

namespace fs = std::filesystem;
using analysis::sweep::Item;

std::string plan_path(const std::string& dir) { return (fs::path(dir) / "plan.json").string(); }
std::string shards_dir(const std::string& dir) { return (fs::path(dir) / "shards").string(); }
std::string shard_path(const std::string& dir, long long task) {
  return (fs::path(shards_dir(dir)) / fmt::format("{}.h5", task)).string();
}

std::vector<std::string> shard_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(shards_dir(dir), ec)) {
    const auto name = e.path().filename().string();
    if (e.is_regular_file(ec) && name.size() > 3 && name[0] != '.' && name.substr(name.size() - 3) == ".h5")
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> item_words(const Item& it) {
  std::vector<std::string> w = {it.command, it.checkpoint};
  if (!it.layer.empty()) {
    w.insert(w.end(), {"--layer", it.layer});
  } else if (it.command != "stability") {
    w.push_back("--all");  // a checkpoint that could not be read at plan time: the run reports why
  }
  w.insert(w.end(), it.options.begin(), it.options.end());
  return w;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (const char c : s) {
    if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  CONVDYN_CHECK(!quote, ValueError, "--options: unterminated quote in '{}'", s);
  if (in_word) words.push_back(cur);
  return words;
}

namespace {
// Paths matching `pattern` (glob(3) when it has wildcards); a TensorFlow bundle may be given by its prefix.
std::vector<std::string> expand(const std::string& pattern) {
  std::error_code ec;
  if (pattern.find_first_of("*?[") == std::string::npos) {
    CONVDYN_CHECK(fs::exists(pattern, ec) || fs::exists(pattern + ".index", ec), IoError,
                  "{}: no such checkpoint", pattern);
    return {fs::absolute(pattern).lexically_normal().string()};
  }
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) {
    std::string p = g.gl_pathv[i];
    // A glob over a TF bundle's files ('model.ckpt*') names the bundle once, by its .index file.
    if (p.find(".data-") != std::string::npos) continue;
    if (fs::is_directory(p, ec)) continue;
    out.push_back(fs::absolute(p).lexically_normal().string());
  }
  globfree(&g);
  CONVDYN_CHECK(!out.empty(), IoError, "{}: no checkpoint matches this pattern", pattern);
  return out;
}

// The value of `--name V` / `--name=V` among `words` ("" when absent): checkpoint options the plan needs to load
// the model the way the command will.
std::string option_value(const std::vector<std::string>& words, const std::string& name) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] == name && i + 1 < words.size()) return words[i + 1];
    if (words[i].rfind(name + "=", 0) == 0) return words[i].substr(name.size() + 1);
  }
  return "";
}

struct Operator {
  std::string name;
  std::int64_t n = 0;
};

// What the plan knows about a checkpoint: its hash and operators, or why it cannot be read.
struct Probe {
  std::string sha256;
  std::vector<Operator> operators;  ///< square ones, in the model's order
  bool recognised = false;          ///< CordsNet or zoo (--all is possible)
  std::string problem;
};

Probe probe(const std::string& path, const std::vector<std::string>& options) {
  Probe p;
  CheckpointArgs ca;
  ca.path = path;
  ca.key = option_value(options, "--key");
  const auto size = option_value(options, "--size");
  if (!size.empty()) {
    const auto comma = size.find(',');
    try {
      ca.size = {std::stoll(size.substr(0, comma)), std::stoll(size.substr(comma + 1))};
    } catch (const std::exception&) {
      throw ValueError(fmt::format("--options: --size {} is not H,W", size));
    }
  }
  try {
    const auto m = load_model(ca, {});
    p.sha256 = m.ckpt.sha256;
    if (m.kind == ModelKind::ConvRNN) {
      for (const auto& t : analysis::convrnn_targets(*m.convrnn))
        if (t.square) p.operators.push_back({t.name, t.n()});
      p.recognised = true;
    } else if (m.kind == ModelKind::CordsNet) {
      for (const auto& l : m.net.layers) p.operators.push_back({l.name, l.n()});
      p.recognised = true;
    }
  } catch (const std::exception& e) {
    std::string msg = e.what();
    p.problem = msg.substr(0, msg.find('\n'));
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) p.sha256 = model::sha256_file(path);
  }
  return p;
}

// Checks a request's options once, by parsing them as the command will (nothing runs).
void check_options(const Request& r, const std::string& some_checkpoint) {
  static const std::set<std::string> reserved = {"--out", "--force", "--append", "--quiet", "-q", "--all", "--layer"};
  for (const auto& w : r.options) {
    const std::string name = w.substr(0, w.find('='));
    CONVDYN_CHECK(!reserved.count(name), ValueError,
                  "--options: {} is set by the sweep itself (--all/--layer are sweep plan options; each item's "
                  "results go to its shard)", name);
  }
  std::vector<std::string> words = {r.command, some_checkpoint};
  if (r.command != "stability") words.insert(words.end(), {"--layer", r.layers.empty() ? "x" : r.layers.front()});
  words.insert(words.end(), r.options.begin(), r.options.end());
  CommandContext ctx;
  ctx.parse_only = true;
  try {
    run_command(words, ctx);
  } catch (const CLI::ParseError& e) {
    throw ValueError(fmt::format("options for {}: {}", r.command, e.what()));
  }
}

std::vector<Request> read_plan_file(const std::string& path, const Request& defaults) {
  using nlohmann::json;
  std::ifstream f(path);
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot read", path);
  json doc;
  try {
    doc = json::parse(f);
  } catch (const json::exception& e) {
    throw IoError(fmt::format("{}: not JSON ({})", path, e.what()));
  }
  std::vector<Request> out;
  try {
    CONVDYN_CHECK(doc.is_object() && doc.contains("requests") && doc["requests"].is_array(), IoError,
                  "{}: expected {{\"requests\": [{{\"command\": ..., ...}}, ...]}} (docs/sweeps.md)", path);
    // Relative patterns in the file are relative to the file's folder (a plan file travels with its checkpoints).
    const auto base = fs::absolute(path).parent_path();
    auto resolve = [&](std::vector<std::string> v) {
      for (auto& x : v)
        if (!fs::path(x).is_absolute()) x = (base / x).string();
      return v;
    };
    std::vector<std::string> shared = defaults.checkpoints;
    if (doc.contains("checkpoints")) shared = resolve(doc["checkpoints"].get<std::vector<std::string>>());
    for (const auto& j : doc["requests"]) {
      Request r;
      r.checkpoints = j.contains("checkpoints") ? resolve(j["checkpoints"].get<std::vector<std::string>>()) : shared;
      r.command = j.value("command", "spectrum");
      r.all = j.value("all", false);
      if (j.contains("layers")) r.layers = j["layers"].get<std::vector<std::string>>();
      if (j.contains("options"))
        r.options = j["options"].is_string() ? split_words(j["options"].get<std::string>())
                                             : j["options"].get<std::vector<std::string>>();
      out.push_back(std::move(r));
    }
  } catch (const json::exception& e) {
    throw IoError(fmt::format("{}: {}", path, e.what()));
  }
  return out;
}
}  // namespace

int plan(const PlanArgs& a) {
  std::vector<Request> requests;
  if (!a.plan_file.empty()) {
    CONVDYN_CHECK(a.options.empty() && a.request.layers.empty() && !a.request.all, ValueError,
                  "--plan-file holds the commands: give --all/--layer/--options there");
    requests = read_plan_file(a.plan_file, a.request);
  } else {
    Request r = a.request;
    r.options = split_words(a.options);
    requests.push_back(std::move(r));
  }
  std::map<std::string, Probe> probes;  // per checkpoint and checkpoint options
  std::vector<Item> items;
  std::set<std::string> ids;
  std::size_t duplicates = 0;
  for (const auto& r : requests) {
    CONVDYN_CHECK(std::find(kCommands.begin(), kCommands.end(), r.command) != kCommands.end(), ValueError,
                  "command '{}': a sweep runs spectrum, stability or eigvec", r.command);
    CONVDYN_CHECK(!r.checkpoints.empty(), ValueError, "no checkpoints given for {}", r.command);
    if (r.command == "stability") {
      CONVDYN_CHECK(!r.all && r.layers.empty(), ValueError, "stability analyses the whole model: no --all/--layer");
    } else {
      CONVDYN_CHECK(r.all != !r.layers.empty(), ValueError, "{}: give exactly one of --all or --layer NAME", r.command);
    }
    std::vector<std::string> paths;
    for (const auto& pattern : r.checkpoints)
      for (auto& p : expand(pattern))
        if (std::find(paths.begin(), paths.end(), p) == paths.end()) paths.push_back(std::move(p));
    check_options(r, paths.front());
    const std::string ckpt_opts = option_value(r.options, "--key") + "\n" + option_value(r.options, "--size");
    for (const auto& path : paths) {
      auto [pit, fresh] = probes.try_emplace(path + "\n" + ckpt_opts);
      if (fresh) {
        if (!a.quiet) note(false, fmt::format("reading {} ...", path));
        pit->second = probe(path, r.options);
        if (!pit->second.problem.empty())
          fmt::print(stderr, "warning: {}\n  (planned anyway: its items will fail with this error)\n",
                     pit->second.problem);
      }
      const Probe& pr = pit->second;
      auto add = [&](const std::string& layer, std::int64_t cost, std::string problem) {
        Item it;
        it.checkpoint = path;
        it.sha256 = pr.sha256;
        it.command = r.command;
        it.layer = layer;
        it.options = r.options;
        it.cost = std::max<std::int64_t>(cost, 1);
        it.problem = std::move(problem);
        it.id = analysis::sweep::item_id(it);
        if (!ids.insert(it.id).second) {
          ++duplicates;  // the same content under another path, or a repeated request
          return;
        }
        items.push_back(std::move(it));
      };
      std::int64_t total = 0;
      for (const auto& o : pr.operators) total += o.n;
      if (r.command == "stability") {
        add("", 4 * total, pr.problem);  // several solves per area: weighted against single spectra
      } else if (r.all) {
        if (!pr.problem.empty() || !pr.recognised) {
          add("", 1, pr.problem.empty() ? "not a recognised architecture: --all needs CordsNet or a zoo model" : pr.problem);
        } else {
          for (const auto& o : pr.operators) add(o.name, o.n, "");
        }
      } else {
        for (const auto& layer : r.layers) {
          std::int64_t n = 1;
          for (const auto& o : pr.operators)
            if (o.name == layer) n = o.n;
          add(layer, n, pr.problem);
        }
      }
    }
  }
  CONVDYN_CHECK(!items.empty(), ValueError, "the plan has no items");
  analysis::sweep::Plan p;
  p.items = std::move(items);
  p.id = analysis::sweep::plan_id(p.items);
  p.created_utc = analysis::utc_timestamp();
  p.convdyn_version = CONVDYN_VERSION;

  std::error_code ec;
  fs::create_directories(a.dir, ec);
  CONVDYN_CHECK(fs::is_directory(a.dir, ec), IoError, "{}: cannot create the sweep folder", a.dir);
  const auto path = plan_path(a.dir);
  if (fs::exists(path, ec)) {
    const auto old = analysis::sweep::read_plan(path);
    if (old.id == p.id) {
      fmt::print("{}: unchanged (plan {}, {} items); shards already done are kept\n", path, p.id, p.items.size());
      return 0;
    }
    CONVDYN_CHECK(shard_files(a.dir).empty(), IoError,
                  "{}: holds shards of another plan ({}); use a new folder for a new plan", a.dir, old.id);
    CONVDYN_CHECK(a.force, IoError, "{}: holds another plan ({}); --force to replace it", path, old.id);
  }
  analysis::sweep::write_plan(p, path);
  std::map<std::string, std::size_t> per_command;
  std::set<std::string> checkpoints;
  std::int64_t cost = 0;
  std::size_t problems = 0;
  for (const auto& it : p.items) {
    ++per_command[it.command];
    checkpoints.insert(it.checkpoint);
    cost += it.cost;
    if (!it.problem.empty()) ++problems;
  }
  std::string counts;
  for (const auto& [c, n] : per_command) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, c);
  fmt::print("wrote {}: plan {}, {} items ({}) over {} checkpoint(s), total cost {} (operator sizes)\n", path, p.id,
             p.items.size(), counts, checkpoints.size(), cost);
  if (duplicates) fmt::print("  {} duplicate item(s) left out (same checkpoint content, command, layer and options)\n", duplicates);
  if (problems) fmt::print("  {} item(s) will fail: their checkpoint could not be read (see the warnings)\n", problems);
  fmt::print("next: convdyn sweep submit {} --tasks N   (Slurm; --local J without it), or convdyn sweep run {}\n", a.dir,
             a.dir);
  return 0;
}

}  // namespace convdyn::apps::sweep
