// A checkpoint as a flat name -> tensor map (the model's state dict), found inside whatever the file holds.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace convdyn::model {

struct LoadOptions {
  /// Where the state dict sits inside a training checkpoint, e.g. "model_state_dict" ("a/b" for nested
  /// dicts). Empty: the top level when it holds tensors, else the first of the usual keys
  /// (state_dict, model_state_dict, model, net, network, model_state, module) that holds tensors.
  std::string key;
};

struct Checkpoint {
  std::string path;
  std::string sha256;         ///< of the file's bytes, lowercase hex; for a TensorFlow bundle, of the
                              ///< index file's bytes followed by each data shard's bytes in shard order
  std::string format;         ///< "pytorch-zip" or "tf-bundle"
  std::string state_key;      ///< where the state dict was found ("" = top level)
  std::string stripped_prefix;  ///< "module." when saved from DataParallel/DDP, else ""
  std::vector<std::string> names;            ///< tensor names in file order, prefix stripped
  std::map<std::string, at::Tensor> tensors;  ///< as stored (dtype kept)

  bool has(const std::string& name) const { return tensors.count(name) > 0; }
  /// The tensor `name`; throws ValueError naming the file when absent.
  const at::Tensor& get(const std::string& name) const;
};

/// Reads `path` (format recognised by content): a torch.save zip, or a TensorFlow tensor bundle given by its
/// prefix (`.../model.ckpt`) or its `.index` file, whose float32/float64 variables become the tensors in key
/// order (TF layout kept; optimiser slots and global_step left out, see model/io/tf_bundle.hpp). Throws
/// IoError / ValueError with a one-line message that names the file.
Checkpoint load_checkpoint(const std::string& path, const LoadOptions& opt = {});

/// SHA-256 of a file's bytes (lowercase hex).
std::string sha256_file(const std::string& path);
/// SHA-256 of `bytes` (lowercase hex).
std::string sha256_bytes(const std::string& bytes);

/// A module's effective weight, with weight normalisation resolved.
struct ResolvedWeight {
  at::Tensor weight;            ///< float64, contiguous
  std::string parametrisation;  ///< "plain", "weight_norm (parametrizations)", "weight_norm (weight_g/weight_v)"
  std::vector<std::string> keys;  ///< the stored tensors it was computed from
};

/// Resolves the weight of module `module` (e.g. "area_conv.3"): `module.weight`, or weight norm in
/// either layout, weight = g * v / ||v|| with the norm over all dims but 0, computed in float64 from the
/// stored values. Returns nullopt when the module has no weight. Throws ValueError (naming the file and
/// key) for NaN/Inf values, mismatched g/v shapes or a zero-norm row.
std::optional<ResolvedWeight> resolve_weight(const Checkpoint& ckpt, const std::string& module);

/// Throws ValueError naming the file and `name` when `t` holds NaN or Inf.
void check_finite(const Checkpoint& ckpt, const std::string& name, const at::Tensor& t);

}  // namespace convdyn::model
