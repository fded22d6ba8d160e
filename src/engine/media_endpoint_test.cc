// The engine's media endpoint over real HTTP on loopback, serving the pictures of a real
// Compositor (fed through a FrameSupplier, encoding into a real RTSP output): snapshots are the
// compositor's newest annotated picture as a JPEG with its frame identity; bad names, unknown
// streams, missing or wrong tokens and other requests get the documented errors; the API's
// snapshot relay (a real ApiServer over SQLite) serves the same JPEG through the engine's
// registered address, with and without ORION_API_TOKEN.
#include "engine/media_endpoint.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>
#include <vector>

#include "api/server.h"
#include "api/testing/api_client.h"
#include "api/testing/backends.h"
#include "core/frame_pool.h"
#include "core/frame_supplier.h"
#include "core/result_store.h"
#include "engine/engine.h"
#include "engine/event_frames.h"
#include "http/websocket.h"
#include "media/compositor.h"
#include "media/overlay.h"
#include "media/rtsp_server.h"
#include "media/testing/fmp4_decode.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::engine {
namespace {

using api::testing::Answer;
using api::testing::ApiClient;
using nlohmann::json;
using orion::testing::wait_until;

constexpr int kW = 320, kH = 240;
constexpr uint8_t kB = 30, kG = 160, kR = 220;  // the camera's colour
constexpr StreamId kStreamId = 7;

// One stream as the engine runs it: FrameSupplier → Compositor (overlay and sequence stamp
// drawn) → a real H.264 RTSP output. A person box is in the result store, so the pictures are
// annotated.
class StreamRig {
 public:
  StreamRig(media::RtspServer& rtsp, const std::string& name) {
    auto out = rtsp.add_output(name);
    EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().to_string());
    if (out.ok()) output_ = *out;
    media::CompositorOptions o;
    o.stream_name = name;
    o.stream_id = kStreamId;
    o.stamp_sequence = true;
    o.recent_pictures = 8;
    DetectionResult r;
    r.pipeline = "people";
    r.frame.stream = kStreamId;
    r.frame.sequence = 1;
    r.detections.push_back(Detection{0, "person", 0.9f, Box{100, 100, 200, 200}});
    results_.put(r);
    if (output_) {
      compositor_ = std::make_unique<media::Compositor>(supplier_, results_, *output_, nullptr, o);
      compositor_->start();
    }
  }
  ~StreamRig() {
    if (compositor_) compositor_->stop();
  }

  // Publishes frame `seq` and waits until the compositor has sent it to the output.
  bool send(uint64_t seq) {
    if (!compositor_) return false;
    auto f = pool_.acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
    if (!f) return false;
    uint8_t* p = (*f)->mutable_data();
    for (int k = 0; k < kW * kH; ++k) {
      p[k * 3] = kB;
      p[k * 3 + 1] = kG;
      p[k * 3 + 2] = kR;
    }
    FrameIdentity id;
    id.stream = kStreamId;
    id.sequence = seq;
    id.pts = Duration::millis(40) * static_cast<int64_t>(seq);
    id.capture_time = SteadyClock::instance().now();
    (*f)->set_identity(id);
    supplier_.publish(freeze(std::move(*f)));
    return wait_until([&] { return compositor_->stats().frames >= seq; }, Duration::seconds(10));
  }

  media::Compositor& compositor() { return *compositor_; }
  std::shared_ptr<media::StreamOutput> output() { return output_; }

 private:
  HeapFramePool pool_;
  FrameSupplier supplier_;
  ResultStore results_;
  std::shared_ptr<media::StreamOutput> output_;
  std::unique_ptr<media::Compositor> compositor_;  // last: stopped first
};

// The pictures of the rigs by stream name, as an engine's SnapshotSource; counts the calls and
// keeps the names it was asked for.
struct Streams {
  std::map<std::string, StreamRig*> rigs;  // set before the endpoint starts, then read-only
  std::mutex mu;
  std::vector<std::string> asked;  // guarded by mu

  SnapshotSource source() {
    return [this](const std::string& name) -> std::optional<media::SnapshotPicture> {
      {
        std::lock_guard lock(mu);
        asked.push_back(name);
      }
      auto it = rigs.find(name);
      if (it == rigs.end()) return std::nullopt;
      return it->second->compositor().last_picture();
    };
  }
  LiveSource live() {
    return [this](const std::string& name) -> std::shared_ptr<media::StreamOutput> {
      auto it = rigs.find(name);
      return it == rigs.end() ? nullptr : it->second->output();
    };
  }
  std::vector<std::string> names_asked() {
    std::lock_guard lock(mu);
    return asked;
  }
};

struct Decoded {
  cv::Mat bgr, luma;
};

Decoded decode(const std::string& jpeg) {
  const std::vector<uint8_t> bytes(jpeg.begin(), jpeg.end());
  return {cv::imdecode(bytes, cv::IMREAD_COLOR), cv::imdecode(bytes, cv::IMREAD_GRAYSCALE)};
}

std::optional<uint64_t> stamp_of(const Decoded& d) {
  if (d.luma.empty()) return std::nullopt;
  return media::read_sequence(d.luma.data, d.luma.cols, d.luma.rows, static_cast<int>(d.luma.step));
}

void expect_error(const Answer& a, int status, const std::string& code,
                  const std::string& field = "") {
  EXPECT_EQ(a.status, status) << a.body;
  EXPECT_EQ(a.error_code(), code) << a.body;
  EXPECT_EQ(a.error_field(), field) << a.body;
  EXPECT_FALSE(a.error_message().empty()) << a.body;
  EXPECT_NE(a.header("Content-Type").find("application/json"), std::string::npos);
}

// A JPEG answer is the stream's picture `seq`: headers, size, stamp, colours, overlay.
void expect_picture(const Answer& a, uint64_t seq) {
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(a.header("Cache-Control"), "no-store");
  EXPECT_EQ(a.header("X-Orion-Frame-Sequence"), std::to_string(seq));
  EXPECT_EQ(a.header("X-Orion-Frame-Pts-Ns"),
            std::to_string(Duration::millis(40).count_nanos() * static_cast<int64_t>(seq)));
  const std::string capture = a.header("X-Orion-Capture-Unix-Us");  // wall clock, for browsers
  EXPECT_FALSE(capture.empty());
  EXPECT_EQ(capture.find_first_not_of("-0123456789"), std::string::npos) << capture;
  const Decoded d = decode(a.body);
  ASSERT_FALSE(d.bgr.empty()) << "not a JPEG (" << a.body.size() << " bytes)";
  EXPECT_EQ(d.bgr.cols, kW);
  EXPECT_EQ(d.bgr.rows, kH);
  EXPECT_EQ(stamp_of(d), std::optional<uint64_t>(seq));
  // Inside the box (and away from the text): the camera's colour, through JPEG.
  const uint8_t* inside = d.bgr.ptr<uint8_t>(150) + 150 * 3;
  EXPECT_NEAR(inside[0], kB, 10);
  EXPECT_NEAR(inside[1], kG, 10);
  EXPECT_NEAR(inside[2], kR, 10);
  // The box's left edge is drawn: not the camera's colour.
  const uint8_t* edge = d.bgr.ptr<uint8_t>(150) + 100 * 3;
  const int diff = std::abs(edge[0] - kB) + std::abs(edge[1] - kG) + std::abs(edge[2] - kR);
  EXPECT_GT(diff, 60) << "the overlay is missing from the snapshot";
}

class MediaEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    media::RtspServerOptions ro;
    ro.port = 0;
    ro.address = "127.0.0.1";
    auto rtsp = media::RtspServer::start(ro);
    ASSERT_TRUE(rtsp.ok()) << rtsp.error().to_string();
    rtsp_ = std::move(*rtsp);
    cam_ = std::make_unique<StreamRig>(*rtsp_, "cam");
    idle_ = std::make_unique<StreamRig>(*rtsp_, "idle");  // running, no frame yet
    streams_.rigs = {{"cam", cam_.get()}, {"idle", idle_.get()}};
  }
  void TearDown() override {
    endpoint_.reset();  // stops calling the rigs before they go
    cam_.reset();
    idle_.reset();
    rtsp_.reset();
  }

  // Starts the endpoint on 127.0.0.1, any port, with `o`'s token and metrics.
  void start(MediaEndpointOptions o = {}, MetricsSource metrics = {}) {
    endpoint_ = std::make_unique<MediaEndpoint>(o, streams_.source(), std::move(metrics));
    auto started = endpoint_->start();
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    ASSERT_GT(endpoint_->port(), 0);
    EXPECT_EQ(endpoint_->url(), "http://127.0.0.1:" + std::to_string(endpoint_->port()));
  }
  // As start(), with the live view's and the event frames' sources too.
  void start_live(MediaEndpointOptions o, EventFrameSource frames) {
    MediaSources src;
    src.snapshot = streams_.source();
    src.live = streams_.live();
    src.event_frame = std::move(frames);
    endpoint_ = std::make_unique<MediaEndpoint>(o, std::move(src));
    auto started = endpoint_->start();
    ASSERT_TRUE(started.ok()) << started.error().to_string();
  }
  ApiClient client(const std::string& token = "") { return ApiClient(endpoint_->url(), token); }

  std::unique_ptr<media::RtspServer> rtsp_;
  std::unique_ptr<StreamRig> cam_, idle_;
  Streams streams_;
  std::unique_ptr<MediaEndpoint> endpoint_;
};

TEST_F(MediaEndpointTest, SnapshotIsTheCompositorsNewestAnnotatedPictureAsJpeg) {
  orion::testing::Watchdog dog(Duration::seconds(60), "media endpoint snapshot");
  start();
  for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(cam_->send(seq));
  ApiClient c = client();
  expect_picture(c.get("/media/streams/cam/snapshot.jpg"), 3);
  // Asked again after two more frames: the newest one.
  ASSERT_TRUE(cam_->send(4));
  ASSERT_TRUE(cam_->send(5));
  expect_picture(c.get("/media/streams/cam/snapshot.jpg"), 5);
}

TEST_F(MediaEndpointTest, UnknownStreamOrNoPictureYetIs404NotAvailable) {
  orion::testing::Watchdog dog(Duration::seconds(60), "media endpoint 404");
  start();
  ApiClient c = client();
  expect_error(c.get("/media/streams/door/snapshot.jpg"), 404, "snapshot.not_available");
  expect_error(c.get("/media/streams/idle/snapshot.jpg"), 404, "snapshot.not_available");
  EXPECT_EQ(streams_.names_asked(), (std::vector<std::string>{"door", "idle"}));
}

TEST_F(MediaEndpointTest, StreamNamesAreCheckedBeforeAnyLookup) {
  orion::testing::Watchdog dog(Duration::seconds(60), "media endpoint names");
  start();
  ApiClient c = client();
  for (const std::string& path : std::vector<std::string>{
           "/media/streams/..hidden/snapshot.jpg", "/media/streams/%2e%2e/snapshot.jpg",
           "/media/streams/a%20b/snapshot.jpg", "/media/streams/a%00b/snapshot.jpg",
           "/media/streams/caf%C3%A9/snapshot.jpg", "/media/streams/a;b/snapshot.jpg",
           "/media/streams/" + std::string(65, 'x') + "/snapshot.jpg"}) {
    SCOPED_TRACE(path);
    expect_error(c.get(path), 400, "media.invalid_name", "name");
  }
  // A '/' (encoded or not) is no name at all: not this route.
  expect_error(c.get("/media/streams/a%2Fb/snapshot.jpg"), 404, "media.no_route");
  expect_error(c.get("/media/streams/../cam/snapshot.jpg"), 404, "media.no_route");
  EXPECT_TRUE(streams_.names_asked().empty());
  // The longest good name is looked up.
  expect_error(c.get("/media/streams/" + std::string(64, 'x') + "/snapshot.jpg"), 404,
               "snapshot.not_available");
  EXPECT_EQ(streams_.names_asked().size(), 1u);
}

TEST_F(MediaEndpointTest, TokenGuardsMediaAndMetricsButNotHealthz) {
  orion::testing::Watchdog dog(Duration::seconds(60), "media endpoint token");
  MediaEndpointOptions o;
  o.token = "eng1ne-t0ken";
  start(o, [] { return std::string("orion_up 1\n"); });
  ASSERT_TRUE(cam_->send(1));

  ApiClient anon = client();
  for (const char* path : {"/media/streams/cam/snapshot.jpg", "/metrics",
                           "/media/streams/nosuch/snapshot.jpg", "/media/other"}) {
    SCOPED_TRACE(path);
    Answer a = anon.get(path);
    expect_error(a, 401, "media.unauthorized");
    EXPECT_NE(a.header("WWW-Authenticate").find("Bearer"), std::string::npos);
  }
  for (const char* wrong : {"eng1ne-t0kem", "eng1ne-t0ke", "eng1ne-t0ken0", "x"}) {
    expect_error(client(wrong).get("/media/streams/cam/snapshot.jpg"), 401, "media.unauthorized");
  }
  expect_error(anon.get("/media/streams/cam/snapshot.jpg", {{"Authorization", "Basic eDp5"}}), 401,
               "media.unauthorized");
  EXPECT_TRUE(streams_.names_asked().empty());  // nothing was looked up for them

  Answer health = anon.get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json["status"], "ok");

  ApiClient good = client("eng1ne-t0ken");
  expect_picture(good.get("/media/streams/cam/snapshot.jpg"), 1);
  EXPECT_EQ(good.get("/metrics").body, "orion_up 1\n");
}

TEST_F(MediaEndpointTest, MetricsComeFromTheCallbackOr404) {
  orion::testing::Watchdog dog(Duration::seconds(60), "media endpoint metrics");
  std::atomic<int> calls{0};
  start({}, [&] {
    ++calls;
    return std::string("# TYPE orion_frames_total counter\norion_frames_total 42\n");
  });
  Answer m = client().get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "# TYPE orion_frames_total counter\norion_frames_total 42\n");
  EXPECT_EQ(m.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(calls.load(), 1);

  start();  // another endpoint, without metrics
  expect_error(client().get("/metrics"), 404, "metrics.not_configured");
}

TEST_F(MediaEndpointTest, OnlyGetWithoutABodyOrQueryOnKnownPaths) {
  orion::testing::Watchdog dog(Duration::seconds(60), "media endpoint requests");
  start();
  ApiClient c = client();
  Answer post = c.post("/media/streams/cam/snapshot.jpg", std::string("{}"));
  expect_error(post, 405, "media.method_not_allowed");
  EXPECT_EQ(post.header("Allow"), "GET, HEAD");
  expect_error(c.del("/healthz"), 405, "media.method_not_allowed");
  expect_error(c.send("GET", "/healthz", "a body"), 400, "media.bad_request");
  expect_error(c.get("/nosuch"), 404, "media.no_route");
  expect_error(c.get("/media/streams/cam/snapshot.png"), 404, "media.no_route");
  expect_error(c.get("/media/streams/cam/snapshot.jpg?t=1"), 400, "media.invalid_query", "t");
  EXPECT_TRUE(streams_.names_asked().empty());
  // Each error ended its connection; the client reconnects and is served.
  EXPECT_EQ(c.get("/healthz").status, 200);
}

TEST_F(MediaEndpointTest, ConcurrentSnapshotsWhileFramesFlowCarryTheirOwnFrameIdentity) {
  orion::testing::Watchdog dog(Duration::seconds(90), "media endpoint concurrent");
  start();
  ASSERT_TRUE(cam_->send(1));
  std::atomic<bool> done{false};
  std::atomic<int> served{0}, bad{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      ApiClient c = client();
      while (!done.load()) {
        Answer a = c.get("/media/streams/cam/snapshot.jpg");
        const std::string seq = a.header("X-Orion-Frame-Sequence");
        const auto stamp = stamp_of(decode(a.body));
        if (a.status != 200 || !stamp || std::to_string(*stamp) != seq) ++bad;
        ++served;
      }
    });
  }
  for (uint64_t seq = 2; seq <= 30; ++seq) ASSERT_TRUE(cam_->send(seq));
  ASSERT_TRUE(wait_until([&] { return served.load() >= 6; }, Duration::seconds(20)));
  done = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(bad.load(), 0) << "of " << served.load();
}

TEST(MediaEndpoint, RefusesANonLoopbackAddressWithoutATokenAndBadOptions) {
  orion::testing::Watchdog dog(Duration::seconds(30), "media endpoint options");
  auto start = [](MediaEndpointOptions o) { return MediaEndpoint(o, {}, {}).start(); };
  MediaEndpointOptions remote;
  remote.address = "0.0.0.0";
  Status refused = start(remote);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "media.insecure");
  EXPECT_NE(refused.error().message.find("0.0.0.0"), std::string::npos);
  remote.address = "127.example.com";  // a host name, wherever it points
  EXPECT_EQ(start(remote).error().code, "media.insecure");

  remote.address = "0.0.0.0";
  remote.allow_insecure_no_token = true;  // the operator says so
  EXPECT_TRUE(start(remote).ok());
  remote.allow_insecure_no_token = false;
  remote.token = "t0k";
  {
    MediaEndpoint e(remote, {}, {});
    ASSERT_TRUE(e.start().ok());
    EXPECT_EQ(ApiClient("http://127.0.0.1:" + std::to_string(e.port())).get("/healthz").status,
              200);
    // Its port is taken: another endpoint cannot listen there.
    MediaEndpointOptions same;
    same.port = e.port();
    same.token = "t0k";
    same.address = "0.0.0.0";
    Status bind = start(same);
    ASSERT_FALSE(bind.ok());
    EXPECT_EQ(bind.error().code, "media.bind");
    EXPECT_NE(bind.error().message.find(std::to_string(e.port())), std::string::npos);
  }

  MediaEndpointOptions bad;
  bad.token = "has space";
  EXPECT_EQ(start(bad).error().code, "media.bad_token");
  bad.token = "";
  bad.jpeg_quality = 0;
  EXPECT_EQ(start(bad).error().code, "media.bad_options");
  bad.jpeg_quality = 80;
  bad.threads = 0;
  EXPECT_EQ(start(bad).error().code, "media.bad_options");
  bad.threads = 1;
  bad.port = 70000;
  EXPECT_EQ(start(bad).error().code, "media.bad_options");

  MediaEndpoint twice(MediaEndpointOptions{}, {}, {});
  ASSERT_TRUE(twice.start().ok());
  EXPECT_EQ(twice.start().error().code, "media.bad_options");
}

// ---- the API's snapshot relay, end to end -----------------------------------------------------

// ORION_API_TOKEN set for the scope of a test (unset again after).
class TokenEnv {
 public:
  explicit TokenEnv(const char* token) { setenv("ORION_API_TOKEN", token, 1); }
  ~TokenEnv() { unsetenv("ORION_API_TOKEN"); }
};

class SnapshotRelayTest : public MediaEndpointTest {
 protected:
  void SetUp() override {
    MediaEndpointTest::SetUp();
    if (HasFatalFailure()) return;
    db_ = api::testing::open_backend(
        "sqlite", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(db_.store) << db_.error;
  }
  void TearDown() override {
    api_.reset();
    db_ = {};
    MediaEndpointTest::TearDown();
  }

  // The API on loopback with `token`; streams cam and idle in the database, owned by engine
  // "engine-a", whose media address is the endpoint's.
  void start_api(const std::string& token) {
    api::ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.token = token;
    o.access_log = false;
    auto s = api::ApiServer::start(*db_.store, o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    api_ = std::move(*s);
    ApiClient c(api_->base_url(), token);
    for (const char* name : {"cam", "idle"}) {
      ASSERT_EQ(c.post("/api/v1/streams", json{{"name", name}, {"url", "test://ball"}}).status,
                201);
      store::StreamStatusRecord st;
      st.stream = name;
      st.engine_id = "engine-a";
      st.state = "live";
      ASSERT_TRUE(db_.store->put_stream_status(st).ok());
    }
    store::EngineRecord e;
    e.id = "engine-a";
    e.media_url = endpoint_->url();
    ASSERT_TRUE(db_.store->heartbeat_engine(e).ok());
  }

  api::testing::Backend db_;
  std::unique_ptr<api::ApiServer> api_;
};

TEST_F(SnapshotRelayTest, TheApiRelaysTheEnginesJpegWithoutAToken) {
  orion::testing::Watchdog dog(Duration::seconds(60), "relay without token");
  start();
  start_api("");
  for (uint64_t seq = 1; seq <= 2; ++seq) ASSERT_TRUE(cam_->send(seq));
  ApiClient c(api_->base_url());
  Answer snap = c.get("/api/v1/streams/cam/snapshot.jpg");
  ASSERT_EQ(snap.status, 200) << snap.body;
  EXPECT_EQ(snap.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(snap.header("Cache-Control"), "no-store");
  const Decoded d = decode(snap.body);
  ASSERT_FALSE(d.bgr.empty());
  EXPECT_EQ(d.bgr.cols, kW);
  EXPECT_EQ(d.bgr.rows, kH);
  EXPECT_EQ(stamp_of(d), std::optional<uint64_t>(2));
  // The engine has no picture of "idle" yet: its 404 comes through as such.
  expect_error(c.get("/api/v1/streams/idle/snapshot.jpg"), 404, "snapshot.not_available");
}

TEST_F(SnapshotRelayTest, WithOrionApiTokenTheApiPresentsItToTheEngine) {
  orion::testing::Watchdog dog(Duration::seconds(60), "relay with token");
  TokenEnv env("sh4red-t0ken");
  auto token = api::token_from_environment();
  ASSERT_TRUE(token.ok()) << token.error().to_string();
  MediaEndpointOptions o;
  o.token = *token;
  start(o);
  start_api(*token);
  ASSERT_TRUE(cam_->send(1));
  ASSERT_TRUE(cam_->send(2));
  ASSERT_TRUE(cam_->send(3));

  // The engine refuses anyone without the token...
  expect_error(client().get("/media/streams/cam/snapshot.jpg"), 401, "media.unauthorized");
  // ...the API too, and the API, given it, is let in by the engine.
  expect_error(ApiClient(api_->base_url()).get("/api/v1/streams/cam/snapshot.jpg"), 401,
               "api.unauthorized");
  ApiClient c(api_->base_url(), *token);
  Answer snap = c.get("/api/v1/streams/cam/snapshot.jpg");
  ASSERT_EQ(snap.status, 200) << snap.body;
  EXPECT_EQ(snap.header("Content-Type"), "image/jpeg");
  const Decoded d = decode(snap.body);
  ASSERT_FALSE(d.bgr.empty());
  EXPECT_EQ(d.bgr.cols, kW);
  EXPECT_EQ(d.bgr.rows, kH);
  EXPECT_EQ(stamp_of(d), std::optional<uint64_t>(3));
}

TEST_F(SnapshotRelayTest, AnEngineWithAnotherTokenIsAnEngineErrorNotAPicture) {
  orion::testing::Watchdog dog(Duration::seconds(60), "relay token mismatch");
  MediaEndpointOptions o;
  o.token = "engine-only";
  start(o);
  start_api("api-only");
  ASSERT_TRUE(cam_->send(1));
  Answer a = ApiClient(api_->base_url(), "api-only").get("/api/v1/streams/cam/snapshot.jpg");
  expect_error(a, 502, "snapshot.engine_error");
  EXPECT_NE(a.error_message().find("401"), std::string::npos) << a.body;
  EXPECT_TRUE(streams_.names_asked().empty());
}

// ---- the live view, MJPEG and event frames through the API's relay ---------------------------

struct LiveFrame {
  json meta;
  std::string fragment;
};
struct Watched {
  json init;
  std::string init_segment;
  std::vector<LiveFrame> frames;
  std::string error;
};

// Reads the init pair and `frames` frame pairs of a live view.
Watched watch(http::WebSocketConnection& ws, size_t frames) {
  Watched w;
  auto next = [&](http::WsOpcode want) -> std::optional<std::string> {
    auto m = ws.read(Duration::seconds(10));
    if (!m) {
      w.error = m.error().to_string();
      return std::nullopt;
    }
    if (m->opcode != want) {
      w.error = "a message of the wrong kind";
      return std::nullopt;
    }
    return m->payload;
  };
  auto init = next(http::WsOpcode::kText);
  if (!init) return w;
  w.init = json::parse(*init);
  auto seg = next(http::WsOpcode::kBinary);
  if (!seg) return w;
  w.init_segment = *seg;
  while (w.frames.size() < frames) {
    auto meta = next(http::WsOpcode::kText);
    if (!meta) return w;
    auto frag = next(http::WsOpcode::kBinary);
    if (!frag) return w;
    w.frames.push_back({json::parse(*meta), *frag});
  }
  return w;
}

int64_t unix_us_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The camera of "cam": a frame every 40 ms (25 fps) until stopped.
class Camera {
 public:
  explicit Camera(StreamRig& rig)
      : thread_([this, &rig] {
          while (!stop_.load()) {
            if (!rig.send(++seq_)) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(40));  // the camera's pace
          }
        }) {}
  ~Camera() {
    stop_ = true;
    thread_.join();
  }
  uint64_t sequence() const { return seq_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> seq_{0};
  std::thread thread_;
};

class LiveRelayTest : public SnapshotRelayTest {
 protected:
  int api_port() const {
    const std::string u = api_->base_url();
    return std::atoi(u.c_str() + u.rfind(':') + 1);
  }
  Result<std::unique_ptr<http::WebSocketClient>> open(const std::string& target) {
    return http::WebSocketClient::connect("127.0.0.1", api_port(), target);
  }
};

TEST_F(LiveRelayTest, LiveViewThroughTheApiCarriesFrameIdentityAndDecodes) {
  orion::testing::Watchdog dog(Duration::seconds(90), "live view through the API");
  MediaEndpointOptions o;
  o.token = "tok";
  start_live(o, {});
  start_api("tok");
  Camera camera(*cam_);
  ASSERT_TRUE(wait_until([&] { return camera.sequence() > 2; }, Duration::seconds(10)));

  // Refusals before the upgrade, as JSON errors.
  auto no_token = open("/api/v1/streams/cam/live");
  ASSERT_TRUE(no_token) << no_token.error().to_string();
  EXPECT_EQ((*no_token)->answer().status, 401);
  auto bad_token = open("/api/v1/streams/cam/live?token=nope");
  ASSERT_TRUE(bad_token);
  EXPECT_EQ((*bad_token)->answer().status, 401);
  auto unknown = open("/api/v1/streams/nope/live?token=tok");
  ASSERT_TRUE(unknown);
  EXPECT_EQ((*unknown)->answer().status, 404);
  EXPECT_NE((*unknown)->answer().body.find("store.not_found"), std::string::npos);
  auto idle = open("/api/v1/streams/idle/live?token=tok");
  ASSERT_TRUE(idle);
  EXPECT_EQ((*idle)->answer().status, 503) << (*idle)->answer().body;
  EXPECT_NE((*idle)->answer().body.find("live.no_picture"), std::string::npos);
  ApiClient c(api_->base_url(), "tok");
  EXPECT_EQ(c.get("/api/v1/streams/cam/live").status, 400);  // not a WebSocket handshake

  auto viewer = open("/api/v1/streams/cam/live?token=tok");
  ASSERT_TRUE(viewer) << viewer.error().to_string();
  ASSERT_TRUE((*viewer)->upgraded()) << (*viewer)->answer().status << (*viewer)->answer().body;
  const Watched w = watch((*viewer)->connection(), 30);
  ASSERT_EQ(w.error, "");
  EXPECT_EQ(w.init["type"], "init");
  EXPECT_EQ(w.init["stream"], "cam");
  EXPECT_EQ(w.init["width"], kW);
  EXPECT_EQ(w.init["height"], kH);
  EXPECT_EQ(w.init["codec"].get<std::string>().rfind("avc1.", 0), 0u);
  std::string file = w.init_segment;
  uint64_t last_seq = 0;
  double last_time = -1;
  for (const LiveFrame& f : w.frames) {
    EXPECT_EQ(f.meta["type"], "frame");
    const uint64_t seq = f.meta["seq"];
    const double t = f.meta["media_time"];
    EXPECT_GT(seq, last_seq);
    EXPECT_GT(t, last_time);
    EXPECT_EQ(f.meta["pts_us"].get<int64_t>(), static_cast<int64_t>(seq) * 40000);
    const int64_t age_us = unix_us_now() - f.meta["capture_unix_us"].get<int64_t>();
    EXPECT_GE(age_us, 0);
    EXPECT_LT(age_us, 10'000'000);
    last_seq = seq;
    last_time = t;
    file += f.fragment;
  }
  EXPECT_EQ(w.frames.front().meta["media_time"], 0.0);
  const media::testing::DecodedVideo d = media::testing::decode_fmp4(file);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.pictures, 30);
  EXPECT_EQ(d.width, kW);
  EXPECT_EQ(d.height, kH);
  (*viewer)->connection().close();
}

TEST_F(LiveRelayTest, MjpegThroughTheApiOneEncodePerFrame) {
  orion::testing::Watchdog dog(Duration::seconds(60), "mjpeg through the API");
  start_live({}, {});
  start_api("");
  Camera camera(*cam_);
  ASSERT_TRUE(wait_until([&] { return camera.sequence() > 2; }, Duration::seconds(10)));
  // Two viewers at once, 4 whole parts each.
  auto read_parts = [&](std::string& bytes, std::string& content_type) {
    httplib::Client http(api_->base_url());
    http.set_read_timeout(10, 0);
    http.Get(
        "/api/v1/streams/cam/mjpeg",
        [&](const httplib::Response& r) {
          content_type = r.get_header_value("Content-Type");
          return r.status == 200;
        },
        [&](const char* data, size_t n) {
          bytes.append(data, n);
          size_t parts = 0;
          for (size_t at = 0; (at = bytes.find("--orionframe\r\n", at)) != std::string::npos; ++at)
            ++parts;
          return parts < 5;
        });
  };
  std::string bytes, content_type, other_bytes, other_type;
  std::thread other([&] { read_parts(other_bytes, other_type); });
  read_parts(bytes, content_type);
  other.join();
  EXPECT_EQ(other_type, "multipart/x-mixed-replace; boundary=orionframe");
  EXPECT_EQ(content_type, "multipart/x-mixed-replace; boundary=orionframe");
  const size_t h = bytes.find("X-Orion-Capture-Unix-Us: ");
  ASSERT_NE(h, std::string::npos) << bytes.substr(0, 200);
  EXPECT_LT(std::llabs(unix_us_now() - std::atoll(bytes.c_str() + h + 25)), 10'000'000);
  const size_t len_at = bytes.find("Content-Length: ");
  const size_t body = bytes.find("\r\n\r\n", h);
  ASSERT_NE(body, std::string::npos);
  const std::string jpeg = bytes.substr(body + 4, std::stoul(bytes.substr(len_at + 16)));
  const Decoded img = decode(jpeg);
  ASSERT_FALSE(img.bgr.empty());
  EXPECT_EQ(img.bgr.cols, kW);
  EXPECT_EQ(img.bgr.rows, kH);
  ASSERT_TRUE(
      wait_until([&] { return endpoint_->live_stats().viewers == 0; }, Duration::seconds(10)));
  const auto ls = endpoint_->live_stats();
  EXPECT_GE(ls.mjpeg_parts, 8u);
  EXPECT_EQ(ls.mjpeg_sessions, 2u);
  // Shared: about one encode per frame however many watch (each viewer may have had one more
  // frame encoded as it left), never one per part.
  EXPECT_LT(ls.jpeg_encodes, ls.mjpeg_parts)
      << ls.jpeg_encodes << " encodes for " << ls.mjpeg_parts << " parts";
}

TEST_F(LiveRelayTest, EventFrameIsServedWhileHeldAnd404Otherwise) {
  orion::testing::Watchdog dog(Duration::seconds(60), "event frames through the API");
  EventFrames frames;
  frames.start();
  start_live({}, [&](const std::string& stream, uint64_t seq) { return frames.get(stream, seq); });
  start_api("");
  for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(cam_->send(seq));
  auto picture = cam_->compositor().recent_picture(2);
  ASSERT_TRUE(picture) << "the compositor no longer has frame 2";
  frames.offer("cam", std::move(*picture));
  frames.drain();
  ApiClient c(api_->base_url());
  Answer got = c.get("/api/v1/streams/cam/frames/2.jpg");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(got.header("X-Orion-Frame-Sequence"), "2");
  const Decoded d = decode(got.body);
  ASSERT_FALSE(d.bgr.empty());
  EXPECT_EQ(stamp_of(d), std::optional<uint64_t>(2));  // that very frame
  Answer gone = c.get("/api/v1/streams/cam/frames/3.jpg");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.json["error"]["code"], "frame.not_available");
  EXPECT_NE(gone.json["error"]["message"].get<std::string>().find("frame"), std::string::npos);
  EXPECT_EQ(c.get("/api/v1/streams/cam/frames/x.jpg").status, 400);
  EXPECT_EQ(frames.stats().encoded, 1u);
}

TEST_F(LiveRelayTest, StalledViewerDropsWithoutSlowingTheOutputAndSixteenViewersAddNoEncoder) {
  orion::testing::Watchdog dog(Duration::seconds(90), "stalled and many live viewers");
  MediaEndpointOptions o;
  o.viewer_send_buffer = 16 * 1024;
  start_live(o, {});
  start_api("");
  Camera camera(*cam_);
  ASSERT_TRUE(wait_until([&] { return camera.sequence() > 2; }, Duration::seconds(10)));
  // Reads nothing, with a small receive buffer, straight at the engine (no relay buffering).
  auto stalled = http::WebSocketClient::connect(
      "127.0.0.1", endpoint_->port(), "/media/streams/cam/live", {}, Duration::seconds(5), 4096);
  ASSERT_TRUE(stalled && (*stalled)->upgraded());
  auto healthy = open("/api/v1/streams/cam/live");
  ASSERT_TRUE(healthy && (*healthy)->upgraded());
  ASSERT_TRUE(
      wait_until([&] { return endpoint_->live_stats().frames_dropped > 0; }, Duration::seconds(40)))
      << "the stalled viewer never dropped a frame";
  const Watched w = watch((*healthy)->connection(), 40);
  ASSERT_EQ(w.error, "");
  for (size_t i = 1; i < w.frames.size(); ++i) {
    EXPECT_EQ(w.frames[i].meta["seq"].get<uint64_t>(),
              w.frames[i - 1].meta["seq"].get<uint64_t>() + 1)
        << "the healthy viewer lost a frame";
  }
  const double span_s =
      static_cast<double>(w.frames.back().meta["capture_unix_us"].get<int64_t>() -
                          w.frames.front().meta["capture_unix_us"].get<int64_t>()) /
      1e6;
  EXPECT_GT(39 / span_s, 15.0) << "the healthy viewer got " << 39 / span_s << " fps";
  const media::OutputStats out = cam_->output()->stats();
  EXPECT_GE(out.encoded + 2, out.submitted) << "the encoder fell behind";
  (*healthy)->connection().close();

  std::vector<std::unique_ptr<http::WebSocketClient>> many;
  for (int i = 0; i < 16; ++i) {
    auto v = open("/api/v1/streams/cam/live");
    ASSERT_TRUE(v && (*v)->upgraded()) << i;
    many.push_back(std::move(*v));
  }
  for (auto& v : many) {
    const Watched mw = watch(v->connection(), 3);
    ASSERT_EQ(mw.error, "");
    EXPECT_EQ(mw.init["width"], kW);
  }
  const media::OutputStats after = cam_->output()->stats();
  EXPECT_EQ(after.encoder_builds, 1u);
  EXPECT_GE(after.encoded_sinks, 16u);
}

// A real Engine (test-pattern camera → capture → compositor → x264 → RTSP) behind its media
// endpoint, watched through the real API: the same protocol, and the engine's one encoder.
TEST_F(LiveRelayTest, LiveViewOfARealEngineThroughTheApi) {
  orion::testing::Watchdog dog(Duration::seconds(90), "live view of a real engine");
  Config cfg;
  cfg.streams.push_back({"cam", "test://ball?width=320&height=240&fps=25", false, true});
  EngineOptions eo;
  eo.rtsp_port = 0;
  eo.rtsp_address = "127.0.0.1";
  eo.output.key_interval = Duration::millis(500);
  auto engine = Engine::create(cfg, eo);
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  ASSERT_TRUE((*engine)->start().ok());
  Engine* e = engine->get();
  MediaSources src;
  src.snapshot = [e](const std::string& n) { return e->snapshot(n); };
  src.live = [e](const std::string& n) { return e->live_output(n); };
  endpoint_ = std::make_unique<MediaEndpoint>(MediaEndpointOptions{}, std::move(src));
  ASSERT_TRUE(endpoint_->start().ok());
  start_api("");
  ASSERT_TRUE(wait_until([&] { return e->snapshot("cam").has_value(); }, Duration::seconds(20)));
  auto viewer = open("/api/v1/streams/cam/live");
  ASSERT_TRUE(viewer) << viewer.error().to_string();
  ASSERT_TRUE((*viewer)->upgraded()) << (*viewer)->answer().status << (*viewer)->answer().body;
  const Watched w = watch((*viewer)->connection(), 25);
  ASSERT_EQ(w.error, "");
  EXPECT_EQ(w.init["width"], 320);
  EXPECT_EQ(w.init["height"], 240);
  // The init message carries the measured interval of the key picture (capture-time jitter on
  // a loaded machine moves it by a frame or so); the encoder itself runs at the camera's 25.
  EXPECT_NEAR(w.init["fps"].get<double>(), 25.0, 3.0);
  std::string file = w.init_segment;
  uint64_t last_seq = 0;
  double last_time = -1;
  for (const LiveFrame& f : w.frames) {
    const uint64_t seq = f.meta["seq"];
    const double t = f.meta["media_time"];
    EXPECT_GT(seq, last_seq);
    EXPECT_GT(t, last_time);
    EXPECT_LT(std::llabs(unix_us_now() - f.meta["capture_unix_us"].get<int64_t>()), 10'000'000);
    last_seq = seq;
    last_time = t;
    file += f.fragment;
  }
  const media::testing::DecodedVideo d = media::testing::decode_fmp4(file);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.pictures, 25);
  EXPECT_EQ(d.width, 320);
  EXPECT_EQ(d.height, 240);
  EXPECT_EQ(e->report("cam")->output.encoder_builds, 1u);
  (*viewer)->connection().close();
  endpoint_.reset();  // its callbacks read the engine
  (*engine)->stop();
}

}  // namespace
}  // namespace orion::engine
