// Compositor with real frames, a real ResultStore and a recording encoder input.
#include "media/compositor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "colour/convert.h"
#include "core/frame_pool.h"
#include "media/frame_timeline.h"
#include "media/overlay.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::media {
namespace {

class RecordingEncoder final : public EncoderInput {
 public:
  struct Picture {
    std::vector<uint8_t> bgr;
    int width = 0, height = 0;
    Duration pts;
    Duration duration;
    PixelFormat format = PixelFormat::kUnknown;  // as submitted
  };
  // Records every picture as BGR (a BGR picture is copied as is).
  Result<Timestamp> submit(const media::Picture& img, Duration pts, Duration duration) override {
    Picture p;
    p.width = img.width;
    p.height = img.height;
    p.pts = pts;
    p.duration = duration;
    p.format = img.format;
    p.bgr.resize(static_cast<size_t>(img.width * 3 * img.height));
    if (auto st = colour::to_bgr(img, p.bgr.data(), img.width * 3); !st) return st.error();
    std::lock_guard lock(mu);
    pictures.push_back(std::move(p));
    return SteadyClock::instance().now();
  }
  size_t count() {
    std::lock_guard lock(mu);
    return pictures.size();
  }
  std::mutex mu;
  std::vector<Picture> pictures;
};

constexpr int kW = 320, kH = 240;

FramePtr grey_frame(FramePool& pool, uint64_t seq, uint8_t value,
                    Timestamp capture_time = SteadyClock::instance().now(),
                    std::optional<Duration> pts = std::nullopt) {
  auto f = pool.acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
  EXPECT_TRUE(f.ok());
  std::memset((*f)->mutable_data(), value, (*f)->size());
  FrameIdentity id;
  id.stream = 4;
  id.sequence = seq;
  id.pts = pts.value_or(Duration::millis(100) * static_cast<int64_t>(seq));
  id.capture_time = capture_time;
  (*f)->set_identity(id);
  return freeze(std::move(*f));
}

using orion::testing::wait_until;

const uint8_t* px(const RecordingEncoder::Picture& p, int x, int y) { return &p.bgr[static_cast<size_t>((y * p.width + x) * 3)]; }

TEST(Compositor, DrawsNewestResultsOnACopyOnePicturePerFrame) {
  testing::Watchdog dog(Duration::seconds(20), "compositor draw");
  HeapFramePool pool;
  FrameSupplier supplier;
  ResultStore store;
  RecordingEncoder enc;
  FrameTimeline timeline;
  CompositorOptions o;
  o.stream_name = "cam";
  o.stream_id = 4;
  o.stamp_sequence = true;
  o.latency_capacity = 16;
  Compositor comp(supplier, store, enc, &timeline, o);
  comp.start();

  DetectionResult r;
  r.pipeline = "people";
  r.frame.stream = 4;
  r.frame.sequence = 1;
  r.detections.push_back(Detection{0, "person", 0.9f, Box{100, 100, 200, 200}});
  store.put(r);

  std::vector<FramePtr> published;
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    published.push_back(grey_frame(pool, seq, 128));
    timeline.record_published(seq, SteadyClock::instance().now());
    supplier.publish(published.back());
    ASSERT_TRUE(wait_until([&] { return enc.count() == seq; }, Duration::seconds(5)));
  }
  comp.stop();

  ASSERT_EQ(enc.pictures.size(), 5u);
  for (size_t i = 0; i < enc.pictures.size(); ++i) {
    const auto& p = enc.pictures[i];
    EXPECT_EQ(p.width, kW);
    // The box's left edge is drawn in the pipeline's colour (not the grey of the frame).
    const uint8_t* edge = px(p, 100, 150);
    EXPECT_FALSE(edge[0] == 128 && edge[1] == 128 && edge[2] == 128);
    // The inside of the box is untouched.
    EXPECT_EQ(px(p, 150, 150)[1], 128);
    // The sequence stamp reads back.
    std::vector<uint8_t> luma(static_cast<size_t>(kW * kH));
    for (int k = 0; k < kW * kH; ++k) luma[static_cast<size_t>(k)] = p.bgr[static_cast<size_t>(k * 3 + 1)];
    EXPECT_EQ(read_sequence(luma.data(), kW, kH, kW), std::optional<uint64_t>(i + 1));
    if (i > 0) {
      EXPECT_GT(p.pts, enc.pictures[i - 1].pts);
    }
  }
  // The published frames were never written: still uniformly grey.
  for (const auto& f : published) {
    for (size_t k = 0; k < f->size(); k += 997) ASSERT_EQ(f->data()[k], 128);
  }
  auto st = comp.stats();
  EXPECT_EQ(st.frames, 5u);
  EXPECT_EQ(st.repeated, 0u);
  EXPECT_EQ(st.last_sequence, 5u);
  auto lat = comp.latencies();
  ASSERT_EQ(lat.size(), 5u);
  for (const auto& l : lat) {
    EXPECT_TRUE(l.published.is_set());
    EXPECT_LE(l.decoded, l.published);
    EXPECT_LE(l.published, l.taken);
    EXPECT_LE(l.taken, l.composited);
    EXPECT_LE(l.composited, l.handed);
  }
}

// On a fake clock shared by the supplier and the compositor: each step lets the compositor
// reach its wait for a frame (a waiter of the clock), advances the clock past that wait's
// timeout, and lets it come back to the wait, so every picture it sends is accounted for.
TEST(Compositor, SendsSignalLostPicturesWhenFramesStopAndResumesAfter) {
  testing::Watchdog dog(Duration::seconds(20), "compositor signal lost");
  FakeClock clock;
  HeapFramePool pool;
  FrameSupplierOptions so;
  so.clock = &clock;
  FrameSupplier supplier(so);
  ResultStore store;
  RecordingEncoder enc;
  CompositorOptions o;
  o.stream_name = "cam";
  o.stream_id = 4;
  o.signal_lost_after = Duration::millis(300);
  o.status_text = [] { return std::string("retrying: media.connection: camera gone"); };
  o.clock = &clock;
  Compositor comp(supplier, store, enc, nullptr, o);
  comp.start();
  auto step = [&](Duration d) {
    if (!clock.wait_for_waiters(1)) return false;  // blocked in next_frame()
    clock.advance(d);
    return clock.wait_for_waiters(1);  // back in next_frame(): this turn is done
  };

  // Nothing before the first frame, however long: there is no picture size yet.
  ASSERT_TRUE(step(Duration::millis(400)));
  EXPECT_EQ(enc.count(), 0u);
  EXPECT_FALSE(comp.stats().signal_lost);

  // Three frames 50 ms apart (capture times on the fake clock): the stream's rate is 20 fps.
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    if (seq > 1) clock.advance(Duration::millis(50));
    supplier.publish(grey_frame(pool, seq, 200, clock.now()));
    ASSERT_TRUE(wait_until([&] { return comp.stats().frames == seq; }, Duration::seconds(5)));
  }
  const Timestamp last_frame = clock.now();

  // Up to signal_lost_after without a frame: no signal-lost picture.
  for (int k = 1; k <= 6; ++k) ASSERT_TRUE(step(Duration::millis(50))) << k;
  EXPECT_EQ(clock.now() - last_frame, Duration::millis(300));
  EXPECT_EQ(comp.stats().signal_lost_frames, 0u);
  EXPECT_FALSE(comp.stats().signal_lost);
  // Past it: one signal-lost picture per 50 ms, the stream's last frame interval.
  for (uint64_t k = 1; k <= 3; ++k) {
    ASSERT_TRUE(step(Duration::millis(50)));
    EXPECT_EQ(comp.stats().signal_lost_frames, k);
  }
  EXPECT_TRUE(comp.stats().signal_lost);
  // Snapshots stay the last camera picture while the signal is lost (not the dimmed card).
  auto snap = comp.last_picture();
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->picture->identity().sequence, 3u);
  EXPECT_GT(snap->picture->data()[snap->picture->size() - 1], 100);

  clock.advance(Duration::millis(10));  // the camera is back 10 ms after the last card
  supplier.publish(grey_frame(pool, 4, 200, clock.now()));
  ASSERT_TRUE(wait_until([&] { return comp.stats().frames == 4; }, Duration::seconds(5)));
  EXPECT_FALSE(comp.stats().signal_lost);
  comp.stop();

  // 3 frames, 3 signal-lost pictures, 1 frame. Signal-lost pictures are dimmed copies (grey
  // 200 → about 60), 50 ms of pts apart; every picture has a later pts than the one before.
  ASSERT_EQ(enc.pictures.size(), 7u);
  for (size_t i = 0; i < enc.pictures.size(); ++i) {
    const bool lost = i >= 3 && i < 6;
    EXPECT_EQ(px(enc.pictures[i], kW - 2, kH - 2)[0] < 100, lost) << i;
    if (i > 0) {
      EXPECT_GT(enc.pictures[i].pts, enc.pictures[i - 1].pts);
    }
    if (i > 3 && lost) {
      EXPECT_EQ(enc.pictures[i].pts - enc.pictures[i - 1].pts, Duration::millis(50)) << i;
    }
  }
  EXPECT_EQ(enc.pictures[3].pts - enc.pictures[2].pts, Duration::millis(350));
}

// The engine's frames are in the decoder's layout (ADR 0080): an I420 frame is composed and
// handed to the encoder in I420 (no BGR on the way), overlay and stamp drawn in Y/U/V.
TEST(Compositor, KeepsTheDecodersLayoutI420EndToEnd) {
  testing::Watchdog dog(Duration::seconds(20), "compositor i420");
  HeapFramePool pool;
  FrameSupplier supplier;
  ResultStore store;
  RecordingEncoder enc;
  CompositorOptions o;
  o.stream_name = "cam";
  o.stream_id = 4;
  o.stamp_sequence = true;
  Compositor comp(supplier, store, enc, nullptr, o);
  comp.start();
  DetectionResult r;
  r.pipeline = "people";
  r.frame.stream = 4;
  r.frame.sequence = 1;
  r.detections.push_back(Detection{0, "person", 0.9f, Box{100, 100, 200, 200}});
  store.put(r);
  std::vector<FramePtr> published;
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    auto f = pool.acquire(FrameLayout::packed(PixelFormat::kI420, kW, kH));
    ASSERT_TRUE(f.ok());
    std::memset((*f)->mutable_plane(0), 126, static_cast<size_t>(kW * kH));  // grey 128 in BGR
    std::memset((*f)->mutable_plane(1), 128, static_cast<size_t>(kW * kH / 2));
    FrameIdentity id;
    id.stream = 4;
    id.sequence = seq;
    id.pts = Duration::millis(100) * static_cast<int64_t>(seq);
    id.capture_time = SteadyClock::instance().now();
    (*f)->set_identity(id);
    published.push_back(freeze(std::move(*f)));
    supplier.publish(published.back());
    ASSERT_TRUE(wait_until([&] { return enc.count() == seq; }, Duration::seconds(5)));
  }
  comp.stop();
  for (size_t i = 0; i < enc.pictures.size(); ++i) {
    const auto& p = enc.pictures[i];
    EXPECT_EQ(p.format, PixelFormat::kI420);
    const uint8_t* edge = px(p, 100, 150);
    EXPECT_FALSE(std::abs(edge[0] - 128) < 4 && std::abs(edge[1] - 128) < 4 &&
                 std::abs(edge[2] - 128) < 4);
    EXPECT_NEAR(px(p, 150, 150)[1], 128, 2);  // inside the box: the frame's grey
  }
  auto snap = comp.last_picture();
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->picture->format(), PixelFormat::kI420);
  EXPECT_EQ(read_sequence(snap->picture->data(), kW, kH, kW), std::optional<uint64_t>(3));
  for (const auto& f : published) {  // never written
    for (int k = 0; k < kW * kH; k += 997) ASSERT_EQ(f->plane(0)[k], 126);
  }
}

// The encoder is built on the first picture, before two capture times give an interval: that
// picture's duration is the camera's nominal rate, then the measured one.
TEST(Compositor, FirstPictureTakesTheCamerasNominalRateThenTheMeasuredInterval) {
  testing::Watchdog dog(Duration::seconds(20), "compositor nominal rate");
  HeapFramePool pool;
  FrameSupplier supplier;
  ResultStore store;
  RecordingEncoder enc;
  CompositorOptions o;
  o.stream_name = "cam";
  o.stream_id = 4;
  o.nominal_fps = [] { return 25.0; };
  Compositor comp(supplier, store, enc, nullptr, o);
  comp.start();
  const Timestamp t0 = SteadyClock::instance().now();
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    supplier.publish(
        grey_frame(pool, seq, 90, t0 + Duration::millis(50) * static_cast<int64_t>(seq)));
    ASSERT_TRUE(wait_until([&] { return enc.count() == seq; }, Duration::seconds(5)));
  }
  comp.stop();
  EXPECT_EQ(enc.pictures[0].duration, Duration::millis(40));  // 25 fps, not the 10 fps default
  EXPECT_EQ(enc.pictures[1].duration, Duration::millis(50));  // measured from capture times
  EXPECT_EQ(enc.pictures[2].duration, Duration::millis(50));
}

// An encoder that throws `what` for its first `failures` pictures, then records.
class ThrowingEncoder final : public EncoderInput {
 public:
  explicit ThrowingEncoder(int failures, bool standard)
      : failures_(failures), standard_(standard) {}
  Result<Timestamp> submit(const media::Picture& img, Duration pts, Duration d) override {
    if (failures_-- > 0) {
      if (standard_) throw std::runtime_error("encoder exploded");
      throw 7;  // not a std::exception
    }
    return inner.submit(img, pts, d);
  }
  RecordingEncoder inner;

 private:
  int failures_;  // compositor thread only
  bool standard_;
};

// A started compositor of stream "cam" over a ThrowingEncoder.
struct ThrowingRig {
  explicit ThrowingRig(bool standard)
      : enc(1, standard), comp(supplier, store, enc, nullptr, options()) {
    comp.start();
  }
  static CompositorOptions options() {
    CompositorOptions o;
    o.stream_name = "cam";
    o.stream_id = 4;
    return o;
  }
  HeapFramePool pool;
  FrameSupplier supplier;
  ResultStore store;
  ThrowingEncoder enc;
  Compositor comp;  // last: stopped and destroyed first
};

TEST(Compositor, AStandardExceptionWhileCompositingCostsOnePictureNotTheThread) {
  testing::Watchdog dog(Duration::seconds(20), "compositor exception");
  ThrowingRig rig(/*standard=*/true);
  rig.supplier.publish(grey_frame(rig.pool, 1, 100));
  ASSERT_TRUE(wait_until([&] { return rig.comp.stats().errors == 1; }, Duration::seconds(5)));
  rig.supplier.publish(grey_frame(rig.pool, 2, 100));
  ASSERT_TRUE(wait_until([&] { return rig.enc.inner.count() == 1; }, Duration::seconds(5)));
  rig.comp.stop();
  EXPECT_EQ(rig.comp.stats().failure, "");
}

TEST(Compositor, AnyOtherExceptionEndsTheThreadNotTheProcessAndTheStatsSayWhy) {
  testing::Watchdog dog(Duration::seconds(20), "compositor thread death");
  ThrowingRig rig(/*standard=*/false);
  rig.supplier.publish(grey_frame(rig.pool, 1, 100));
  ASSERT_TRUE(wait_until([&] { return !rig.comp.stats().failure.empty(); }, Duration::seconds(5)));
  EXPECT_NE(rig.comp.stats().failure.find("non-standard exception"), std::string::npos)
      << rig.comp.stats().failure;
  // The dead compositor no longer subscribes: the supplier stops offering it frames.
  EXPECT_TRUE(
      wait_until([&] { return rig.supplier.subscriber_count() == 0; }, Duration::seconds(5)));
  rig.comp.stop();
  EXPECT_EQ(rig.enc.inner.count(), 0u);
}

// ---- snapshots: the newest picture sent, without a copy on the video path -------------------

// A started compositor of stream "cam" (id 4) drawing the sequence stamp, over a recorder.
struct SnapshotRig {
  SnapshotRig() : comp(std::make_unique<Compositor>(supplier, store, enc, nullptr, options())) {
    comp->start();
  }
  static CompositorOptions options() {
    CompositorOptions o;
    o.stream_name = "cam";
    o.stream_id = 4;
    o.stamp_sequence = true;
    return o;
  }
  // Publishes frame `seq` and waits until the compositor has sent it.
  bool send(uint64_t seq, uint8_t value = 90) {
    supplier.publish(grey_frame(pool, seq, value));
    return wait_until([&] { return comp->stats().frames == seq; }, Duration::seconds(5));
  }
  HeapFramePool pool;
  FrameSupplier supplier;
  ResultStore store;
  RecordingEncoder enc;
  std::unique_ptr<Compositor> comp;  // last: stopped and destroyed first
};

std::optional<uint64_t> stamped_sequence(const Frame& f) {
  std::vector<uint8_t> luma(static_cast<size_t>(f.width() * f.height()));
  for (size_t k = 0; k < luma.size(); ++k) luma[k] = f.data()[k * 3 + 1];
  return read_sequence(luma.data(), f.width(), f.height(), f.width());
}

TEST(Compositor, LastPictureIsTheNewestPictureSentWithItsFrameIdentity) {
  testing::Watchdog dog(Duration::seconds(20), "compositor last picture");
  SnapshotRig rig;
  EXPECT_FALSE(rig.comp->last_picture().has_value());  // nothing sent yet

  for (uint64_t seq = 1; seq <= 4; ++seq) {
    ASSERT_TRUE(rig.send(seq));
    auto snap = rig.comp->last_picture();
    ASSERT_TRUE(snap.has_value());
    const Frame& p = *snap->picture;
    EXPECT_EQ(p.identity().stream, 4u);
    EXPECT_EQ(p.identity().sequence, seq);
    EXPECT_EQ(p.identity().pts, Duration::millis(100) * static_cast<int64_t>(seq));
    EXPECT_EQ(p.format(), PixelFormat::kBGR24);
    EXPECT_EQ(p.width(), kW);
    EXPECT_EQ(p.height(), kH);
    EXPECT_EQ(p.stride(), kW * 3);
    EXPECT_TRUE(snap->composited.is_set());
    // The very picture the encoder got, overlay and stamp included.
    const auto& sent = rig.enc.pictures.back();
    ASSERT_EQ(sent.bgr.size(), p.size());
    EXPECT_EQ(std::memcmp(sent.bgr.data(), p.data(), p.size()), 0);
    EXPECT_EQ(stamped_sequence(p), std::optional<uint64_t>(seq));
    const media::Picture img = snap->view();
    EXPECT_EQ(img.planes[0], p.data());
    EXPECT_EQ(img.width, kW);
    EXPECT_EQ(img.strides[0], kW * 3);
  }
}

// Cost on the video path: pictures are composed into two pool buffers that take turns, so no
// frame allocates pixel memory or copies pixels for snapshots. A held snapshot keeps its
// buffer (the compositor takes a third one) and never changes; it outlives the compositor.
TEST(Compositor, TwoPictureBuffersTakeTurnsAndAHeldSnapshotNeverChanges) {
  testing::Watchdog dog(Duration::seconds(20), "compositor picture buffers");
  SnapshotRig rig;
  for (uint64_t seq = 1; seq <= 10; ++seq) ASSERT_TRUE(rig.send(seq));
  EXPECT_EQ(rig.comp->stats().picture_buffers, 2u);

  auto held = rig.comp->last_picture();
  ASSERT_TRUE(held.has_value());
  const std::vector<uint8_t> before(held->picture->data(),
                                    held->picture->data() + held->picture->size());
  for (uint64_t seq = 11; seq <= 20; ++seq)
    ASSERT_TRUE(rig.send(seq, static_cast<uint8_t>(seq * 7)));
  EXPECT_EQ(rig.comp->stats().picture_buffers, 3u);
  EXPECT_EQ(held->picture->identity().sequence, 10u);
  EXPECT_EQ(std::memcmp(before.data(), held->picture->data(), before.size()), 0);
  EXPECT_EQ(rig.comp->last_picture()->picture->identity().sequence, 20u);

  held.reset();  // back to the pool: the next frames reuse it, nothing new is allocated
  for (uint64_t seq = 21; seq <= 30; ++seq) ASSERT_TRUE(rig.send(seq));
  EXPECT_EQ(rig.comp->stats().picture_buffers, 3u);

  auto last = rig.comp->last_picture();
  rig.comp.reset();  // stopped and destroyed
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->picture->identity().sequence, 30u);
  EXPECT_EQ(stamped_sequence(*last->picture), std::optional<uint64_t>(30));
}

// Readers on other threads while frames flow: every picture they get is whole and matches its
// identity (the stamp drawn on it reads back as its sequence), and sequences never go back.
// Under ThreadSanitizer this also checks that no buffer is written while a reader holds it.
TEST(Compositor, SnapshotsReadConcurrentlyWithTheVideoAreWholeAndInOrder) {
  testing::Watchdog dog(Duration::seconds(30), "compositor concurrent snapshots");
  SnapshotRig rig;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      uint64_t newest = 0;
      while (!done.load()) {
        auto snap = rig.comp->last_picture();
        if (!snap) {
          std::this_thread::yield();
          continue;
        }
        const uint64_t seq = snap->picture->identity().sequence;
        if (seq < newest || stamped_sequence(*snap->picture) != std::optional<uint64_t>(seq)) ++bad;
        newest = seq;
        ++reads;
      }
    });
  }
  for (uint64_t seq = 1; seq <= 40; ++seq)
    ASSERT_TRUE(rig.send(seq, static_cast<uint8_t>(seq * 5)));
  ASSERT_TRUE(wait_until([&] { return reads.load() > 0; }, Duration::seconds(5)));
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(rig.comp->stats().errors, 0u);
}

}  // namespace
}  // namespace orion::media
