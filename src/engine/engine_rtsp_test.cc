// End to end, real components on loopback: an RTSP "camera" (gst-rtsp-server fixture) →
// the Engine (capture → supplier → compositor → encoder → RTSP server) → two real clients at
// once (GStreamer rtspsrc in process, ffprobe as a child process).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "media/testing/rtsp_fixtures.h"
#include "testing/assets.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::engine {
namespace {

using media::StreamState;
using media::testing::RtspSourceFixture;
using media::testing::RtspTestClient;
using orion::testing::Watchdog;

using orion::testing::wait_until;

struct ProbeFrame {
  double pts = -1;
  int width = 0, height = 0;
};

// ffprobe, a child process, reading `seconds` of the stream over TCP.
std::vector<ProbeFrame> run_ffprobe(const std::string& url, int seconds, std::string* raw) {
  const std::string cmd = "timeout 30 ffprobe -v error -rtsp_transport tcp -select_streams v:0 "
                          "-show_entries frame=pts_time,width,height -of csv=p=0 -read_intervals %+" +
                          std::to_string(seconds) + " '" + url + "' 2>&1";
  std::vector<ProbeFrame> out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char line[256];
  while (std::fgets(line, sizeof line, p)) {
    raw->append(line);
    ProbeFrame f;
    char pts[64] = {0};
    if (std::sscanf(line, "%63[^,],%d,%d", pts, &f.width, &f.height) == 3) {
      f.pts = std::string(pts) == "N/A" ? -1 : std::atof(pts);
      out.push_back(f);
    }
  }
  pclose(p);
  return out;
}

EngineOptions test_options() {
  EngineOptions o;
  o.rtsp_port = 0;
  o.rtsp_address = "127.0.0.1";
  o.stamp_sequence = true;
  o.capture.connect_timeout = Duration::seconds(3);
  o.capture.stall_timeout = Duration::seconds(2);
  o.capture.backoff_initial = Duration::millis(250);
  o.capture.backoff_max = Duration::seconds(1);
  return o;
}

TEST(EngineRtsp, AssetOverRtspIsServedAnnotatedToTwoClientsAtTheSourceRate) {
  ORION_REQUIRE_ASSET(asset, "vtest_480x360.mp4");
  Watchdog dog(Duration::seconds(90), "engine rtsp end to end");
  auto source = RtspSourceFixture::serve_file(asset);
  ASSERT_TRUE(source.ok()) << source.error().to_string();
  Config cfg;
  cfg.streams.push_back({"cam", (*source)->url(), false, true});
  auto engine = Engine::create(cfg, test_options());
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  ASSERT_TRUE((*engine)->start().ok());
  ASSERT_TRUE(wait_until([&] { return (*engine)->report("cam")->output.encoded > 5; }, Duration::seconds(15)))
      << (*engine)->report("cam")->capture.last_error;
  const std::string out_url = (*engine)->report("cam")->output_url;

  // Both clients at once.
  auto client = RtspTestClient::start(out_url);
  ASSERT_TRUE(client.ok()) << client.error().to_string();
  std::string probe_raw;
  std::vector<ProbeFrame> probe;
  std::thread prober([&] { probe = run_ffprobe(out_url, 6, &probe_raw); });
  prober.join();
  // The output keeps flowing to the first client after the second one left.
  const size_t after_probe = (*client)->frames().size();
  ASSERT_TRUE(wait_until([&] { return (*client)->frames().size() >= after_probe + 5; },
                         Duration::seconds(5)));
  (*client)->stop();
  const auto rep = *(*engine)->report("cam");
  (*engine)->stop();

  // --- in-process rtspsrc client: every frame stamped, strictly increasing, at 10 fps ---
  auto frames = (*client)->frames();
  EXPECT_EQ((*client)->error(), "");
  ASSERT_GE(frames.size(), 40u) << "client got too few frames";
  size_t stamped = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].width, 480);
    EXPECT_EQ(frames[i].height, 360);
    if (frames[i].sequence) ++stamped;
  }
  EXPECT_GE(stamped, frames.size() * 98 / 100) << "sequence stamp unreadable";
  uint64_t prev = 0, first = 0, last = 0;
  for (const auto& f : frames) {
    if (!f.sequence) continue;
    EXPECT_GT(*f.sequence, prev) << "frame repeated or out of order";
    if (first == 0) first = *f.sequence;
    prev = last = *f.sequence;
  }
  // Source frames in the window vs frames received: none repeated, at most 5% lost.
  const double source_frames = static_cast<double>(last - first + 1);
  EXPECT_LE(static_cast<double>(stamped), source_frames);
  EXPECT_GE(static_cast<double>(stamped), 0.95 * source_frames);
  const double span = (frames.back().pts - frames.front().pts).as_seconds();
  const double client_fps = static_cast<double>(frames.size() - 1) / span;
  EXPECT_NEAR(client_fps, 10.0, 0.5) << "rtspsrc client fps";
  const double arrival_span = (frames.back().arrival - frames.front().arrival).as_seconds();
  EXPECT_NEAR(static_cast<double>(frames.size() - 1) / arrival_span, 10.0, 0.5) << "arrival rate";

  // --- ffprobe child process ---
  ASSERT_GE(probe.size(), 40u) << probe_raw;
  std::vector<double> pts;
  for (const auto& f : probe) {
    EXPECT_EQ(f.width, 480);
    EXPECT_EQ(f.height, 360);
    if (f.pts >= 0) pts.push_back(f.pts);
  }
  for (size_t i = 1; i < pts.size(); ++i) EXPECT_GT(pts[i], pts[i - 1]) << "ffprobe saw a repeated timestamp";
  ASSERT_GE(pts.size(), 2u);
  const double probe_fps = static_cast<double>(pts.size() - 1) / (pts.back() - pts.front());
  EXPECT_NEAR(probe_fps, 10.0, 0.5) << "ffprobe fps";
  // Frame count against the source over the same duration.
  EXPECT_NEAR(static_cast<double>(pts.size()), 10.0 * (pts.back() - pts.front()) + 1, 0.05 * 10.0 * (pts.back() - pts.front()) + 1);

  // Engine side: one output picture per camera frame, none repeated.
  EXPECT_EQ(rep.compositor.repeated, 0u);
  EXPECT_EQ(rep.compositor.errors, 0u);
  EXPECT_NEAR(rep.capture.nominal_fps, 10.0, 0.01);
  EXPECT_GE(rep.compositor.frames + 2, rep.capture.frames);
}

TEST(EngineRtsp, SourceKilledFor5sReconnectsWhileTheOtherStreamKeepsItsRate) {
  Watchdog dog(Duration::seconds(90), "reconnect");
  auto a = RtspSourceFixture::serve_pattern(320, 240, 10);
  auto b = RtspSourceFixture::serve_pattern(320, 240, 10);
  ASSERT_TRUE(a.ok() && b.ok());
  Config cfg;
  cfg.streams.push_back({"a", (*a)->url(), false, true});
  cfg.streams.push_back({"b", (*b)->url(), false, true});
  auto engine = Engine::create(cfg, test_options());
  ASSERT_TRUE(engine.ok());
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(wait_until([&] {
    return e.report("a")->compositor.frames > 10 && e.report("b")->compositor.frames > 10;
  }, Duration::seconds(20)));
  auto client_b = RtspTestClient::start(e.report("b")->output_url);
  ASSERT_TRUE(client_b.ok());
  ASSERT_TRUE(wait_until([&] { return (*client_b)->frames().size() >= 10; }, Duration::seconds(10)))
      << (*client_b)->error();

  const uint64_t a_seq_before = e.report("a")->capture.last_sequence;
  const uint64_t a_attempts0 = e.report("a")->capture.attempts;
  const auto b0 = e.report("b")->compositor.frames;
  const auto t0 = std::chrono::steady_clock::now();
  (*a)->stop();  // the camera is gone: port closed, sessions closed
  // The outage lasts until a has left live, its output says signal lost and it retried twice,
  // and b has sent 50 more frames (5 s at 10 fps). b is sampled at every poll.
  bool a_left_live = false, b_always_live = true;
  std::vector<std::pair<double, uint64_t>> b_samples;  // (s since t0, b's compositor frames)
  ASSERT_TRUE(wait_until(
      [&] {
        auto ra = *e.report("a");
        auto rb = *e.report("b");
        a_left_live = a_left_live || ra.capture.state != StreamState::kLive;
        b_always_live = b_always_live && rb.capture.state == StreamState::kLive;
        b_samples.emplace_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
            rb.compositor.frames);
        return a_left_live && ra.compositor.signal_lost_frames > 0 &&
               ra.capture.attempts >= a_attempts0 + 2 && rb.compositor.frames >= b0 + 50;
      },
      Duration::seconds(30)))
      << e.report("a")->capture.last_error;
  const double outage =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(b_always_live);
  // b's frames in consecutive windows of (at least) one second through the outage.
  uint64_t b_min_per_second = 1000;
  for (size_t i = 0, j = 0; i < b_samples.size(); i = j) {
    while (j < b_samples.size() && b_samples[j].first < b_samples[i].first + 1.0) ++j;
    if (j == b_samples.size()) break;
    b_min_per_second = std::min(b_min_per_second, b_samples[j].second - b_samples[i].second);
  }
  ASSERT_LT(b_min_per_second, 1000u) << "the outage was shorter than a second";
  const auto b_frames = e.report("b")->compositor.frames - b0;
  auto ra = *e.report("a");
  EXPECT_TRUE(a_left_live);
  EXPECT_FALSE(ra.capture.last_error.empty());
  EXPECT_NE(ra.capture.last_error.find("stream 'a'"), std::string::npos) << ra.capture.last_error;
  EXPECT_GT(ra.compositor.signal_lost_frames, 0u) << "the output must say the signal is lost";
  EXPECT_GE(static_cast<double>(b_frames), 0.95 * 10.0 * outage) << "stream b slowed down during a's outage";
  EXPECT_GE(b_min_per_second, 9u);

  ASSERT_TRUE((*a)->restart().ok());  // the camera comes back on the same port
  ASSERT_TRUE(wait_until([&] {
    auto r = *e.report("a");
    return r.capture.state == StreamState::kLive && r.capture.last_sequence > a_seq_before + 10;
  }, Duration::seconds(20))) << e.report("a")->capture.last_error;
  ra = *e.report("a");
  EXPECT_GE(ra.capture.attempts, 2u);
  EXPECT_FALSE(ra.compositor.signal_lost);
  EXPECT_EQ(ra.compositor.repeated, 0u);
  // Client of b saw no repeats and no gap through all of it.
  (*client_b)->stop();
  auto fb = (*client_b)->frames();
  ASSERT_GE(fb.size(), 50u);
  uint64_t prev = 0;
  for (const auto& f : fb) {
    if (!f.sequence) continue;
    EXPECT_GT(*f.sequence, prev);
    prev = *f.sequence;
  }
  e.stop();
}

// A stream's own stall_timeout wins over the engine's: the engine waits 60 s, this stream 1 s.
// Connected but silent, it reads `stalled` (in the state the API serves) while it is restarted,
// its output sends the signal-lost card naming the state, and it is live again once packets
// flow.
TEST(EngineRtsp, PerStreamStallTimeoutMarksTheStreamStalledAndRestartsIt) {
  Watchdog dog(Duration::seconds(60), "per-stream stall");
  auto src = RtspSourceFixture::serve_pattern(320, 240, 10);
  ASSERT_TRUE(src.ok());
  Config cfg;
  StreamConfig sc{"cam", (*src)->url(), false, true};
  sc.stall_timeout = Duration::seconds(1);
  cfg.streams.push_back(sc);
  EngineOptions o = test_options();
  o.capture.stall_timeout = Duration::seconds(60);
  auto engine = Engine::create(cfg, o);
  ASSERT_TRUE(engine.ok());
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(
      wait_until([&] { return e.report("cam")->compositor.frames > 5; }, Duration::seconds(15)));
  const uint64_t attempts_before = e.report("cam")->capture.attempts;
  (*src)->set_frozen(true);
  ASSERT_TRUE(wait_until([&] { return e.report("cam")->capture.state == StreamState::kStalled; },
                         Duration::seconds(10)))
      << media::to_string(e.report("cam")->capture.state) << " "
      << e.report("cam")->capture.last_error;
  EXPECT_EQ(media::to_string(StreamState::kStalled), "stalled");
  EXPECT_NE(e.report("cam")->capture.last_error.find("media.stalled"), std::string::npos);
  EXPECT_NE(e.report("cam")->capture.last_error.find("no frame for 1.00 s"), std::string::npos)
      << e.report("cam")->capture.last_error;
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = *e.report("cam");
        return r.compositor.signal_lost && r.compositor.signal_lost_frames > 3;
      },
      Duration::seconds(10)));
  (*src)->set_frozen(false);
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = *e.report("cam");
        return r.capture.state == StreamState::kLive && !r.compositor.signal_lost;
      },
      Duration::seconds(20)))
      << e.report("cam")->capture.last_error;
  EXPECT_GT(e.report("cam")->capture.attempts, attempts_before);  // it was restarted
  EXPECT_EQ(e.report("cam")->compositor.repeated, 0u);
  e.stop();
}

TEST(EngineRtsp, StalledSourceIsDetectedShownAsSignalLostAndRecovers) {
  Watchdog dog(Duration::seconds(60), "stall");
  auto src = RtspSourceFixture::serve_pattern(320, 240, 10);
  ASSERT_TRUE(src.ok());
  Config cfg;
  cfg.streams.push_back({"cam", (*src)->url(), false, true});
  auto engine = Engine::create(cfg, test_options());  // stall_timeout 2 s, signal lost after 1 s
  ASSERT_TRUE(engine.ok());
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(wait_until([&] { return e.report("cam")->compositor.frames > 5; }, Duration::seconds(15)));
  const uint64_t seq_before = e.report("cam")->capture.last_sequence;
  (*src)->set_frozen(true);  // connection stays open, no more packets
  ASSERT_TRUE(wait_until([&] { return e.report("cam")->compositor.signal_lost; }, Duration::seconds(5)));
  ASSERT_TRUE(wait_until([&] {
    return e.report("cam")->capture.last_error.find("media.stalled") != std::string::npos;
  }, Duration::seconds(10))) << e.report("cam")->capture.last_error;
  EXPECT_NE(e.report("cam")->capture.last_error.find("stream 'cam'"), std::string::npos);
  (*src)->set_frozen(false);
  ASSERT_TRUE(wait_until([&] {
    auto r = *e.report("cam");
    return r.capture.state == StreamState::kLive && !r.compositor.signal_lost && r.capture.last_sequence > seq_before + 5;
  }, Duration::seconds(20))) << e.report("cam")->capture.last_error;
  EXPECT_GT(e.report("cam")->compositor.signal_lost_frames, 0u);
  EXPECT_EQ(e.report("cam")->compositor.repeated, 0u);
  e.stop();
}

TEST(EngineRtsp, BadUrlNonVideoFileAndUnreachableHostFailClearlyWhileAGoodStreamRuns) {
  Watchdog dog(Duration::seconds(60), "bad inputs");
  const auto text = std::filesystem::temp_directory_path() / ("orion_engine_test_" + std::to_string(::getpid()) + ".mp4");
  {
    std::ofstream f(text);
    for (int i = 0; i < 100; ++i) f << "not a video at all " << i << "\n";
  }
  Config cfg;
  cfg.streams.push_back({"good", "test://ball?width=320&height=240&fps=10", false, true});
  cfg.streams.push_back({"badurl", "htp://camera/1", false, true});
  cfg.streams.push_back({"text", text.string(), false, true});
  cfg.streams.push_back({"refused", "rtsp://127.0.0.1:1/cam", false, true});
  auto engine = Engine::create(cfg, test_options());
  ASSERT_TRUE(engine.ok());
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(wait_until([&] {
    return e.report("text")->capture.attempts >= 2 && e.report("refused")->capture.attempts >= 2 &&
           e.report("good")->compositor.frames >= 30;
  }, Duration::seconds(20)));
  auto bad = *e.report("badurl");
  EXPECT_EQ(bad.capture.state, StreamState::kFailed);
  EXPECT_NE(bad.capture.last_error.find("media.bad_url"), std::string::npos) << bad.capture.last_error;
  EXPECT_NE(bad.capture.last_error.find("stream 'badurl'"), std::string::npos);
  EXPECT_NE(bad.capture.last_error.find("unsupported scheme 'htp'"), std::string::npos);
  auto txt = *e.report("text");
  EXPECT_NE(txt.capture.last_error.find("media.not_video"), std::string::npos) << txt.capture.last_error;
  EXPECT_NE(txt.capture.last_error.find("stream 'text'"), std::string::npos);
  auto ref = *e.report("refused");
  EXPECT_NE(ref.capture.last_error.find("media.connection"), std::string::npos) << ref.capture.last_error;
  EXPECT_NE(ref.capture.last_error.find("127.0.0.1:1"), std::string::npos);
  auto good = *e.report("good");
  EXPECT_EQ(good.capture.state, StreamState::kLive);
  EXPECT_EQ(good.compositor.errors, 0u);
  // The good stream kept its rate: frames out vs frames captured, at 10 fps.
  EXPECT_NEAR(good.compositor.fps, 10.0, 0.5);
  e.stop();
  std::filesystem::remove(text);
}

// tls_verify travels from the YAML config through the engine to the capture: the same
// self-signed rtsps:// camera is ingested by the stream that accepts it and refused, with the
// clear error, by the one that verifies.
TEST(EngineRtsp, TlsVerifyFromTheConfigDecidesWhetherASelfSignedCameraIsAccepted) {
  Watchdog dog(Duration::seconds(60), "engine rtsps");
  auto cert = media::testing::SelfSignedCertificate::generate();
  ASSERT_TRUE(cert.ok()) << cert.error().to_string();
  auto src = RtspSourceFixture::serve_pattern(320, 240, 10, 0, (*cert)->files());
  ASSERT_TRUE(src.ok()) << src.error().to_string();
  const std::string yaml = "streams:\n"
                           "  - {name: lax, url: \"" + (*src)->url() + "\", tls_verify: false}\n"
                           "  - {name: strict, url: \"" + (*src)->url() + "\"}\n";
  auto cfg = parse_config(yaml, ".");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  auto engine = Engine::create(*cfg, test_options());
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(wait_until([&] { return e.report("lax")->compositor.frames > 10; }, Duration::seconds(20)))
      << e.report("lax")->capture.last_error;
  ASSERT_TRUE(wait_until([&] {
    return e.report("strict")->capture.last_error.find("media.tls_untrusted") != std::string::npos;
  }, Duration::seconds(20))) << e.report("strict")->capture.last_error;
  EXPECT_NE(e.report("strict")->capture.last_error.find("tls_verify: false"), std::string::npos);
  EXPECT_EQ(e.report("strict")->capture.frames, 0u);
  e.stop();
}

}  // namespace
}  // namespace orion::engine
