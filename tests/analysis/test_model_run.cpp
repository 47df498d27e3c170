#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>

#include "analysis/model_run.hpp"
#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/cordsnet/cordsnet.hpp"
#include "model/io/checkpoint.hpp"

using namespace convdyn;
using namespace convdyn::analysis;
using convdyn::testing::fixture;

namespace {
model::CordsNet d4(c10::ScalarType dtype = at::kDouble) {
  return model::CordsNet(model::load_checkpoint(fixture("cordsnet_d4_param_module.pth")), dtype);
}

at::Tensor images(std::int64_t n) {
  at::manual_seed(3);
  return at::rand({n, 1, 32, 32}, at::TensorOptions().dtype(at::kDouble));
}
}  // namespace

// The precomputed-drive step is the same map as the step that recomputes the drive (and so the same as the
// reference dynamics that tests/model/cordsnet checks step()).
TEST(ModelRun, ImageDriveStepEqualsStep) {
  const auto net = d4();
  const auto inp = net.input_drive(images(2));
  auto a = net.zero_state(2), b = net.zero_state(2);
  const auto d = net.image_drive(inp);
  for (int t = 0; t < 30; ++t) {
    net.step(a, inp, 0.2);
    net.step(b, d, 0.2);
  }
  for (std::size_t l = 0; l < a.size(); ++l) EXPECT_LT((a[l] - b[l]).abs().max().item<double>(), 1e-13) << l;
  const auto blank = net.image_drive(at::Tensor());
  EXPECT_FALSE(blank.area0.defined());
  EXPECT_THROW(net.image_drive(at::zeros({1, 3, 2, 2}, at::kDouble)), ValueError);
}

// Per-step logits and recordings equal a plain simulation image by image (per-image protocol, no shared
// spontaneous state, batch 1), for batches that do not divide N.
TEST(ModelRun, BatchesEqualPerImageSimulation) {
  const auto net = d4();
  const auto imgs = images(5);
  RunOptions opt;
  opt.cordsnet = {6, 4, 0.25};
  opt.record = {"area_conv.2", "area_conv.0"};
  opt.batch = 2;
  opt.dtype = at::kDouble;
  const auto plan = plan_cordsnet_run(net, imgs.sizes(), opt);
  ASSERT_EQ(plan.batch, 2);
  ASSERT_EQ(plan.recorded.size(), 2u);
  EXPECT_EQ(plan.recorded[0].name, "area_conv.0");  // model order
  EXPECT_EQ(plan.steps, 4);
  std::vector<RunBatch> got;
  run_cordsnet(net, imgs, plan, opt, [&](const RunBatch& b) { got.push_back(b); });
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].first, 4);
  EXPECT_EQ(got[2].logits.size(0), 1);
  for (std::int64_t i = 0; i < 5; ++i) {
    const auto& b = got[static_cast<std::size_t>(i / 2)];
    const auto k = i - b.first;
    auto r = net.zero_state(1);
    for (int t = 0; t < 6; ++t) net.step(r, at::Tensor(), 0.25);
    const auto inp = net.input_drive(imgs.narrow(0, i, 1));
    for (int t = 0; t < 4; ++t) {
      net.step(r, inp, 0.25);
      const double e = (b.logits[k][t] - net.logits(r)[0]).abs().max().item<double>();
      EXPECT_LT(e, 1e-12) << "image " << i << " step " << t;
      EXPECT_LT((b.recorded[0][k][t] - r[0][0].to(at::kFloat)).abs().max().item<double>(), 1e-6);
      EXPECT_LT((b.recorded[1][k][t] - r[2][0].to(at::kFloat)).abs().max().item<double>(), 1e-6);
    }
  }
}

TEST(ModelRun, PlanBoundsBatchMemoryAndRejectsBadOptions) {
  const auto net = d4();
  RunOptions opt;
  opt.record = {"all"};
  opt.batch = 64;
  opt.cordsnet.image_steps = 10;
  auto plan = plan_cordsnet_run(net, {100, 1, 32, 32}, opt);
  std::uint64_t per_image = 0;
  for (const auto& r : plan.recorded) per_image += r.bytes_per_image();
  EXPECT_EQ(plan.recorded.size(), static_cast<std::size_t>(net.depth()));
  EXPECT_EQ(plan.recorded_bytes(), per_image * 100);
  opt.max_batch_bytes = per_image * 3 + 1;
  EXPECT_EQ(plan_cordsnet_run(net, {100, 1, 32, 32}, opt).batch, 3);
  opt.max_batch_bytes = 1;
  EXPECT_EQ(plan_cordsnet_run(net, {100, 1, 32, 32}, opt).batch, 1);
  EXPECT_EQ(plan_cordsnet_run(net, {2, 1, 32, 32}, RunOptions{}).batch, 2);  // no larger than N
  auto bad = [&](auto change) {
    RunOptions o;
    change(o);
    return plan_cordsnet_run(net, {2, 1, 32, 32}, o);
  };
  EXPECT_THROW(bad([](RunOptions& o) { o.record = {"area_conv.4"}; }), ValueError);
  EXPECT_THROW(bad([](RunOptions& o) { o.cordsnet.alpha = 1.5; }), ValueError);
  EXPECT_THROW(bad([](RunOptions& o) { o.cordsnet.image_steps = 0; }), ValueError);
  EXPECT_THROW(bad([](RunOptions& o) { o.cordsnet.spontaneous_steps = -1; }), ValueError);
  EXPECT_THROW(bad([](RunOptions& o) { o.batch = 0; }), ValueError);
  EXPECT_THROW(plan_cordsnet_run(net, {2, 3, 32, 32}, RunOptions{}), ValueError);  // channels
  EXPECT_THROW(plan_cordsnet_run(net, {2, 1, 64, 64}, RunOptions{}), ValueError);  // size
}

// RunWriter: streamed batches land in /run in order; predictions are the last step's argmax; accuracy.
TEST(ModelRun, WriterStoresBatchesAndAccuracy) {
  const auto net = d4();
  const auto imgs = images(3);
  RunOptions opt;
  opt.cordsnet = {2, 3, 0.2};
  opt.record = {"area_conv.1"};
  opt.batch = 2;
  const auto plan = plan_cordsnet_run(net, imgs.sizes(), opt);
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_model_run");
  const auto path = (dir / "run.h5").string();
  at::Tensor all_logits = at::empty({3, 3, plan.classes}, at::kDouble);
  {
    ResultsWriter w(path, false, RunInfo{"ckpt.pth", "sha", "CordsNet (depth 4)", "convdyn run"});
    RunWriter rw(w, plan, at::tensor(std::vector<std::int64_t>{0, 1, 2}), "images.npy", "as given");
    run_cordsnet(net, imgs, plan, opt, [&](const RunBatch& b) {
      all_logits.narrow(0, b.first, b.logits.size(0)).copy_(b.logits);
      rw.write(b);
    });
    const auto s = rw.finish(1.0);
    const auto pred = all_logits.select(1, 2).argmax(1);
    EXPECT_TRUE(s.predictions.equal(pred));
    ASSERT_TRUE(s.accuracy.has_value());
    EXPECT_EQ(s.correct, pred.eq(at::arange(3)).sum().item<std::int64_t>());
    w.commit();
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t ds = H5Dopen2(f, "/run/logits", H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  at::Tensor back = at::empty({3, 3, plan.classes}, at::kDouble);
  ASSERT_GE(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data_ptr()), 0);
  EXPECT_TRUE(back.equal(all_logits));
  H5Dclose(ds);
  hid_t rec = H5Dopen2(f, "/run/area_conv.1", H5P_DEFAULT);
  ASSERT_GE(rec, 0);
  hid_t space = H5Dget_space(rec);
  hsize_t dims[5];
  ASSERT_EQ(H5Sget_simple_extent_ndims(space), 5);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  EXPECT_EQ(dims[0], 3u);
  EXPECT_EQ(dims[1], 3u);
  EXPECT_EQ(static_cast<std::int64_t>(dims[2]), net.channels()[1]);
  hid_t dcpl = H5Dget_create_plist(rec);
  EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
  EXPECT_GE(H5Pget_nfilters(dcpl), 2);  // shuffle + deflate
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Dclose(rec);
  H5Fclose(f);
}

TEST(ModelRun, ResultsArrayRejectsRowsOutside) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_results_array");
  const auto path = (dir / "a.h5").string();
  ResultsWriter w(path, false, RunInfo{"c", "s", "a", "x"});
  auto g = w.group("run");
  auto a = g.array("x", ResultsArray::Type::Float32, {4, 2});
  const float v[4] = {1, 2, 3, 4};
  a.write(2, 2, v);
  EXPECT_THROW(a.write(3, 2, v), IoError);
  EXPECT_THROW(g.array("y", ResultsArray::Type::Float64, {0, 2}), IoError);
}
