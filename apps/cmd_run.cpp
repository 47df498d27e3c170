// convdyn run CKPT --images FILE: the model itself on images: logits at every step, predictions, accuracy and
// the recorded areas' activity (/run in the results file).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <optional>

#include "analysis/model_run.hpp"
#include "analysis/results.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
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
  analysis::RunOptions opt;  ///< protocol numbers and batch bound directly
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

int run_model(const RunArgs& a) {
  const auto opt = run_options(a);
  const auto io = input_options(a);
  CONVDYN_CHECK(!(a.out.empty() && !a.record.empty()), ValueError, "--record needs --out (the recordings go there)");
  const LoadedModel m = load_model(a.ckpt, {});
  CONVDYN_CHECK(m.kind != ModelKind::ConvRNN, ValueError,
                "{}: running a ConvRNN zoo network on images is not supported in this version (only CordsNet "
                "checkpoints); the zoo's cells are analysed one layer at a time by spectrum and stability",
                a.ckpt.path);
  CONVDYN_CHECK(m.kind == ModelKind::CordsNet, ValueError,
                "{}: not a CordsNet checkpoint (run needs a whole model: inp_conv, area_conv.*, out_fc)", a.ckpt.path);
  const model::CordsNet net(m.ckpt, opt.dtype, opt.device);
  const at::Tensor images = model::read_images(a.images, io);
  at::Tensor labels;
  if (!a.labels.empty()) {
    model::InputOptions lo;
    lo.limit = a.limit;
    lo.offset = a.offset;
    labels = model::read_labels(a.labels, lo);
    CONVDYN_CHECK(labels.size(0) == images.size(0), ValueError, "{}: {} labels for the {} images of {}", a.labels,
                  labels.size(0), images.size(0), a.images);
  }
  const auto plan = analysis::plan_cordsnet_run(net, images.sizes(), opt);
  if (labels.defined()) {
    const auto top = labels.max().item<std::int64_t>();
    CONVDYN_CHECK(top < plan.classes, ValueError, "{}: label {} is not a class of this model ({} classes)", a.labels,
                  top, plan.classes);
  }
  const std::uint64_t bytes = plan.recorded_bytes();
  if (static_cast<double>(bytes) > a.warn_gb * 1e9)
    fmt::print(stderr,
               "warning: the recordings ({}) of {} images take {} before compression in {}; fewer with --limit or "
               "--record\n",
               fmt::join(a.record, ","), plan.images, gigabytes(bytes), a.out);
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  fmt::print("{}: {}, {} image(s) {}x{}x{} from {} ({}), {}; {}, batches of {}\n", a.ckpt.path, m.net.architecture,
             plan.images, images.size(1), images.size(2), images.size(3), a.images, model::describe_normalisation(io),
             plan.protocol, a.dtype, plan.batch);
  std::optional<analysis::RunWriter> rw;
  if (writer) rw.emplace(*writer, plan, labels, a.images, model::describe_normalisation(io));
  at::Tensor predictions = at::empty({plan.images}, at::TensorOptions().dtype(at::kLong));
  const auto t0 = std::chrono::steady_clock::now();
  analysis::run_cordsnet(net, images, plan, opt, [&](const analysis::RunBatch& b) {
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
  if (accuracy)
    fmt::print("accuracy: {}/{} = {:.4f}\n", correct, plan.images, *accuracy);
  fmt::print("{:.2f} s, {:.1f} images/s\n", seconds, plan.images / std::max(seconds, 1e-9));
  if (writer) {
    writer->commit();
    fmt::print("wrote {}\n", a.out);
  }
  return 0;
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Runs a CordsNet on images as its release does: --spontaneous steps with a blank (zero) image from the\n"
      "zero state (the spontaneous activity settles), then --steps steps with the image, alpha = dt/tau, areas\n"
      "updated deepest first. Prints the predictions (argmax of the last step's logits) and, with --labels, the\n"
      "accuracy. --out writes /run (docs/results-format.md): logits at every image step [N, T, classes],\n"
      "predictions, labels and accuracy, and the activity r of each --record area at every image step\n"
      "[N, T, C, H, W] (float32, compressed). Images are taken as given ([N, C, H, W] or [N, H, W]; uint8\n"
      "divided by 255), then --normalize; they must have the size the model was trained on (no resizing).\n"
      "ConvRNN zoo checkpoints are not supported by run in this version.");
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
  cmd->add_option("--record", a->record, "areas whose activity to store at every step (area_conv.0,..., or all)")
      ->delimiter(',');
  cmd->add_option("--steps", a->opt.cordsnet.image_steps, "steps with the image (T)")->capture_default_str();
  cmd->add_option("--spontaneous", a->opt.cordsnet.spontaneous_steps, "steps with a blank image before it")
      ->capture_default_str();
  cmd->add_option("--alpha", a->opt.cordsnet.alpha, "dt / tau of the discretised dynamics")->capture_default_str();
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
