// The live view's media side end to end with real components: a real StreamOutput (x264)
// tapped by LiveViewer, muxed by LiveMuxer into fMP4, and the fragments decoded again by
// GStreamer (appsrc ! qtdemux ! h264parse ! avdec_h264) into pictures of the stream's size.
#include "media/live_view.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/frame_pool.h"
#include "media/testing/fmp4_decode.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::media {
namespace {

constexpr int kW = 320, kH = 240;

// Feeds `n` pictures (a moving bar) into `out`, each after the previous one left the encoder
// (its input refuses pictures pushed faster than it encodes, ADR 0091). `jitter_ms`: each
// picture's pts is off the 40 ms grid by up to that much, as capture times are.
void feed(StreamOutput& out, int n, uint64_t first_seq = 1, int jitter_ms = 0) {
  std::vector<uint8_t> bgr(static_cast<size_t>(kW) * kH * 3);
  for (int i = 0; i < n; ++i) {
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) {
        uint8_t* p = &bgr[(static_cast<size_t>(y) * kW + x) * 3];
        p[0] = static_cast<uint8_t>((x + 8 * i) % 256);
        p[1] = static_cast<uint8_t>(y);
        p[2] = static_cast<uint8_t>(abs(x - 10 * i) < 20 ? 255 : 0);
      }
    FrameIdentity id;
    id.sequence = first_seq + static_cast<uint64_t>(i);
    id.pts = Duration::millis(40) * static_cast<int64_t>(id.sequence);
    if (jitter_ms > 0)  // deterministic, never reordering: |jitter| < 20 ms
      id.pts += Duration::micros(
          static_cast<int64_t>((id.sequence * 7919) % (2000 * jitter_ms + 1)) - 1000 * jitter_ms);
    id.capture_time = SteadyClock::instance().now();
    const uint64_t before = out.stats().encoded;
    auto r = out.submit_frame(picture_of(BgrImage{bgr.data(), kW, kH, kW * 3}), id.pts,
                              Duration::millis(40), &id);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(orion::testing::wait_until([&] { return out.stats().encoded > before; },
                                           Duration::seconds(10), Duration::millis(1)));
  }
}

std::unique_ptr<RtspServer> server() {
  RtspServerOptions o;
  o.port = 0;
  o.address = "127.0.0.1";
  auto s = RtspServer::start(o);
  EXPECT_TRUE(s) << s.error().to_string();
  return s ? std::move(*s) : nullptr;
}

// The muxed live view of `viewer` until it holds `frames` pictures: init, ftyp, then a frame
// message and a moof per picture. Fails the test (and returns what it has) on a missing frame.
std::vector<LiveMessage> mux_frames(LiveViewer& viewer, int frames) {
  LiveMuxer mux("cam");
  std::vector<LiveMessage> messages;
  while (mux.frames() < static_cast<uint64_t>(frames)) {
    auto f = viewer.next(Duration::seconds(10));
    if (!f) {
      ADD_FAILURE() << "no frame from the encoder tap";
      break;
    }
    auto m = mux.add(*f);
    if (!m) {
      ADD_FAILURE() << m.error().to_string();
      break;
    }
    for (auto& x : *m) messages.push_back(std::move(x));
  }
  return messages;
}

// A StreamOutput "cam" with a key picture every 400 ms (nullptr and a test failure if none).
std::shared_ptr<StreamOutput> cam_output(RtspServer& srv) {
  OutputOptions oo;
  oo.key_interval = Duration::millis(400);
  auto out = srv.add_output("cam", oo);
  EXPECT_TRUE(out) << out.error().to_string();
  return out ? *out : nullptr;
}

// The compositor's pts are capture times, off the frame grid by the capture thread's jitter:
// every access unit still carries the identity of the picture it was encoded from.
TEST(LiveView, PicturesAtJitteredPtsKeepTheirIdentity) {
  orion::testing::Watchdog dog(Duration::seconds(60), "live view jittered pts");
  auto srv = server();
  ASSERT_TRUE(srv);
  std::shared_ptr<StreamOutput> out = cam_output(*srv);
  ASSERT_TRUE(out);
  LiveViewer viewer(out, 100);
  std::thread producer([&] { feed(*out, 40, 1, 15); });
  int with_identity = 0, total = 0;
  uint64_t last = 0;
  while (total < 30) {
    auto f = viewer.next(Duration::seconds(10));
    if (!f) break;
    ++total;
    if (f->identity) {
      ++with_identity;
      EXPECT_GT(f->identity->sequence, last);
      last = f->identity->sequence;
    }
  }
  producer.join();
  EXPECT_EQ(total, 30);
  EXPECT_EQ(with_identity, total);
}

TEST(LiveView, FragmentsCarryIdentityAndDecodeToPicturesOfTheStreamsSize) {
  orion::testing::Watchdog dog(Duration::seconds(60), "live view mux and decode");
  auto srv = server();
  ASSERT_TRUE(srv);
  std::shared_ptr<StreamOutput> out = cam_output(*srv);
  ASSERT_TRUE(out);
  LiveViewer viewer(out, 100);
  EXPECT_EQ(out->stats().encoded_sinks, 1u);
  std::thread producer([&] { feed(*out, 40); });
  std::vector<LiveMessage> messages = mux_frames(viewer, 30);
  producer.join();
  ASSERT_GE(messages.size(), 4u);
  const auto init = nlohmann::json::parse(messages[0].data);
  EXPECT_EQ(init["type"], "init");
  EXPECT_EQ(init["stream"], "cam");
  EXPECT_EQ(init["width"], kW);
  EXPECT_EQ(init["height"], kH);
  EXPECT_EQ(init["codec"].get<std::string>().rfind("avc1.", 0), 0u);
  EXPECT_EQ(init["codec"].get<std::string>().size(), 11u);
  ASSERT_TRUE(messages[1].binary);
  EXPECT_EQ(messages[1].data.substr(4, 4), "ftyp");
  std::string file = messages[1].data;
  uint64_t last_seq = 0;
  double last_time = -1;
  int frames = 0;
  for (size_t i = 2; i + 1 < messages.size(); i += 2) {
    ASSERT_FALSE(messages[i].binary);
    const auto j = nlohmann::json::parse(messages[i].data);
    ASSERT_EQ(j["type"], "frame") << messages[i].data;
    const uint64_t seq = j["seq"];
    const double t = j["media_time"];
    EXPECT_GT(seq, last_seq);
    EXPECT_GT(t, last_time);
    if (frames == 0) {
      EXPECT_EQ(t, 0.0);
    }
    EXPECT_EQ(j["pts_us"].get<int64_t>(), static_cast<int64_t>(seq) * 40000);
    const int64_t age_us =
        steady_to_unix_us(SteadyClock::instance().now()) - j["capture_unix_us"].get<int64_t>();
    EXPECT_GE(age_us, 0);
    EXPECT_LT(age_us, 30'000'000);
    last_seq = seq;
    last_time = t;
    ASSERT_TRUE(messages[i + 1].binary);
    EXPECT_EQ(messages[i + 1].data.substr(4, 4), "moof");
    file += messages[i + 1].data;
    ++frames;
  }
  EXPECT_EQ(frames, 30);
  const media::testing::DecodedVideo d = media::testing::decode_fmp4(file);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.pictures, frames);
  EXPECT_EQ(d.width, kW);
  EXPECT_EQ(d.height, kH);
}

// A viewer that reads nothing: its queue fills, it is emptied to the next keyframe and the
// frames are counted; the encoder goes on at its own pace (every picture is encoded).
TEST(LiveView, StalledViewerDropsToTheNextKeyframeAndNeverSlowsTheEncoder) {
  orion::testing::Watchdog dog(Duration::seconds(60), "stalled live viewer");
  auto srv = server();
  ASSERT_TRUE(srv);
  OutputOptions oo;
  oo.key_interval = Duration::millis(200);
  auto out = srv->add_output("cam", oo);
  ASSERT_TRUE(out);
  LiveViewer stalled(*out, 4);
  uint64_t seq = 1;
  while (stalled.dropped() == 0 && seq < 100) feed(**out, 1, seq++);
  ASSERT_GT(stalled.dropped(), 0u) << "a viewer that reads nothing never dropped";
  EXPECT_EQ((*out)->stats().encoded, seq - 1);  // every picture encoded: nothing waited for it
  const uint64_t received = stalled.received();
  while (stalled.received() == received && seq < 200) feed(**out, 1, seq++);
  auto first = stalled.next(Duration::seconds(1));
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->keyframe);  // after the drop, the viewer resumes at a keyframe
  EXPECT_EQ((*out)->stats().encoder_builds, 1u);
}

// The compositor's finished I420 pictures go to the encoder by reference (no copy): the
// encoded buffers wrap the pictures, hold them until x264 lets them go, and decode again to
// pictures of the stream's size; a picture in another layout (BGR) is still copied.
TEST(LiveView, PackedI420PicturesReachTheEncoderByReferenceAndAreReleased) {
  orion::testing::Watchdog dog(Duration::seconds(60), "I420 pictures by reference");
  auto srv = server();
  ASSERT_TRUE(srv);
  std::shared_ptr<StreamOutput> out = cam_output(*srv);
  ASSERT_TRUE(out);
  LiveViewer viewer(out, 100);
  HeapFramePool pool;
  constexpr int kPictures = 20;
  for (int i = 0; i < kPictures; ++i) {
    auto f = pool.acquire(FrameLayout::packed(PixelFormat::kI420, kW, kH));
    ASSERT_TRUE(f) << f.error().to_string();
    uint8_t* y = (*f)->mutable_plane(0);
    for (int r = 0; r < kH; ++r)
      for (int x = 0; x < kW; ++x) y[r * kW + x] = static_cast<uint8_t>((x + 8 * i) % 256);
    std::fill((*f)->mutable_plane(1), (*f)->mutable_plane(1) + kW * kH / 2, uint8_t{128});
    FrameIdentity id;
    id.sequence = static_cast<uint64_t>(i + 1);
    id.capture_time = SteadyClock::instance().now();
    (*f)->set_identity(id);
    const FramePtr picture = freeze(std::move(*f));
    const uint64_t before = out->stats().encoded;
    auto r =
        out->submit_picture(picture, Duration::millis(40) * (i + 1), Duration::millis(40), &id);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(orion::testing::wait_until([&] { return out->stats().encoded > before; },
                                           Duration::seconds(10), Duration::millis(1)));
  }
  feed(*out, 1, kPictures + 1);  // BGR: converted into a buffer of the encoder's own
  const OutputStats st = out->stats();
  EXPECT_EQ(st.submitted, static_cast<uint64_t>(kPictures + 1));
  EXPECT_EQ(st.by_reference, static_cast<uint64_t>(kPictures));
  EXPECT_EQ(st.encoded, static_cast<uint64_t>(kPictures + 1));
  std::string file;
  for (const LiveMessage& m : mux_frames(viewer, kPictures + 1))
    if (m.binary) file += m.data;
  const media::testing::DecodedVideo d = media::testing::decode_fmp4(file);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.pictures, kPictures + 1);
  EXPECT_EQ(d.width, kW);
  EXPECT_EQ(d.height, kH);
  out->close();  // the encoder lets every buffer go: no picture stays referenced
  EXPECT_TRUE(orion::testing::wait_until([&] { return pool.stats().in_use == 0; },
                                         Duration::seconds(10), Duration::millis(1)))
      << pool.stats().in_use << " pictures still held after the encoder closed";
  EXPECT_EQ(pool.stats().acquired, static_cast<uint64_t>(kPictures));
}

}  // namespace
}  // namespace orion::media
