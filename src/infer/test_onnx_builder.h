// Test support: writes tiny ONNX models byte by byte (protobuf wire format), so tests can make
// well-formed models with any output shape at run time without committing binaries or needing
// the onnx Python package.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace orion::infer::testing {

class Proto {
 public:
  Proto& varint(uint32_t field, uint64_t v) {
    tag(field, 0);
    put_varint(v);
    return *this;
  }
  Proto& bytes(uint32_t field, const std::string& s) {
    tag(field, 2);
    put_varint(s.size());
    buf_ += s;
    return *this;
  }
  Proto& message(uint32_t field, const Proto& m) { return bytes(field, m.buf_); }
  const std::string& str() const { return buf_; }

 private:
  void tag(uint32_t field, uint32_t wt) { put_varint((static_cast<uint64_t>(field) << 3) | wt); }
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      buf_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf_ += static_cast<char>(v);
  }
  std::string buf_;
};

// ValueInfoProto of a float tensor with static dims.
inline Proto value_info(const std::string& name, const std::vector<int64_t>& dims) {
  Proto shape;
  for (int64_t d : dims) shape.message(1, Proto().varint(1, static_cast<uint64_t>(d)));
  Proto tensor;
  tensor.varint(1, 1).message(2, shape);  // elem_type FLOAT, shape
  return Proto().bytes(1, name).message(2, Proto().message(1, tensor));
}

// A model "images" [1,3,h,w] -> Reshape(to `out_dims`) -> "output". The product of out_dims
// must be 3·h·w. `metadata` pairs go to metadata_props.
inline std::string reshape_model(
    int w, int h, const std::vector<int64_t>& out_dims,
    const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
  std::string raw;
  for (int64_t d : out_dims) {
    for (int i = 0; i < 8; ++i)
      raw += static_cast<char>((static_cast<uint64_t>(d) >> (8 * i)) & 0xff);
  }
  Proto shape_init;
  shape_init.varint(1, out_dims.size()).varint(2, 7).bytes(8, "shape").bytes(9, raw);  // INT64
  Proto node;
  node.bytes(1, "images")
      .bytes(1, "shape")
      .bytes(2, "output")
      .bytes(3, "reshape")
      .bytes(4, "Reshape");
  Proto graph;
  graph.message(1, node)
      .bytes(2, "orion_test")
      .message(5, shape_init)
      .message(11, value_info("images", {1, 3, h, w}))
      .message(12, value_info("output", out_dims));
  Proto model;
  model.varint(1, 7).bytes(2, "orion-test").message(7, graph).message(8, Proto().varint(2, 12));
  for (const auto& [k, v] : metadata) model.message(14, Proto().bytes(1, k).bytes(2, v));
  return model.str();
}

}  // namespace orion::infer::testing
