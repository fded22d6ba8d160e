// Helpers that make small frames for tests and benchmarks.
#pragma once

#include <memory>

#include "core/clock.h"
#include "core/frame.h"
#include "core/frame_pool.h"

namespace orion::testing {

// A frozen frame of `width`×`height` BGR from `pool`, with the given identity fields.
// The first pixel byte holds sequence % 256 so a reader can check it saw the right pixels.
FramePtr make_frame(FramePool& pool, uint64_t sequence, Timestamp capture_time,
                    StreamId stream = 1, int width = 16, int height = 16);

}  // namespace orion::testing
