#include "media/compositor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <thread>

#include "colour/convert.h"
#include "core/frame_pool.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "media/frame_timeline.h"
#include "media/overlay.h"

namespace orion::media {

struct Compositor::Impl {
  Impl(FrameSupplier& s, ResultStore& r, EncoderInput& o, FrameTimeline* t, CompositorOptions opt)
      : supplier(s), store(r), output(o), timeline(t), options(std::move(opt)),
        clock(options.clock ? *options.clock : SteadyClock::instance()) {}

  FrameSupplier& supplier;
  ResultStore& store;
  EncoderInput& output;
  FrameTimeline* const timeline;
  const CompositorOptions options;
  const Clock& clock;

  // Set by start() before the thread starts; then used by that thread and by stop().
  std::unique_ptr<Subscription> sub;
  std::thread thread;
  std::atomic<bool> stopping{false};  // read without a lock

  // Held to update or copy the statistics and the newest picture. Lock order: mu →
  // FrameTimeline's (compose() looks the publish time up under it). The result store, the
  // encoder and the picture pool are called without it (a replaced picture is released after
  // the lock is let go).
  mutable Mutex mu;
  CompositorStats stats GUARDED_BY(mu);
  std::deque<FrameLatency> latencies GUARDED_BY(mu);
  std::optional<SnapshotPicture> last GUARDED_BY(mu);
  std::deque<SnapshotPicture> recent_shown GUARDED_BY(mu);  // the last recent_pictures shown

  // Where pictures are composed (thread-safe; its buffers return when the last reference to a
  // picture goes, from whichever thread that is).
  HeapFramePool pictures;

  // Compositor thread only.
  FramePtr shown;  // the newest picture sent (the signal-lost card is drawn on a copy of it)
  int width = 0, height = 0;
  std::deque<Timestamp> recent;  // capture times of the last ~2 s
  Duration interval = Duration::millis(100);
  Timestamp last_frame_time;     // when the last camera frame was taken
  Timestamp next_lost_time;
  Duration out_pts_origin;       // first frame's capture time, so output pts starts near 0
  Timestamp origin;
  uint64_t last_seq = 0;

  double measure_fps(Timestamp t) {
    recent.push_back(t);
    while (recent.size() > 2 && t - recent.front() > Duration::seconds(2)) recent.pop_front();
    if (recent.size() < 2) return 0;
    const double span = (recent.back() - recent.front()).as_seconds();
    return span > 0 ? static_cast<double>(recent.size() - 1) / span : 0;
  }

  Duration pts_of(Timestamp t) { return t - origin; }

  // The planes of a 4:2:0 picture for the YUV overlay (unused for BGR).
  static YuvPicture yuv_of(Frame& p) {
    YuvPicture y;
    if (p.format() != PixelFormat::kI420 && p.format() != PixelFormat::kNV12) return y;
    y.format = p.format();
    y.width = p.width();
    y.height = p.height();
    for (int i = 0; i < p.layout().plane_count && i < 3; ++i) {
      y.planes[static_cast<size_t>(i)] = p.mutable_plane(i);
      y.strides[static_cast<size_t>(i)] = p.stride(i);
    }
    return y;
  }

  void compose(const FramePtr& f, Timestamp taken) {
    const FrameIdentity& id = f->identity();
    if (id.sequence <= last_seq) {
      MutexLock lock(mu);
      ++stats.repeated;
      return;
    }
    last_seq = id.sequence;
    if (!origin.is_set()) origin = id.capture_time;
    // The picture keeps the frame's layout (the decoder's I420/NV12 in the engine, ADR 0080):
    // one copy out of the immutable frame, no colour conversion.
    const FrameLayout layout = FrameLayout::packed(f->format(), f->width(), f->height());
    auto acquired = pictures.acquire(layout);
    if (!acquired) {  // no memory (the pool is unbounded): this picture is lost, and counted
      MutexLock lock(mu);
      if (stats.errors++ == 0)
        spdlog::error("output '{}': {}", options.stream_name, acquired.error().message);
      return;
    }
    MutableFramePtr picture = std::move(*acquired);
    picture->set_identity(id);
    width = f->width();
    height = f->height();
    if (auto copied = colour::copy_image(colour::view_of(*f), layout, picture->mutable_data());
        !copied) {
      MutexLock lock(mu);
      if (stats.errors++ == 0)
        spdlog::error("output '{}': {}", options.stream_name, copied.error().to_string());
      return;
    }
    const double fps = measure_fps(id.capture_time);
    if (recent.size() >= 2) {
      interval = (recent.back() - recent.front()) / static_cast<int64_t>(recent.size() - 1);
    } else if (options.nominal_fps) {
      const double nominal = options.nominal_fps();
      if (nominal > 0 && nominal <= 1000) interval = Duration::micros(std::lround(1e6 / nominal));
    }
    const bool bgr = picture->format() == PixelFormat::kBGR24;
    const YuvPicture yuv = yuv_of(*picture);
    const int row = picture->stride();
    std::vector<DetectionResult> drawn;
    if (options.draw) {
      OverlayText text{options.stream_name, format_wall_time(id.capture_time), fps, id.sequence};
      drawn = store.latest(options.stream_id);
      if (bgr)
        draw_overlay(picture->mutable_data(), width, height, row, text, drawn);
      else
        draw_overlay(yuv, text, drawn);
    }
    if (options.stamp_sequence) {
      if (bgr)
        stamp_sequence(picture->mutable_data(), width, height, row, id.sequence);
      else
        stamp_sequence(yuv, id.sequence);
    }
    const Timestamp composited = clock.now();
    // Finished: frozen before it is handed on, so the output may keep it instead of copying.
    FramePtr finished = freeze(std::move(picture));
    auto handed = output.submit_picture(finished, pts_of(id.capture_time), interval, &id);
    std::optional<SnapshotPicture> replaced;  // released after mu is let go
    std::optional<SnapshotPicture> evicted;   // likewise (the oldest of recent_shown)
    if (handed) {
      shown = std::move(finished);
      replaced = SnapshotPicture{shown, composited};
    }
    const size_t buffers = pictures.stats().allocated;
    FrameLatency l;
    l.sequence = id.sequence;
    l.decoded = id.capture_time;
    if (timeline) l.published = timeline->published(id.sequence).value_or(Timestamp{});
    l.taken = taken;
    l.composited = composited;
    if (handed) l.handed = *handed;
    if (handed && options.on_frame) options.on_frame(l, drawn);
    MutexLock lock(mu);
    stats.signal_lost = false;
    stats.fps = fps;
    stats.last_sequence = id.sequence;
    stats.picture_buffers = buffers;
    if (!handed) {
      if (handed.error().code == "output.full") {
        if (stats.output_full++ == 0)
          spdlog::warn("{} (a picture lost; counted)", handed.error().message);
      } else if (stats.errors++ == 0) {
        spdlog::error("{}", handed.error().message);
      }
      return;
    }
    std::swap(last, replaced);
    if (options.recent_pictures > 0) {
      recent_shown.push_back(*last);
      if (recent_shown.size() > options.recent_pictures) {
        evicted = std::move(recent_shown.front());
        recent_shown.pop_front();
      }
    }
    ++stats.frames;
    if (options.latency_capacity > 0) {
      latencies.push_back(l);
      while (latencies.size() > options.latency_capacity) latencies.pop_front();
    }
  }

  void signal_lost(Timestamp now) {
    if (!shown || now < next_lost_time) return;
    next_lost_time = now + interval;
    // The last picture, dimmed, under the banner, drawn in BGR (a card per frame interval
    // only while the camera is away: the conversion costs nothing that matters).
    const int row = width * 3;
    std::vector<uint8_t> card(static_cast<size_t>(row) * static_cast<size_t>(height));
    if (auto st = colour::to_bgr(colour::view_of(*shown), card.data(), row); !st) {
      MutexLock lock(mu);
      ++stats.errors;
      return;
    }
    draw_signal_lost(card.data(), width, height, row, options.stream_name, now - last_frame_time,
                     options.status_text ? options.status_text() : std::string());
    auto handed =
        output.submit(picture_of(BgrImage{card.data(), width, height, row}), pts_of(now), interval);
    MutexLock lock(mu);
    if (!stats.signal_lost) spdlog::warn("output '{}': signal lost, sending the signal-lost card", options.stream_name);
    stats.signal_lost = true;
    if (handed) ++stats.signal_lost_frames;
    else ++stats.errors;
  }

  void run() {
    while (!stopping.load()) {
      const Duration wait = std::min(interval, Duration::millis(100));
      auto f = sub->next_frame(wait);
      const Timestamp now = clock.now();
      try {  // OpenCV drawing is a third-party call: a failure costs one picture, not the thread
        if (f) {
          last_frame_time = now;
          compose(*f, now);
          continue;
        }
        if (f.error().code == "closed") break;
        if (last_frame_time.is_set() && now - last_frame_time > options.signal_lost_after) signal_lost(now);
      } catch (const std::exception& e) {
        MutexLock lock(mu);
        if (stats.errors++ == 0) spdlog::error("output '{}': compositing failed: {}", options.stream_name, e.what());
      }
    }
  }
};

Compositor::Compositor(FrameSupplier& supplier, ResultStore& store, EncoderInput& output, FrameTimeline* timeline,
                       CompositorOptions options)
    : impl_(std::make_unique<Impl>(supplier, store, output, timeline, std::move(options))) {}

Compositor::~Compositor() { stop(); }

void Compositor::start() {
  if (impl_->thread.joinable() || impl_->stopping.load()) return;
  // A queue, not a mailbox (ADR 0090): a compositor that falls one frame behind (a loaded
  // machine) shows that frame late instead of never.
  impl_->sub = impl_->supplier.subscribe("compositor", SlaClass::kCritical,
                                         std::max<size_t>(1, impl_->options.queue_frames));
  impl_->thread = std::thread([m = impl_.get()] {
    // drawing failures cost one picture (caught in run()); anything else ends the thread here:
    // the stats say why and the supplier stops offering frames to it.
    run_guarded(
        "comp-" + m->options.stream_name, [m] { m->run(); },
        [m](std::string_view why) {
          {
            MutexLock lock(m->mu);
            m->stats.failure = "compositor thread died: " + std::string(why);
          }
          spdlog::error("output '{}': compositor thread died: {}", m->options.stream_name, why);
          m->sub->unsubscribe();
        });
  });
}

void Compositor::stop() {
  impl_->stopping.store(true);
  if (impl_->sub) impl_->sub->unsubscribe();
  if (impl_->thread.joinable()) impl_->thread.join();
}

CompositorStats Compositor::stats() const {
  MutexLock lock(impl_->mu);
  return impl_->stats;
}

std::vector<FrameLatency> Compositor::latencies() const {
  MutexLock lock(impl_->mu);
  return {impl_->latencies.begin(), impl_->latencies.end()};
}

std::optional<SnapshotPicture> Compositor::recent_picture(uint64_t sequence) const {
  MutexLock lock(impl_->mu);
  for (const auto& p : impl_->recent_shown) {
    if (p.picture->identity().sequence == sequence) return p;
  }
  return std::nullopt;
}

std::optional<SnapshotPicture> Compositor::last_picture() const {
  MutexLock lock(impl_->mu);
  return impl_->last;
}

}  // namespace orion::media
