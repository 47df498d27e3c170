#include "analysis/model_run.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "linalg/error.hpp"

namespace convdyn::analysis {

namespace {

std::string area_name(std::int64_t l) { return fmt::format("area_conv.{}", l); }

/// Areas to record, in model order, from names or "all"; ValueError naming the valid ones.
std::vector<std::int64_t> recorded_areas(const model::CordsNet& net, const std::vector<std::string>& names) {
  std::vector<std::string> valid;
  for (std::int64_t l = 0; l < net.depth(); ++l) valid.push_back(area_name(l));
  std::set<std::int64_t> areas;
  for (const auto& n : names) {
    if (n == "all") {
      for (std::int64_t l = 0; l < net.depth(); ++l) areas.insert(l);
      continue;
    }
    const auto it = std::find(valid.begin(), valid.end(), n);
    CONVDYN_CHECK(it != valid.end(), ValueError, "{}: no area '{}' to record (areas: {}, or all)", net.path(), n,
                  fmt::join(valid, ", "));
    areas.insert(static_cast<std::int64_t>(it - valid.begin()));
  }
  return {areas.begin(), areas.end()};
}

}  // namespace

namespace {
std::int64_t fit_batch(const RunPlan& plan, const RunOptions& opt) {
  std::uint64_t per_image = 0;
  for (const auto& r : plan.recorded) per_image += r.bytes_per_image();
  const auto fit = per_image == 0 ? opt.batch
                                  : static_cast<std::int64_t>(std::max<std::uint64_t>(1, opt.max_batch_bytes / per_image));
  return std::max<std::int64_t>(1, std::min({opt.batch, fit, plan.images}));
}

/// A batch's output buffers: logits [b, T, classes] float64, each recording [b, T_l, C, H, W] float32.
RunBatch empty_batch(const RunPlan& plan, std::int64_t first, std::int64_t b) {
  RunBatch out;
  out.first = first;
  out.logits = at::empty({b, plan.steps, plan.classes}, at::TensorOptions().dtype(at::kDouble));
  for (const auto& rec : plan.recorded)
    out.recorded.push_back(
        at::empty({b, rec.steps, rec.channels, rec.height, rec.width}, at::TensorOptions().dtype(at::kFloat)));
  return out;
}

void report(const RunOptions& opt, std::chrono::steady_clock::time_point t0, std::int64_t done, std::int64_t total) {
  if (!opt.progress) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  opt.progress(fmt::format("run: {}/{} images, {:.1f} images/s{}", done, total, done / std::max(s, 1e-9),
                           done < total ? fmt::format(", about {:.0f} s left", s / done * (total - done)) : std::string()));
}
}  // namespace

std::uint64_t RunPlan::recorded_bytes() const {
  std::uint64_t b = 0;
  for (const auto& r : recorded) b += r.bytes_per_image();
  return b * static_cast<std::uint64_t>(images);
}

RunPlan plan_cordsnet_run(const model::CordsNet& net, at::IntArrayRef image_shape, const RunOptions& opt) {
  const auto& p = opt.cordsnet;
  CONVDYN_CHECK(p.image_steps >= 1, ValueError, "{} image steps: a run needs at least one", p.image_steps);
  CONVDYN_CHECK(p.spontaneous_steps >= 0, ValueError, "{} blank steps: must be >= 0", p.spontaneous_steps);
  CONVDYN_CHECK(p.alpha > 0 && p.alpha <= 1, ValueError, "alpha = {}: must be in (0, 1]", p.alpha);
  CONVDYN_CHECK(opt.batch >= 1, ValueError, "batch = {}: must be >= 1", opt.batch);
  CONVDYN_CHECK(net.has_readout(), ValueError, "{}: no 'out_fc' weight: this checkpoint has no readout to run",
                net.path());
  CONVDYN_CHECK(image_shape.size() == 4, ValueError, "images must be [N, C, H, W], got [{}]",
                fmt::join(image_shape, ", "));
  net.check_image(image_shape);
  RunPlan plan;
  plan.protocol = fmt::format("CordsNet: {} blank steps from the zero state, then {} image steps, alpha {}",
                              p.spontaneous_steps, p.image_steps, p.alpha);
  plan.images = image_shape[0];
  plan.steps = p.image_steps;
  plan.classes = net.logits(net.zero_state(1)).size(1);
  for (auto l : recorded_areas(net, opt.record))
    plan.recorded.push_back({area_name(l), net.channels()[l], net.heights()[l], net.widths()[l], 0, p.image_steps});
  plan.batch = fit_batch(plan, opt);
  return plan;
}

void run_cordsnet(const model::CordsNet& net, const at::Tensor& images, const RunPlan& plan, const RunOptions& opt,
                  const std::function<void(const RunBatch&)>& sink) {
  CONVDYN_CHECK(images.dim() == 4 && images.size(0) == plan.images, ValueError,
                "run_cordsnet: {} images given for a plan of {}", images.dim() == 4 ? images.size(0) : 0, plan.images);
  at::NoGradGuard no_grad;
  const auto& p = opt.cordsnet;
  const auto t0 = std::chrono::steady_clock::now();
  // The blank phase is the same for every image: once, batch 1.
  auto spontaneous = net.zero_state(1);
  const model::CordsNet::ImageDrive blank;
  for (int t = 0; t < p.spontaneous_steps; ++t) net.step(spontaneous, blank, p.alpha);
  std::vector<std::int64_t> areas;
  for (const auto& r : plan.recorded) areas.push_back(std::stoll(r.name.substr(r.name.find('.') + 1)));

  for (std::int64_t first = 0; first < plan.images; first += plan.batch) {
    const std::int64_t b = std::min(plan.batch, plan.images - first);
    const auto drive = net.image_drive(net.input_drive(images.narrow(0, first, b)));
    std::vector<at::Tensor> r;
    for (const auto& s : spontaneous) r.push_back(s.expand({b, s.size(1), s.size(2), s.size(3)}));
    RunBatch out = empty_batch(plan, first, b);
    for (std::int64_t t = 0; t < plan.steps; ++t) {
      net.step(r, drive, p.alpha);
      out.logits.select(1, t).copy_(net.logits(r));
      for (std::size_t i = 0; i < areas.size(); ++i)
        out.recorded[i].select(1, t).copy_(r[static_cast<std::size_t>(areas[i])]);
    }
    sink(out);
    report(opt, t0, first + b, plan.images);
  }
}


RunPlan plan_zoo_run(const model::ConvRNNNetwork& net, at::IntArrayRef image_shape, const RunOptions& opt,
                     const std::string& checkpoint_path) {
  const auto& z = opt.zoo;
  CONVDYN_CHECK(opt.batch >= 1, ValueError, "batch = {}: must be >= 1", opt.batch);
  CONVDYN_CHECK(image_shape.size() == 4 && image_shape[1] == 3 && image_shape[2] == net.image_height() &&
                    image_shape[3] == net.image_width(),
                ValueError, "images must be [N, 3, {}, {}] for this network, got [{}]", net.image_height(),
                net.image_width(), fmt::join(image_shape, ", "));
  net.check_readout();
  auto pres = model::default_presentation(net.model().depth, checkpoint_path);
  if (z.constant) {
    CONVDYN_CHECK(z.times.has_value(), ValueError, "--constant needs --times (as the zoo's image_pres constant)");
    CONVDYN_CHECK(!z.image_off.has_value(), ValueError, "--constant shows the image at every step: no --image-off");
    pres.image_off.reset();
  }
  if (z.image_off) {
    CONVDYN_CHECK(z.times.has_value(), ValueError, "--image-off needs --times (as the zoo's image_off)");
    pres.image_off = z.image_off;
  }
  if (z.times) {
    pres.times = *z.times;
    // --times alone keeps the default image_off, shortened to the run (the protocol line says so).
    if (pres.image_off && !z.image_off) pres.image_off = std::min(*pres.image_off, pres.times);
  }
  CONVDYN_CHECK(pres.times >= 1, ValueError, "--times {}: a run needs at least one step", pres.times);
  CONVDYN_CHECK(!pres.image_off || (*pres.image_off >= 0 && *pres.image_off <= pres.times), ValueError,
                "--image-off {} must be in [0, --times {}]", pres.image_off.value_or(0), pres.times);
  RunPlan plan;
  plan.images = image_shape[0];
  plan.steps = pres.times;
  plan.classes = net.classes();
  plan.image_off = pres.image_off;
  plan.off_value = z.off_value;
  plan.protocol = fmt::format("ConvRNN zoo ({}): {} unrolled steps from rest, the image at {}", net.family(),
                              pres.times,
                              pres.image_off ? fmt::format("steps 0..{}, then {} (normalised units)",
                                                           *pres.image_off - 1, z.off_value)
                                             : std::string("every step"));
  std::vector<std::string> names;
  for (std::size_t i = 0; i + 1 < net.nodes().size(); ++i) names.push_back(net.nodes()[i].name);
  std::set<std::string> wanted;
  for (const auto& n : opt.record) {
    if (n == "all") {
      wanted.insert(names.begin(), names.end());
      continue;
    }
    CONVDYN_CHECK(std::find(names.begin(), names.end(), n) != names.end(), ValueError,
                  "{}: no layer '{}' to record (layers: {}, or all; the logits are always stored)", checkpoint_path, n,
                  fmt::join(names, ", "));
    wanted.insert(n);
  }
  for (const auto& name : names) {
    if (!wanted.count(name)) continue;
    const auto& node = net.node(name);
    const std::int64_t first = z.all_times ? 0 : node.first_step;
    CONVDYN_CHECK(first < pres.times, ValueError,
                  "{}: layer {} is returned from step {} on (when it has a feed-forward output); --times {} records "
                  "nothing of it (--all-times records every step)",
                  checkpoint_path, name, first, pres.times);
    plan.recorded.push_back({name, node.channels, node.height, node.width, first, pres.times - first});
  }
  plan.batch = fit_batch(plan, opt);
  return plan;
}

void run_zoo(const model::ConvRNNNetwork& net, const at::Tensor& images, const RunPlan& plan, const RunOptions& opt,
             const std::function<void(const RunBatch&)>& sink) {
  CONVDYN_CHECK(images.dim() == 4 && images.size(0) == plan.images, ValueError, "run_zoo: {} images for a plan of {}",
                images.dim() == 4 ? images.size(0) : 0, plan.images);
  at::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::size_t> index;
  for (const auto& r : plan.recorded)
    for (std::size_t i = 0; i < net.nodes().size(); ++i)
      if (net.nodes()[i].name == r.name) index.push_back(i);
  for (std::int64_t first = 0; first < plan.images; first += plan.batch) {
    const std::int64_t b = std::min(plan.batch, plan.images - first);
    const auto img = images.narrow(0, first, b);
    const auto blank = at::full_like(img, plan.off_value);
    RunBatch out = empty_batch(plan, first, b);
    auto s = net.zero_state(b);
    for (std::int64_t t = 0; t < plan.steps; ++t) {
      s = net.step(s, !plan.image_off || t < *plan.image_off ? img : blank);
      out.logits.select(1, t).copy_(net.logits(s));
      for (std::size_t i = 0; i < index.size(); ++i)
        if (t >= plan.recorded[i].first_step)
          out.recorded[i].select(1, t - plan.recorded[i].first_step).copy_(s.outputs[index[i]]);
    }
    sink(out);
    report(opt, t0, first + b, plan.images);
  }
}

at::Tensor prepare_zoo_images(const std::string& path, const at::Tensor& raw, const std::vector<double>& mean,
                              const std::vector<double>& std, bool any_size, std::string* described) {
  CONVDYN_CHECK(raw.dim() == 4, ValueError, "{}: images of shape [{}]; the zoo takes [N, 3, H, W] or [N, H, W, 3]",
                path, fmt::join(raw.sizes(), ", "));
  at::Tensor x = raw;
  std::string layout = "NCHW";
  if (x.size(1) != 3 && x.size(3) == 3) {
    x = x.permute({0, 3, 1, 2}).contiguous();
    layout = "NHWC, transposed to NCHW";
  }
  CONVDYN_CHECK(x.size(1) == 3, ValueError, "{}: images of shape [{}]; the zoo takes RGB images [N, 3, H, W] or "
                "[N, H, W, 3]", path, fmt::join(raw.sizes(), ", "));
  CONVDYN_CHECK(any_size || (x.size(2) == 224 && x.size(3) == 224), ValueError,
                "{}: images of {}x{}; the zoo's networks were trained on 224x224 (resize them first, or --any-size "
                "to run at this size: every layer's size follows the image's)", path, x.size(2), x.size(3));
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  CONVDYN_CHECK(lo >= 0.0 && hi <= 1.0, ValueError,
                "{}: pixel values in [{:.4g}, {:.4g}]; the zoo takes images in [0, 1] (uint8 is divided by 255; use "
                "--scale for other ranges)", path, lo, hi);
  const std::vector<double> m = mean.empty() ? std::vector<double>{0.485, 0.456, 0.406} : mean;
  const std::vector<double> sd = std.empty() ? std::vector<double>{0.229, 0.224, 0.225} : std;
  auto per_channel = [&](const std::vector<double>& v, const char* what) {
    CONVDYN_CHECK(v.size() == 1 || v.size() == 3, ValueError, "{}: {} needs 1 or 3 values, got {}", path, what, v.size());
    for (double e : v) CONVDYN_CHECK(std::isfinite(e), ValueError, "{}: {} must be finite", path, what);
    at::Tensor t = at::empty({static_cast<std::int64_t>(v.size())}, at::TensorOptions().dtype(at::kDouble));
    std::copy(v.begin(), v.end(), t.data_ptr<double>());
    return t.view({1, -1, 1, 1});
  };
  for (double e : sd) CONVDYN_CHECK(e != 0.0, ValueError, "{}: std must be non-zero", path);
  x = (x.to(at::kDouble) - per_channel(m, "mean")) / per_channel(sd, "std");
  if (described)
    *described = fmt::format("{}, values in [0, 1], then (x - mean) / std with mean [{}], std [{}]{}", layout,
                             fmt::join(m, ", "), fmt::join(sd, ", "),
                             mean.empty() ? " (ImageNet, as the zoo's run_model.py)" : "");
  return x.contiguous();
}

struct RunWriter::Impl {
  ResultsGroup group;
  ResultsArray logits;
  std::vector<ResultsArray> recorded;
  RunPlan plan;
  at::Tensor labels, predictions;
  std::int64_t written = 0;
};

RunWriter::RunWriter(ResultsWriter& out, const RunPlan& plan, const at::Tensor& labels, const std::string& images,
                     const std::string& normalisation) {
  CONVDYN_CHECK(!labels.defined() || (labels.dim() == 1 && labels.size(0) == plan.images), ValueError,
                "{} labels for {} images", labels.defined() ? labels.numel() : 0, plan.images);
  auto g = out.group("run");
  g.attr("protocol", plan.protocol);
  g.attr("images", images);
  g.attr("normalisation", normalisation);
  g.attr("n_images", static_cast<long long>(plan.images));
  g.attr("steps", static_cast<long long>(plan.steps));
  g.attr("classes", static_cast<long long>(plan.classes));
  std::vector<std::string> names;
  for (const auto& r : plan.recorded) names.push_back(r.name);
  g.attr("recorded", fmt::format("{}", fmt::join(names, ",")));
  auto logits = g.array("logits", ResultsArray::Type::Float64, {plan.images, plan.steps, plan.classes});
  std::vector<ResultsArray> rec;
  for (const auto& r : plan.recorded) {
    auto a = g.array(r.name.c_str(), ResultsArray::Type::Float32, {plan.images, r.steps, r.channels, r.height, r.width});
    a.attr("first_step", static_cast<long long>(r.first_step));
    rec.push_back(std::move(a));
  }
  impl_ = std::make_unique<Impl>(Impl{std::move(g), std::move(logits), std::move(rec), plan, labels,
                                      at::empty({plan.images}, at::TensorOptions().dtype(at::kLong)), 0});
}

RunWriter::~RunWriter() = default;

void RunWriter::write(const RunBatch& b) {
  auto& m = *impl_;
  const std::int64_t n = b.logits.size(0);
  CONVDYN_CHECK(b.first == m.written && b.recorded.size() == m.recorded.size(), ValueError,
                "run results: batch at image {} out of order (expected {})", b.first, m.written);
  const auto logits = b.logits.contiguous();
  m.logits.write(b.first, n, logits.data_ptr<double>());
  for (std::size_t i = 0; i < m.recorded.size(); ++i) {
    const auto r = b.recorded[i].contiguous();
    m.recorded[i].write(b.first, n, r.data_ptr<float>());
  }
  m.predictions.narrow(0, b.first, n).copy_(logits.select(1, logits.size(1) - 1).argmax(1));
  m.written += n;
}

RunSummary RunWriter::finish(double seconds) {
  auto& m = *impl_;
  CONVDYN_CHECK(m.written == m.plan.images, ValueError, "run results: {} of {} images written", m.written, m.plan.images);
  RunSummary s;
  s.seconds = seconds;
  s.predictions = m.predictions;
  auto p = m.group.array("predictions", ResultsArray::Type::Int64, {m.plan.images}, 0);
  p.write(0, m.plan.images, m.predictions.data_ptr<std::int64_t>());
  m.group.attr("seconds", seconds);
  m.group.attr("images_per_second", seconds > 0 ? m.plan.images / seconds : 0.0);
  if (m.labels.defined()) {
    const auto labels = m.labels.to(at::kLong).contiguous();
    auto l = m.group.array("labels", ResultsArray::Type::Int64, {m.plan.images}, 0);
    l.write(0, m.plan.images, labels.data_ptr<std::int64_t>());
    s.correct = m.predictions.eq(labels).sum().item<std::int64_t>();
    s.accuracy = static_cast<double>(s.correct) / static_cast<double>(m.plan.images);
    m.group.attr("accuracy", *s.accuracy);
    m.group.attr("correct", static_cast<long long>(s.correct));
  }
  return s;
}

}  // namespace convdyn::analysis
