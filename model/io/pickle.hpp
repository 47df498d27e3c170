// A restricted unpickler: reads the pickle of a torch.save checkpoint without executing anything.
//
// Only the opcodes of binary pickle protocols 2-5 that checkpoints use, and only an allow-list of
// globals, are accepted; any other global is refused with an error naming it. Globals are never looked
// up or called: each allowed one is interpreted by convdyn itself (OrderedDict -> dict,
// _rebuild_tensor_v2 -> tensor view of a storage, ...).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace convdyn::model {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

enum class PyKind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Tensor, Global, Opaque };
const char* to_string(PyKind k);

/// One unpickled Python value. Containers hold shared references (the pickle memo can alias them).
struct PyValue {
  PyKind kind = PyKind::None;
  bool b = false;
  std::int64_t i = 0;
  double f = 0.0;
  std::string s;                                 ///< String, Bytes, Global ("module.name"), Opaque (its type)
  std::vector<PyRef> items;                      ///< List, Tuple
  std::vector<std::pair<PyRef, PyRef>> entries;  ///< Dict, in insertion order
  at::Tensor tensor;                             ///< Tensor (also a storage: 1-D, its element type)
  int depth = 0;                                 ///< container nesting depth (for the nesting limit)

  bool is_string() const { return kind == PyKind::String; }
  /// Dict lookup by string key; nullptr when absent or not a dict.
  const PyValue* get(const std::string& key) const;
};

/// Called for each persistent id ('storage', <storage type>, key, location, numel): returns the storage
/// as a 1-D tensor of `dtype` with at least `numel` elements.
using StorageLoader =
    std::function<at::Tensor(const std::string& key, c10::ScalarType dtype, std::int64_t numel)>;

struct UnpickleLimits {
  int max_depth = 200;                    ///< nesting of containers
  std::size_t max_stack = 1u << 20;       ///< values on the stack and in the memo
};

/// Parses `data` (the bytes of data.pkl). `what` names the source in error messages. Throws ValueError
/// with a one-line message for malformed input or a forbidden global.
PyRef unpickle(const std::uint8_t* data, std::size_t size, const StorageLoader& load_storage,
               const std::string& what, const UnpickleLimits& limits = {});

/// The storage element type of a torch.*Storage class name (e.g. "torch.FloatStorage"), or throws.
c10::ScalarType storage_dtype(const std::string& global_name);

}  // namespace convdyn::model
