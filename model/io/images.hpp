// Image inputs for model runs and stability analyses: NumPy .npy, HDF5 and MNIST IDX files as float64
// [N, C, H, W], and their class labels.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace convdyn::model {

struct InputOptions {
  /// HDF5 only: dataset path inside the file. Empty = the only 4-D (or 3-D) dataset; an error listing the
  /// candidates if there are several.
  std::string dataset;
  std::int64_t limit = 0;   ///< read at most this many images (0 = all); more than available is clamped
  std::int64_t offset = 0;  ///< skip this many first; must be < the number of images
  /// Multiplier applied to every value. 0 = automatic: uint8 data divided by 255, float data unchanged.
  double scale = 0.0;
  /// Optional per-channel normalisation after scaling: (x - mean[c]) / std[c]. Each is empty (mean 0,
  /// std 1), one value (every channel) or one value per channel.
  std::vector<double> mean, std;
};

/// Images as a contiguous float64 [N, C, H, W] tensor (N = min(limit, images - offset)) from
///  - a NumPy .npy file (format versions 1.0, 2.0, 3.0): [N,C,H,W] or [N,H,W] (-> C=1); dtypes uint8,
///    float32, float64; C or Fortran order; little-endian. Parsed by hand: object arrays are refused,
///    nothing is ever unpickled.
///  - an HDF5 file: the dataset InputOptions::dataset (or the only 3-/4-D one), same shapes and dtypes
///    (any byte order); only the selected images are read (hyperslab).
///  - an MNIST IDX image file (magic 0x00000803, big-endian dims N,H,W, uint8 -> C=1), raw or gzip.
/// The format is recognised from the content (magic bytes "\x93NUMPY", "\x89HDF\r\n\x1a\n", gzip 1f 8b
/// holding an IDX file, raw IDX 00 00 08 03), never from the file name.
/// Values: uint8 -> x / 255 (scale = 0) or x * scale; float -> x (scale = 0) or x * scale; then the
/// optional per-channel (x - mean[c]) / std[c] (see describe_normalisation()).
///
/// Errors are one line starting with `path`. IoError: missing/unreadable file, unknown format (the
/// message lists the accepted ones), corrupt or truncated data (sizes in the header are checked against
/// the file before anything is allocated), unsupported dtype (e.g. '<i8', complex), big-endian .npy,
/// object (pickled) .npy, arrays claiming more than 4 GiB. ValueError: wrong rank, empty array, NaN/Inf
/// in the selected images, HDF5 dataset missing or ambiguous (the message lists the candidates),
/// offset/limit out of range, bad scale/mean/std.
/// Cost: one pass over the selected images (a Fortran-order .npy is read whole, at most 4 GiB).
at::Tensor read_images(const std::string& path, const InputOptions& opt = {});

/// One line describing what read_images does to the values (for --help and results files), e.g.
/// "uint8 pixels divided by 255, float pixels unchanged; then (x - mean[c]) / std[c] with mean=[0.5],
/// std=[0.25]".
std::string describe_normalisation(const InputOptions& opt);

/// Class labels as an int64 [N] tensor (N = min(limit, labels - offset), the same selection as read_images
/// with the same `limit` and `offset`; scale/mean/std are ignored) from
///  - an MNIST IDX label file (magic 0x00000801, big-endian N, uint8), raw or gzip;
///  - a NumPy .npy 1-D integer array (uint8, int16, int32, int64, uint16, uint32; little-endian);
///  - a text file of whitespace-separated non-negative integers.
/// Recognised from the content. Errors are one line starting with `path` (IoError: unreadable, unknown
/// format, truncated; ValueError: wrong rank, a negative or non-integer label, offset out of range).
at::Tensor read_labels(const std::string& path, const InputOptions& opt = {});

}  // namespace convdyn::model
