#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>

#include "analysis/results.hpp"
#include "analysis/sweep/merge.hpp"
#include "analysis/sweep/shard.hpp"
#include "fixture_path.hpp"
#include "linalg/error.hpp"

using namespace convdyn;
using namespace convdyn::analysis;
using namespace convdyn::analysis::sweep;
namespace fs = std::filesystem;

namespace {
// A results file with one layer of `k` eigenvalues, `matvecs` matvecs and the given convergence.
std::string results_file(const fs::path& dir, const std::string& name, double first, long long matvecs, bool ok) {
  const auto path = (dir / name).string();
  ResultsWriter w(path, true, RunInfo{"x.pth", "sha-x", "CordsNet (depth 2)", "convdyn spectrum x.pth"});
  LayerSpectrum s;
  s.layer.name = "area_conv.0";
  s.layer.n = 4;
  s.layer.channels = 1;
  s.layer.height = 2;
  s.layer.width = 2;
  s.result.values.resize(2);
  s.result.values << std::complex<double>(first, 0.5), std::complex<double>(first, -0.5);
  s.result.residuals = Eigen::Vector2d(1e-12, 1e-12);
  s.result.converged = Eigen::Matrix<bool, 2, 1>(true, ok);
  s.result.matvecs = matvecs;
  s.result.method = "krylov-schur";
  w.write_layer(s);
  w.commit();
  return path;
}

ItemRecord record(const std::string& id, long long index, const char* status, const std::string& finished) {
  ItemRecord r;
  r.id = id;
  r.index = index;
  r.status = status;
  r.error = std::string(status) == kOk ? "" : "it broke";
  r.seconds = 1.5;
  r.load_seconds = 0.25;
  r.matvecs = 42;
  r.all_converged = std::string(status) == kOk;
  r.task = 0;
  r.host = "h";
  r.finished_utc = finished;
  return r;
}

Plan plan_of(std::initializer_list<const char*> ids) {
  Plan p;
  long long i = 0;
  for (const char* id : ids) {
    Item it;
    it.id = id;
    it.checkpoint = "/c/" + std::to_string(i++) + ".pth";
    it.command = "spectrum";
    it.layer = "area_conv.0";
    p.items.push_back(it);
  }
  p.id = plan_id(p.items);
  return p;
}

std::complex<double> first_eigenvalue(const std::string& file, const std::string& group) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, (group + "/layers/area_conv.0/eigenvalues").c_str(), H5P_DEFAULT);
  double v[4] = {};
  const hid_t t = H5Dget_type(d);
  H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Tclose(t);
  H5Dclose(d);
  H5Fclose(f);
  return {v[0], v[1]};
}
}  // namespace

TEST(SweepShard, RecordsItemsWithTheirResultsAndReplacesRetries) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_sweep_shard");
  const auto shard = (dir / "0.h5").string();
  const auto r1 = results_file(dir, "r1.h5", 1.25, 10, true);
  add_to_shard(shard, "plan1", 0, 2, record("aaaa", 0, kOk, "2026-01-01T00:00:01Z"), r1);
  add_to_shard(shard, "plan1", 0, 2, record("bbbb", 1, kFailed, "2026-01-01T00:00:02Z"), "");
  auto s = read_shard(shard);
  EXPECT_EQ(s.plan_id, "plan1");
  EXPECT_EQ(s.task, 0);
  EXPECT_EQ(s.tasks, 2);
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_EQ(s.items[0].id, "aaaa");
  EXPECT_EQ(s.items[0].status, kOk);
  EXPECT_DOUBLE_EQ(s.items[0].seconds, 1.5);
  EXPECT_GE(s.items[0].write_seconds, 0.0);
  EXPECT_EQ(s.items[1].error, "it broke");
  EXPECT_EQ(first_eigenvalue(shard, "/items/aaaa"), std::complex<double>(1.25, 0.5));
  // A retried item replaces its record.
  add_to_shard(shard, "plan1", 0, 2, record("bbbb", 1, kOk, "2026-01-01T00:00:03Z"), r1);
  s = read_shard(shard);
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_EQ(s.items[1].status, kOk);
  // Another plan's item is refused and the shard is left as it was, with no temporary beside it.
  EXPECT_THROW(add_to_shard(shard, "plan2", 0, 2, record("cccc", 2, kOk, "x"), r1), IoError);
  EXPECT_EQ(read_shard(shard).items.size(), 2u);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  // A results file that is not one: refused, shard unchanged.
  EXPECT_THROW(add_to_shard(shard, "plan1", 0, 2, record("dddd", 3, kOk, "x"), (dir / "nope.h5").string()), IoError);
  EXPECT_EQ(read_shard(shard).items.size(), 2u);
  EXPECT_THROW(read_shard(r1), IoError);  // a results file is not a shard
}

TEST(SweepShard, TotalsSumMatvecsAndConvergence) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_sweep_totals");
  const auto good = results_totals(results_file(dir, "a.h5", 1.0, 17, true));
  EXPECT_EQ(good.matvecs, 17);
  EXPECT_TRUE(good.all_converged);
  const auto bad = results_totals(results_file(dir, "b.h5", 1.0, 5, false));
  EXPECT_FALSE(bad.all_converged);
}

TEST(SweepMerge, EveryPlanItemOnceWithMissingOnesListed) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_sweep_merge");
  const auto plan = plan_of({"aaaa", "bbbb", "cccc", "dddd"});
  const auto r1 = results_file(dir, "r1.h5", 1.25, 10, true);
  const auto r2 = results_file(dir, "r2.h5", 0.5, 10, true);
  const std::string s0 = (dir / "0.h5").string();
  const std::string s1 = (dir / "1.h5").string();
  add_to_shard(s0, plan.id, 0, 2, record("aaaa", 0, kOk, "2026-01-01T00:00:01Z"), r1);
  add_to_shard(s0, plan.id, 0, 2, record("cccc", 2, kFailed, "2026-01-01T00:00:01Z"), "");
  // cccc again in another shard (a rerun with another --tasks): the ok record wins over the failed one.
  add_to_shard(s1, plan.id, 1, 2, record("cccc", 2, kOk, "2026-01-01T00:00:00Z"), r2);
  const auto progress = read_progress(plan, {s0, s1});
  EXPECT_EQ(progress.count(kOk), 2u);
  EXPECT_EQ(progress.count(kMissing), 2u);
  EXPECT_EQ(progress.record(2)->task, 0);  // the record's own field, as written
  EXPECT_EQ(progress.chosen[2].first, 1);
  const auto out = (dir / "merged.h5").string();
  const auto sum = merge(plan, progress, out, false);
  EXPECT_EQ(sum.items, 4u);
  EXPECT_EQ(sum.ok, 2u);
  EXPECT_EQ(sum.missing, 2u);
  EXPECT_EQ(first_eigenvalue(out, "/items/aaaa"), std::complex<double>(1.25, 0.5));
  EXPECT_EQ(first_eigenvalue(out, "/items/cccc"), std::complex<double>(0.5, 0.5));
  const hid_t f = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_LE(H5Lexists(f, "/items/bbbb", H5P_DEFAULT), 0);
  const hid_t d = H5Dopen2(f, "/sweep/index", H5P_DEFAULT);
  const hid_t sp = H5Dget_space(d);
  EXPECT_EQ(H5Sget_simple_extent_npoints(sp), 4);
  const hid_t t = H5Dget_type(d);
  EXPECT_GE(H5Tget_member_index(t, "status"), 0);
  EXPECT_GE(H5Tget_member_index(t, "checkpoint"), 0);
  EXPECT_GE(H5Tget_member_index(t, "all_converged"), 0);
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  EXPECT_THROW(merge(plan, progress, out, false), IoError);  // exists
  EXPECT_NO_THROW(merge(plan, progress, out, true));
  // Shards of another plan are refused.
  const auto other = plan_of({"aaaa", "eeee"});
  EXPECT_THROW(read_progress(other, {s0}), IoError);
}
