#include "analysis/sweep/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "analysis/temporary_files.hpp"
#include "linalg/error.hpp"
#include "model/io/checkpoint.hpp"

namespace convdyn::analysis::sweep {

using nlohmann::json;

std::string item_id(const std::string& sha256, const std::string& command, const std::string& layer,
                    const std::vector<std::string>& options) {
  // Unit and record separators cannot occur in paths' hashes, names or command-line words typed by a user.
  std::string key = sha256 + '\x1e' + command + '\x1e' + layer;
  for (const auto& o : options) key += '\x1f' + o;
  return model::sha256_bytes(key).substr(0, 16);
}

std::string item_id(const Item& it) {
  return item_id(it.sha256.empty() ? it.checkpoint : it.sha256, it.command, it.layer, it.options);
}

std::string plan_id(const std::vector<Item>& items) {
  std::string key;
  for (const auto& it : items) key += it.id + '\n';
  return model::sha256_bytes(key).substr(0, 16);
}

void write_plan(const Plan& plan, const std::string& path) {
  json items = json::array();
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    const auto& it = plan.items[i];
    json j = {{"index", i},           {"id", it.id},         {"checkpoint", it.checkpoint},
              {"sha256", it.sha256},  {"command", it.command}, {"layer", it.layer},
              {"options", it.options}, {"cost", it.cost}};
    if (!it.problem.empty()) j["problem"] = it.problem;
    items.push_back(std::move(j));
  }
  const json doc = {{"convdyn_sweep_plan", 1},  {"plan_id", plan.id},
                    {"created_utc", plan.created_utc}, {"convdyn_version", plan.convdyn_version},
                    {"items", std::move(items)}};
  ReplacingFile out(path);
  std::ofstream f(out.path());
  f << doc.dump(1) << '\n';
  f.close();
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot write", path);
  out.commit();
}

Plan read_plan(const std::string& path) {
  std::ifstream f(path);
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot read (no sweep plan here: run `convdyn sweep plan ... --out DIR`)",
                path);
  json doc;
  try {
    doc = json::parse(f);
  } catch (const json::exception& e) {
    throw IoError(fmt::format("{}: not JSON ({})", path, e.what()));
  }
  Plan p;
  try {
    CONVDYN_CHECK(doc.is_object() && doc.value("convdyn_sweep_plan", 0) == 1, IoError,
                  "{}: not a convdyn sweep plan (version 1)", path);
    p.id = doc.at("plan_id").get<std::string>();
    p.created_utc = doc.value("created_utc", "");
    p.convdyn_version = doc.value("convdyn_version", "");
    for (const auto& j : doc.at("items")) {
      Item it;
      it.id = j.at("id").get<std::string>();
      it.checkpoint = j.at("checkpoint").get<std::string>();
      it.sha256 = j.at("sha256").get<std::string>();
      it.command = j.at("command").get<std::string>();
      it.layer = j.at("layer").get<std::string>();
      it.options = j.at("options").get<std::vector<std::string>>();
      it.cost = j.at("cost").get<std::int64_t>();
      it.problem = j.value("problem", "");
      CONVDYN_CHECK(item_id(it) == it.id, IoError, "{}: item {} does not match its fields (the file was edited)",
                    path, it.id);
      p.items.push_back(std::move(it));
    }
  } catch (const json::exception& e) {
    throw IoError(fmt::format("{}: not a convdyn sweep plan ({})", path, e.what()));
  }
  CONVDYN_CHECK(plan_id(p.items) == p.id, IoError, "{}: plan_id does not match its items (the file was edited)", path);
  return p;
}

std::vector<std::vector<std::size_t>> assign_shards(const Plan& plan, int tasks) {
  CONVDYN_CHECK(tasks >= 1, ValueError, "--tasks must be at least 1 (got {})", tasks);
  const auto& items = plan.items;
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return items[a].cost > items[b].cost; });
  std::vector<std::vector<std::size_t>> shards(static_cast<std::size_t>(tasks));
  std::vector<std::int64_t> load(static_cast<std::size_t>(tasks), 0);
  for (const auto i : order) {
    const auto s = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    shards[s].push_back(i);
    load[s] += std::max<std::int64_t>(items[i].cost, 1);
  }
  // Group by checkpoint (first appearance in plan order), keep plan order inside a group.
  for (auto& s : shards) {
    std::sort(s.begin(), s.end());
    std::map<std::string, std::size_t> first;
    for (const auto i : s) first.emplace(items[i].checkpoint, i);
    std::stable_sort(s.begin(), s.end(), [&](std::size_t a, std::size_t b) {
      return first.at(items[a].checkpoint) < first.at(items[b].checkpoint);
    });
  }
  return shards;
}

}  // namespace convdyn::analysis::sweep
