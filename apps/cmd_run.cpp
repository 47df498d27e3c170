// convdyn run CKPT --images FILE: the model itself on images (CordsNet, or a whole ConvRNN zoo network): logits at
// every step, predictions, accuracy and the recorded layers' activity (/run in the results file).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <optional>

#include "analysis/model_run.hpp"
#include "analysis/results.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "model/convrnn/network.hpp"
#include "model/cordsnet/cordsnet.hpp"
#include "model/io/images.hpp"

namespace convdyn::apps {

namespace {
// The command line as given; the typed options are built from it once (run_options, input_options).
struct RunArgs {
  CheckpointArgs ckpt;
  std::string images, labels, dataset, out;
  std::int64_t limit = 0, offset = 0;
  std::vector<std::string> record;
  std::vector<double> normalize;  ///< MEAN,STD or MEAN_1..MEAN_C,STD_1..STD_C
  double scale = 0;
  std::string dtype = "float32";
  std::string device = "cpu";
  double warn_gb = 10;
  bool force = false, append = false, quiet = false;
  bool any_size = false;  ///< zoo: run at the images' own size instead of refusing other than 224 x 224
  analysis::RunOptions opt;  ///< protocol numbers and batch bound directly
  bool zoo_flags_given() const {
    const analysis::ZooProtocol d;
    return opt.zoo.times || opt.zoo.image_off || opt.zoo.constant || opt.zoo.all_times ||
           opt.zoo.off_value != d.off_value || any_size;
  }
};

model::InputOptions input_options(const RunArgs& a) {
  model::InputOptions io;
  io.dataset = a.dataset;
  io.limit = a.limit;
  io.offset = a.offset;
  io.scale = a.scale;
  if (!a.normalize.empty()) {
    CONVDYN_CHECK(a.normalize.size() % 2 == 0, ValueError,
                  "--normalize: expected MEAN,STD or one mean per channel then one std per channel (an even count), "
                  "got {} numbers", a.normalize.size());
    const auto half = static_cast<std::ptrdiff_t>(a.normalize.size() / 2);
    io.mean.assign(a.normalize.begin(), a.normalize.begin() + half);
    io.std.assign(a.normalize.begin() + half, a.normalize.end());
  }
  return io;
}

analysis::RunOptions run_options(const RunArgs& a) {
  analysis::RunOptions o = a.opt;
  o.record = a.record;
  o.dtype = parse_dtype(a.dtype);
  o.device = linalg::parse_device(a.device);
  if (!a.quiet) o.progress = [](const std::string& s) { note(false, s); };
  return o;
}

std::string gigabytes(std::uint64_t bytes) { return fmt::format("{:.1f} GB", static_cast<double>(bytes) / 1e9); }

/// Reads --labels for `n` images (undefined without --labels) and checks them against the classes.
at::Tensor read_run_labels(const RunArgs& a, std::int64_t n, std::int64_t classes, const std::string& images_path) {
  if (a.labels.empty()) return {};
  model::InputOptions lo;
  lo.limit = a.limit;
  lo.offset = a.offset;
  auto labels = model::read_labels(a.labels, lo);
  CONVDYN_CHECK(labels.size(0) == n, ValueError, "{}: {} labels for the {} images of {}", a.labels, labels.size(0), n,
                images_path);
  const auto top = labels.max().item<std::int64_t>();
  CONVDYN_CHECK(top < classes, ValueError, "{}: label {} is not a class of this model ({} classes)", a.labels, top,
                classes);
  return labels;
}

using Runner = std::function<void(const std::function<void(const analysis::RunBatch&)>&)>;

/// The part shared by both families: warning, results file, the batches, predictions, accuracy, summary.
int run_and_report(const RunArgs& a, const LoadedModel& m, const analysis::RunPlan& plan, const at::Tensor& labels,
                   const std::string& normalisation, const std::string& header, const Runner& runner) {
  const std::uint64_t bytes = plan.recorded_bytes();
  if (static_cast<double>(bytes) > a.warn_gb * 1e9)
    fmt::print(stderr,
               "warning: the recordings ({}) of {} images take {} before compression in {}; fewer with --limit or "
               "--record\n",
               fmt::join(a.record, ","), plan.images, gigabytes(bytes), a.out);
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  fmt::print("{}\n", header);
  std::optional<analysis::RunWriter> rw;
  if (writer) rw.emplace(*writer, plan, labels, a.images, normalisation);
  at::Tensor predictions = at::empty({plan.images}, at::TensorOptions().dtype(at::kLong));
  const auto t0 = std::chrono::steady_clock::now();
  runner([&](const analysis::RunBatch& b) {
    predictions.narrow(0, b.first, b.logits.size(0)).copy_(b.logits.select(1, plan.steps - 1).argmax(1));
    if (rw) rw->write(b);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::optional<double> accuracy;
  std::int64_t correct = 0;
  if (rw) {
    const auto s = rw->finish(seconds);
    accuracy = s.accuracy;
    correct = s.correct;
  } else if (labels.defined()) {
    correct = predictions.eq(labels).sum().item<std::int64_t>();
    accuracy = static_cast<double>(correct) / static_cast<double>(plan.images);
  }
  const std::int64_t shown = std::min<std::int64_t>(plan.images, 20);
  const auto* p = predictions.data_ptr<std::int64_t>();
  fmt::print("predictions{}: {}{}\n", shown < plan.images ? fmt::format(" (first {})", shown) : "",
             fmt::join(p, p + shown, " "), shown < plan.images ? " ..." : "");
  if (accuracy) fmt::print("accuracy: {}/{} = {:.4f}\n", correct, plan.images, *accuracy);
  fmt::print("{:.2f} s, {:.1f} images/s\n", seconds, plan.images / std::max(seconds, 1e-9));
  if (writer) {
    writer->commit();
    fmt::print("wrote {}\n", a.out);
  }
  return 0;
}

int run_zoo_model(const RunArgs& a, const analysis::RunOptions& opt, LoadedModel& m) {
  CONVDYN_CHECK(a.opt.cordsnet.image_steps == analysis::CordsNetProtocol{}.image_steps &&
                    a.opt.cordsnet.spontaneous_steps == analysis::CordsNetProtocol{}.spontaneous_steps &&
                    a.opt.cordsnet.alpha == analysis::CordsNetProtocol{}.alpha,
                ValueError, "--steps, --spontaneous and --alpha are CordsNet options; the zoo's are --times, "
                "--image-off, --off-value, --constant");
  model::check_whole_network(m.ckpt);
  auto io = input_options(a);
  const auto mean = io.mean, std = io.std;
  io.mean.clear();
  io.std.clear();
  std::string described;
  const at::Tensor images =
      analysis::prepare_zoo_images(a.images, model::read_images(a.images, io), mean, std, a.any_size, &described);
  model::ConvRNNNetworkOptions no;
  no.height = images.size(2);
  no.width = images.size(3);
  no.dtype = opt.dtype;
  no.device = opt.device;
  const model::ConvRNNNetwork net(m.ckpt, no);
  m.net.architecture = fmt::format("ConvRNN zoo network ({}, {} layers + imnetds)", net.family(), net.nodes().size() - 1);
  const auto plan = analysis::plan_zoo_run(net, images.sizes(), opt, a.ckpt.path);
  const auto labels = read_run_labels(a, plan.images, plan.classes, a.images);
  const auto header = fmt::format("{}: {}; {} image(s) from {} ({}); {}; {}, batches of {}", a.ckpt.path,
                                  net.describe(), plan.images, a.images, described, plan.protocol, a.dtype, plan.batch);
  return run_and_report(a, m, plan, labels, described, header, [&](const auto& sink) {
    analysis::run_zoo(net, images.to(opt.dtype), plan, opt, sink);
  });
}

int run_model(const RunArgs& a) {
  const auto opt = run_options(a);
  const auto io = input_options(a);
  CONVDYN_CHECK(!(a.out.empty() && !a.record.empty()), ValueError, "--record needs --out (the recordings go there)");
  CONVDYN_CHECK(a.ckpt.size.empty(), ValueError,
                "--size does not apply to run: every layer's size follows the images' (zoo: --any-size)");
  analysis::LoadModelOptions lo;
  lo.key = a.ckpt.key;
  lo.zoo_cells = false;  // the network builds its cells at the sizes its images give
  LoadedModel m = analysis::load_model(a.ckpt.path, lo);
  if (m.kind == ModelKind::ConvRNN) return run_zoo_model(a, opt, m);
  CONVDYN_CHECK(m.kind == ModelKind::CordsNet, ValueError,
                "{}: not a CordsNet or ConvRNN zoo checkpoint (run needs a whole model)", a.ckpt.path);
  CONVDYN_CHECK(!a.zoo_flags_given(), ValueError,
                "--times, --image-off, --off-value, --constant, --all-times and --any-size are ConvRNN zoo options");
  const model::CordsNet net(m.ckpt, opt.dtype, opt.device);
  const at::Tensor images = model::read_images(a.images, io);
  const auto plan = analysis::plan_cordsnet_run(net, images.sizes(), opt);
  const auto labels = read_run_labels(a, plan.images, plan.classes, a.images);
  const auto header = fmt::format("{}: {}, {} image(s) {}x{}x{} from {} ({}), {}; {}, batches of {}", a.ckpt.path,
                                  m.net.architecture, plan.images, images.size(1), images.size(2), images.size(3),
                                  a.images, model::describe_normalisation(io), plan.protocol, a.dtype, plan.batch);
  return run_and_report(a, m, plan, labels, model::describe_normalisation(io), header,
                        [&](const auto& sink) { analysis::run_cordsnet(net, images, plan, opt, sink); });
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Runs the model on images. Prints the predictions (argmax of the last step's logits) and, with --labels,\n"
      "the accuracy. --out writes /run (docs/results-format.md): the logits at every step [N, T, classes],\n"
      "predictions, labels and accuracy, and each --record layer's activity at every step [N, T_l, C, H, W]\n"
      "(float32, compressed).\n"
      "CordsNet, as its release: --spontaneous steps with a blank (zero) image from the zero state, then --steps\n"
      "steps with the image, alpha = dt/tau, areas updated deepest first. Images are taken as given ([N, C, H, W]\n"
      "or [N, H, W]; uint8 divided by 255), then --normalize; no resizing.\n"
      "ConvRNN zoo (TF1 checkpoint with every layer conv1 .. imnetds), as its run_model.py: RGB images\n"
      "224x224 ([N, 3, H, W] or [N, H, W, 3], values in [0, 1]; uint8 divided by 255) normalised by the\n"
      "ImageNet mean/std (--normalize replaces them), unrolled from rest for --times steps (default 16 shallow,\n"
      "17 intermediate, 22/30 for *_t22/*_t30), the image at steps < --image-off (default 12; the t22/t30 models\n"
      "and --constant: every step), then the constant --off-value 0.5. A recorded layer conv_l is stored from\n"
      "step l on, as run_model.py returns it (--all-times: every step); the logits at every step.");
  add_checkpoint_options(*cmd, a->ckpt);
  cmd->add_option("--images", a->images, "image file: .npy, HDF5 or MNIST IDX (raw or gzip)")->required();
  cmd->add_option("--labels", a->labels,
                  "class labels of the images: MNIST IDX labels (raw or gzip), .npy 1-D integers or text");
  cmd->add_option("--dataset", a->dataset, "HDF5 --images: the dataset (default: the only 3-/4-D one)");
  cmd->add_option("--limit", a->limit, "run at most this many images (0: all)")->capture_default_str();
  cmd->add_option("--offset", a->offset, "skip this many first images (and labels)")->capture_default_str();
  cmd->add_option("--normalize", a->normalize,
                  "MEAN,STD (every channel) or MEAN_1,..,MEAN_C,STD_1,..,STD_C: x <- (x - mean[c]) / std[c] after "
                  "the scaling, as the model's training did")
      ->delimiter(',');
  cmd->add_option("--scale", a->scale, "multiply every value by this first (0: uint8 / 255, float as given)")
      ->capture_default_str();
  cmd->add_option("--record", a->record,
                  "layers whose activity to store at every step (CordsNet: area_conv.0, ...; zoo: conv1, ...; or all)")
      ->delimiter(',');
  cmd->add_option("--steps", a->opt.cordsnet.image_steps, "steps with the image (T)")->capture_default_str();
  cmd->add_option("--spontaneous", a->opt.cordsnet.spontaneous_steps, "steps with a blank image before it")
      ->capture_default_str();
  cmd->add_option("--alpha", a->opt.cordsnet.alpha, "dt / tau of the discretised dynamics")->capture_default_str();
  cmd->add_option("--times", a->opt.zoo.times, "zoo: unrolled steps (run_model.py's times)");
  cmd->add_option("--image-off", a->opt.zoo.image_off,
                  "zoo: the step from which the blank replaces the image (run_model.py's image_off; needs --times)");
  cmd->add_option("--off-value", a->opt.zoo.off_value, "zoo: the blank frame's value, in normalised units")
      ->capture_default_str();
  cmd->add_flag("--constant", a->opt.zoo.constant,
                "zoo: the image at every step (run_model.py's image_pres constant; needs --times)");
  cmd->add_flag("--all-times", a->opt.zoo.all_times,
                "zoo: record every step of each layer (run_model.py's include_all_times)");
  cmd->add_flag("--any-size", a->any_size, "zoo: run images other than 224x224 at their own size");
  cmd->add_option("--batch", a->opt.batch, "images per batch (fewer when the recordings would pass 1 GiB)")
      ->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float32 (as trained) or float64")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--warn-gb", a->warn_gb, "warn when the recordings exceed this many GB")->capture_default_str();
  cmd->add_option("--out", a->out, "write /run to this HDF5 file");
  cmd->add_flag("--force", a->force, "overwrite an existing --out file");
  cmd->add_flag("--append", a->append, "add /run to an existing --out file of the same checkpoint");
  cmd->add_flag("-q,--quiet", a->quiet, "no progress messages on stderr");
  cmd->callback([a] { throw CommandResult(run_model(*a)); });
}

}  // namespace convdyn::apps
