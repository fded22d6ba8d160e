#include "infer/onnx_info.h"

#include <filesystem>
#include <fstream>
#include <optional>

namespace orion::infer {

namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// Why a scan stopped: a malformed field (not protobuf at all) or a length past the end.
enum class Fault { kNone, kMalformed, kPastEnd };

// Bounds-checked reader over one protobuf message.
class Reader {
 public:
  Reader(std::string_view data, size_t base) : data_(data), base_(base) {}

  bool done() const { return pos_ >= data_.size(); }
  size_t offset() const { return base_ + pos_; }  // absolute offset in the file
  Fault fault() const { return fault_; }
  size_t fault_need() const { return fault_need_; }

  std::optional<uint64_t> varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return fail(Fault::kPastEnd, pos_ + 1);
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return fail(Fault::kMalformed, 0);
  }

  // Next field: (field number, wire type). nullopt at a fault.
  std::optional<std::pair<uint32_t, uint32_t>> tag() {
    auto t = varint();
    if (!t) return std::nullopt;
    const auto field = static_cast<uint32_t>(*t >> 3);
    const auto wt = static_cast<uint32_t>(*t & 7);
    if (field == 0 || (wt != kVarint && wt != kFixed64 && wt != kLen && wt != kFixed32)) {
      return fail(Fault::kMalformed, 0);
    }
    return std::pair{field, wt};
  }

  // The payload of a length-delimited field.
  std::optional<Reader> sub() {
    auto n = varint();
    if (!n) return std::nullopt;
    if (*n > data_.size() - pos_) return fail(Fault::kPastEnd, pos_ + *n);
    Reader r(data_.substr(pos_, *n), base_ + pos_);
    pos_ += *n;
    return r;
  }

  std::optional<std::string> string() {
    auto r = sub();
    if (!r) return std::nullopt;
    return std::string(r->data_);
  }

  bool skip(uint32_t wt) {
    switch (wt) {
      case kVarint:
        return varint().has_value();
      case kFixed64:
        return advance(8);
      case kFixed32:
        return advance(4);
      case kLen:
        return sub().has_value();
      default:
        fail(Fault::kMalformed, 0);
        return false;
    }
  }

  // Adopts the fault of a sub-reader (so that a fault deep inside reaches the top).
  void inherit(const Reader& child) {
    if (child.fault_ != Fault::kNone && fault_ == Fault::kNone) {
      fault_ = child.fault_;
      fault_need_ = child.base_ + child.fault_need_ - base_;
    }
  }

 private:
  bool advance(size_t n) {
    if (n > data_.size() - pos_) {
      fail(Fault::kPastEnd, pos_ + n);
      return false;
    }
    pos_ += n;
    return true;
  }
  std::nullopt_t fail(Fault f, size_t need) {
    if (fault_ == Fault::kNone) {
      fault_ = f;
      fault_need_ = need;
    }
    return std::nullopt;
  }

  std::string_view data_;
  size_t base_ = 0;
  size_t pos_ = 0;
  Fault fault_ = Fault::kNone;
  size_t fault_need_ = 0;
};

// Each parse_* returns false at a fault, which the caller inherits.
bool parse_shape(Reader& r, std::vector<int64_t>& dims) {
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return false;
    if (t->first == 1 && t->second == kLen) {  // dim
      auto d = r.sub();
      if (!d) return false;
      int64_t value = -1;
      while (!d->done()) {
        auto dt = d->tag();
        if (!dt) break;
        if (dt->first == 1 && dt->second == kVarint) {
          auto v = d->varint();
          if (!v) break;
          value = static_cast<int64_t>(*v);
        } else if (!d->skip(dt->second)) {
          break;
        }
      }
      r.inherit(*d);
      if (r.fault() != Fault::kNone) return false;
      dims.push_back(value);
    } else if (!r.skip(t->second)) {
      return false;
    }
  }
  return true;
}

bool parse_value_info(Reader& r, OnnxTensorInfo& out) {
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return false;
    if (t->first == 1 && t->second == kLen) {
      auto s = r.string();
      if (!s) return false;
      out.name = *s;
    } else if (t->first == 2 && t->second == kLen) {  // TypeProto
      auto type = r.sub();
      if (!type) return false;
      while (!type->done()) {
        auto tt = type->tag();
        if (!tt) break;
        if (tt->first == 1 && tt->second == kLen) {  // tensor_type
          auto tensor = type->sub();
          if (!tensor) break;
          while (!tensor->done()) {
            auto ft = tensor->tag();
            if (!ft) break;
            if (ft->first == 1 && ft->second == kVarint) {
              auto v = tensor->varint();
              if (!v) break;
              out.elem_type = static_cast<int32_t>(*v);
            } else if (ft->first == 2 && ft->second == kLen) {
              auto shape = tensor->sub();
              if (!shape) break;
              parse_shape(*shape, out.dims);
              tensor->inherit(*shape);
              if (tensor->fault() != Fault::kNone) break;
            } else if (!tensor->skip(ft->second)) {
              break;
            }
          }
          type->inherit(*tensor);
          if (type->fault() != Fault::kNone) break;
        } else if (!type->skip(tt->second)) {
          break;
        }
      }
      r.inherit(*type);
      if (r.fault() != Fault::kNone) return false;
    } else if (!r.skip(t->second)) {
      return false;
    }
  }
  return true;
}

// Reads the string field `field` of a message (first occurrence).
bool find_string_field(Reader& r, uint32_t field, std::string& out) {
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return false;
    if (t->first == field && t->second == kLen) {
      auto s = r.string();
      if (!s) return false;
      out = *s;
    } else if (!r.skip(t->second)) {
      return false;
    }
  }
  return true;
}

bool parse_graph(Reader& r, OnnxInfo& info) {
  std::vector<OnnxTensorInfo> inputs;
  std::set<std::string> initializers;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return false;
    const auto [field, wt] = *t;
    if (wt != kLen) {
      if (!r.skip(wt)) return false;
      continue;
    }
    auto sub = r.sub();
    if (!sub) return false;
    bool ok = true;
    if (field == 1) {  // node: op_type is field 4
      std::string op;
      ok = find_string_field(*sub, 4, op);
      if (ok) info.op_types.insert(op);
    } else if (field == 5) {  // initializer: name is field 8
      std::string name;
      ok = find_string_field(*sub, 8, name);
      if (ok) initializers.insert(name);
    } else if (field == 11 || field == 12) {
      OnnxTensorInfo v;
      ok = parse_value_info(*sub, v);
      if (ok) (field == 11 ? inputs : info.outputs).push_back(std::move(v));
    }
    r.inherit(*sub);
    if (!ok || r.fault() != Fault::kNone) return false;
  }
  for (auto& in : inputs) {
    if (!initializers.count(in.name)) info.inputs.push_back(std::move(in));
  }
  return true;
}

Error fault_error(const Reader& r, const std::string& what, size_t size) {
  if (r.fault() == Fault::kPastEnd) {
    return make_error("model.truncated",
                      "model file '" + what + "' is truncated: it is " + std::to_string(size) +
                          " bytes long but its contents continue past byte " +
                          std::to_string(r.fault_need()) + " (copy the file again)");
  }
  return make_error("model.not_onnx",
                    "model file '" + what +
                        "' is not a valid ONNX model (malformed protobuf at byte " +
                        std::to_string(r.offset()) + ")");
}

}  // namespace

Result<OnnxInfo> scan_onnx(std::string_view bytes, const std::string& what) {
  // Every ONNX writer serialises ModelProto fields in order, so a model starts with ir_version
  // (field 1, varint: tag byte 0x08).
  if (bytes.empty() || static_cast<uint8_t>(bytes[0]) != 0x08) {
    return make_error(
        "model.not_onnx",
        "model file '" + what + "' is not an ONNX model (" +
            (bytes.empty() ? std::string("the file is empty")
                           : std::string("it does not start with an ONNX ModelProto header")) +
            ")");
  }
  OnnxInfo info;
  Reader r(bytes, 0);
  bool have_graph = false, have_opset = false;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return fault_error(r, what, bytes.size());
    const auto [field, wt] = *t;
    if (field == 1 && wt == kVarint) {
      auto v = r.varint();
      if (!v) return fault_error(r, what, bytes.size());
      info.ir_version = static_cast<int64_t>(*v);
    } else if (field == 2 && wt == kLen) {
      auto s = r.string();
      if (!s) return fault_error(r, what, bytes.size());
      info.producer = *s;
    } else if (field == 7 && wt == kLen) {
      auto g = r.sub();
      if (!g) return fault_error(r, what, bytes.size());
      parse_graph(*g, info);
      r.inherit(*g);
      if (r.fault() != Fault::kNone) return fault_error(r, what, bytes.size());
      have_graph = true;
    } else if (field == 8 && wt == kLen) {  // opset_import {domain = 1, version = 2}
      auto o = r.sub();
      if (!o) return fault_error(r, what, bytes.size());
      std::string domain;
      int64_t version = 0;
      while (!o->done()) {
        auto ot = o->tag();
        if (!ot) break;
        if (ot->first == 1 && ot->second == kLen) {
          auto s = o->string();
          if (!s) break;
          domain = *s;
        } else if (ot->first == 2 && ot->second == kVarint) {
          auto v = o->varint();
          if (!v) break;
          version = static_cast<int64_t>(*v);
        } else if (!o->skip(ot->second)) {
          break;
        }
      }
      r.inherit(*o);
      if (r.fault() != Fault::kNone) return fault_error(r, what, bytes.size());
      if (domain.empty() || domain == "ai.onnx") info.opset = version;
      have_opset = true;
    } else if (field == 14 && wt == kLen) {  // metadata_props {key = 1, value = 2}
      auto m = r.sub();
      if (!m) return fault_error(r, what, bytes.size());
      std::string key, value;
      while (!m->done()) {
        auto mt = m->tag();
        if (!mt) break;
        if ((mt->first == 1 || mt->first == 2) && mt->second == kLen) {
          auto s = m->string();
          if (!s) break;
          (mt->first == 1 ? key : value) = *s;
        } else if (!m->skip(mt->second)) {
          break;
        }
      }
      r.inherit(*m);
      if (r.fault() != Fault::kNone) return fault_error(r, what, bytes.size());
      info.metadata[key] = value;
    } else if (!r.skip(wt)) {
      return fault_error(r, what, bytes.size());
    }
  }
  if (!have_graph) {
    return make_error("model.truncated", "model file '" + what +
                                             "' has an ONNX header but no graph: the file is "
                                             "truncated or not a complete model");
  }
  if (!have_opset) {
    return make_error("model.truncated", "model file '" + what +
                                             "' has no opset_import after its graph: the file is "
                                             "truncated or not a complete model");
  }
  if (info.inputs.empty() || info.outputs.empty()) {
    return make_error("model.not_onnx", "model file '" + what + "' has a graph without " +
                                            (info.inputs.empty() ? "inputs" : "outputs"));
  }
  return info;
}

Result<OnnxInfo> read_onnx_file(const std::string& path, std::vector<char>& bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return make_error("model.not_found", "model file '" + path + "' does not exist");
  }
  if (fs::is_directory(path, ec)) {
    return make_error("model.unreadable", "model path '" + path + "' is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("model.unreadable", "cannot open model file '" + path + "'");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::streamoff>(in.tellg());
  if (size < 0) return make_error("model.unreadable", "cannot read model file '" + path + "'");
  in.seekg(0, std::ios::beg);
  bytes.resize(static_cast<size_t>(size));
  if (size > 0 && !in.read(bytes.data(), size)) {
    return make_error("model.unreadable", "cannot read model file '" + path + "'");
  }
  return scan_onnx(std::string_view(bytes.data(), bytes.size()), path);
}

}  // namespace orion::infer
