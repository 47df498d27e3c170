#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "analysis/sweep/plan.hpp"
#include "fixture_path.hpp"
#include "linalg/error.hpp"

using namespace convdyn;
using namespace convdyn::analysis::sweep;
namespace fs = std::filesystem;

namespace {
Item item(const std::string& ckpt, const std::string& layer, std::int64_t cost) {
  Item it;
  it.checkpoint = ckpt;
  it.sha256 = "sha-" + ckpt;
  it.command = "spectrum";
  it.layer = layer;
  it.options = {"--k", "6"};
  it.cost = cost;
  it.id = item_id(it);
  EXPECT_EQ(it.id, item_id(it.sha256, it.command, it.layer, it.options));
  return it;
}

Plan sample_plan() {
  Plan p;
  const std::int64_t sizes[] = {12544, 12544, 6272, 3136, 784, 784, 512, 512};
  for (const char* ck : {"a.pth", "b.pth", "c.pth"})
    for (int l = 0; l < 8; ++l) p.items.push_back(item(ck, "area_conv." + std::to_string(l), sizes[l]));
  p.id = plan_id(p.items);
  p.created_utc = "2026-12-01T00:00:00Z";
  return p;
}
}  // namespace

TEST(SweepPlan, ItemIdsAreStableAndSeparateEveryField) {
  const std::vector<std::string> o = {"--k", "6"};
  const auto id = item_id("abc", "spectrum", "area_conv.0", o);
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id, item_id("abc", "spectrum", "area_conv.0", o));
  EXPECT_NE(id, item_id("abd", "spectrum", "area_conv.0", o));
  EXPECT_NE(id, item_id("abc", "eigvec", "area_conv.0", o));
  EXPECT_NE(id, item_id("abc", "spectrum", "area_conv.1", o));
  EXPECT_NE(id, item_id("abc", "spectrum", "area_conv.0", {"--k", "7"}));
  // Word boundaries count: "--k 6" is not "--k6".
  EXPECT_NE(item_id("abc", "spectrum", "x", {"--k", "6"}), item_id("abc", "spectrum", "x", {"--k6"}));
}

TEST(SweepPlan, WritesAndReadsBack) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_sweep_plan");
  auto p = sample_plan();
  p.items[3].problem = "cannot be read";
  const auto path = (dir / "plan.json").string();
  write_plan(p, path);
  const auto q = read_plan(path);
  EXPECT_EQ(q.id, p.id);
  ASSERT_EQ(q.items.size(), p.items.size());
  for (std::size_t i = 0; i < p.items.size(); ++i) {
    EXPECT_EQ(q.items[i].id, p.items[i].id);
    EXPECT_EQ(q.items[i].checkpoint, p.items[i].checkpoint);
    EXPECT_EQ(q.items[i].options, p.items[i].options);
    EXPECT_EQ(q.items[i].cost, p.items[i].cost);
    EXPECT_EQ(q.items[i].problem, p.items[i].problem);
  }
  // No temporary left beside it.
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename(), "plan.json");
}

TEST(SweepPlan, RefusesEditedOrForeignFiles) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_sweep_plan_bad");
  const auto path = (dir / "plan.json").string();
  write_plan(sample_plan(), path);
  std::string text;
  {
    std::ifstream f(path);
    text.assign(std::istreambuf_iterator<char>(f), {});
  }
  const auto at = text.find("area_conv.3");
  ASSERT_NE(at, std::string::npos);
  text[at + 10] = '9';  // another layer, same ids: the plan id no longer matches
  std::ofstream(path) << text;
  EXPECT_THROW(read_plan(path), IoError);
  std::ofstream(path) << "{\"hello\": 1}";
  EXPECT_THROW(read_plan(path), IoError);
  std::ofstream(path) << "not json";
  EXPECT_THROW(read_plan(path), IoError);
  EXPECT_THROW(read_plan((dir / "missing.json").string()), IoError);
}

TEST(SweepPlan, ShardsCoverEveryItemOnceBalancedByCost) {
  const auto p = sample_plan();
  for (int tasks : {1, 2, 3, 5, 24, 30}) {
    const auto shards = assign_shards(p, tasks);
    ASSERT_EQ(shards.size(), static_cast<std::size_t>(tasks));
    std::vector<int> seen(p.items.size(), 0);
    std::int64_t max_load = 0, min_load = INT64_MAX, max_cost = 0;
    for (const auto& s : shards) {
      std::int64_t load = 0;
      for (const auto i : s) {
        ++seen[i];
        load += p.items[i].cost;
        max_cost = std::max(max_cost, p.items[i].cost);
      }
      max_load = std::max(max_load, load);
      min_load = std::min(min_load, load);
      // One checkpoint's items are consecutive (loaded once per shard).
      std::set<std::string> done;
      for (std::size_t k = 0; k < s.size(); ++k) {
        const auto& c = p.items[s[k]].checkpoint;
        if (k > 0 && p.items[s[k - 1]].checkpoint != c) {
          EXPECT_FALSE(done.count(c)) << "tasks " << tasks;
        }
        done.insert(c);
      }
    }
    for (int c : seen) EXPECT_EQ(c, 1);
    // Greedy LPT: no shard exceeds another by more than the largest item.
    if (tasks <= static_cast<int>(p.items.size())) {
      EXPECT_LE(max_load - min_load, max_cost) << "tasks " << tasks;
    }
    EXPECT_EQ(shards, assign_shards(p, tasks));  // deterministic
  }
  // Round-robin over plan order would give shard 0 of 2 every even layer: all six 12544-sized operators.
  const auto two = assign_shards(p, 2);
  std::int64_t l0 = 0, l1 = 0;
  for (auto i : two[0]) l0 += p.items[i].cost;
  for (auto i : two[1]) l1 += p.items[i].cost;
  EXPECT_LE(std::abs(l0 - l1), 512);
  EXPECT_THROW(assign_shards(p, 0), ValueError);
}
