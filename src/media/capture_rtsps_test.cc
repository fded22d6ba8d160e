// Capture of rtsps:// (RTSP over TLS) sources: a loopback gst-rtsp-server serving a live test
// pattern over TLS with a throwaway self-signed certificate (made by openssl at run time),
// ingested by the real Capture (rtspsrc). With `tls_verify` off the frames arrive at the
// source's rate; with it on the self-signed certificate is refused with a clear error while a
// stream on the same server keeps running.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "core/frame_pool.h"
#include "core/frame_supplier.h"
#include "core/thread_annotations.h"
#include "media/capture.h"
#include "media/testing/rtsp_fixtures.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::media {
namespace {

using orion::testing::wait_until;
using orion::testing::Watchdog;
using testing::RtspSourceFixture;
using testing::SelfSignedCertificate;

constexpr int kFps = 15;

// Keeps the identity of every frame the supplier hands one subscriber, on its own thread.
class IdentityCollector {
 public:
  explicit IdentityCollector(FrameSupplier& s)
      : sub_(s.subscribe("collector")), thread_([this] {
          while (!stop_) {
            auto f = sub_->next_frame(Duration::millis(50));
            if (!f) continue;
            MutexLock lock(mu_);
            ids_.push_back((*f)->identity());
          }
        }) {}
  ~IdentityCollector() {
    stop_ = true;
    thread_.join();
  }
  std::vector<FrameIdentity> ids() {
    MutexLock lock(mu_);
    return ids_;
  }
  size_t size() {
    MutexLock lock(mu_);
    return ids_.size();
  }

 private:
  std::unique_ptr<Subscription> sub_;
  std::atomic<bool> stop_{false};
  Mutex mu_;
  std::vector<FrameIdentity> ids_ GUARDED_BY(mu_);
  std::thread thread_;
};

CaptureOptions fast_retry(bool tls_verify) {
  CaptureOptions o;
  o.tls_verify = tls_verify;
  o.connect_timeout = Duration::seconds(4);
  o.backoff_initial = Duration::millis(200);
  o.backoff_max = Duration::millis(400);
  return o;
}

struct TlsSource {
  std::unique_ptr<SelfSignedCertificate> cert;
  std::unique_ptr<RtspSourceFixture> server;
};

TlsSource serve_tls_pattern() {
  TlsSource s;
  auto cert = SelfSignedCertificate::generate();
  EXPECT_TRUE(cert.ok()) << cert.error().to_string();
  if (!cert.ok()) return s;
  s.cert = std::move(cert.value());
  auto server = RtspSourceFixture::serve_pattern(320, 240, kFps, 0, s.cert->files());
  EXPECT_TRUE(server.ok()) << server.error().to_string();
  if (server.ok()) s.server = std::move(server.value());
  return s;
}

TEST(CaptureRtsps, SelfSignedSourceWithoutVerificationIsIngestedAtItsRate) {
  Watchdog dog(Duration::seconds(40), "rtsps ingest");
  TlsSource src = serve_tls_pattern();
  ASSERT_TRUE(src.server);
  const std::string url = src.server->url();
  ASSERT_EQ(url.rfind("rtsps://127.0.0.1:", 0), 0u) << url;
  HeapFramePool pool;
  FrameSupplier supplier;
  auto cap = Capture::create("secure", 4, url, fast_retry(false), pool, supplier);
  ASSERT_TRUE(cap.ok()) << cap.error().to_string();
  IdentityCollector c(supplier);
  (*cap)->start();
  ASSERT_TRUE(wait_until([&] { return (*cap)->status().frames >= 5; }, Duration::seconds(15)))
      << (*cap)->status().last_error;
  const size_t skip = c.size();  // measure from here (start-up jitter excluded)
  // A window of 60 frames (4 s at 15 fps); the rate comes from their identities.
  ASSERT_TRUE(wait_until([&] { return c.size() >= skip + 60; }, Duration::seconds(15)))
      << (*cap)->status().last_error;
  auto st = (*cap)->status();
  auto ids = c.ids();
  (*cap)->stop();

  EXPECT_EQ(st.state, StreamState::kLive);
  EXPECT_EQ(st.transport, "tcp+tls");
  EXPECT_EQ(st.attempts, 1u) << st.last_error;
  EXPECT_EQ(st.last_error, "");
  EXPECT_EQ(st.width, 320);
  EXPECT_EQ(st.height, 240);
  EXPECT_DOUBLE_EQ(st.nominal_fps, kFps);
  ASSERT_GE(ids.size(), skip + 60);
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i].stream, 4u);
    EXPECT_GT(ids[i].sequence, ids[i - 1].sequence);
    EXPECT_GT(ids[i].pts, ids[i - 1].pts);
  }
  // Sequences start at 1; the collector, a newest-frame subscriber, may miss the first frames
  // when the next one arrives before it takes them (dropped on purpose, never reordered).
  EXPECT_GE(ids.front().sequence, 1u);
  EXPECT_LE(ids.front().sequence, 5u);
  // Rate from the capture times of the frames in the window, and from pts (source clock).
  const size_t n = ids.size() - skip;
  const double secs = (ids.back().capture_time - ids[skip].capture_time).as_seconds();
  const double fps = static_cast<double>(n - 1) / secs;
  const double pts_fps = static_cast<double>(n - 1) / (ids.back().pts - ids[skip].pts).as_seconds();
  std::printf(
      "rtsps ingest: %zu frames in %.2f s = %.2f fps (pts: %.2f fps), sequences %llu..%llu\n", n,
      secs, fps, pts_fps, static_cast<unsigned long long>(ids[skip].sequence),
      static_cast<unsigned long long>(ids.back().sequence));
  EXPECT_NEAR(fps, kFps, kFps * 0.05);
  EXPECT_NEAR(pts_fps, kFps, kFps * 0.05);
  // Every frame of the window was taken: none lost beyond 5%.
  EXPECT_GE(static_cast<double>(n),
            0.95 * static_cast<double>(ids.back().sequence - ids[skip].sequence + 1));
}

TEST(CaptureRtsps, VerificationRefusesTheSelfSignedCertificateWhileAnotherStreamRuns) {
  Watchdog dog(Duration::seconds(40), "rtsps untrusted");
  TlsSource src = serve_tls_pattern();
  ASSERT_TRUE(src.server);
  HeapFramePool pool;
  FrameSupplier strict_supplier, open_supplier;
  auto strict =
      Capture::create("strict", 1, src.server->url(), fast_retry(true), pool, strict_supplier);
  auto open = Capture::create("open", 2, src.server->url(), fast_retry(false), pool, open_supplier);
  ASSERT_TRUE(strict.ok() && open.ok());
  (*strict)->start();
  (*open)->start();
  ASSERT_TRUE(
      wait_until([&] { return (*strict)->status().attempts >= 2 && (*open)->status().frames >= 5; },
                 Duration::seconds(15)))
      << (*strict)->status().last_error << " / " << (*open)->status().last_error;
  // The refused stream keeps retrying (with backoff) while the other one stays live: a window
  // in which strict tries again and open delivers 30 frames (2 s at 15 fps).
  const uint64_t open0 = (*open)->status().frames;
  const uint64_t strict_attempts0 = (*strict)->status().attempts;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until(
      [&] {
        return (*strict)->status().attempts > strict_attempts0 &&
               (*open)->status().frames >= open0 + 30;
      },
      Duration::seconds(15)))
      << (*strict)->status().last_error << " / " << (*open)->status().last_error;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto st = (*strict)->status();
  auto op = (*open)->status();
  (*strict)->stop();
  (*open)->stop();

  std::printf("strict: %llu attempts, error: %s\nopen: %.2f fps while strict was refused\n",
              static_cast<unsigned long long>(st.attempts), st.last_error.c_str(),
              static_cast<double>(op.frames - open0) / secs);
  EXPECT_EQ(st.frames, 0u);
  EXPECT_GT(st.attempts, strict_attempts0);
  EXPECT_TRUE(st.state == StreamState::kRetrying || st.state == StreamState::kConnecting);
  EXPECT_EQ(st.last_error.rfind("media.tls_untrusted: ", 0), 0u) << st.last_error;
  for (const char* part :
       {"stream 'strict'", "was not trusted", "self-signed", "`tls_verify: false`"}) {
    EXPECT_NE(st.last_error.find(part), std::string::npos)
        << "missing '" << part << "' in: " << st.last_error;
  }
  EXPECT_NE(st.last_error.find(src.server->url()), std::string::npos) << st.last_error;
  EXPECT_EQ(op.state, StreamState::kLive);
  EXPECT_EQ(op.last_error, "");
  EXPECT_GE(static_cast<double>(op.frames - open0) / secs, kFps * 0.9);
}

}  // namespace
}  // namespace orion::media
