#include "model/io/detail/tf_proto.hpp"

#include "linalg/error.hpp"
#include "model/io/detail/wire.hpp"

namespace convdyn::model::detail {

namespace {

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One message's fields, in order; every read is bounded by the message's bytes.
class ProtoReader {
 public:
  ProtoReader(const unsigned char* p, const unsigned char* end, const std::string& where, const char* msg)
      : p_(p), end_(end), where_(where), msg_(msg) {}

  bool next(std::uint32_t& field, std::uint32_t& wire) {
    if (p_ == end_) return false;
    std::uint64_t tag = 0;
    ensure(get_varint64(p_, end_, tag), "bad field tag");
    field = static_cast<std::uint32_t>(tag >> 3);
    wire = static_cast<std::uint32_t>(tag & 7);
    ensure(field != 0 && (tag >> 3) <= 0x1fffffffu, "field number 0 or too large");
    return true;
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    ensure(get_varint64(p_, end_, v), "truncated or overlong varint");
    return v;
  }
  std::uint32_t fixed32() {
    ensure(end_ - p_ >= 4, "truncated fixed32");
    const std::uint32_t v = load_le32(p_);
    p_ += 4;
    return v;
  }
  ProtoReader sub(const char* msg) {
    const auto [b, e] = bytes();
    return ProtoReader(b, e, where_, msg);
  }
  std::pair<const unsigned char*, const unsigned char*> bytes() {
    const std::uint64_t n = varint();
    ensure(n <= static_cast<std::uint64_t>(end_ - p_), "length-delimited field runs past the message");
    const unsigned char* b = p_;
    p_ += n;
    return {b, p_};
  }
  void skip(std::uint32_t wire) {
    switch (wire) {
      case kVarint: varint(); break;
      case kFixed64:
        ensure(end_ - p_ >= 8, "truncated fixed64");
        p_ += 8;
        break;
      case kLengthDelimited: bytes(); break;
      case kFixed32: fixed32(); break;
      default: fail(fmt::format("unsupported wire type {}", wire));
    }
  }
  /// A scalar field's value as int64 (int32 values are sign-extended varints on the wire).
  std::int64_t int_value(std::uint32_t wire) {
    expect(wire, kVarint);
    return static_cast<std::int64_t>(varint());
  }
  /// A repeated int field, packed (wire type 2) or not.
  void repeated_int(std::uint32_t wire, std::vector<std::int64_t>& out) {
    if (wire == kLengthDelimited) {
      ProtoReader packed = sub(msg_);
      while (packed.p_ != packed.end_) out.push_back(static_cast<std::int64_t>(packed.varint()));
    } else {
      out.push_back(int_value(wire));
    }
  }
  void expect(std::uint32_t wire, std::uint32_t want) {
    if (wire != want) fail(fmt::format("wire type {} where {} was expected", wire, want));
  }
  void ensure(bool ok, const char* problem) {
    if (!ok) fail(problem);
  }
  [[noreturn]] void fail(const std::string& problem) {
    throw IoError(fmt::format("{}: malformed {} ({})", where_, msg_, problem));
  }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
  const std::string& where_;
  const char* msg_;
};

ProtoReader reader_of(const std::string& bytes, const std::string& where, const char* msg) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return ProtoReader(p, p + bytes.size(), where, msg);
}

}  // namespace

BundleHeaderMsg parse_bundle_header(const std::string& bytes, const std::string& where) {
  BundleHeaderMsg h;
  ProtoReader r = reader_of(bytes, where, "BundleHeaderProto");
  std::uint32_t field = 0, wire = 0;
  while (r.next(field, wire)) {
    if (field == 1) {
      h.num_shards = static_cast<std::int32_t>(r.int_value(wire));
    } else if (field == 2) {
      h.endianness = static_cast<std::int32_t>(r.int_value(wire));
    } else if (field == 3) {
      r.expect(wire, kLengthDelimited);
      ProtoReader v = r.sub("VersionDef");
      std::uint32_t f2 = 0, w2 = 0;
      while (v.next(f2, w2)) {
        if (f2 == 1) h.producer = static_cast<std::int32_t>(v.int_value(w2));
        else if (f2 == 2) h.min_consumer = static_cast<std::int32_t>(v.int_value(w2));
        else if (f2 == 3) v.repeated_int(w2, h.bad_consumers);
        else v.skip(w2);
      }
    } else {
      r.skip(wire);
    }
  }
  return h;
}

BundleEntryMsg parse_bundle_entry(const std::string& bytes, const std::string& where) {
  BundleEntryMsg e;
  ProtoReader r = reader_of(bytes, where, "BundleEntryProto");
  std::uint32_t field = 0, wire = 0;
  while (r.next(field, wire)) {
    switch (field) {
      case 1: e.dtype = static_cast<std::int32_t>(r.int_value(wire)); break;
      case 2: {
        r.expect(wire, kLengthDelimited);
        e.has_shape = true;
        ProtoReader s = r.sub("TensorShapeProto");
        std::uint32_t f2 = 0, w2 = 0;
        while (s.next(f2, w2)) {
          if (f2 == 2) {
            s.expect(w2, kLengthDelimited);
            ProtoReader d = s.sub("TensorShapeProto.Dim");
            std::int64_t size = 0;
            std::uint32_t f3 = 0, w3 = 0;
            while (d.next(f3, w3)) {
              if (f3 == 1) size = d.int_value(w3);
              else d.skip(w3);  // the dim's name
            }
            e.dims.push_back(size);
          } else if (f2 == 3) {
            e.unknown_rank = s.int_value(w2) != 0;
          } else {
            s.skip(w2);
          }
        }
        break;
      }
      case 3: e.shard_id = static_cast<std::int32_t>(r.int_value(wire)); break;
      case 4: e.offset = r.int_value(wire); break;
      case 5: e.size = r.int_value(wire); break;
      case 6:
        r.expect(wire, kFixed32);
        e.crc32c = r.fixed32();
        e.has_crc32c = true;
        break;
      case 7:
        r.expect(wire, kLengthDelimited);
        r.skip(wire);
        ++e.n_slices;
        break;
      default: r.skip(wire);
    }
  }
  return e;
}

}  // namespace convdyn::model::detail
