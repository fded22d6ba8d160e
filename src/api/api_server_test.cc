// The REST contract of DESIGN.md over real HTTP on loopback, against a real database: every
// backend the build has (a SQLite file; PostgreSQL started by the store's fixture). Bad input of
// every kind gets a clear 4xx naming what was wrong, and leaves the database exactly as it was
// (a dump of every list and the desired revision, before and after). The OpenAPI document and
// the routes served are the same set. No password of a camera URL shows in any answer or log
// line.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "api/server.h"
#include "api/testing/api_client.h"
#include "api/testing/backends.h"
#include "store/store.h"
#include "testing/watchdog.h"

namespace orion::api {
namespace {

using nlohmann::json;
using testing::Answer;
using testing::ApiClient;

// Every log line the process writes while a test runs (spdlog's default logger).
class LogCapture {
 public:
  LogCapture() {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

class ApiContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = testing::open_backend(GetParam(),
                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    if (!db_.skip_reason.empty()) GTEST_SKIP() << db_.skip_reason;
    ASSERT_TRUE(db_.store) << db_.error;
    start_server({});
  }
  void TearDown() override {
    client_.reset();  // its keep-alive connection, if any, before the server waits on it
    server_.reset();
    db_ = {};
  }

  void start_server(ServerOptions o) {
    client_.reset();
    server_.reset();
    o.address = "127.0.0.1";
    o.port = 0;
    auto s = ApiServer::start(*db_.store, std::move(o));
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(s.value());
    client_ = std::make_unique<ApiClient>(server_->base_url());
  }

  ApiClient& api() { return *client_; }
  store::Store& store() { return *db_.store; }

  // Everything a request could have changed.
  std::string dump() {
    std::string out;
    for (const char* list : {"/api/v1/streams", "/api/v1/models", "/api/v1/pipelines"}) {
      Answer a = api().get(list);
      EXPECT_EQ(a.status, 200) << list << ": " << a.body;
      out += a.body;
    }
    auto rev = store().desired_revision();
    EXPECT_TRUE(rev.ok());
    out += "revision " + std::to_string(rev.ok() ? *rev : -1);
    return out;
  }

  void seed() {
    ASSERT_EQ(api().post("/api/v1/streams", json{{"name", "cam"}, {"url", "test://ball"}}).status,
              201);
    ASSERT_EQ(api().post("/api/v1/models", json{{"name", "hog"}, {"kind", "hog"}}).status, 201);
    ASSERT_EQ(api()
                  .post("/api/v1/pipelines",
                        json{{"name", "people"}, {"stream", "cam"}, {"model", "hog"}})
                  .status,
              201);
  }

  testing::Backend db_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<ApiClient> client_;
};

void expect_error(const Answer& a, int status, const std::string& code,
                  const std::string& field = "") {
  EXPECT_EQ(a.status, status) << a.body;
  EXPECT_EQ(a.error_code(), code) << a.body;
  EXPECT_EQ(a.error_field(), field) << a.body;
  EXPECT_FALSE(a.error_message().empty()) << a.body;
  EXPECT_NE(a.header("Content-Type").find("application/json"), std::string::npos);
}

// ---- the contract -----------------------------------------------------------------------------

TEST_P(ApiContract, StreamsCreateListGetPatchDelete) {
  Answer created =
      api().post("/api/v1/streams", json{{"name", "cam1"}, {"url", "test://ball?fps=5"}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json["version"], 1);
  EXPECT_EQ(created.json["enabled"], true);
  EXPECT_EQ(created.json["loop"], false);
  EXPECT_EQ(created.json["tls_verify"], true);
  EXPECT_TRUE(created.json["state"].is_null());
  EXPECT_TRUE(created.json["owner_engine"].is_null());
  EXPECT_TRUE(created.json["output_url"].is_null());
  EXPECT_EQ(created.header("ETag"), "\"1\"");
  EXPECT_EQ(created.header("Location"), "/api/v1/streams/cam1");

  Answer list = api().get("/api/v1/streams");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json["streams"].size(), 1u);
  EXPECT_EQ(list.json["streams"][0]["name"], "cam1");

  Answer one = api().get("/api/v1/streams/cam1");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.json["url"], "test://ball?fps=5");

  Answer patched = api().patch("/api/v1/streams/cam1", json{{"enabled", false}, {"version", 1}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json["version"], 2);
  EXPECT_EQ(patched.json["enabled"], false);
  EXPECT_EQ(patched.json["url"], "test://ball?fps=5");  // untouched

  Answer by_header =
      api().patch("/api/v1/streams/cam1", json{{"loop", true}}, {{"If-Match", "\"2\""}});
  ASSERT_EQ(by_header.status, 200) << by_header.body;
  EXPECT_EQ(by_header.json["version"], 3);
  EXPECT_EQ(by_header.header("ETag"), "\"3\"");

  Answer gone = api().del("/api/v1/streams/cam1");
  ASSERT_EQ(gone.status, 200) << gone.body;
  expect_error(api().get("/api/v1/streams/cam1"), 404, "store.not_found", "name");
  EXPECT_EQ(api().get("/api/v1/streams").json["streams"].size(), 0u);
}

TEST_P(ApiContract, ModelsAndPipelinesWithTheirReferences) {
  ASSERT_EQ(api().post("/api/v1/streams", json{{"name", "cam"}, {"url", "test://ball"}}).status,
            201);
  Answer m = api().post("/api/v1/models", json{{"name", "yx"},
                                               {"kind", "yolox"},
                                               {"path", "m.onnx"},
                                               {"input_width", 416},
                                               {"input_height", 416},
                                               {"class_names", {"person", "car"}},
                                               {"threads", 2}});
  ASSERT_EQ(m.status, 201) << m.body;
  EXPECT_EQ(m.json["class_names"], json({"person", "car"}));
  EXPECT_EQ(m.json["threads"], 2);
  EXPECT_EQ(store().get_model("yx")->threads, 2);
  Answer threads = api().patch("/api/v1/models/yx", json{{"version", 1}, {"threads", 6}});
  ASSERT_EQ(threads.status, 200) << threads.body;
  EXPECT_EQ(api().get("/api/v1/models/yx").json["threads"], 6);
  expect_error(api().patch("/api/v1/models/yx", json{{"version", 2}, {"threads", 2000}}), 400,
               "api.invalid_field", "threads");

  expect_error(
      api().post("/api/v1/pipelines", json{{"name", "p"}, {"stream", "nocam"}, {"model", "yx"}}),
      422, "store.missing_reference", "stream");
  expect_error(
      api().post("/api/v1/pipelines", json{{"name", "p"}, {"stream", "cam"}, {"model", "nomodel"}}),
      422, "store.missing_reference", "model");

  Answer p = api().post("/api/v1/pipelines",
                        json{{"name", "p"},
                             {"stream", "cam"},
                             {"model", "yx"},
                             {"sla", "critical"},
                             {"min_score", 0.3},
                             {"motion_gate", {{"min_motion", 0.01}}},
                             {"events", {{"classes", {"person"}}, {"min_interval_ms", 250}}}});
  ASSERT_EQ(p.status, 201) << p.body;
  EXPECT_EQ(p.json["sla"], "critical");
  EXPECT_DOUBLE_EQ(p.json["min_score"].get<double>(), 0.3);
  EXPECT_EQ(p.json["motion_gate"]["enabled"], true);
  EXPECT_EQ(p.json["events"]["min_interval_ms"], 250);
  EXPECT_TRUE(p.json["state"].is_null());

  // Referenced: cannot go while the pipeline names them.
  expect_error(api().del("/api/v1/streams/cam"), 409, "store.in_use", "name");
  expect_error(api().del("/api/v1/models/yx"), 409, "store.in_use", "name");
  EXPECT_NE(api().del("/api/v1/streams/cam").error_message().find("p"), std::string::npos);

  // A pipeline PATCH to a missing model is 422 and changes nothing.
  expect_error(api().patch("/api/v1/pipelines/p", json{{"model", "nothere"}, {"version", 1}}), 422,
               "store.missing_reference", "model");
  Answer merged =
      api().patch("/api/v1/pipelines/p", json{{"events", {{"min_score", 0.8}}}, {"version", 1}});
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(merged.json["events"]["min_interval_ms"], 250);  // merge patch kept it
  EXPECT_DOUBLE_EQ(merged.json["events"]["min_score"].get<double>(), 0.8);

  ASSERT_EQ(api().del("/api/v1/pipelines/p").status, 200);
  EXPECT_EQ(api().del("/api/v1/models/yx").status, 200);
  EXPECT_EQ(api().del("/api/v1/streams/cam").status, 200);
}

// ADR 0092: a model's device through the API: created, read back by get and list, moved by
// PATCH; bad values and devices the kind cannot run on are refused naming the field and the
// value, and what was stored stays as it was.
TEST_P(ApiContract, AModelsDeviceRoundTripsAndBadDevicesChangeNothing) {
  Answer t = api().post("/api/v1/models", json{{"name", "gpu"},
                                               {"kind", "torch_yolov8"},
                                               {"path", "/models/yolov8n.pt"},
                                               {"device", "cuda:1"}});
  ASSERT_EQ(t.status, 201) << t.body;
  EXPECT_EQ(t.json["device"], "cuda:1");
  EXPECT_EQ(api().get("/api/v1/models/gpu").json["device"], "cuda:1");
  EXPECT_EQ(store().get_model("gpu")->device, "cuda:1");
  Answer c = api().post("/api/v1/models", json{{"name", "cpu"}, {"kind", "hog"}});
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(c.json["device"], "cpu");
  const json list = api().get("/api/v1/models").json["models"];
  ASSERT_EQ(list.size(), 2u) << list.dump();
  for (const auto& m : list) {
    EXPECT_EQ(m["device"], m["name"] == "gpu" ? "cuda:1" : "cpu") << m.dump();
  }

  for (const json& device : {json("gpu0"), json("cuda:-1"), json("cuda:x"), json(1)}) {
    Answer bad = api().patch("/api/v1/models/gpu", json{{"version", 1}, {"device", device}});
    expect_error(bad, 400, device.is_string() ? "api.invalid_field" : "api.wrong_type", "device");
    const std::string shown = device.is_string() ? "'" + device.get<std::string>() + "'" : "1";
    EXPECT_NE(bad.error_message().find(shown), std::string::npos) << bad.body;
    Answer bad_create = api().post(
        "/api/v1/models",
        json{{"name", "gpu2"}, {"kind", "torch_yolox"}, {"path", "/m/y.pt"}, {"device", device}});
    expect_error(bad_create, 400, device.is_string() ? "api.invalid_field" : "api.wrong_type",
                 "device");
  }
  Answer onnx_on_gpu = api().post(
      "/api/v1/models",
      json{{"name", "onnx"}, {"kind", "yolox"}, {"path", "/m/y.onnx"}, {"device", "cuda:0"}});
  expect_error(onnx_on_gpu, 400, "api.invalid_field", "device");
  EXPECT_NE(onnx_on_gpu.error_message().find("CPU only"), std::string::npos) << onnx_on_gpu.body;
  expect_error(api().patch("/api/v1/models/cpu", json{{"version", 1}, {"device", "cuda:1"}}), 400,
               "api.invalid_field", "device");
  // Nothing changed.
  EXPECT_EQ(store().get_model("gpu")->device, "cuda:1");
  EXPECT_EQ(store().get_model("gpu")->version, 1);
  EXPECT_EQ(store().get_model("cpu")->device, "cpu");
  EXPECT_EQ(store().get_model("cpu")->version, 1);
  expect_error(api().get("/api/v1/models/gpu2"), 404, "store.not_found", "name");
  expect_error(api().get("/api/v1/models/onnx"), 404, "store.not_found", "name");

  Answer moved = api().patch("/api/v1/models/gpu", json{{"version", 1}, {"device", "cuda"}});
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(moved.json["device"], "cuda:0");
  EXPECT_EQ(api().get("/api/v1/models/gpu").json["device"], "cuda:0");
}

TEST_P(ApiContract, VersionsGuardConcurrentEdits) {
  seed();
  Answer v1 = api().get("/api/v1/streams/cam");
  ASSERT_EQ(v1.json["version"], 1);
  ASSERT_EQ(api().patch("/api/v1/streams/cam", json{{"loop", true}, {"version", 1}}).status, 200);
  const std::string before = dump();
  Answer stale = api().patch("/api/v1/streams/cam", json{{"enabled", false}, {"version", 1}});
  expect_error(stale, 409, "store.version_conflict", "version");
  EXPECT_NE(stale.error_message().find("version 2"), std::string::npos) << stale.body;
  expect_error(api().patch("/api/v1/streams/cam", json{{"enabled", false}}, {{"If-Match", "1"}}),
               409, "store.version_conflict", "version");
  expect_error(api().patch("/api/v1/streams/cam", json{{"enabled", false}}), 400,
               "api.version_required", "version");
  expect_error(api().patch("/api/v1/streams/cam", json{{"enabled", false}, {"version", 2}},
                           {{"If-Match", "\"1\""}}),
               400, "api.invalid_field", "version");
  expect_error(api().del("/api/v1/streams/cam?version=1"), 409, "store.version_conflict",
               "version");
  expect_error(api().del("/api/v1/models/hog", {{"If-Match", "\"7\""}}), 409,
               "store.version_conflict", "version");
  EXPECT_EQ(dump(), before);

  // Two clients PATCH the same version at once: exactly one wins.
  std::atomic<int> ok{0}, conflict{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < 4; ++i) {
    racers.emplace_back([&, i] {
      ApiClient c(server_->base_url());
      Answer a =
          c.patch("/api/v1/pipelines/people", json{{"min_score", 0.1 * (i + 1)}, {"version", 1}});
      if (a.status == 200) ++ok;
      if (a.status == 409 && a.error_code() == "store.version_conflict") ++conflict;
    });
  }
  for (auto& t : racers) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflict.load(), 3);
  EXPECT_EQ(api().get("/api/v1/pipelines/people").json["version"], 2);
}

TEST_P(ApiContract, StatusRowsShowInStreamsStatsAndEngines) {
  seed();
  store::EngineRecord e;
  e.id = "host:42:1";
  e.media_url = "http://127.0.0.1:1";
  e.rtsp_url = "rtsp://127.0.0.1:8554";
  e.max_streams = 8;
  ASSERT_TRUE(store().heartbeat_engine(e).ok());
  store::StreamStatusRecord s;
  s.stream = "cam";
  s.engine_id = e.id;
  s.state = "retrying";
  s.last_error = "media.unreachable: rtsp://admin:hunter2@10.0.0.9/s: connection refused";
  s.fps_in = 24.5;
  s.frames_in = 1000;
  s.frames_out = 990;
  s.reconnects = 3;
  s.output_url = "rtsp://127.0.0.1:8554/cam";
  ASSERT_TRUE(store().put_stream_status(s).ok());
  store::PipelineStatusRecord p;
  p.pipeline = "people";
  p.engine_id = e.id;
  p.state = "running";
  p.pid = 4242;
  p.offered = 100;
  p.taken = 60;
  p.dropped = 38;
  p.restarts = 2;
  p.restart_reasons = {{"crash", 1}, {"hang", 1}};
  p.violations = {{"bad_box", 5}};
  p.last_result_age_s = 0.25;
  ASSERT_TRUE(store().put_pipeline_status(p).ok());

  Answer cam = api().get("/api/v1/streams/cam");
  ASSERT_EQ(cam.status, 200);
  EXPECT_EQ(cam.json["state"], "retrying");
  EXPECT_EQ(cam.json["owner_engine"], e.id);
  EXPECT_EQ(cam.json["output_url"], "rtsp://127.0.0.1:8554/cam");
  EXPECT_EQ(cam.body.find("hunter2"), std::string::npos) << cam.body;
  EXPECT_NE(cam.body.find("admin:***@10.0.0.9"), std::string::npos) << cam.body;

  Answer pipe = api().get("/api/v1/pipelines/people");
  EXPECT_EQ(pipe.json["state"], "running");
  EXPECT_EQ(pipe.json["pid"], 4242);

  Answer stats = api().get("/api/v1/stats");
  ASSERT_EQ(stats.status, 200) << stats.body;
  ASSERT_EQ(stats.json["streams"].size(), 1u);
  EXPECT_EQ(stats.json["streams"][0]["frames_in"], 1000);
  EXPECT_EQ(stats.json["streams"][0]["reconnects"], 3);
  EXPECT_DOUBLE_EQ(stats.json["streams"][0]["fps_in"].get<double>(), 24.5);
  ASSERT_EQ(stats.json["pipelines"].size(), 1u);
  const json& ps = stats.json["pipelines"][0];
  EXPECT_EQ(ps["stream"], "cam");
  EXPECT_EQ(ps["offered"], 100);
  EXPECT_EQ(ps["taken"], 60);
  EXPECT_EQ(ps["dropped"], 38);
  EXPECT_EQ(ps["pending"], 2);
  EXPECT_EQ(ps["restart_reasons"]["hang"], 1);
  EXPECT_EQ(ps["violations"]["bad_box"], 5);
  EXPECT_DOUBLE_EQ(ps["last_result_age_s"].get<double>(), 0.25);
  EXPECT_TRUE(ps["age_s"].is_number()) << ps;
  EXPECT_EQ(stats.body.find("hunter2"), std::string::npos);

  Answer engines = api().get("/api/v1/engines");
  ASSERT_EQ(engines.status, 200);
  ASSERT_EQ(engines.json["engines"].size(), 1u);
  EXPECT_EQ(engines.json["engines"][0]["id"], e.id);
  EXPECT_EQ(engines.json["engines"][0]["streams"], json({"cam"}));
  EXPECT_EQ(engines.json["engines"][0]["max_streams"], 8);
  EXPECT_TRUE(engines.json["engines"][0]["heartbeat_age_s"].is_number());
  EXPECT_GE(engines.json["engines"][0]["heartbeat_age_s"].get<double>(), 0.0);
}

TEST_P(ApiContract, EventsFilteredAndPagedWithACursor) {
  seed();
  ASSERT_EQ(api().post("/api/v1/streams", json{{"name", "door"}, {"url", "test://snow"}}).status,
            201);
  std::vector<store::EventRecord> batch;
  for (int i = 0; i < 25; ++i) {
    store::EventRecord ev;
    ev.stream = i % 5 == 0 ? "door" : "cam";
    ev.pipeline = "people";
    ev.sequence = static_cast<uint64_t>(i);
    ev.pts_ns = i * 40'000'000LL;
    ev.capture_ns = 1'000'000 + i;
    ev.wall_time_ms = 1'700'000'000'000LL + i * 1000;
    ev.class_id = 0;
    ev.class_name = "person";
    ev.score = 0.9;
    ev.x1 = 1;
    ev.y1 = 2;
    ev.x2 = 30;
    ev.y2 = 40;
    batch.push_back(ev);
  }
  ASSERT_TRUE(store().insert_events(batch).ok());

  std::vector<int64_t> seen;
  int64_t after = 0;
  for (int page = 0; page < 10; ++page) {
    Answer a = api().get("/api/v1/events?stream=cam&limit=7&after=" + std::to_string(after));
    ASSERT_EQ(a.status, 200) << a.body;
    for (const auto& e : a.json["events"]) {
      EXPECT_EQ(e["stream"], "cam");
      EXPECT_EQ(e["class_name"], "person");
      EXPECT_EQ(e["box"]["x2"], 30);
      seen.push_back(e["id"].get<int64_t>());
    }
    EXPECT_GE(a.json["next_after"].get<int64_t>(), after);
    after = a.json["next_after"].get<int64_t>();
    if (a.json["events"].empty()) break;
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), seen.size());

  Answer since = api().get("/api/v1/events?since=" + std::to_string(1'700'000'000'000LL + 20'000));
  ASSERT_EQ(since.status, 200);
  EXPECT_EQ(since.json["events"].size(), 5u);
  Answer iso = api().get("/api/v1/events?pipeline=people&since=2023-11-14T22:13:40Z");
  ASSERT_EQ(iso.status, 200) << iso.body;
  EXPECT_EQ(iso.json["events"].size(), 5u);
  EXPECT_EQ(iso.json["events"][0]["sequence"], 20);
  EXPECT_EQ(iso.json["events"][0]["time"], "2023-11-14T22:13:40.000Z");
}

// ---- bad input: a clear 4xx, and nothing changed ------------------------------------------

struct BadRequest {
  const char* what;
  std::string method, path, body;
  int status;
  std::string code, field;
  std::string content_type = "application/json";
};

TEST_P(ApiContract, BadInputIsRefusedClearlyAndChangesNothing) {
  seed();
  const std::string nul_name = std::string("{\"name\":\"a\\u0000b\",\"url\":\"test://ball\"}");
  const std::vector<BadRequest> cases = {
      {"malformed JSON", "POST", "/api/v1/streams", "{\"name\": \"x\",", 400, "api.malformed_json",
       ""},
      {"not an object", "POST", "/api/v1/streams", "[1,2]", 400, "api.wrong_type", ""},
      {"empty body", "POST", "/api/v1/streams", "", 400, "api.malformed_json", ""},
      {"duplicate key", "POST", "/api/v1/streams", R"({"name":"x","name":"y","url":"a.mp4"})", 400,
       "api.malformed_json", ""},
      {"wrong type", "POST", "/api/v1/streams", R"({"name":"x","url":42})", 400, "api.wrong_type",
       "url"},
      {"wrong bool", "POST", "/api/v1/streams", R"({"name":"x","url":"a.mp4","loop":1})", 400,
       "api.wrong_type", "loop"},
      {"unknown field", "POST", "/api/v1/streams", R"({"name":"x","url":"a.mp4","fps":30})", 400,
       "api.unknown_field", "fps"},
      {"missing field", "POST", "/api/v1/streams", R"({"name":"x"})", 400, "api.missing_field",
       "url"},
      {"read-only field", "POST", "/api/v1/streams", R"({"name":"x","url":"a.mp4","version":9})",
       400, "api.read_only_field", "version"},
      {"scheme not allowed", "POST", "/api/v1/streams", R"({"name":"x","url":"http://h/s"})", 400,
       "api.invalid_field", "url"},
      {"name with ../", "POST", "/api/v1/streams", R"({"name":"../etc","url":"a.mp4"})", 400,
       "api.invalid_field", "name"},
      {"name with NUL", "POST", "/api/v1/streams", nul_name, 400, "api.invalid_field", "name"},
      {"name with a control char", "POST", "/api/v1/streams",
       R"({"name":"a\u001bb","url":"a.mp4"})", 400, "api.invalid_field", "name"},
      {"name too long", "POST", "/api/v1/streams",
       R"({"name":")" + std::string(65, 'n') + R"(","url":"a.mp4"})", 400, "api.invalid_field",
       "name"},
      {"duplicate name", "POST", "/api/v1/streams", R"({"name":"cam","url":"a.mp4"})", 409,
       "store.exists", "name"},
      {"model kind", "POST", "/api/v1/models", R"({"name":"m2","kind":"resnet"})", 400,
       "api.invalid_field", "kind"},
      {"input size", "POST", "/api/v1/models", R"({"name":"m2","kind":"fake","input_width":5000})",
       400, "api.invalid_field", "input_width"},
      {"min_score out of range", "POST", "/api/v1/pipelines",
       R"({"name":"p2","stream":"cam","model":"hog","min_score":1.01})", 400, "api.invalid_field",
       "min_score"},
      {"sla", "POST", "/api/v1/pipelines",
       R"({"name":"p2","stream":"cam","model":"hog","sla":"gold"})", 400, "api.invalid_field",
       "sla"},
      {"nested range", "POST", "/api/v1/pipelines",
       R"({"name":"p2","stream":"cam","model":"hog","events":{"min_interval_ms":-5}})", 400,
       "api.invalid_field", "events.min_interval_ms"},
      {"worker_command", "POST", "/api/v1/pipelines",
       R"({"name":"p2","stream":"cam","model":"hog","worker_command":["/bin/sh"]})", 400,
       "api.forbidden_field", "worker_command"},
      {"missing reference", "POST", "/api/v1/pipelines",
       R"({"name":"p2","stream":"nope","model":"hog"})", 422, "store.missing_reference", "stream"},
      {"text/plain body", "POST", "/api/v1/streams", R"({"name":"x","url":"a.mp4"})", 415,
       "api.unsupported_media_type", "", "text/plain"},
      {"form body", "POST", "/api/v1/streams", "name=x&url=a.mp4", 415,
       "api.unsupported_media_type", "", "application/x-www-form-urlencoded"},
      {"patch rename", "PATCH", "/api/v1/streams/cam", R"({"name":"cam2","version":1})", 400,
       "api.invalid_field", "name"},
      {"patch bad value", "PATCH", "/api/v1/streams/cam", R"({"url":"rtmp://x/y","version":1})",
       400, "api.invalid_field", "url"},
      {"patch stale version", "PATCH", "/api/v1/streams/cam", R"({"loop":true,"version":5})", 409,
       "store.version_conflict", "version"},
      {"patch no version", "PATCH", "/api/v1/streams/cam", R"({"loop":true})", 400,
       "api.version_required", "version"},
      {"patch unknown", "PATCH", "/api/v1/streams/nope", R"({"loop":true,"version":1})", 404,
       "store.not_found", "name"},
      {"unknown resource", "GET", "/api/v1/cameras", "", 404, "api.no_route", ""},
      {"unknown stream", "GET", "/api/v1/streams/nope", "", 404, "store.not_found", "name"},
      {"delete unknown", "DELETE", "/api/v1/pipelines/nope", "", 404, "store.not_found", "name"},
      {"NUL in a path name", "GET", "/api/v1/streams/a%00b", "", 400, "api.invalid_field", "name"},
      {"control char in a path name", "DELETE", "/api/v1/streams/a%0Ab", "", 400,
       "api.invalid_field", "name"},
      {"dot name in path", "DELETE", "/api/v1/streams/..", "", 400, "api.invalid_field", "name"},
      {"encoded ../ in path", "DELETE", "/api/v1/streams/..%2Fcam", "", 404, "api.no_route", ""},
      {"in use", "DELETE", "/api/v1/streams/cam", "", 409, "store.in_use", "name"},
      {"wrong method", "PUT", "/api/v1/streams/cam", R"({"name":"cam"})", 405,
       "api.method_not_allowed", ""},
      {"unknown query parameter", "GET", "/api/v1/streams?colour=red", "", 400, "api.invalid_query",
       "colour"},
      {"bad events limit", "GET", "/api/v1/events?limit=100000", "", 400, "api.invalid_query",
       "limit"},
      {"bad delete version", "DELETE", "/api/v1/pipelines/people?version=abc", "", 400,
       "api.invalid_field", "version"},
  };
  const std::string before = dump();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    httplib::Headers h;
    Answer a;
    if (c.method == "POST") {
      a = api().post(c.path, c.body, c.content_type);
    } else if (c.method == "PATCH") {
      a = api().patch(c.path, c.body, {}, c.content_type);
    } else {
      a = api().send(c.method, c.path, c.body);
    }
    expect_error(a, c.status, c.code, c.field);
    if (c.status == 405) {
      EXPECT_FALSE(a.header("Allow").empty());
    }
    EXPECT_EQ(dump(), before);
  }
}

TEST_P(ApiContract, OversizeBodiesAre413AndChangeNothing) {
  seed();
  const std::string before = dump();
  json big = {{"name", "big"}, {"url", "a.mp4"}, {"pad", std::string((1u << 20) + 10, 'x')}};
  expect_error(api().post("/api/v1/streams", big.dump()), 413, "api.body_too_large");
  expect_error(api().patch("/api/v1/streams/cam", big.dump()), 413, "api.body_too_large");
  // Without a Content-Length (chunked): cut off at the limit too.
  const std::string payload = big.dump();
  auto r = api().raw().Post(
      "/api/v1/streams",
      [&](size_t offset, httplib::DataSink& sink) {
        const size_t n = std::min<size_t>(64 * 1024, payload.size() - offset);
        sink.write(payload.data() + offset, n);
        if (offset + n == payload.size()) sink.done();
        return true;
      },
      "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("api.body_too_large"), std::string::npos) << r->body;
  EXPECT_EQ(r->get_header_value("Connection"), "close");
  // The server still serves, on a fresh connection and on a client that keeps its connections
  // alive (it honours the close), and nothing changed.
  ApiClient fresh(server_->base_url());
  EXPECT_EQ(fresh.get("/healthz").status, 200);
  api().raw().set_keep_alive(true);
  auto again = api().raw().Post("/api/v1/streams", big.dump(), "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 413);
  EXPECT_EQ(api().get("/api/v1/streams").status, 200);
  EXPECT_EQ(api().get("/healthz").status, 200);
  api().raw().set_keep_alive(false);
  EXPECT_EQ(dump(), before);
  // Just under the limit is read (and refused for its unknown field, not its size).
  json under = {{"name", "big"}, {"url", "a.mp4"}, {"pad", std::string((1u << 20) - 100, 'x')}};
  expect_error(api().post("/api/v1/streams", under.dump()), 400, "api.unknown_field", "pad");
}

// Raw bytes over a loopback TCP connection (for requests an HTTP client library will not send):
// everything the server answers until it closes the connection, or until `limit_ms` passes.
std::string raw_exchange(int port, const std::string& request, int limit_ms = 5000) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "socket failed";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    timeval tv{limit_ms / 1000, (limit_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server closed early: what it answered is still read below
      sent += static_cast<size_t>(n);
    }
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

size_t count_answers(const std::string& raw) {
  size_t n = 0;
  for (size_t pos = raw.find("HTTP/1.1 "); pos != std::string::npos;
       pos = raw.find("HTTP/1.1 ", pos + 1))
    ++n;
  return n;
}

std::string chunked_body(const std::string& payload) {
  std::string out;
  for (size_t off = 0; off < payload.size(); off += 65536) {
    const size_t n = std::min<size_t>(65536, payload.size() - off);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    out += size + payload.substr(off, n) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

TEST_P(ApiContract, BodiesAreBoundedOnEveryMethodAndPath) {
  seed();
  const std::string before = dump();
  const std::string payload((1u << 20) + 4096, 'x');
  // A chunked body to a route or to no route is cut off at the limit (never buffered whole).
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"PUT", "/api/v1/streams/cam"},
                                                        {"POST", "/api/v1/nosuch"},
                                                        {"PATCH", "/api/v1/nosuch/x"},
                                                        {"POST", "/api/v1/models"}}) {
    SCOPED_TRACE(method + " " + path);
    const std::string answer = raw_exchange(
        server_->port(), method + " " + path +
                             " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n" +
                             chunked_body(payload));
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 300);
    EXPECT_NE(answer.find("api.body_too_large"), std::string::npos) << answer.substr(0, 300);
    EXPECT_EQ(count_answers(answer), 1u) << answer.substr(0, 600);
  }
  // A small body to a method or path without a route is read and answered as such.
  expect_error(api().send("PUT", "/api/v1/streams/cam", "{}"), 405, "api.method_not_allowed");
  expect_error(api().post("/api/v1/nosuch", std::string("{}")), 404, "api.no_route");
  // A POST with neither Content-Length nor chunked encoding has no body: answered at once.
  const std::string empty = raw_exchange(
      server_->port(),
      "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n");
  EXPECT_EQ(empty.rfind("HTTP/1.1 400", 0), 0u) << empty;
  EXPECT_NE(empty.find("api.malformed_json"), std::string::npos) << empty;
  EXPECT_EQ(dump(), before);
}

TEST_P(ApiContract, BytesAfterARefusedRequestNeverRunAsARequest) {
  seed();
  const std::string before = dump();
  // What an attacker would hide in a body the server does not read the way a proxy would.
  const std::string smuggled = "DELETE /api/v1/pipelines/people HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string hdr = "Host: x\r\nContent-Type: application/json\r\n";
  const std::string big((1u << 20) + 100, ' ');
  struct Probe {
    const char* what;
    std::string request;
    int status;
    std::string code;
  };
  const std::vector<Probe> probes = {
      {"GET with a body",
       "GET /api/v1/streams HTTP/1.1\r\n" + hdr +
           "Content-Length: " + std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled,
       400, "api.bad_request"},
      {"chunked DELETE",
       "DELETE /api/v1/streams/nope HTTP/1.1\r\n" + hdr + "Transfer-Encoding: chunked\r\n\r\n" +
           chunked_body(smuggled),
       400, "api.bad_request"},
      {"Content-Length and Transfer-Encoding",
       "POST /api/v1/streams HTTP/1.1\r\n" + hdr +
           "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body("{}") +
           smuggled,
       400, "api.bad_request"},
      {"Transfer-Encoding not chunked",
       "POST /api/v1/streams HTTP/1.1\r\n" + hdr + "Transfer-Encoding: gzip, chunked\r\n\r\n" +
           chunked_body("{}") + smuggled,
       400, "api.bad_request"},
      {"Content-Length twice",
       "POST /api/v1/streams HTTP/1.1\r\n" + hdr +
           "Content-Length: 2\r\nContent-Length: 60\r\n\r\n{}" + smuggled,
       400, "api.bad_request"},
      {"a body cut off at the limit",
       "POST /api/v1/streams HTTP/1.1\r\n" + hdr + "Transfer-Encoding: chunked\r\n\r\n" +
           chunked_body(big + smuggled),
       413, "api.body_too_large"},
      {"unauthorised with a body (no token here: a malformed one)",
       "POST /api/v1/streams HTTP/1.1\r\n" + hdr + "Content-Length: 3\r\n\r\n{x}" + smuggled, 400,
       "api.malformed_json"},
  };
  for (const auto& p : probes) {
    SCOPED_TRACE(p.what);
    const std::string answer = raw_exchange(server_->port(), p.request);
    EXPECT_EQ(answer.rfind("HTTP/1.1 " + std::to_string(p.status), 0), 0u) << answer.substr(0, 400);
    EXPECT_NE(answer.find(p.code), std::string::npos) << answer.substr(0, 400);
    EXPECT_EQ(count_answers(answer), 1u) << answer.substr(0, 800);
    EXPECT_EQ(dump(), before);
  }
  // With a token, a request refused before its body is read ends the connection the same way.
  ServerOptions o;
  o.token = "tok-0123456789abcdef";
  start_server(std::move(o));
  const std::string unauth =
      raw_exchange(server_->port(), "POST /api/v1/streams HTTP/1.1\r\n" + hdr + "Content-Length: " +
                                        std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
  EXPECT_EQ(unauth.rfind("HTTP/1.1 401", 0), 0u) << unauth;
  EXPECT_EQ(count_answers(unauth), 1u) << unauth;
  // And a good request keeps its connection for the next one (keep-alive still works).
  const std::string two = raw_exchange(
      server_->port(),
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n");
  EXPECT_EQ(count_answers(two), 2u) << two;
}

TEST_P(ApiContract, TokenRequiredOnApiAndMetricsButNotHealthz) {
  seed();
  ServerOptions o;
  o.token = "s3cr3t-token-0123456789";
  o.metrics = [] { return std::string("# TYPE orion_up gauge\norion_up 1\n"); };
  start_server(std::move(o));
  const std::string before = [&] {
    ApiClient authed(server_->base_url(), "s3cr3t-token-0123456789");
    std::string out;
    for (const char* l : {"/api/v1/streams", "/api/v1/models", "/api/v1/pipelines"})
      out += authed.get(l).body;
    return out;
  }();

  ApiClient anon(server_->base_url());
  for (const char* path : {"/api/v1/streams", "/api/v1/streams/cam", "/api/v1/openapi.json",
                           "/api/v1/stats", "/metrics", "/api/v1/nosuch"}) {
    SCOPED_TRACE(path);
    Answer a = anon.get(path);
    expect_error(a, 401, "api.unauthorized");
    EXPECT_NE(a.header("WWW-Authenticate").find("Bearer"), std::string::npos);
  }
  expect_error(anon.post("/api/v1/streams", json{{"name", "x"}, {"url", "a.mp4"}}), 401,
               "api.unauthorized");
  expect_error(anon.del("/api/v1/pipelines/people"), 401, "api.unauthorized");
  EXPECT_EQ(anon.get("/healthz").status, 200);

  for (const std::string& wrong : {std::string("s3cr3t-token-0123456788"), std::string("s3cr3t"),
                                   std::string("s3cr3t-token-01234567890"), std::string("x")}) {
    ApiClient bad(server_->base_url(), wrong);
    expect_error(bad.get("/api/v1/streams"), 401, "api.unauthorized");
    expect_error(bad.patch("/api/v1/streams/cam", json{{"loop", true}, {"version", 1}}), 401,
                 "api.unauthorized");
  }
  ApiClient basic(server_->base_url());
  expect_error(basic.get("/api/v1/streams", {{"Authorization", "Basic czNjcjN0"}}), 401,
               "api.unauthorized");

  ApiClient good(server_->base_url(), "s3cr3t-token-0123456789");
  EXPECT_EQ(good.get("/api/v1/streams").status, 200);
  Answer metrics = good.get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("orion_up 1"), std::string::npos);
  EXPECT_NE(metrics.header("Content-Type").find("text/plain"), std::string::npos);
  std::string after;
  for (const char* l : {"/api/v1/streams", "/api/v1/models", "/api/v1/pipelines"})
    after += good.get(l).body;
  EXPECT_EQ(after, before);
}

TEST_P(ApiContract, RefusesToServeARemoteAddressWithoutAToken) {
  ServerOptions o;
  o.address = "0.0.0.0";
  o.port = 0;
  auto s = ApiServer::start(store(), o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "api.insecure");
  o.token = "has whitespace";
  auto t = ApiServer::start(store(), o);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "api.bad_token");
}

TEST_P(ApiContract, CameraPasswordsNeverShowInAnswersOrLogs) {
  LogCapture logs;
  const std::string url = "rtsp://admin:hunter2@10.0.0.9:554/live";
  Answer created = api().post("/api/v1/streams", json{{"name", "lobby"}, {"url", url}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json["url"], "rtsp://admin:***@10.0.0.9:554/live");
  // The store keeps the real one: the engine needs it.
  auto stored = store().get_stream("lobby");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->url, url);

  std::vector<Answer> answers;
  answers.push_back(created);
  answers.push_back(api().get("/api/v1/streams"));
  answers.push_back(api().get("/api/v1/streams/lobby"));
  // Sending back what GET showed keeps the password; the answer still hides it.
  Answer round_trip = api().patch("/api/v1/streams/lobby",
                                  json{{"url", answers.back().json["url"]}, {"version", 1}});
  ASSERT_EQ(round_trip.status, 200) << round_trip.body;
  EXPECT_EQ(store().get_stream("lobby")->url, url);
  answers.push_back(round_trip);
  // Errors that echo a URL hide its password too.
  answers.push_back(api().post("/api/v1/streams", json{{"name", "lobby"}, {"url", url}}));  // 409
  answers.push_back(
      api().post("/api/v1/streams", json{{"name", "x"}, {"url", "http://admin:hunter2@h/s"}}));
  answers.push_back(
      api().post("/api/v1/streams", std::string(R"({"name":"y","url":"rtsp://admin:hunter2@h/)")));
  answers.push_back(api().patch("/api/v1/streams/lobby",
                                json{{"url", "rtsp://admin:hunter2@h/x y"}, {"version", 2}}));
  answers.push_back(api().get("/api/v1/streams/lobby?u=rtsp://admin:hunter2@h/"));
  for (const auto& a : answers) {
    EXPECT_EQ(a.body.find("hunter2"), std::string::npos) << a.body;
    for (const auto& [k, v] : a.headers) EXPECT_EQ(v.find("hunter2"), std::string::npos) << k;
  }
  const std::string log = logs.text();
  EXPECT_FALSE(log.empty());  // the access log ran
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
}

TEST_P(ApiContract, HealthzAndMetricsHook) {
  Answer h = api().get("/healthz");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.json["status"], "ok");
  EXPECT_TRUE(h.json["desired_revision"].is_number_integer());
  expect_error(api().get("/metrics"), 404, "metrics.not_configured");
  std::atomic<int> calls{0};
  ServerOptions o;
  o.metrics = [&calls] {
    ++calls;
    return std::string("orion_api_test_total 7\n");
  };
  start_server(std::move(o));
  Answer m = api().get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "orion_api_test_total 7\n");
  EXPECT_EQ(calls.load(), 1);
}

// ---- snapshots: relayed from the owning engine's media endpoint ------------------------------

TEST_P(ApiContract, SnapshotRelayedFromTheOwningEngine) {
  seed();
  // The engine's media endpoint: a real HTTP server on loopback serving one stream's JPEG.
  const std::string jpeg =
      std::string("\xff\xd8\xff\xe0", 4) + std::string(5000, '\x42') + std::string("\xff\xd9", 2);
  httplib::Server media;
  media.Get("/media/streams/cam/snapshot.jpg",
            [&](const httplib::Request&, httplib::Response& res) {
              res.set_header("X-Orion-Frame-Sequence", "42");
              res.set_header("X-Orion-Capture-Unix-Us", "1764650000123456");
              res.set_header("X-Orion-Frame-Pts-Ns", "12; evil");  // not a number: not relayed
              res.set_content(jpeg, "image/jpeg");
            });
  const int media_port = media.bind_to_any_port("127.0.0.1");
  ASSERT_GT(media_port, 0);
  std::thread media_thread([&] { media.listen_after_bind(); });
  struct Join {
    httplib::Server& s;
    std::thread& t;
    ~Join() {
      s.stop();
      if (t.joinable()) t.join();
    }
  } join{media, media_thread};

  expect_error(api().get("/api/v1/streams/nope/snapshot.jpg"), 404, "store.not_found", "name");
  expect_error(api().get("/api/v1/streams/cam/snapshot.jpg"), 503, "snapshot.not_running");

  store::EngineRecord e;
  e.id = "engine-a";
  e.media_url = "http://127.0.0.1:" + std::to_string(media_port);
  ASSERT_TRUE(store().heartbeat_engine(e).ok());
  store::StreamStatusRecord s;
  s.stream = "cam";
  s.engine_id = "engine-a";
  s.state = "live";
  ASSERT_TRUE(store().put_stream_status(s).ok());

  Answer snap = api().get("/api/v1/streams/cam/snapshot.jpg");
  ASSERT_EQ(snap.status, 200) << snap.body;
  EXPECT_EQ(snap.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(snap.body, jpeg);
  // The frame's identity travels with it (the dashboard's frame age is measured from it).
  EXPECT_EQ(snap.header("X-Orion-Frame-Sequence"), "42");
  EXPECT_EQ(snap.header("X-Orion-Capture-Unix-Us"), "1764650000123456");
  EXPECT_EQ(snap.header("X-Orion-Frame-Pts-Ns"), "");

  // A stream the engine has no frame of: its 404 is relayed as snapshot.not_available.
  ASSERT_EQ(api().post("/api/v1/streams", json{{"name", "door"}, {"url", "test://snow"}}).status,
            201);
  s.stream = "door";
  ASSERT_TRUE(store().put_stream_status(s).ok());
  expect_error(api().get("/api/v1/streams/door/snapshot.jpg"), 404, "snapshot.not_available");

  // Owned by an engine that is not registered.
  s.engine_id = "engine-gone";
  ASSERT_TRUE(store().put_stream_status(s).ok());
  expect_error(api().get("/api/v1/streams/door/snapshot.jpg"), 503, "snapshot.no_engine");

  // The engine stops answering.
  media.stop();
  media_thread.join();
  expect_error(api().get("/api/v1/streams/cam/snapshot.jpg"), 503, "snapshot.engine_unreachable");
}

// ---- the dashboard at / ------------------------------------------------------------------------

TEST_P(ApiContract, DashboardServedAtRootWithoutATokenAndNothingOutsideItsFolder) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("orion-web-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "web");
  std::ofstream(base / "web" / "index.html") << "<!doctype html><title>Orion</title>";
  std::ofstream(base / "web" / "app-ABCDEFGH.js") << "export{}";
  std::ofstream(base / "secret.txt") << "outside";
  struct Cleanup {
    fs::path p;
    ~Cleanup() { fs::remove_all(p); }
  } cleanup{base};

  ServerOptions o;
  o.token = "s3cr3t-token-0123456789";
  o.web_root = (base / "web").string();
  start_server(std::move(o));
  ApiClient anon(server_->base_url());
  Answer index = anon.get("/");
  ASSERT_EQ(index.status, 200) << index.body;
  EXPECT_EQ(index.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.header("Cache-Control"), "no-cache");
  EXPECT_EQ(index.header("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(index.header("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  EXPECT_NE(index.body.find("<title>Orion</title>"), std::string::npos);
  Answer js = anon.get("/app-ABCDEFGH.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.header("Cache-Control"), "public, max-age=31536000, immutable");
  for (const char* path : {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/nosuch.js",
                           "/.hidden.js", "/index.html?x=1"}) {
    SCOPED_TRACE(path);
    Answer a = anon.get(path);
    EXPECT_TRUE(a.status == 404 || a.status == 400) << a.status << " " << a.body;
    EXPECT_EQ(a.body.find("outside"), std::string::npos);
  }
  // The API's own paths stay the API's: token first, then its 404.
  expect_error(anon.get("/api/v1/streams"), 401, "api.unauthorized");
  ApiClient good(server_->base_url(), "s3cr3t-token-0123456789");
  expect_error(good.get("/api/v1/nosuch"), 404, "api.no_route");
  expect_error(good.get("/api"), 404, "api.no_route");

  // Without a folder: `/` says there is no dashboard; a folder without index.html is refused.
  start_server({});
  expect_error(api().get("/"), 404, "web.not_built");
  ServerOptions bad;
  bad.web_root = base.string();
  bad.address = "127.0.0.1";
  bad.port = 0;
  auto refused = ApiServer::start(store(), std::move(bad));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "web.no_root");
}

// ---- OpenAPI: what is documented is what is served ------------------------------------------

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_P(ApiContract, EveryRouteServedIsInOpenApiAndEveryPathInItIsServed) {
  seed();
  Answer doc = api().get("/api/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  ASSERT_TRUE(doc.json.is_object());
  EXPECT_EQ(doc.json["openapi"].get<std::string>().rfind("3.1", 0), 0u);
  // The document served is the one kept in the repository.
  if (const char* src = std::getenv("ORION_SOURCE_DIR")) {
    const json in_repo =
        json::parse(read_file(std::filesystem::path(src) / "docs/api/openapi.json"));
    EXPECT_EQ(doc.json, in_repo) << "docs/api/openapi.json changed without a rebuild?";
  }

  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc.json["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::string m = method;
      std::transform(m.begin(), m.end(), m.begin(), ::toupper);
      documented.insert({m, path});
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& r : ApiServer::routes()) served.insert({r.method, r.path});
  EXPECT_EQ(documented, served);

  // Each documented operation, really requested: it is routed (never no_route / 405).
  ServerOptions o;
  o.metrics = [] { return std::string("x 1\n"); };
  start_server(std::move(o));
  const std::map<std::string, std::string> name_for = {
      {"/api/v1/streams/{name}", "cam"},
      {"/api/v1/models/{name}", "hog"},
      {"/api/v1/pipelines/{name}", "people"},
      {"/api/v1/streams/{name}/snapshot.jpg", "cam"}};
  // Deletes last, pipelines before the stream and model they reference.
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& op : documented)
    if (op.first != "DELETE") order.push_back(op);
  for (const auto& op : documented)
    if (op.first == "DELETE" && op.second.find("pipelines") != std::string::npos)
      order.push_back(op);
  for (const auto& op : documented)
    if (op.first == "DELETE" && op.second.find("pipelines") == std::string::npos)
      order.push_back(op);
  ASSERT_EQ(order.size(), documented.size());
  for (const auto& [method, path] : order) {
    SCOPED_TRACE(method + " " + path);
    std::string concrete = path;
    if (auto it = name_for.find(path); it != name_for.end()) {
      concrete.replace(concrete.find("{name}"), 6, it->second);
    }
    Answer a;
    if (method == "POST") {
      a = api().post(concrete, json::object());
    } else if (method == "PATCH") {
      a = api().patch(concrete, json{{"enabled", true}, {"version", 1}});
    } else {
      a = api().send(method, concrete);
    }
    EXPECT_NE(a.status, 0) << a.transport;
    EXPECT_NE(a.error_code(), "api.no_route") << a.body;
    EXPECT_NE(a.error_code(), "api.method_not_allowed") << a.body;
    // Each documented status: the one answered is listed for this operation.
    std::string lower = method;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    const json& responses = doc.json["paths"][path][lower]["responses"];
    EXPECT_TRUE(responses.contains(std::to_string(a.status))) << a.status << " " << a.body;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ApiContract, ::testing::ValuesIn(testing::backend_names()),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace orion::api
