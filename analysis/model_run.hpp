// Running a model on images: per-time-step logits, final predictions and the recorded areas' activity,
// streamed batch by batch into the results file (schema: docs/results-format.md, "/run").
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/results.hpp"
#include "model/convrnn/network.hpp"
#include "model/cordsnet/cordsnet.hpp"

namespace convdyn::analysis {

/// The CordsNet release's protocol (docs/cordsnet.md, "Running the model"): `spontaneous_steps` steps with a
/// blank (zero) image from the zero state, then `image_steps` steps with the image; areas deepest first.
struct CordsNetProtocol {
  int spontaneous_steps = 100;
  int image_steps = 100;  ///< logits and recordings at each of these steps (T = image_steps)
  double alpha = 0.2;
};

/// The zoo's presentation (docs/convrnn-network.md §2): `times` unrolled steps, the image at steps t < image_off
/// (none: every step), then the constant `off_value` (in normalised units). Unset = the model's default
/// (model::default_presentation).
struct ZooProtocol {
  std::optional<std::int64_t> times, image_off;
  bool constant = false;    ///< image at every step (the zoo's image_pres "constant"); needs times
  double off_value = 0.5;
  bool all_times = false;   ///< record every step (the zoo's include_all_times), not from the layer's first_step
};

struct RunOptions {
  CordsNetProtocol cordsnet;
  ZooProtocol zoo;
  /// Layers whose activity is recorded at every step: names as `convdyn inspect` lists them
  /// (CordsNet: "area_conv.0", ...), or "all". Empty = none (logits and predictions only).
  std::vector<std::string> record;
  std::int64_t batch = 16;  ///< images processed together (lowered so a batch's recordings fit max_batch_bytes)
  std::uint64_t max_batch_bytes = std::uint64_t{1} << 30;  ///< float32 recordings held per batch
  c10::ScalarType dtype = c10::ScalarType::Float;  ///< of the simulation (logits are stored as float64)
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  std::function<void(const std::string&)> progress;  ///< one line per batch (images done, rate)
};

/// One recorded layer: stored as /run/<name>, float32 [N, steps, channels, height, width].
struct RecordedLayer {
  std::string name;
  std::int64_t channels = 0, height = 0, width = 0;
  /// Index along the logits' T axis of this layer's index 0: 0 for CordsNet areas; for the zoo the step from
  /// which its runner returns the layer (conv_l: l; docs/convrnn-network.md §1), or 0 with all_times.
  std::int64_t first_step = 0;
  std::int64_t steps = 0;
  std::uint64_t bytes_per_image() const { return 4ull * static_cast<std::uint64_t>(steps * channels * height * width); }
};

/// What a run will compute and store, known before any image is processed (sizes for the memory warning).
struct RunPlan {
  std::string protocol;  ///< one line, e.g. "CordsNet: 100 blank steps, then 100 image steps, alpha 0.2"
  std::int64_t images = 0, steps = 0, classes = 0;
  std::int64_t batch = 1;  ///< images per batch actually used
  std::vector<RecordedLayer> recorded;
  std::optional<std::int64_t> image_off;  ///< zoo: the image is shown at steps t < image_off (none: always)
  double off_value = 0.5;                 ///< zoo: the blank frame's value
  /// Bytes of all recordings (float32, before compression).
  std::uint64_t recorded_bytes() const;
};

/// The outputs of one batch (images first .. first + B - 1).
struct RunBatch {
  std::int64_t first = 0;
  at::Tensor logits;                 ///< [B, steps, classes] float64, CPU
  std::vector<at::Tensor> recorded;  ///< per RunPlan::recorded: [B, steps, C, H, W] float32, CPU, contiguous
};

/// Throws ValueError for a protocol without image steps, alpha outside (0, 1], an unknown recorded layer (the
/// message lists the valid names), a model without readout, or images the model cannot take (wrong channels
/// or size: CordsNet::check_image's message).
RunPlan plan_cordsnet_run(const model::CordsNet& net, at::IntArrayRef image_shape, const RunOptions& opt);

/// Runs every image of `images` ([N, C, H, W], any dtype; converted) under the plan's protocol, calling `sink`
/// once per batch in order. The spontaneous phase does not depend on the image: it is run once (batch 1) and
/// every image starts its image phase from that state, as the release's evaluation does.
void run_cordsnet(const model::CordsNet& net, const at::Tensor& images, const RunPlan& plan, const RunOptions& opt,
                  const std::function<void(const RunBatch&)>& sink);

/// The zoo network's run (ConvRNNNetwork: the image size is the network's). Throws ValueError for a protocol
/// without steps, image_off outside [0, times], an unknown recorded layer (listing the valid names), a layer
/// that the run never records (first_step >= times), or images of another shape than [N, 3, H, W] of the
/// network.
RunPlan plan_zoo_run(const model::ConvRNNNetwork& net, at::IntArrayRef image_shape, const RunOptions& opt,
                     const std::string& checkpoint_path);
/// Runs every image (normalised, [N, 3, H, W]) through the unrolled network from the zero state.
void run_zoo(const model::ConvRNNNetwork& net, const at::Tensor& images, const RunPlan& plan, const RunOptions& opt,
             const std::function<void(const RunBatch&)>& sink);

/// Images as the zoo's networks take them (docs/convrnn-network.md §2), from `raw` as read_images gives them
/// (uint8 already divided by 255, no mean/std applied): [N, 3, H, W], or [N, H, W, 3] (NHWC, the zoo's layout;
/// transposed), values in [0, 1], then (x - mean[c]) / std[c] with the ImageNet mean (0.485, 0.456, 0.406) and
/// std (0.229, 0.224, 0.225) unless `mean`/`std` are given (1 or 3 values each). 224 x 224 unless `any_size`.
/// Throws ValueError naming `path` for another shape, values outside [0, 1] or another size. `described` gets
/// one line of what was done.
at::Tensor prepare_zoo_images(const std::string& path, const at::Tensor& raw, const std::vector<double>& mean,
                              const std::vector<double>& std, bool any_size, std::string* described);

/// Per-image results of a finished run.
struct RunSummary {
  at::Tensor predictions;  ///< [N] int64: argmax of the last step's logits
  std::optional<double> accuracy;  ///< fraction of predictions equal to the labels, when labels were given
  std::int64_t correct = 0;
  double seconds = 0;      ///< wall time of the simulation (all batches)
};

/// Writes a run into /run of the results file as the batches arrive: /run/logits [N, T, classes] (float64),
/// /run/<layer> [N, T, C, H, W] (float32), both chunked and compressed, then on finish() /run/predictions [N]
/// and, with labels, /run/labels [N] and the accuracy attribute.
class RunWriter {
 public:
  /// `labels`: undefined, or int64 [N]. `attrs_images`: the image file and how its values were normalised.
  RunWriter(ResultsWriter& out, const RunPlan& plan, const at::Tensor& labels, const std::string& images,
            const std::string& normalisation);
  ~RunWriter();
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;
  void write(const RunBatch& b);
  /// Predictions and accuracy, written; call after the last batch.
  RunSummary finish(double seconds);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace convdyn::analysis
