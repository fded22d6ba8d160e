// Capture against real GStreamer sources: test patterns, the asset video (with its audio
// track), a generated short clip for looping, and the failure cases (not a video, missing
// file, unreachable host, bad url).
#include "media/capture.h"

#include <gst/gst.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_annotations.h"
#include "media/frame_timeline.h"
#include "media/testing/rtsp_fixtures.h"
#include "testing/assets.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::media {
namespace {

using media::testing::RtspSourceFixture;
using orion::testing::Watchdog;

// Takes every frame the supplier hands a subscriber, on its own thread. With `work`, it stands
// for a slow consumer: it spends that long on each frame it took (a pause that paces the
// consumer, not a wait for anything).
class Collector {
 public:
  explicit Collector(FrameSupplier& s, Duration work = Duration::zero())
      : sub_(s.subscribe("collector")), thread_([this, work] {
          while (!stop_) {
            auto f = sub_->next_frame(Duration::millis(50));
            if (!f) continue;
            {
              MutexLock lock(mu_);
              frames_.push_back(*f);
              if (frames_.size() > 400) frames_.erase(frames_.begin());
            }
            // Simulated work (pacing of a slow consumer), not synchronisation.
            if (work > Duration::zero()) std::this_thread::sleep_for(work.to_chrono());
          }
        }) {}
  ~Collector() {
    stop_ = true;
    thread_.join();
  }
  std::vector<FramePtr> frames() {
    MutexLock lock(mu_);
    return frames_;
  }
  uint64_t last_sequence() {  // 0 before the first frame
    MutexLock lock(mu_);
    return frames_.empty() ? 0 : frames_.back()->identity().sequence;
  }

 private:
  std::unique_ptr<Subscription> sub_;
  std::atomic<bool> stop_{false};
  Mutex mu_;
  std::vector<FramePtr> frames_ GUARDED_BY(mu_);
  std::thread thread_;
};

using orion::testing::wait_until;

// The capture rate over the frames from sequence `from` on, from the frames' own identities:
// sequences captured (taken or not) per second of capture time between the first and the last.
// Returns 0 when fewer than two such frames were taken.
double capture_rate(const std::vector<FramePtr>& frames, uint64_t from) {
  const FrameIdentity* first = nullptr;
  const FrameIdentity* last = nullptr;
  for (const auto& f : frames) {
    if (f->identity().sequence < from) continue;
    if (first == nullptr) first = &f->identity();
    last = &f->identity();
  }
  if (first == nullptr || last == first) return 0;
  return static_cast<double>(last->sequence - first->sequence) /
         (last->capture_time - first->capture_time).as_seconds();
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("orion_capture_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// A 1 s, 10 fps H.264 MP4 made with GStreamer itself.
std::string make_short_clip() {
  ensure_gstreamer();
  const std::string path = temp_path("clip.mp4");
  GError* err = nullptr;
  const std::string desc =
      "videotestsrc num-buffers=10 pattern=ball ! video/x-raw,width=160,height=120,framerate=10/1 ! "
      "x264enc speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location=" + path;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  EXPECT_EQ(err, nullptr);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 20 * GST_SECOND,
                                             static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  EXPECT_NE(m, nullptr);
  EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
  gst_message_unref(m);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return path;
}

CaptureOptions fast_retry() {
  CaptureOptions o;
  o.connect_timeout = Duration::seconds(2);
  o.backoff_initial = Duration::millis(200);
  o.backoff_max = Duration::millis(400);
  return o;
}

TEST(Capture, TestPatternPublishesFramesWithIdentityAtItsRate) {
  Watchdog dog(Duration::seconds(30), "test pattern capture");
  HeapFramePool pool;
  FrameSupplier supplier;
  FrameTimeline timeline;
  auto cap = Capture::create("pattern", 7, "test://ball?width=320&height=240&fps=20", {}, pool, supplier, &timeline);
  ASSERT_TRUE(cap.ok()) << cap.error().to_string();
  Collector c(supplier);
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return (*cap)->status().frames >= 1; }, Duration::seconds(10)));
  // The rate over the next 40 frames (about 2 s), start-up excluded.
  const uint64_t first = (*cap)->status().frames + 1;
  ASSERT_TRUE(wait_until([&] { return c.last_sequence() >= first + 40; }, Duration::seconds(10)));
  EXPECT_NEAR(capture_rate(c.frames(), first), 20.0, 2.0);
  auto st = (*cap)->status();
  EXPECT_EQ(st.state, StreamState::kLive);
  EXPECT_EQ(st.width, 320);
  EXPECT_EQ(st.height, 240);
  EXPECT_DOUBLE_EQ(st.nominal_fps, 20.0);
  (*cap)->stop();
  auto frames = c.frames();
  ASSERT_GE(frames.size(), 30u);
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& id = frames[i]->identity();
    EXPECT_EQ(id.stream, 7u);
    // The decoder's layout, kept (ADR 0080): videotestsrc → I420, packed planes.
    EXPECT_EQ(frames[i]->format(), PixelFormat::kI420);
    EXPECT_EQ(frames[i]->layout().plane_count, 3);
    EXPECT_EQ(frames[i]->stride(0), 320);
    EXPECT_EQ(frames[i]->stride(1), 160);
    EXPECT_EQ(frames[i]->width(), 320);
    EXPECT_TRUE(timeline.published(id.sequence).has_value() || i + 256 < frames.size());
    if (i > 0) {
      const auto& prev = frames[i - 1]->identity();
      EXPECT_GT(id.sequence, prev.sequence);
      EXPECT_GT(id.pts, prev.pts);
      EXPECT_GT(id.capture_time, prev.capture_time);
    }
  }
  EXPECT_EQ(frames.front()->identity().sequence, 1u);
  EXPECT_EQ((*cap)->status().state, StreamState::kStopped);
}

// The compositor builds the encoder on the first frame it takes, at the camera's nominal rate
// read from the status: the status has it before the frame is published. (It was written after
// publish(), and an encoder sometimes started at the 10 fps default on a 25 fps camera.)
TEST(Capture, TheNominalRateIsInTheStatusBeforeTheFirstFrameReachesASubscriber) {
  Watchdog dog(Duration::seconds(60), "nominal rate before the first frame");
  for (int attempt = 0; attempt < 20; ++attempt) {
    HeapFramePool pool;
    FrameSupplier supplier;
    auto cap = Capture::create("pattern", 7, "test://ball?width=160&height=120&fps=25", {}, pool,
                               supplier, nullptr);
    ASSERT_TRUE(cap.ok()) << cap.error().to_string();
    auto sub = supplier.subscribe("first", SlaClass::kCritical, 3);  // woken by publish() itself
    (*cap)->start();
    auto f = sub->next_frame(Duration::seconds(10));
    ASSERT_TRUE(f.ok()) << f.error().to_string();
    EXPECT_DOUBLE_EQ((*cap)->status().nominal_fps, 25.0) << "attempt " << attempt;
    (*cap)->stop();
  }
}

TEST(Capture, AssetFilePlaysAtNativeRateIgnoringItsAudio) {
  ORION_REQUIRE_ASSET(path, "vtest_480x360.mp4");
  Watchdog dog(Duration::seconds(30), "file capture");
  HeapFramePool pool;
  FrameSupplier supplier;
  auto cap = Capture::create("vtest", 1, path, {}, pool, supplier);
  ASSERT_TRUE(cap.ok());
  Collector c(supplier);
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return (*cap)->status().frames >= 1; }, Duration::seconds(10)));
  // The rate over the next 30 frames (about 3 s): native 10 fps, not faster.
  const uint64_t first = (*cap)->status().frames + 1;
  ASSERT_TRUE(wait_until([&] { return c.last_sequence() >= first + 30; }, Duration::seconds(15)));
  EXPECT_NEAR(capture_rate(c.frames(), first), 10.0, 0.7);
  auto st = (*cap)->status();
  EXPECT_EQ(st.width, 480);
  EXPECT_EQ(st.height, 360);
  EXPECT_FALSE(st.decoder.empty());
  EXPECT_EQ(st.last_error, "");
  (*cap)->stop();
}

// The frame holds the decoder's buffer itself (ADR 0089) and its pixels are the ones the
// copying path gives: the same file captured twice, once by reference and once copied into
// the pool, compared plane by plane on every sequence both collectors took.
TEST(Capture, DecodedBufferHeldByReferenceHasTheCopiedPixels) {
  ORION_REQUIRE_ASSET(path, "vtest_480x360.mp4");
  Watchdog dog(Duration::seconds(30), "capture by reference");
  HeapFramePool pool_ref, pool_copy;
  FrameSupplier sup_ref, sup_copy;
  CaptureOptions copy_opt;
  copy_opt.reference_decoded = false;
  auto by_ref = Capture::create("ref", 1, path, {}, pool_ref, sup_ref);
  auto copied = Capture::create("copy", 2, path, copy_opt, pool_copy, sup_copy);
  ASSERT_TRUE(by_ref.ok() && copied.ok());
  Collector c_ref(sup_ref), c_copy(sup_copy);
  (*by_ref)->start();
  (*copied)->start();
  ASSERT_TRUE(
      wait_until([&] { return c_ref.last_sequence() >= 20 && c_copy.last_sequence() >= 20; },
                 Duration::seconds(15)));
  (*by_ref)->stop();
  (*copied)->stop();
  const auto st_ref = (*by_ref)->status(), st_copy = (*copied)->status();
  EXPECT_EQ(st_ref.by_reference, st_ref.frames) << "decoder " << st_ref.decoder;
  EXPECT_EQ(st_copy.by_reference, 0u);
  const auto ref = c_ref.frames(), copy = c_copy.frames();
  size_t compared = 0;
  for (const auto& a : ref) {
    for (const auto& b : copy) {
      if (b->identity().sequence != a->identity().sequence) continue;
      ASSERT_EQ(a->format(), b->format());
      ASSERT_EQ(a->width(), b->width());
      ASSERT_EQ(a->height(), b->height());
      for (int p = 0; p < a->layout().plane_count; ++p) {
        const int rows = p == 0 ? a->height() : a->height() / 2;
        const int bytes = p == 0 || a->format() == PixelFormat::kNV12 ? a->width() : a->width() / 2;
        for (int r = 0; r < rows; ++r) {
          ASSERT_EQ(
              std::memcmp(a->plane(p) + static_cast<size_t>(r) * static_cast<size_t>(a->stride(p)),
                          b->plane(p) + static_cast<size_t>(r) * static_cast<size_t>(b->stride(p)),
                          static_cast<size_t>(bytes)),
              0)
              << "sequence " << a->identity().sequence << " plane " << p << " row " << r;
        }
      }
      ++compared;
    }
  }
  EXPECT_GE(compared, 10u);
}

TEST(Capture, SlowConsumerNeverMakesTheCaptureLag) {
  Watchdog dog(Duration::seconds(30), "slow consumer");
  HeapFramePool pool;
  FrameSupplier supplier;
  auto cap = Capture::create("fast", 1, "test://smpte?width=320&height=240&fps=25", {}, pool, supplier);
  ASSERT_TRUE(cap.ok());
  Collector slow(supplier, Duration::millis(300));  // takes ~3 frames a second out of 25
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return slow.frames().size() >= 6; }, Duration::seconds(15)));
  auto frames = slow.frames();
  (*cap)->stop();
  // The capture kept its rate (25 fps) between the first and the last frame the slow one took.
  EXPECT_GE(capture_rate(frames, 0), 20.0);
  ASSERT_GE(frames.size(), 6u);
  // Every frame taken was the newest at the time: sequences jump, never step one by one.
  for (size_t i = 1; i < frames.size(); ++i) {
    EXPECT_GT(frames[i]->identity().sequence, frames[i - 1]->identity().sequence + 3);
  }
}

TEST(Capture, LoopedFileKeepsSequenceAndPtsGrowing) {
  Watchdog dog(Duration::seconds(40), "looped file");
  const std::string clip = make_short_clip();
  HeapFramePool pool;
  FrameSupplier supplier;
  CaptureOptions o;
  o.loop = true;
  auto cap = Capture::create("loop", 2, clip, o, pool, supplier);
  ASSERT_TRUE(cap.ok());
  Collector c(supplier);
  (*cap)->start();
  EXPECT_TRUE(wait_until([&] { return (*cap)->status().frames >= 25; }, Duration::seconds(8)));
  (*cap)->stop();
  auto frames = c.frames();
  ASSERT_GE(frames.size(), 20u);
  for (size_t i = 1; i < frames.size(); ++i) {
    EXPECT_GT(frames[i]->identity().sequence, frames[i - 1]->identity().sequence);
    EXPECT_GT(frames[i]->identity().pts, frames[i - 1]->identity().pts);
  }
  EXPECT_EQ((*cap)->status().attempts, 1u);  // looping is not a reconnect

  // Without loop the same clip ends, and is not restarted.
  auto once = Capture::create("once", 3, clip, {}, pool, supplier);
  ASSERT_TRUE(once.ok());
  (*once)->start();
  EXPECT_TRUE(wait_until([&] { return (*once)->status().state == StreamState::kEnded; }, Duration::seconds(8)));
  EXPECT_EQ((*once)->status().frames, 10u);
  (*once)->stop();
  std::filesystem::remove(clip);
}

TEST(Capture, FileThatIsNotVideoGivesAClearErrorAndRetries) {
  Watchdog dog(Duration::seconds(30), "not video");
  const std::string path = temp_path("notes.txt");
  {
    std::ofstream f(path);
    for (int i = 0; i < 200; ++i) f << "this is not a video, line " << i << "\n";
  }
  HeapFramePool pool;
  FrameSupplier supplier;
  auto cap = Capture::create("notes", 1, path, fast_retry(), pool, supplier);
  ASSERT_TRUE(cap.ok());
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return (*cap)->status().attempts >= 2; }, Duration::seconds(10)));
  auto st = (*cap)->status();
  (*cap)->stop();
  EXPECT_NE(st.last_error.find("media.not_video"), std::string::npos) << st.last_error;
  EXPECT_NE(st.last_error.find("stream 'notes'"), std::string::npos) << st.last_error;
  EXPECT_EQ(st.frames, 0u);
  std::filesystem::remove(path);
}

TEST(Capture, MissingFileSaysNotFound) {
  Watchdog dog(Duration::seconds(30), "missing file");
  HeapFramePool pool;
  FrameSupplier supplier;
  auto cap = Capture::create("ghost", 1, "/nonexistent/orion/clip.mp4", fast_retry(), pool, supplier);
  ASSERT_TRUE(cap.ok());
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return !(*cap)->status().last_error.empty(); }, Duration::seconds(10)));
  auto st = (*cap)->status();
  (*cap)->stop();
  EXPECT_NE(st.last_error.find("media.not_found"), std::string::npos) << st.last_error;
  EXPECT_NE(st.last_error.find("ghost"), std::string::npos) << st.last_error;
}

TEST(Capture, UnreachableRtspHostRetriesWithBackoffWhileAnotherStreamRuns) {
  Watchdog dog(Duration::seconds(40), "unreachable host");
  HeapFramePool pool;
  FrameSupplier bad_supplier, good_supplier;
  // Nothing listens on port 1 of loopback: connection refused. 192.0.2.1 (TEST-NET-1) is never
  // routed: the connect timeout fires (or the network is unreachable at once).
  auto refused = Capture::create("refused", 1, "rtsp://127.0.0.1:1/cam", fast_retry(), pool, bad_supplier);
  auto nowhere = Capture::create("nowhere", 2, "rtsp://192.0.2.1:554/cam", fast_retry(), pool, bad_supplier);
  auto good = Capture::create("good", 3, "test://ball?width=160&height=120&fps=10", {}, pool, good_supplier);
  ASSERT_TRUE(refused.ok() && nowhere.ok() && good.ok());
  (*refused)->start();
  (*nowhere)->start();
  (*good)->start();
  ASSERT_TRUE(wait_until([&] {
    return (*refused)->status().attempts >= 3 && (*nowhere)->status().attempts >= 2 &&
           (*good)->status().frames > 10;
  }, Duration::seconds(20)));
  for (auto* c : {&*refused, &*nowhere}) {
    auto st = (*c)->status();
    EXPECT_TRUE(st.state == StreamState::kRetrying || st.state == StreamState::kConnecting);
    EXPECT_NE(st.last_error.find("stream '" + st.name + "'"), std::string::npos) << st.last_error;
    EXPECT_EQ(st.frames, 0u);
  }
  EXPECT_EQ((*good)->status().state, StreamState::kLive);
  EXPECT_GT((*good)->status().frames, 10u);
  (*refused)->stop();
  (*nowhere)->stop();
  (*good)->stop();
}

// The retry backoff is waited on the capture's clock: with a FakeClock the capture thread is a
// waiter of the clock while it backs off, and the next attempt starts exactly when the clock
// reaches the delay of the policy (200 ms, then ×2 capped at 400 ms), not before.
TEST(Capture, RetriesComeAfterTheBackoffOfThePolicyOnTheCaptureClock) {
  Watchdog dog(Duration::seconds(60), "backoff on a fake clock");
  FakeClock clock;
  HeapFramePool pool;
  FrameSupplier supplier;
  CaptureOptions o = fast_retry();  // backoff 200 ms, ×2, at most 400 ms
  o.clock = &clock;
  auto cap = Capture::create("refused", 1, "rtsp://127.0.0.1:1/cam", o, pool, supplier);
  ASSERT_TRUE(cap.ok());
  (*cap)->start();
  ASSERT_TRUE(clock.wait_for_waiters(1, Duration::seconds(20)));  // attempt 1 failed: backing off
  auto st = (*cap)->status();
  EXPECT_EQ(st.attempts, 1u);
  EXPECT_EQ(st.state, StreamState::kRetrying);
  EXPECT_NE(st.last_error.find("stream 'refused'"), std::string::npos) << st.last_error;
  EXPECT_EQ(st.backoff, Duration::millis(200));
  EXPECT_EQ(st.retry_in, Duration::millis(200));
  EXPECT_EQ(clock.next_deadline(), clock.now() + Duration::millis(200));

  clock.advance(Duration::millis(199));
  EXPECT_EQ(clock.waiters(), 1u);  // still backing off
  EXPECT_EQ((*cap)->status().retry_in, Duration::millis(1));
  EXPECT_EQ((*cap)->status().attempts, 1u);

  const Duration expected[] = {Duration::millis(400), Duration::millis(400)};
  clock.advance(Duration::millis(1));
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(clock.wait_for_waiters(1, Duration::seconds(20)));  // attempt i+2 failed
    st = (*cap)->status();
    EXPECT_EQ(st.attempts, i + 2);
    EXPECT_EQ(st.backoff, expected[i]);
    EXPECT_EQ(st.frames, 0u);
    clock.advance(expected[i]);
  }
  ASSERT_TRUE(clock.wait_for_waiters(1, Duration::seconds(20)));
  EXPECT_EQ((*cap)->status().attempts, 4u);
  (*cap)->stop();  // interrupts the backoff wait: the clock need not move
  EXPECT_EQ((*cap)->status().state, StreamState::kStopped);
  EXPECT_EQ(clock.waiters(), 0u);
}

// The stall timeout is measured on the capture's clock: a camera that keeps its connection
// open but sends nothing is declared stalled once that clock has passed stall_timeout since
// the last frame. The timeout is a minute, longer than the test may wait in real time, so
// only the fake clock can make it pass. (Frames already on their way when the camera froze
// restart the count, so the clock is advanced until the capture says so.)
TEST(Capture, AFrozenCameraIsStalledWhenTheCaptureClockPassesTheStallTimeout) {
  Watchdog dog(Duration::seconds(60), "stall on a fake clock");
  auto src = RtspSourceFixture::serve_pattern(160, 120, 10);
  ASSERT_TRUE(src.ok()) << src.error().to_string();
  FakeClock clock;
  HeapFramePool pool;
  FrameSupplier supplier;
  CaptureOptions o = fast_retry();
  o.clock = &clock;
  o.stall_timeout = Duration::seconds(60);
  auto cap = Capture::create("frozen", 5, (*src)->url(), o, pool, supplier);
  ASSERT_TRUE(cap.ok());
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return (*cap)->status().frames >= 5; }, Duration::seconds(20)))
      << (*cap)->status().last_error;
  EXPECT_EQ((*cap)->status().state, StreamState::kLive);
  (*src)->set_frozen(true);
  auto stalled = [&] {
    return (*cap)->status().last_error.find("media.stalled") != std::string::npos;
  };
  int advances = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        if (stalled()) return true;
        clock.advance(o.stall_timeout / 4);
        ++advances;
        return false;
      },
      Duration::seconds(20)))
      << (*cap)->status().last_error;
  EXPECT_GE(advances, 5);  // more than the whole stall timeout (4 × 15 s) on the capture clock
  auto st = (*cap)->status();
  EXPECT_NE(st.last_error.find("stream 'frozen'"), std::string::npos) << st.last_error;
  EXPECT_NE(st.last_error.find("no frame for 60.0 s"), std::string::npos) << st.last_error;

  // The camera comes back: the retry, once the clock reaches the backoff, is live again.
  (*src)->set_frozen(false);
  const uint64_t before = st.last_sequence;
  ASSERT_TRUE(wait_until(
      [&] {
        if (clock.waiters() > 0) clock.advance_to_next_deadline();  // the backoff wait
        auto s = (*cap)->status();
        return s.state == StreamState::kLive && s.last_sequence > before + 5;
      },
      Duration::seconds(20)))
      << (*cap)->status().last_error;
  EXPECT_GE((*cap)->status().attempts, 2u);
  (*cap)->stop();
}

TEST(Capture, BadUrlIsRefusedNamingTheStream) {
  HeapFramePool pool;
  FrameSupplier supplier;
  auto cap = Capture::create("cam9", 1, "http://example.com/x.mp4", {}, pool, supplier);
  ASSERT_FALSE(cap.ok());
  EXPECT_EQ(cap.error().code, "media.bad_url");
  EXPECT_NE(cap.error().message.find("stream 'cam9'"), std::string::npos);
}

// A pool whose acquire() throws: stands for any exception escaping the capture thread.
class ThrowingPool final : public FramePool {
 public:
  explicit ThrowingPool(bool standard) : standard_(standard) {}
  Result<MutableFramePtr> acquire(const FrameLayout&) override {
    if (standard_) throw std::runtime_error("pool on fire");
    throw 7;  // not a std::exception
  }
  PoolStats stats() const override { return {}; }

 private:
  const bool standard_;
};

void expect_capture_thread_failure(bool standard, const std::string& why) {
  Watchdog dog(Duration::seconds(30), "capture thread exception");
  ThrowingPool pool(standard);
  FrameSupplier supplier;
  CaptureOptions o = fast_retry();
  o.reference_decoded = false;  // every frame goes through the pool (by reference, none would)
  auto cap =
      Capture::create("doomed", 1, "test://ball?width=160&height=120&fps=20", o, pool, supplier);
  ASSERT_TRUE(cap.ok()) << cap.error().to_string();
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return (*cap)->status().state == StreamState::kFailed; },
                         Duration::seconds(10)));
  const auto st = (*cap)->status();
  EXPECT_NE(st.last_error.find("stream 'doomed'"), std::string::npos) << st.last_error;
  EXPECT_NE(st.last_error.find(why), std::string::npos) << st.last_error;
  (*cap)->stop();  // joins the ended thread
  EXPECT_EQ((*cap)->status().state, StreamState::kFailed);
}

TEST(Capture, AnExceptionOnTheCaptureThreadFailsTheStreamNotTheProcess) {
  expect_capture_thread_failure(true, "pool on fire");
}

TEST(Capture, ANonStandardExceptionOnTheCaptureThreadFailsTheStreamNotTheProcess) {
  expect_capture_thread_failure(false, "non-standard exception");
}

}  // namespace
}  // namespace orion::media
