#include "model/io/checkpoint.hpp"

#include <ATen/ATen.h>
#include <openssl/evp.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "linalg/error.hpp"
#include "model/io/pth_reader.hpp"
#include "model/io/tf_bundle.hpp"

namespace convdyn::model {

const at::Tensor& Checkpoint::get(const std::string& name) const {
  auto it = tensors.find(name);
  CONVDYN_CHECK(it != tensors.end(), ValueError, "{}: no tensor '{}' in the state dict", path, name);
  return it->second;
}

namespace {
// Finishes a digest as lowercase hex.
std::string hex_digest(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

// SHA-256 of the files' bytes, one after the other.
std::string sha256_files(const std::vector<std::string>& paths) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  CONVDYN_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, IoError,
                "{}: cannot initialise SHA-256", paths.empty() ? "" : paths.front());
  std::vector<char> buf(1 << 20);
  for (const auto& path : paths) {
    std::ifstream f(path, std::ios::binary);
    CONVDYN_CHECK(f.good(), IoError, "{}: cannot open file ({})", path, std::strerror(errno));
    while (f) {
      f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (f.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(f.gcount()));
    }
  }
  return hex_digest(ctx.get());
}

// A TensorFlow tensor bundle: its floating-point variables in key order (float16/bfloat16 widened to float32),
// without optimiser slots and global_step. Integer, bool and string entries (counters, TF2's DT_STRING object
// graph) are metadata and skipped; any other dtype (complex, quantised, ...) could be a model parameter
// and is refused rather than silently dropped.
Checkpoint load_tf_checkpoint(const std::string& path, const LoadOptions& opt) {
  CONVDYN_CHECK(opt.key.empty(), ValueError,
                "{}: --key '{}' selects a state dict inside a PyTorch checkpoint; a TensorFlow bundle has none",
                path, opt.key);
  const TfBundle b = read_tf_bundle(path);
  Checkpoint c;
  c.path = path;
  c.format = "tf-bundle";
  for (const auto& e : b.entries) {
    if (is_optimizer_slot(e.name)) continue;
    const bool floating = e.dtype == "float32" || e.dtype == "float64" || e.dtype == "float16" || e.dtype == "bfloat16";
    const bool metadata = e.dtype == "string" || e.dtype == "bool" || e.dtype.rfind("int", 0) == 0 ||
                          e.dtype.rfind("uint", 0) == 0 || e.dtype == "resource" || e.dtype == "variant";
    if (metadata) continue;
    CONVDYN_CHECK(floating, ValueError, "{}: variable '{}' has dtype {}, which convdyn cannot analyse", path, e.name,
                  e.dtype);
    auto t = read_tf_tensor(b, e);
    if (e.dtype == "float16" || e.dtype == "bfloat16") t = t.to(at::kFloat);
    c.tensors.emplace(e.name, std::move(t));
    c.names.push_back(e.name);
  }
  CONVDYN_CHECK(!c.names.empty(), ValueError,
                "{}: the TensorFlow checkpoint holds no float32/float64 model variables ({} entries, all optimiser "
                "state or other dtypes)",
                path, b.entries.size());
  std::vector<std::string> files{b.index_path};
  files.insert(files.end(), b.shard_paths.begin(), b.shard_paths.end());
  c.sha256 = sha256_files(files);
  return c;
}
}  // namespace

std::string sha256_file(const std::string& path) { return sha256_files({path}); }

std::string sha256_bytes(const std::string& bytes) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  CONVDYN_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, IoError, "cannot initialise SHA-256");
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return hex_digest(ctx.get());
}

namespace {

std::size_t count_tensors(const PyValue& d) {
  std::size_t n = 0;
  for (const auto& [k, v] : d.entries)
    if (k->is_string() && v->kind == PyKind::Tensor) ++n;
  return n;
}

std::string list_keys(const PyValue& d) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : d.entries)
    if (k->is_string() && keys.size() < 12) keys.push_back("'" + k->s + "'");
  return fmt::format("{}", fmt::join(keys, ", "));
}

const PyValue* find_state_dict(const PyValue& root, const std::string& path, const LoadOptions& opt,
                               std::string& found) {
  CONVDYN_CHECK(root.kind == PyKind::Dict, ValueError,
                "{}: holds a {}, not a state dict (a dict of tensors)", path, to_string(root.kind));
  if (!opt.key.empty()) {
    const PyValue* cur = &root;
    std::size_t start = 0;
    while (true) {
      const auto slash = opt.key.find('/', start);
      const std::string part = opt.key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      const PyValue* next = cur->get(part);
      CONVDYN_CHECK(next, ValueError, "{}: no key '{}' (--key {}); available: {}", path, part, opt.key,
                    list_keys(*cur));
      cur = next;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    CONVDYN_CHECK(cur->kind == PyKind::Dict && count_tensors(*cur) > 0, ValueError,
                  "{}: '{}' is not a state dict (a dict of tensors)", path, opt.key);
    found = opt.key;
    return cur;
  }
  if (count_tensors(root) > 0) return &root;
  for (const char* k : {"state_dict", "model_state_dict", "model", "net", "network", "model_state", "module"}) {
    const PyValue* v = root.get(k);
    if (v && v->kind == PyKind::Dict && count_tensors(*v) > 0) {
      found = k;
      return v;
    }
  }
  throw ValueError(fmt::format("{}: no state dict found (top-level keys: {}); choose one with --key", path,
                               list_keys(root)));
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path, const LoadOptions& opt) {
  // A bundle by content; a prefix whose .index is damaged goes there too, for the error that names it.
  std::error_code ec;
  namespace fs = std::filesystem;
  if (is_tf_bundle(path) || (!fs::exists(path, ec) && fs::is_regular_file(path + ".index", ec)))
    return load_tf_checkpoint(path, opt);
  PyRef root = read_pth(path);
  Checkpoint c;
  c.path = path;
  c.format = "pytorch-zip";
  const PyValue* sd = find_state_dict(*root, path, opt, c.state_key);
  std::vector<std::pair<std::string, at::Tensor>> items;
  for (const auto& [k, v] : sd->entries)
    if (k->is_string() && v->kind == PyKind::Tensor) items.emplace_back(k->s, v->tensor);
  // DataParallel/DDP ("module.") and torch.compile ("_orig_mod.") wrap every key in a prefix.
  for (const char* prefix : {"module.", "_orig_mod."}) {
    const std::string p = prefix;
    bool all = !items.empty();
    for (const auto& it : items) all = all && it.first.rfind(p, 0) == 0;
    if (!all) continue;
    for (auto& it : items) it.first.erase(0, p.size());
    c.stripped_prefix += p;
  }
  for (auto& [name, t] : items) {
    if (c.tensors.emplace(name, t).second) c.names.push_back(name);
  }
  c.sha256 = sha256_file(path);
  return c;
}

void check_finite(const Checkpoint& ckpt, const std::string& name, const at::Tensor& t) {
  if (!at::isFloatingType(t.scalar_type())) return;
  const bool has_nan = at::isnan(t).any().item<bool>();
  CONVDYN_CHECK(!has_nan, ValueError, "{}: tensor '{}' holds NaN", ckpt.path, name);
  const bool has_inf = at::isinf(t).any().item<bool>();
  CONVDYN_CHECK(!has_inf, ValueError, "{}: tensor '{}' holds Inf", ckpt.path, name);
}

std::optional<ResolvedWeight> resolve_weight(const Checkpoint& ckpt, const std::string& module) {
  const std::string m = module.empty() ? "" : module + ".";
  std::string gk, vk, layout;
  if (ckpt.has(m + "parametrizations.weight.original0") && ckpt.has(m + "parametrizations.weight.original1")) {
    gk = m + "parametrizations.weight.original0";
    vk = m + "parametrizations.weight.original1";
    layout = "weight_norm (parametrizations)";
  } else if (ckpt.has(m + "weight_g") && ckpt.has(m + "weight_v")) {
    gk = m + "weight_g";
    vk = m + "weight_v";
    layout = "weight_norm (weight_g/weight_v)";
  } else if (ckpt.has(m + "weight")) {
    const auto& w = ckpt.get(m + "weight");
    check_finite(ckpt, m + "weight", w);
    CONVDYN_CHECK(at::isFloatingType(w.scalar_type()), ValueError, "{}: '{}' is not a floating-point tensor",
                  ckpt.path, m + "weight");
    return ResolvedWeight{w.to(at::kDouble).contiguous(), "plain", {m + "weight"}};
  } else {
    CONVDYN_CHECK(!ckpt.has(m + "parametrizations.weight.original"), ValueError,
                  "{}: '{}' has a parametrisation other than weight_norm (only original0/original1 is supported)",
                  ckpt.path, module);
    return std::nullopt;
  }
  const auto& g = ckpt.get(gk);
  const auto& v = ckpt.get(vk);
  check_finite(ckpt, gk, g);
  check_finite(ckpt, vk, v);
  CONVDYN_CHECK(v.dim() >= 1 && g.numel() == v.size(0), ValueError,
                "{}: weight norm of '{}': g has {} elements but v has {} output rows", ckpt.path, module,
                g.numel(), v.dim() >= 1 ? v.size(0) : 0);
  const at::Tensor vd = v.to(at::kDouble);
  const at::Tensor rows = vd.reshape({vd.size(0), -1});
  const at::Tensor norms = rows.norm(2, {1}, /*keepdim=*/true);
  CONVDYN_CHECK(norms.min().item<double>() > 0.0, ValueError,
                "{}: weight norm of '{}': a row of v is zero (the weight is undefined)", ckpt.path, module);
  const at::Tensor gd = g.to(at::kDouble).reshape({vd.size(0), 1});
  at::Tensor w = (rows * (gd / norms)).reshape(vd.sizes()).contiguous();
  return ResolvedWeight{w, layout, {gk, vk}};
}

}  // namespace convdyn::model
