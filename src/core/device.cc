#include "core/device.h"

#include <charconv>

namespace orion {

namespace {

std::string quoted(std::string_view text) {
  constexpr size_t kShown = 64;
  std::string s(text.substr(0, kShown));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return "'" + s + (text.size() > kShown ? "...'" : "'");
}

}  // namespace

Result<InferenceDevice> parse_inference_device(std::string_view text) {
  auto bad = [&] {
    return make_error("device.invalid", quoted(text) +
                                            " is not a device: expected 'cpu', 'cuda' or 'cuda:N' "
                                            "(N = 0..9999, e.g. 'cuda:1')");
  };
  if (text == "cpu") return InferenceDevice{};
  if (text == "cuda") return InferenceDevice{InferenceDevice::Kind::kCuda, 0};
  constexpr std::string_view kPrefix = "cuda:";
  if (!text.starts_with(kPrefix)) return bad();
  const std::string_view num = text.substr(kPrefix.size());
  if (num.empty() || num.size() > 4) return bad();
  for (char c : num) {
    if (c < '0' || c > '9') return bad();
  }
  int index = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), index);
  if (ec != std::errc() || end != num.data() + num.size() || index > kMaxCudaOrdinal) {
    return bad();
  }
  return InferenceDevice{InferenceDevice::Kind::kCuda, index};
}

bool kind_runs_on_cuda(std::string_view kind) { return kind.starts_with("torch_"); }

InferenceDevice default_device_for_kind(std::string_view kind) {
  if (kind_runs_on_cuda(kind)) return InferenceDevice{InferenceDevice::Kind::kCuda, 0};
  return InferenceDevice{};
}

Status check_device_for_kind(std::string_view kind, const InferenceDevice& device) {
  const bool cuda = kind_runs_on_cuda(kind);
  if (cuda == !device.is_cpu()) return {};
  const std::string k = std::string(kind.substr(0, 64));
  if (cuda) {
    return make_error("device.unsupported", "kind '" + k +
                                                "' runs on a CUDA device only ('cuda:N'"
                                                " or 'cuda'), not on '" +
                                                device.to_string() + "'");
  }
  return make_error("device.unsupported", "kind '" + k +
                                              "' runs on the CPU only (device 'cpu'), "
                                              "not on '" +
                                              device.to_string() + "'");
}

}  // namespace orion
