#include "testing/frames.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace orion::testing {

FramePtr make_frame(FramePool& pool, uint64_t sequence, Timestamp capture_time, StreamId stream,
                    int width, int height) {
  auto r = pool.acquire(FrameLayout::packed(PixelFormat::kBGR24, width, height));
  if (!r.ok()) {
    std::fprintf(stderr, "make_frame: %s\n", r.error().to_string().c_str());
    std::abort();
  }
  MutableFramePtr f = std::move(r).value();
  std::memset(f->mutable_data(), 0, f->size());
  f->mutable_data()[0] = static_cast<uint8_t>(sequence % 256);
  f->set_identity(FrameIdentity{stream, sequence, Duration::millis(static_cast<int64_t>(sequence) * 33),
                                capture_time});
  return freeze(std::move(f));
}

}  // namespace orion::testing
