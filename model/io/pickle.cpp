#include "model/io/pickle.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "linalg/error.hpp"

namespace convdyn::model {

const char* to_string(PyKind k) {
  switch (k) {
    case PyKind::None: return "None";
    case PyKind::Bool: return "bool";
    case PyKind::Int: return "int";
    case PyKind::Float: return "float";
    case PyKind::String: return "str";
    case PyKind::Bytes: return "bytes";
    case PyKind::List: return "list";
    case PyKind::Tuple: return "tuple";
    case PyKind::Dict: return "dict";
    case PyKind::Tensor: return "tensor";
    case PyKind::Global: return "global";
    case PyKind::Opaque: return "object";
  }
  return "?";
}

const PyValue* PyValue::get(const std::string& key) const {
  if (kind != PyKind::Dict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->kind == PyKind::String && k->s == key) return v.get();
  return nullptr;
}

c10::ScalarType storage_dtype(const std::string& name) {
  static const std::pair<const char*, c10::ScalarType> table[] = {
      {"torch.FloatStorage", at::kFloat},     {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},       {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},       {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},     {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},       {"torch.BoolStorage", at::kBool},
      {"torch.ComplexFloatStorage", at::kComplexFloat}, {"torch.ComplexDoubleStorage", at::kComplexDouble},
  };
  for (const auto& [n, t] : table)
    if (name == n) return t;
  throw ValueError(fmt::format("unsupported storage type '{}'", name));
}

namespace {

// Globals a checkpoint may name. Each is interpreted here, never resolved or called.
enum class GlobalId {
  OrderedDict, RebuildTensorV2, RebuildParameter, RebuildParameterWithState, RebuildFromTypeV2,
  TensorType, ParameterType, StorageType, CodecsEncode, Inert
};

bool lookup_global(const std::string& name, GlobalId& id) {
  static const std::unordered_map<std::string, GlobalId> allowed = {
      {"collections.OrderedDict", GlobalId::OrderedDict},
      {"torch._utils._rebuild_tensor_v2", GlobalId::RebuildTensorV2},
      {"torch._utils._rebuild_parameter", GlobalId::RebuildParameter},
      {"torch._utils._rebuild_parameter_with_state", GlobalId::RebuildParameterWithState},
      {"torch._tensor._rebuild_from_type_v2", GlobalId::RebuildFromTypeV2},
      {"torch.Tensor", GlobalId::TensorType},
      {"torch._tensor.Tensor", GlobalId::TensorType},
      {"torch.nn.parameter.Parameter", GlobalId::ParameterType},
      {"_codecs.encode", GlobalId::CodecsEncode},
      // Values training scripts put beside a state dict; kept as inert placeholders, never evaluated.
      {"numpy.core.multiarray.scalar", GlobalId::Inert},
      {"numpy.dtype", GlobalId::Inert},
      {"numpy.core.multiarray._reconstruct", GlobalId::Inert},
      {"numpy.ndarray", GlobalId::Inert},
      {"torch.device", GlobalId::Inert},
      {"torch.torch_version.TorchVersion", GlobalId::Inert},
  };
  auto it = allowed.find(name);
  if (it != allowed.end()) {
    id = it->second;
    return true;
  }
  if (name.rfind("torch.", 0) == 0 && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0) {
    id = GlobalId::StorageType;
    return true;
  }
  return false;
}

class Unpickler {
 public:
  Unpickler(const std::uint8_t* data, std::size_t size, const StorageLoader& loader, const std::string& what,
            const UnpickleLimits& limits)
      : p_(data), end_(data + size), begin_(data), loader_(loader), what_(what), limits_(limits) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;
  // Fuzzing fix (memo cycles, deep chains): the memo lets a pickle append a container into itself or into
  // one of its own descendants (a reference cycle of shared_ptrs, i.e. a leak), or grow a chain deeper
  // than max_depth after the per-append depth check (adopt() only sees the child's depth at that moment),
  // whose recursive destruction could overflow the stack. Every container made here is registered in
  // containers_; on the way out, success or error, the child references of every container not in keep_
  // (the validated, acyclic, depth-bounded result of STOP) are cleared while containers_ still holds them
  // all, so nothing is destroyed recursively and no cycle survives.
  ~Unpickler() {
    for (auto& c : containers_)
      if (!keep_.count(c.get())) {
        c->items.clear();
        c->entries.clear();
      }
  }

  PyRef run();

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw ValueError(fmt::format("{}: {} (pickle offset {})", what_, msg, static_cast<long>(op_pos_ - begin_)));
  }
  void need(std::size_t n) const {
    if (static_cast<std::size_t>(end_ - p_) < n) fail("truncated pickle");
  }
  std::uint8_t u8() { need(1); return *p_++; }
  template <typename T>
  T le() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof(T));  // checkpoints are little-endian; so is every supported host
    p_ += sizeof(T);
    return v;
  }
  std::string bytes(std::uint64_t n) {
    need(n);
    std::string s(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    return s;
  }
  std::string line() {
    const std::uint8_t* nl = static_cast<const std::uint8_t*>(std::memchr(p_, '\n', static_cast<std::size_t>(end_ - p_)));
    if (!nl) fail("truncated pickle (unterminated GLOBAL)");
    std::string s(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(nl - p_));
    p_ = nl + 1;
    return s;
  }

  PyRef make(PyKind k) {
    auto v = std::make_shared<PyValue>();
    v->kind = k;
    if (k == PyKind::List || k == PyKind::Tuple || k == PyKind::Dict) containers_.push_back(v);  // see ~Unpickler
    return v;
  }
  static bool is_container(const PyValue& v) {
    return v.kind == PyKind::List || v.kind == PyKind::Tuple || v.kind == PyKind::Dict;
  }
  // The true nesting height of the value STOP returns (the incremental depth in adopt() can be stale):
  // refuses reference cycles and nesting deeper than max_depth, and records every container reached in
  // keep_ (height memoised, so shared sub-trees are visited once). Recursion is bounded by max_depth.
  int checked_height(const PyValue& v, int depth) {
    if (!is_container(v)) return 0;
    if (depth > limits_.max_depth) fail(fmt::format("containers nested deeper than {}", limits_.max_depth));
    const auto [it, fresh] = keep_.try_emplace(&v, -1);  // -1: on the current path
    if (!fresh) {
      if (it->second < 0) fail("reference cycle: a container contains itself");
      return it->second;
    }
    int h = 0;
    for (const auto& c : v.items) h = std::max(h, checked_height(*c, depth + 1) + 1);
    for (const auto& [k, c] : v.entries)
      h = std::max({h, checked_height(*k, depth + 1) + 1, checked_height(*c, depth + 1) + 1});
    if (h > limits_.max_depth) fail(fmt::format("containers nested deeper than {}", limits_.max_depth));
    keep_[&v] = h;
    return h;
  }
  PyRef make_int(std::int64_t i) { auto v = make(PyKind::Int); v->i = i; return v; }
  PyRef make_str(std::string s, PyKind k = PyKind::String) { auto v = make(k); v->s = std::move(s); return v; }

  void push(PyRef v) {
    if (stack_.size() + memo_.size() >= limits_.max_stack) fail("pickle too large (stack limit)");
    stack_.push_back(std::move(v));
  }
  PyRef pop() {
    if (stack_.size() <= mark_floor()) fail("pickle stack underflow");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef& top() {
    if (stack_.size() <= mark_floor()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<PyRef> pop_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                             std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  void adopt(PyValue& parent, const PyRef& child) {
    if (child->depth + 1 > limits_.max_depth) fail(fmt::format("containers nested deeper than {}", limits_.max_depth));
    parent.depth = std::max(parent.depth, child->depth + 1);
  }
  PyRef make_seq(PyKind k, std::vector<PyRef> items) {
    auto v = make(k);
    for (const auto& it : items) adopt(*v, it);
    v->items = std::move(items);
    return v;
  }
  void memo_put(std::uint64_t idx) {
    if (stack_.empty()) fail("memo store with empty stack");
    if (idx > limits_.max_stack) fail("memo index out of range");
    if (memo_.size() <= idx) memo_.resize(static_cast<std::size_t>(idx) + 1);
    memo_[static_cast<std::size_t>(idx)] = stack_.back();
  }
  void memo_get(std::uint64_t idx) {
    if (idx >= memo_.size() || !memo_[static_cast<std::size_t>(idx)]) fail("memo key missing");
    push(memo_[static_cast<std::size_t>(idx)]);
  }
  void set_items(PyRef& dict, std::vector<PyRef>& kv) {
    if (dict->kind == PyKind::Opaque) return;  // inert object: drop its state
    if (dict->kind != PyKind::Dict) fail(fmt::format("SETITEM on a {}", to_string(dict->kind)));
    if (kv.size() % 2) fail("odd number of items for SETITEMS");
    for (std::size_t i = 0; i < kv.size(); i += 2) {
      adopt(*dict, kv[i + 1]);
      dict->entries.emplace_back(std::move(kv[i]), std::move(kv[i + 1]));
    }
  }
  void append_items(PyRef& list, std::vector<PyRef>& items) {
    if (list->kind == PyKind::Opaque) return;
    if (list->kind != PyKind::List) fail(fmt::format("APPEND on a {}", to_string(list->kind)));
    for (auto& it : items) {
      adopt(*list, it);
      list->items.push_back(std::move(it));
    }
  }

  PyRef global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    GlobalId id;
    if (!lookup_global(full, id))
      fail(fmt::format("refusing to load: the pickle asks for the global '{}', which a checkpoint never needs "
                       "(nothing was executed)",
                       full));
    return make_str(full, PyKind::Global);
  }
  PyRef reduce(const PyRef& callable, const PyRef& args);
  PyRef persistent_load(const PyRef& pid);
  PyRef rebuild_tensor(const std::vector<PyRef>& a);
  std::int64_t as_int(const PyRef& v, const char* what) {
    if (v->kind == PyKind::Int) return v->i;
    if (v->kind == PyKind::Bool) return v->b;
    fail(fmt::format("{} must be an int, got {}", what, to_string(v->kind)));
  }

  const std::uint8_t* p_;
  const std::uint8_t* end_;
  const std::uint8_t* begin_;
  const std::uint8_t* op_pos_ = nullptr;
  const StorageLoader& loader_;
  const std::string& what_;
  UnpickleLimits limits_;
  std::vector<PyRef> stack_;
  std::vector<std::size_t> marks_;
  std::vector<PyRef> memo_;
  std::unordered_map<std::string, at::Tensor> storages_;
  std::vector<PyRef> containers_;                  ///< every list/tuple/dict made (see ~Unpickler)
  std::unordered_map<const PyValue*, int> keep_;   ///< containers of the checked result -> height
};

PyRef Unpickler::persistent_load(const PyRef& pid) {
  if (pid->kind != PyKind::Tuple || pid->items.size() < 5 || !pid->items[0]->is_string() ||
      pid->items[0]->s != "storage")
    fail("unsupported persistent id (expected ('storage', type, key, location, numel))");
  const auto& type = pid->items[1];
  const auto& key = pid->items[2];
  if (type->kind != PyKind::Global) fail("persistent id: storage type is not a class");
  if (!key->is_string()) fail("persistent id: storage key is not a string");
  const std::int64_t numel = as_int(pid->items[4], "storage size");
  if (numel < 0) fail("negative storage size");
  c10::ScalarType dtype;
  try {
    dtype = storage_dtype(type->s);
  } catch (const ValueError& e) {
    fail(e.what());
  }
  auto it = storages_.find(key->s);
  if (it == storages_.end()) {
    at::Tensor t = loader_(key->s, dtype, numel);
    if (t.numel() < numel) fail(fmt::format("storage '{}' holds {} elements, {} declared", key->s, t.numel(), numel));
    it = storages_.emplace(key->s, t).first;
  }
  auto v = make(PyKind::Tensor);
  v->tensor = it->second;
  return v;
}

PyRef Unpickler::rebuild_tensor(const std::vector<PyRef>& a) {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (a.size() < 4) fail("_rebuild_tensor_v2: too few arguments");
  if (a[0]->kind != PyKind::Tensor) fail("_rebuild_tensor_v2: first argument is not a storage");
  const at::Tensor& storage = a[0]->tensor;
  const std::int64_t offset = as_int(a[1], "storage offset");
  if (a[2]->kind != PyKind::Tuple || a[3]->kind != PyKind::Tuple || a[2]->items.size() != a[3]->items.size())
    fail("_rebuild_tensor_v2: size and stride must be tuples of equal length");
  if (a[2]->items.size() > 16) fail("_rebuild_tensor_v2: more than 16 dimensions");
  std::vector<std::int64_t> size, stride;
  bool empty = false;
  for (std::size_t d = 0; d < a[2]->items.size(); ++d) {
    size.push_back(as_int(a[2]->items[d], "tensor size"));
    stride.push_back(as_int(a[3]->items[d], "tensor stride"));
    if (size.back() < 0 || stride.back() < 0) fail("_rebuild_tensor_v2: negative size or stride");
    empty = empty || size.back() == 0;
  }
  if (offset < 0) fail("_rebuild_tensor_v2: negative storage offset");
  if (!empty) {
    // Highest element index touched, computed without overflow; it must lie inside the storage.
    const std::int64_t limit = storage.numel();
    std::int64_t last = offset;
    if (last >= limit) fail("tensor extends past the end of its storage");
    for (std::size_t d = 0; d < size.size(); ++d) {
      const std::int64_t s = size[d], st = stride[d];
      if (st > 0 && (s - 1) > (limit - 1 - last) / st) fail("tensor extends past the end of its storage");
      last += (s - 1) * st;
    }
    // Stride-0 (expanded) dimensions can make a tiny storage claim a huge tensor: cap the copy.
    std::int64_t numel = 1;
    for (const auto s : size) {
      if (numel > (std::int64_t{1} << 40) / s) fail("tensor shape too large");
      numel *= s;
    }
    if (numel > std::max<std::int64_t>(limit, std::int64_t{1} << 28)) fail("tensor claims more elements than its storage backs");
  }
  auto v = make(PyKind::Tensor);
  v->tensor = empty ? at::empty(size, storage.options()) : storage.as_strided(size, stride, offset).clone();
  return v;
}

PyRef Unpickler::reduce(const PyRef& callable, const PyRef& args) {
  if (callable->kind != PyKind::Global) fail(fmt::format("REDUCE on a {}", to_string(callable->kind)));
  if (args->kind != PyKind::Tuple) fail("REDUCE arguments are not a tuple");
  GlobalId id;
  lookup_global(callable->s, id);  // only allowed globals exist as values
  const auto& a = args->items;
  switch (id) {
    case GlobalId::OrderedDict: {
      auto d = make(PyKind::Dict);
      if (!a.empty()) {  // OrderedDict([(k, v), ...])
        if (a[0]->kind != PyKind::List && a[0]->kind != PyKind::Tuple) fail("OrderedDict argument not a list");
        for (const auto& kv : a[0]->items) {
          if (kv->kind != PyKind::Tuple || kv->items.size() != 2) fail("OrderedDict item is not a pair");
          adopt(*d, kv->items[1]);
          d->entries.emplace_back(kv->items[0], kv->items[1]);
        }
      }
      return d;
    }
    case GlobalId::RebuildTensorV2: return rebuild_tensor(a);
    case GlobalId::RebuildParameter:
    case GlobalId::RebuildParameterWithState:
      if (a.empty() || a[0]->kind != PyKind::Tensor) fail("_rebuild_parameter: first argument is not a tensor");
      return a[0];
    case GlobalId::RebuildFromTypeV2: {
      // (func, type, args, state): only plain tensors and parameters, rebuilt by an allowed func.
      if (a.size() < 3 || a[0]->kind != PyKind::Global || a[1]->kind != PyKind::Global)
        fail("_rebuild_from_type_v2: malformed arguments");
      GlobalId type_id;
      lookup_global(a[1]->s, type_id);
      if (type_id != GlobalId::TensorType && type_id != GlobalId::ParameterType)
        fail(fmt::format("_rebuild_from_type_v2 of unsupported type '{}'", a[1]->s));
      return reduce(a[0], a[2]);
    }
    case GlobalId::CodecsEncode: {
      if (a.empty() || !a[0]->is_string()) fail("_codecs.encode: expected a string");
      // encode(str, 'latin1'): each code point < 256 becomes one byte.
      std::string out;
      const std::string& s = a[0]->s;
      for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) out.push_back(static_cast<char>(c));
        else if ((c & 0xE0) == 0xC0 && i + 1 < s.size())
          out.push_back(static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F)));
        else fail("_codecs.encode: non-latin1 text");
      }
      return make_str(std::move(out), PyKind::Bytes);
    }
    case GlobalId::Inert: return make_str(callable->s, PyKind::Opaque);
    case GlobalId::TensorType:
    case GlobalId::ParameterType:
    case GlobalId::StorageType: break;
  }
  fail(fmt::format("refusing to call '{}' (not a constructor convdyn interprets)", callable->s));
}

PyRef Unpickler::run() {
  while (true) {
    op_pos_ = p_;
    const std::uint8_t op = u8();
    switch (op) {
      case 0x80: u8(); break;          // PROTO
      case 0x95: le<std::uint64_t>(); break;  // FRAME
      case '.': {                      // STOP
        if (stack_.size() != 1 || !marks_.empty()) fail("malformed pickle at STOP");
        try {
          checked_height(*stack_.back(), 0);  // fuzzing fix: no cycles, true depth <= max_depth
        } catch (...) {
          keep_.clear();  // nothing is kept: ~Unpickler breaks every link
          throw;
        }
        return stack_.back();
      }
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                            // POP
      case '1': pop_mark(); break;                       // POP_MARK
      case '2': push(top()); break;                      // DUP
      case 'N': push(make(PyKind::None)); break;
      case 0x88: case 0x89: { auto v = make(PyKind::Bool); v->b = (op == 0x88); push(v); break; }
      case 'J': push(make_int(le<std::int32_t>())); break;   // BININT
      case 'K': push(make_int(u8())); break;                 // BININT1
      case 'M': push(make_int(le<std::uint16_t>())); break;  // BININT2
      case 0x8a: case 0x8b: {                                // LONG1, LONG4
        const std::uint64_t n = (op == 0x8a) ? u8() : le<std::uint32_t>();
        if (n > 8) fail("integer wider than 64 bits");
        need(n);
        std::uint64_t u = 0;
        for (std::uint64_t b = 0; b < n; ++b) u |= static_cast<std::uint64_t>(p_[b]) << (8 * b);
        if (n > 0 && n < 8 && (p_[n - 1] & 0x80)) u |= ~std::uint64_t{0} << (8 * n);  // sign-extend
        p_ += n;
        push(make_int(static_cast<std::int64_t>(u)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        need(8);
        std::uint64_t u = 0;
        for (int b = 0; b < 8; ++b) u = (u << 8) | p_[b];
        p_ += 8;
        auto v = make(PyKind::Float);
        std::memcpy(&v->f, &u, 8);
        push(v);
        break;
      }
      case 'X': push(make_str(bytes(le<std::uint32_t>()))); break;   // BINUNICODE
      case 0x8c: push(make_str(bytes(u8()))); break;                 // SHORT_BINUNICODE
      case 0x8d: push(make_str(bytes(le<std::uint64_t>()))); break;  // BINUNICODE8
      case 'T': {                                                    // BINSTRING (py2 str)
        const auto n = le<std::int32_t>();
        if (n < 0) fail("negative string length");
        push(make_str(bytes(static_cast<std::uint64_t>(n))));
        break;
      }
      case 'U': push(make_str(bytes(u8()))); break;                              // SHORT_BINSTRING
      case 'B': push(make_str(bytes(le<std::uint32_t>()), PyKind::Bytes)); break;  // BINBYTES
      case 'C': push(make_str(bytes(u8()), PyKind::Bytes)); break;                // SHORT_BINBYTES
      case 0x8e: push(make_str(bytes(le<std::uint64_t>()), PyKind::Bytes)); break;  // BINBYTES8
      case ']': push(make(PyKind::List)); break;
      case '}': push(make(PyKind::Dict)); break;
      case ')': push(make(PyKind::Tuple)); break;
      case 0x8f: push(make(PyKind::List)); break;  // EMPTY_SET: kept as a list
      case 'l': push(make_seq(PyKind::List, pop_mark())); break;
      case 't': push(make_seq(PyKind::Tuple, pop_mark())); break;
      case 0x91: push(make_seq(PyKind::List, pop_mark())); break;  // FROZENSET
      case 'd': {
        auto items = pop_mark();
        auto d = make(PyKind::Dict);
        set_items(d, items);
        push(d);
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        const std::size_t n = op - 0x84u;
        std::vector<PyRef> items(n);
        for (std::size_t i = n; i-- > 0;) items[i] = pop();
        push(make_seq(PyKind::Tuple, std::move(items)));
        break;
      }
      case 'a': { auto v = pop(); std::vector<PyRef> one{v}; append_items(top(), one); break; }
      case 'e': case 0x90: {  // APPENDS, ADDITEMS
        auto items = pop_mark();
        append_items(top(), items);
        break;
      }
      case 's': {
        auto v = pop();
        auto k = pop();
        std::vector<PyRef> kv{k, v};
        set_items(top(), kv);
        break;
      }
      case 'u': { auto kv = pop_mark(); set_items(top(), kv); break; }
      case 'c': {  // GLOBAL "module\nname\n"
        auto module = line();
        auto name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (!module->is_string() || !name->is_string()) fail("STACK_GLOBAL needs two strings");
        push(global(module->s, name->s));
        break;
      }
      case 'R': {
        auto args = pop();
        auto callable = pop();
        push(reduce(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ cls.__new__(cls, *args)
        auto args = pop();
        auto cls = pop();
        push(reduce(cls, args));
        break;
      }
      case 'b': {  // BUILD: state of dicts (e.g. a state dict's _metadata) and tensors is not needed
        pop();
        top();
        break;
      }
      case 'Q': { auto pid = pop(); push(persistent_load(pid)); break; }  // BINPERSID
      case 'q': memo_put(u8()); break;                                     // BINPUT
      case 'r': memo_put(le<std::uint32_t>()); break;                      // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;                            // MEMOIZE
      case 'h': memo_get(u8()); break;                                     // BINGET
      case 'j': memo_get(le<std::uint32_t>()); break;                      // LONG_BINGET
      default:
        fail(fmt::format("unsupported pickle opcode 0x{:02x}", op));
    }
  }
}

}  // namespace

PyRef unpickle(const std::uint8_t* data, std::size_t size, const StorageLoader& load_storage,
               const std::string& what, const UnpickleLimits& limits) {
  Unpickler u(data, size, load_storage, what, limits);
  return u.run();
}

}  // namespace convdyn::model
