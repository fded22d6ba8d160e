// The YAML `--config` import (api/config_import.h): YAML read faithfully (types, line and column
// of every refusal), relative paths resolved against the file's folder, YAML keys mapped to the
// API's fields, every entry checked by the API's own validator (the same code, field and
// words), and the import into a real database idempotent: a second run changes nothing, a
// changed value updates exactly that record, a bad file writes nothing, a lost race with
// another writer is tried once more.
//
// Built twice: with ORION_IMPORT_BACKEND "sqlite" (unit, plus the reading tests, which need no
// database) and "postgresql" (integration: a server of its own, src/api/testing/backends.h).
#include "api/config_import.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "api/testing/backends.h"

namespace orion::api {

// For GoogleTest's messages (found by argument-dependent lookup, so in the types' namespace).
void PrintTo(const ImportCounts& c, std::ostream* os) {
  *os << "{created " << c.created << ", updated " << c.updated << ", unchanged " << c.unchanged
      << "}";
}
void PrintTo(const ImportSummary& s, std::ostream* os) { *os << to_string(s); }

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A fresh folder (canonical, so paths compare as the loader makes them), removed at the end.
class Folder {
 public:
  Folder() {
    std::string templ = (fs::temp_directory_path() / "orion-import-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    dir_ = fs::canonical(templ);
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Folder(const Folder&) = delete;
  Folder& operator=(const Folder&) = delete;

  // Writes `text` to `name` (folders made as needed); returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    EXPECT_TRUE(out.good()) << "cannot write " << p;
    return p.string();
  }
  std::string path(const std::string& name = "") const {
    return name.empty() ? dir_.string() : (dir_ / name).string();
  }

 private:
  fs::path dir_;
};

#ifdef ORION_IMPORT_READING_TESTS

void expect_error(const ApiError& e, const std::string& code, const std::string& field,
                  const std::string& message_part) {
  EXPECT_EQ(e.code, code) << e.message;
  EXPECT_EQ(e.field, field) << e.message;
  EXPECT_NE(e.message.find(message_part), std::string::npos)
      << "'" << e.message << "' should contain '" << message_part << "'";
}

template <class T>
ApiError error_of(const Checked<T>& r) {
  EXPECT_FALSE(r.ok()) << "accepted";
  return r.ok() ? ApiError{} : r.error();
}

// ---- reading: YAML → JSON -----------------------------------------------------------------------

json yaml(const std::string& text) {
  auto j = config_yaml_to_json(text, "/cfg", "t.yaml");
  EXPECT_TRUE(j.ok()) << j.error().message;
  return j.ok() ? *j : json();
}

TEST(ConfigRead, ScalarsKeepTheTypesYamlGivesThem) {
  const json j = yaml(R"(
plain_int: 3
quoted_int: "3"
single_quoted: '3'
number: 0.3
exponent: 1e3
leading_dot: .5
bool: true
bool_caps: FALSE
quoted_bool: "true"
yes_is_text: yes
on_is_text: on
tilde: ~
nothing:
null_word: null
quoted_null: "null"
hex: 0x1F
octal: 0o17
leading_zero: 007
negative: -12
smallest: -9223372036854775808
biggest_unsigned: 18446744073709551615
beyond_64_bits: 123456789012345678901234
tagged_str: !!str 4
tagged_float: !!float 2
tagged_int: !!int "5"
text: hello world
list: [1, "1", x, 1.5, false, ~]
map: {a: 1}
)");
  EXPECT_TRUE(j["plain_int"].is_number_integer());
  EXPECT_EQ(j["plain_int"], 3);
  EXPECT_EQ(j["quoted_int"], "3");
  EXPECT_EQ(j["single_quoted"], "3");
  EXPECT_TRUE(j["number"].is_number_float());
  EXPECT_EQ(j["number"], 0.3);
  EXPECT_TRUE(j["exponent"].is_number_float());
  EXPECT_EQ(j["exponent"], 1000.0);
  EXPECT_EQ(j["leading_dot"], 0.5);
  EXPECT_EQ(j["bool"], true);
  EXPECT_EQ(j["bool_caps"], false);
  EXPECT_EQ(j["quoted_bool"], "true");
  EXPECT_EQ(j["yes_is_text"], "yes");  // YAML 1.2: only true/false are booleans
  EXPECT_EQ(j["on_is_text"], "on");
  EXPECT_TRUE(j["tilde"].is_null());
  EXPECT_TRUE(j["nothing"].is_null());
  EXPECT_TRUE(j["null_word"].is_null());
  EXPECT_EQ(j["quoted_null"], "null");
  EXPECT_EQ(j["hex"], 31);
  EXPECT_EQ(j["octal"], 15);
  EXPECT_EQ(j["leading_zero"], 7);
  EXPECT_EQ(j["negative"], -12);
  EXPECT_EQ(j["smallest"].get<int64_t>(), INT64_MIN);
  EXPECT_TRUE(j["biggest_unsigned"].is_number_unsigned());
  EXPECT_EQ(j["biggest_unsigned"].get<uint64_t>(), UINT64_MAX);
  EXPECT_TRUE(j["beyond_64_bits"].is_number_float());
  EXPECT_DOUBLE_EQ(j["beyond_64_bits"].get<double>(), 1.23456789012345678901234e23);
  EXPECT_EQ(j["tagged_str"], "4");
  EXPECT_TRUE(j["tagged_float"].is_number_float());
  EXPECT_EQ(j["tagged_float"], 2.0);
  EXPECT_EQ(j["tagged_int"], 5);
  EXPECT_EQ(j["text"], "hello world");
  EXPECT_EQ(j["list"], json::parse(R"([1, "1", "x", 1.5, false, null])"));
  EXPECT_EQ(j["map"], json::parse(R"({"a": 1})"));
}

TEST(ConfigRead, AQuotedNumberIsANameAPlainOneIsNot) {
  auto ok = parse_config_text("streams:\n  - {name: \"3\", url: test://ball}\n", "/cfg", "t.yaml");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  ASSERT_EQ(ok->streams.size(), 1u);
  EXPECT_EQ(ok->streams[0].name, "3");

  auto plain = parse_config_text("streams:\n  - {name: 3, url: test://ball}\n", "/cfg", "t.yaml");
  expect_error(error_of(plain), "api.wrong_type", "streams[0].name",
               "t.yaml: streams[0].name: must be a string (got number 3)");
  auto yes =
      parse_config_text("streams:\n  - {name: a, url: test://ball, loop: yes}\n", "/cfg", "t.yaml");
  expect_error(error_of(yes), "api.wrong_type", "streams[0].loop",
               "t.yaml: streams[0].loop: must be true or false (got string 'yes')");
}

TEST(ConfigRead, EveryRefusalOfTheYamlSaysWhereInTheFile) {
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {"streams:\n  - {name: a, url: b\n", "t.yaml: YAML syntax error at line 3, column 1: "},
      {"streams:\n  - name: a\n    url: x.mp4\n    name: b\n",
       "t.yaml: line 4, column 5: streams[0].name: given twice in one map"},
      {"streams:\n  - ? [a]\n    : 1\n", "t.yaml: line 2, column 7: streams[0]: a key must be"},
      {"streams: []\n---\nmodels: []\n", "t.yaml: holds 2 YAML documents"},
      {"pipelines:\n  - {min_score: .inf}\n",
       "t.yaml: line 2, column 17: pipelines[0].min_score: '.inf' is not a finite number"},
      {"a: .nan\n", "'.nan' is not a finite number"},
      {"a: 1e999\n", "'1e999' is not a finite number"},
      {"a: !thing 3\n", "t.yaml: line 1, column 4: a: the tag '!thing' is not supported"},
      {"a: !!int x\n", "'x' tagged !!int is not an integer"},
      {"a: !!bool 1\n", "'1' tagged !!bool is not true or false"},
      {"a: \"\\xff\"\n", ""},  // "\xff" is U+00FF, fine: the case below is the raw byte
      {"a: b\xff\n", "a: text is not UTF-8"},
      {std::string(40, '[') + std::string(40, ']') + "\n", "nested deeper than 32 levels"},
  };
  for (const auto& c : cases) {
    auto j = config_yaml_to_json(c.text, "/cfg", "t.yaml");
    if (c.message.empty()) {
      EXPECT_TRUE(j.ok()) << c.text;
      continue;
    }
    ASSERT_FALSE(j.ok()) << "accepted: " << c.text;
    EXPECT_EQ(j.error().code, "config.parse") << j.error().message;
    EXPECT_NE(j.error().message.find(c.message), std::string::npos)
        << c.text << " → '" << j.error().message << "', expected '" << c.message << "'";
  }
}

TEST(ConfigRead, AnEmptyFileIsAnEmptyConfig) {
  for (const char* text : {"", "# nothing yet\n", "streams:\nmodels:\npipelines:\n"}) {
    auto d = parse_config_text(text, "/cfg", "t.yaml");
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_TRUE(d->streams.empty() && d->models.empty() && d->pipelines.empty());
  }
}

// ---- reading: keys, paths, class names ----------------------------------------------------------

TEST(ConfigRead, RelativePathsAreResolvedAgainstTheFilesFolder) {
  Folder f;
  f.write("sub/names.txt", "person\r\ncar \n\n\n");
  const std::string file = f.write("sub/orion.yaml", R"(
streams:
  - {name: a, url: clips/lobby.mp4, loop: true}
  - {name: b, url: "file://clips/b.mp4"}
  - {name: c, url: ../up.mp4}
  - {name: d, url: /abs/d.mp4}
  - {name: e, url: "rtsp://user:pw@cam/x"}
  - {name: f, url: "test://ball"}
  - {name: g, url: "file:///abs/g.mp4"}
models:
  - {name: y, kind: yolox, path: models/y.onnx, class_names: names.txt, threads: 2}
  - {name: h, kind: hog, class_names: [walker]}
pipelines:
  - {name: p1, stream: a, model: y, worker: ./bin/w.py}
  - {name: p2, stream: a, model: h, worker: [python3, ./w.py, --n, 3, 0.10, true]}  # args as written
  - {name: p3, stream: b, model: h}
  - {name: p4, stream: b, model: h, worker_command: [bin/w2]}
)");
  // Given relative to the working directory: the stored paths are absolute all the same.
  const std::string relative = fs::relative(file).string();
  ASSERT_FALSE(fs::path(relative).is_absolute());
  for (const std::string& path : {file, relative}) {
    SCOPED_TRACE(path);
    auto d = read_config_file(path);
    ASSERT_TRUE(d.ok()) << d.error().message;
    const std::string sub = f.path("sub");
    ASSERT_EQ(d->streams.size(), 7u);
    EXPECT_EQ(d->streams[0].url, sub + "/clips/lobby.mp4");
    EXPECT_TRUE(d->streams[0].loop);
    EXPECT_EQ(d->streams[1].url, "file://" + sub + "/clips/b.mp4");
    EXPECT_EQ(d->streams[2].url, f.path("up.mp4"));
    EXPECT_EQ(d->streams[3].url, "/abs/d.mp4");
    EXPECT_EQ(d->streams[4].url, "rtsp://user:pw@cam/x");
    EXPECT_EQ(d->streams[5].url, "test://ball");
    EXPECT_EQ(d->streams[6].url, "file:///abs/g.mp4");
    ASSERT_EQ(d->models.size(), 2u);
    EXPECT_EQ(d->models[0].path, sub + "/models/y.onnx");
    EXPECT_EQ(d->models[0].class_names, (std::vector<std::string>{"person", "car"}));
    EXPECT_EQ(d->models[0].threads, 2);
    EXPECT_EQ(d->models[1].class_names, std::vector<std::string>{"walker"});
    ASSERT_EQ(d->pipelines.size(), 4u);
    EXPECT_EQ(d->pipelines[0].worker_command, std::vector<std::string>{sub + "/bin/w.py"});
    EXPECT_EQ(d->pipelines[1].worker_command,
              (std::vector<std::string>{"python3", "./w.py", "--n", "3", "0.10", "true"}));
    EXPECT_TRUE(d->pipelines[2].worker_command.empty());
    EXPECT_EQ(d->pipelines[3].worker_command, std::vector<std::string>{sub + "/bin/w2"});
  }
}

TEST(ConfigRead, AClassNamesFileThatFailsNamesTheFileAndTheField) {
  Folder f;
  f.write("empty.txt", "\n\n");
  f.write("gap.txt", "person\n\ncar\n");
  auto with = [&](const std::string& class_names) {
    return read_config_file(f.write(
        "orion.yaml", "models:\n  - {name: y, kind: hog, class_names: " + class_names + "}\n"));
  };
  const std::string file = f.path("orion.yaml");
  expect_error(error_of(with("missing.txt")), "config.invalid", "models[0].class_names",
               file + ": models[0].class_names: cannot read class names file '" +
                   f.path("missing.txt") + "' (No such file or directory)");
  expect_error(error_of(with("empty.txt")), "config.invalid", "models[0].class_names",
               "class names file '" + f.path("empty.txt") + "' lists no names");
  expect_error(error_of(with("gap.txt")), "config.invalid", "models[0].class_names",
               "class names file '" + f.path("gap.txt") + "' line 2 is empty");
  f.write("adir/other.txt", "x\n");
  expect_error(error_of(with("adir")), "config.invalid", "models[0].class_names",
               "class names file '" + f.path("adir") + "' is a folder, not a file");
  expect_error(error_of(with("3")), "config.invalid", "models[0].class_names",
               "must be a class names file (one name per line) or a list of names (got number 3)");
}

TEST(ConfigRead, AnInvalidEntryGetsTheApisOwnError) {
  // The same document as YAML and as JSON: the same code, field and message, word for word.
  const std::string yaml_text = R"(
streams:
  - {name: cam1, url: "rtsp://10.0.0.5/s"}
  - {name: cam2, url: "http://10.0.0.6/s"}
)";
  const json as_json = json::parse(R"({"streams": [{"name": "cam1", "url": "rtsp://10.0.0.5/s"},
                                                    {"name": "cam2", "url": "http://10.0.0.6/s"}]})");
  Source src;
  src.label = "orion.yaml";
  src.allow_worker_command = true;
  const ApiError api = error_of(desired_state_from_json(as_json, src));
  const ApiError file = error_of(parse_config_text(yaml_text, "/cfg", "orion.yaml"));
  EXPECT_EQ(file.code, api.code);
  EXPECT_EQ(file.field, api.field);
  EXPECT_EQ(file.message, api.message);
  expect_error(file, "api.invalid_field", "streams[1].url",
               "orion.yaml: streams[1].url: scheme 'http' is not allowed");
  EXPECT_EQ(file.message.rfind("orion.yaml: streams[1].url: ", 0), 0u) << file.message;

  struct Case {
    std::string text, code, field, words;
  };
  const std::vector<Case> cases = {
      {"streams:\n  - {name: a, url: x.mp4, lop: true}\n", "api.unknown_field", "streams[0].lop",
       "unknown field"},
      {"streams:\n  - {name: a}\n", "api.missing_field", "streams[0].url", "missing (required)"},
      {"streams:\n  - {name: ../x, url: x.mp4}\n", "api.invalid_field", "streams[0].name", "'/'"},
      {"models:\n  - {name: y, kind: yolox}\n", "api.missing_field", "models[0].path",
       "needs a model file"},
      {"models:\n  - {name: y, kind: hog, threads: 5000}\n", "api.invalid_field",
       "models[0].threads", "0 (the backend's default) or 1..1024"},
      {"models:\n  - {name: t, kind: torch_yolox, path: y.pt, device: gpu0}\n", "api.invalid_field",
       "models[0].device", "'gpu0' is not a device"},
      {"models:\n  - {name: t, kind: torch_yolox, path: y.pt, device: \"cuda:-1\"}\n",
       "api.invalid_field", "models[0].device", "'cuda:-1' is not a device"},
      {"models:\n  - {name: t, kind: torch_yolox, path: y.pt, device: 0}\n", "api.wrong_type",
       "models[0].device", "must be a string"},
      {"models:\n  - {name: y, kind: yolox, path: y.onnx, device: \"cuda:1\"}\n",
       "api.invalid_field", "models[0].device", "runs on the CPU only"},
      {"streams:\n  - {name: a, url: x.mp4}\nmodels:\n  - {name: h, kind: hog}\npipelines:\n"
       "  - {name: p, stream: b, model: h}\n",
       "api.invalid_field", "pipelines[0].stream", "no stream named 'b'"},
      {"streams:\n  - {name: a, url: x.mp4}\n  - {name: a, url: y.mp4}\n", "api.invalid_field",
       "streams[1].name", "'a' is given twice in streams"},
      {"streams:\n  - {name: a, url: x.mp4}\nmodels:\n  - {name: h, kind: hog}\npipelines:\n"
       "  - {name: p, stream: a, model: h, worker: [w], worker_command: [w]}\n",
       "config.invalid", "pipelines[0].worker", "give worker or worker_command, not both"},
      {"streams:\n  - {name: a, url: x.mp4}\nmodels:\n  - {name: h, kind: hog}\npipelines:\n"
       "  - {name: p, stream: a, model: h, worker: []}\n",
       "api.invalid_field", "pipelines[0].worker_command", "must have 1..64 entries"},
      {"cameras: []\n", "api.unknown_field", "cameras", "unknown field"},
      {"streams: {name: a}\n", "api.wrong_type", "streams", "must be a list"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    expect_error(error_of(parse_config_text(c.text, "/cfg", "orion.yaml")), c.code, c.field,
                 "orion.yaml: " + c.field + ": ");
    expect_error(error_of(parse_config_text(c.text, "/cfg", "orion.yaml")), c.code, c.field,
                 c.words);
  }
}

TEST(ConfigRead, AFileThatCannotBeReadIsConfigIo) {
  Folder f;
  const std::string missing = f.path("nope.yaml");
  expect_error(error_of(read_config_file(missing)), "config.io", "",
               "cannot read config file '" + missing + "' (No such file or directory)");
  expect_error(error_of(read_config_file(f.path())), "config.io", "",
               "config file '" + f.path() + "' is a folder, not a file");
}

#endif  // ORION_IMPORT_READING_TESTS

// ---- importing into a real database -------------------------------------------------------------

const char* const kConfig = R"(
streams:
  - {name: cam1, url: "rtsp://user:secret@10.0.0.5/s"}
  - {name: lobby, url: lobby.mp4, loop: true}
models:
  - {name: hog, kind: hog, threads: 2}
  - {name: yolox, kind: yolox, path: yolox_nano.onnx, input_width: 416, input_height: 416,
     class_names: names.txt}
pipelines:
  - {name: people, stream: lobby, model: yolox, sla: critical, min_score: 0.3, classes: [person, 2]}
  - name: door
    stream: cam1
    model: hog
    motion_gate: {min_motion: 0.01, max_skipped_in_row: 100}
    events: {min_score: 0.7}
    worker: [python3, ./w.py]
)";

// A Store that lets another writer in just before the import's writes: `before_update` runs
// before every update_*, `before_create` before every create_* (each with the record's name).
// Everything goes to a real Store.
class InterleavedStore final : public store::Store {
 public:
  explicit InterleavedStore(store::Store& inner) : s_(inner) {}
  std::function<void(const std::string&)> before_update, before_create;

  std::string url_redacted() const override { return s_.url_redacted(); }
  Result<std::vector<store::StreamRecord>> list_streams() override { return s_.list_streams(); }
  Result<store::StreamRecord> get_stream(const std::string& n) override { return s_.get_stream(n); }
  Result<store::StreamRecord> create_stream(const store::StreamRecord& r) override {
    if (before_create) before_create(r.name);
    return s_.create_stream(r);
  }
  Result<store::StreamRecord> update_stream(const store::StreamRecord& r, int64_t v) override {
    if (before_update) before_update(r.name);
    return s_.update_stream(r, v);
  }
  Status delete_stream(const std::string& n, std::optional<int64_t> v) override {
    return s_.delete_stream(n, v);
  }
  Result<std::vector<store::ModelRecord>> list_models() override { return s_.list_models(); }
  Result<store::ModelRecord> get_model(const std::string& n) override { return s_.get_model(n); }
  Result<store::ModelRecord> create_model(const store::ModelRecord& r) override {
    if (before_create) before_create(r.name);
    return s_.create_model(r);
  }
  Result<store::ModelRecord> update_model(const store::ModelRecord& r, int64_t v) override {
    if (before_update) before_update(r.name);
    return s_.update_model(r, v);
  }
  Status delete_model(const std::string& n, std::optional<int64_t> v) override {
    return s_.delete_model(n, v);
  }
  Result<std::vector<store::PipelineRecord>> list_pipelines() override {
    return s_.list_pipelines();
  }
  Result<store::PipelineRecord> get_pipeline(const std::string& n) override {
    return s_.get_pipeline(n);
  }
  Result<store::PipelineRecord> create_pipeline(const store::PipelineRecord& r) override {
    if (before_create) before_create(r.name);
    return s_.create_pipeline(r);
  }
  Result<store::PipelineRecord> update_pipeline(const store::PipelineRecord& r,
                                                int64_t v) override {
    if (before_update) before_update(r.name);
    return s_.update_pipeline(r, v);
  }
  Status delete_pipeline(const std::string& n, std::optional<int64_t> v) override {
    return s_.delete_pipeline(n, v);
  }
  Result<int64_t> desired_revision() override { return s_.desired_revision(); }
  Result<int64_t> wait_desired_revision(int64_t known, Duration limit) override {
    return s_.wait_desired_revision(known, limit);
  }
  Status heartbeat_engine(const store::EngineRecord& e) override { return s_.heartbeat_engine(e); }
  Result<std::vector<store::EngineRecord>> list_engines() override { return s_.list_engines(); }
  Status put_stream_status(const store::StreamStatusRecord& x) override {
    return s_.put_stream_status(x);
  }
  Result<std::vector<store::StreamStatusRecord>> list_stream_status() override {
    return s_.list_stream_status();
  }
  Status put_pipeline_status(const store::PipelineStatusRecord& x) override {
    return s_.put_pipeline_status(x);
  }
  Result<std::vector<store::PipelineStatusRecord>> list_pipeline_status() override {
    return s_.list_pipeline_status();
  }
  Result<std::vector<int64_t>> insert_events(const std::vector<store::EventRecord>& b) override {
    return s_.insert_events(b);
  }
  Result<std::vector<store::EventRecord>> query_events(const store::EventQuery& q) override {
    return s_.query_events(q);
  }
  Result<int64_t> apply_retention(const store::Retention& r, int64_t now_ms) override {
    return s_.apply_retention(r, now_ms);
  }
  Result<int64_t> count_events() override { return s_.count_events(); }
  Result<store::LeaseRoundResult> lease_round(const store::LeaseRound& r) override {
    return s_.lease_round(r);
  }
  Result<std::vector<store::LeaseRecord>> list_leases() override { return s_.list_leases(); }
  Result<std::vector<store::EngineLoad>> list_engine_loads() override {
    return s_.list_engine_loads();
  }
  Result<bool> wait_lease_change(Duration limit) override { return s_.wait_lease_change(limit); }

 private:
  store::Store& s_;
};

class ConfigImport : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::open_backend(ORION_IMPORT_BACKEND,
                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    if (!db_.skip_reason.empty()) GTEST_SKIP() << db_.skip_reason;
    ASSERT_TRUE(db_.store) << db_.error;
    folder_.write("names.txt", "person\nbicycle\ncar\n");
  }

  store::Store& store() { return *db_.store; }

  std::string write_config(const std::string& text) const {
    return folder_.write("orion.yaml", text);
  }

  // Imports `text` (as orion.yaml in the folder); fails the test on an error.
  ImportSummary import(const std::string& text) {
    auto s = import_config_file(store(), write_config(text));
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return s.ok() ? *s : ImportSummary{};
  }

  // Everything an import could change: every record with its version, and the revision.
  std::string dump() {
    json out;
    auto streams = store().list_streams();
    auto models = store().list_models();
    auto pipelines = store().list_pipelines();
    auto revision = store().desired_revision();
    EXPECT_TRUE(streams.ok() && models.ok() && pipelines.ok() && revision.ok());
    if (!streams.ok() || !models.ok() || !pipelines.ok() || !revision.ok()) return "";
    for (const auto& r : *streams) {
      json j = to_json(r);
      j["url"] = r.url;  // the stored one, password included
      out["streams"].push_back(j);
    }
    for (const auto& r : *models) out["models"].push_back(to_json(r));
    for (const auto& r : *pipelines) {
      json j = to_json(r);
      j["worker_command"] = r.worker_command;
      out["pipelines"].push_back(j);
    }
    out["revision"] = *revision;
    return out.dump(2);
  }

  std::string replace(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  }

  testing::Backend db_;
  Folder folder_;
};

ImportSummary counts(ImportCounts streams, ImportCounts models, ImportCounts pipelines) {
  return ImportSummary{streams, models, pipelines};
}

TEST_F(ConfigImport, EveryFieldReachesTheDatabase) {
  EXPECT_EQ(import(kConfig), counts({2, 0, 0}, {2, 0, 0}, {2, 0, 0}));
  auto cam1 = store().get_stream("cam1");
  ASSERT_TRUE(cam1.ok());
  EXPECT_EQ(cam1->url, "rtsp://user:secret@10.0.0.5/s");
  EXPECT_EQ(cam1->version, 1);
  auto lobby = store().get_stream("lobby");
  ASSERT_TRUE(lobby.ok());
  EXPECT_EQ(lobby->url, folder_.path("lobby.mp4"));
  EXPECT_TRUE(lobby->loop);
  auto hog = store().get_model("hog");
  ASSERT_TRUE(hog.ok());
  EXPECT_EQ(hog->threads, 2);
  auto yolox = store().get_model("yolox");
  ASSERT_TRUE(yolox.ok());
  EXPECT_EQ(yolox->path, folder_.path("yolox_nano.onnx"));
  EXPECT_EQ(yolox->input_width, 416);
  EXPECT_EQ(yolox->class_names, (std::vector<std::string>{"person", "bicycle", "car"}));
  auto people = store().get_pipeline("people");
  ASSERT_TRUE(people.ok());
  EXPECT_EQ(people->sla, "critical");
  EXPECT_EQ(people->min_score, 0.3);
  EXPECT_EQ(people->classes, (std::vector<std::string>{"person", "2"}));
  auto door = store().get_pipeline("door");
  ASSERT_TRUE(door.ok());
  EXPECT_EQ(json::parse(door->motion_gate_json),
            json::parse(R"({"enabled": true, "min_motion": 0.01, "max_skipped_in_row": 100})"));
  EXPECT_EQ(door->events.min_score, 0.7);
  EXPECT_EQ(door->worker_command,
            (std::vector<std::string>{"python3", "./w.py"}));  // args as written
}

// ADR 0092: a model's device in the file reaches the database (canonical), a changed device
// updates the model, a bad one writes nothing.
TEST_F(ConfigImport, AModelsDeviceIsImportedAndABadOneWritesNothing) {
  const std::string text = R"(
models:
  - {name: gpu, kind: torch_yolov8, path: yolov8n.pt, device: "cuda:1"}
  - {name: gpu0, kind: torch_yolox, path: yolox_nano.pt, device: cuda}
  - {name: hog, kind: hog}
)";
  EXPECT_EQ(import(text), counts({0, 0, 0}, {3, 0, 0}, {0, 0, 0}));
  EXPECT_EQ(store().get_model("gpu")->device, "cuda:1");
  EXPECT_EQ(store().get_model("gpu0")->device, "cuda:0");
  EXPECT_EQ(store().get_model("hog")->device, "cpu");
  EXPECT_EQ(import(text), counts({0, 0, 0}, {0, 0, 3}, {0, 0, 0}));

  EXPECT_EQ(import(replace(text, "\"cuda:1\"", "\"cuda:2\"")),
            counts({0, 0, 0}, {0, 1, 2}, {0, 0, 0}));
  EXPECT_EQ(store().get_model("gpu")->device, "cuda:2");
  EXPECT_EQ(store().get_model("gpu")->version, 2);

  const std::string before = dump();
  auto bad =
      import_config_file(store(), write_config(replace(text, "device: cuda}", "device: gpu0}")));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "api.invalid_field");
  EXPECT_EQ(bad.error().message.rfind(folder_.path("orion.yaml") + ": models[1].device: ", 0), 0u)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("'gpu0'"), std::string::npos) << bad.error().message;
  EXPECT_EQ(dump(), before);
}

TEST_F(ConfigImport, ASecondImportOfTheSameFileChangesNothing) {
  import(kConfig);
  const std::string before = dump();
  EXPECT_EQ(import(kConfig), counts({0, 0, 2}, {0, 0, 2}, {0, 0, 2}));
  EXPECT_EQ(dump(), before);  // no version bumped, no revision, no duplicate
  EXPECT_EQ(store().list_streams()->size(), 2u);
  auto pipelines = store().list_pipelines();
  ASSERT_TRUE(pipelines.ok());
  ASSERT_EQ(pipelines->size(), 2u);
  for (const auto& p : *pipelines) EXPECT_EQ(p.version, 1) << p.name;
}

TEST_F(ConfigImport, AChangedValueUpdatesExactlyThatRecord) {
  import(kConfig);
  const int64_t revision = *store().desired_revision();
  const std::string changed = replace(kConfig, "min_score: 0.3", "min_score: 0.45");
  EXPECT_EQ(import(changed), counts({0, 0, 2}, {0, 0, 2}, {0, 1, 1}));
  EXPECT_EQ(store().get_pipeline("people")->min_score, 0.45);
  EXPECT_EQ(store().get_pipeline("people")->version, 2);
  EXPECT_EQ(store().get_pipeline("door")->version, 1);
  auto streams = store().list_streams();
  auto models = store().list_models();
  ASSERT_TRUE(streams.ok() && models.ok());
  for (const auto& s : *streams) EXPECT_EQ(s.version, 1) << s.name;
  for (const auto& m : *models) EXPECT_EQ(m.version, 1) << m.name;
  EXPECT_EQ(*store().desired_revision(), revision + 1);

  // A class names file is part of the model: editing it updates the model.
  folder_.write("names.txt", "person\nbicycle\nlorry\n");
  EXPECT_EQ(import(changed), counts({0, 0, 2}, {0, 1, 1}, {0, 0, 2}));
  EXPECT_EQ(store().get_model("yolox")->class_names,
            (std::vector<std::string>{"person", "bicycle", "lorry"}));
  EXPECT_EQ(store().get_model("yolox")->version, 2);
}

TEST_F(ConfigImport, ABadFileWritesNothing) {
  // Into an empty database: the error is in the last pipeline, nothing before it is written.
  const std::string bad_last = replace(kConfig, "worker: [python3, ./w.py]", "worker: {}");
  auto first = import_config_file(store(), write_config(bad_last));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, "api.wrong_type") << first.error().message;
  EXPECT_EQ(first.error().message.rfind(
                folder_.path("orion.yaml") + ": pipelines[1].worker_command: ", 0),
            0u)
      << first.error().message;
  EXPECT_TRUE(store().list_streams()->empty());
  EXPECT_TRUE(store().list_models()->empty());
  EXPECT_EQ(*store().desired_revision(), 0);

  // Over an earlier import: a change in streams[0] and a bad url in streams[1].
  import(kConfig);
  const std::string before = dump();
  std::string bad = replace(kConfig, "10.0.0.5/s", "10.0.0.9/s");
  bad = replace(bad, "url: lobby.mp4", "url: \"http://lobby\"");
  auto second = import_config_file(store(), write_config(bad));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, "api.invalid_field");
  EXPECT_EQ(second.error().message.rfind(folder_.path("orion.yaml") + ": streams[1].url: ", 0), 0u)
      << second.error().message;
  EXPECT_EQ(second.error().message.find("secret"), std::string::npos);
  EXPECT_EQ(dump(), before);
}

TEST_F(ConfigImport, WhatTheFileDoesNotNameIsKeptWhatItNamesIsPutBack) {
  import(kConfig);
  // Through the store (as the API would): a stream the file does not name, and a change to one
  // it does.
  store::StreamRecord extra;
  extra.name = "extra";
  extra.url = "test://ball";
  ASSERT_TRUE(store().create_stream(extra).ok());
  auto cam1 = *store().get_stream("cam1");
  cam1.enabled = false;
  ASSERT_TRUE(store().update_stream(cam1, 1).ok());

  EXPECT_EQ(import(kConfig), counts({0, 1, 1}, {0, 0, 2}, {0, 0, 2}));
  EXPECT_TRUE(store().get_stream("cam1")->enabled);  // the file's value
  EXPECT_EQ(store().get_stream("cam1")->version, 3);
  auto kept = store().get_stream("extra");
  ASSERT_TRUE(kept.ok()) << kept.error().to_string();
  EXPECT_EQ(kept->version, 1);
  EXPECT_EQ(store().list_streams()->size(), 3u);
}

TEST_F(ConfigImport, AWriteThatLosesARaceIsTriedOnceMore) {
  import(kConfig);
  auto other = store::Store::open(db_.url);  // another writer, on a connection of its own
  ASSERT_TRUE(other.ok()) << other.error().to_string();
  InterleavedStore racing(store());

  // An update that finds the version changed under it: read again, update again.
  int updates = 0;
  bool raced = false;
  racing.before_update = [&](const std::string& name) {
    ++updates;
    if (name != "cam1" || raced) return;
    raced = true;
    auto cur = (*other)->get_stream("cam1");
    ASSERT_TRUE(cur.ok());
    cur->url = "rtsp://someone-else/s";
    ASSERT_TRUE((*other)->update_stream(*cur, cur->version).ok());
  };
  // A create that finds the name taken meanwhile: read it, update it.
  racing.before_create = [&](const std::string& name) {
    if (name != "cam2") return;
    store::StreamRecord s;
    s.name = "cam2";
    s.url = "test://snow";
    ASSERT_TRUE((*other)->create_stream(s).ok());
  };
  std::string text = replace(kConfig, "10.0.0.5/s", "10.0.0.7/s");
  text = replace(text, "streams:\n", "streams:\n  - {name: cam2, url: \"test://ball\"}\n");
  auto s = import_desired_state(racing, *read_config_file(write_config(text)));
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->streams, (ImportCounts{0, 2, 1}));  // cam2 found made by the other: an update
  EXPECT_EQ(updates, 3);                           // cam1 twice, cam2 once
  EXPECT_EQ(store().get_stream("cam1")->url, "rtsp://user:secret@10.0.0.7/s");
  EXPECT_EQ(store().get_stream("cam1")->version, 3);
  EXPECT_EQ(store().get_stream("cam2")->url, "test://ball");
  EXPECT_EQ(store().get_stream("cam2")->version, 2);

  // Losing twice is an error that names the record and what was written before it.
  racing.before_create = nullptr;
  racing.before_update = [&](const std::string& name) {
    if (name != "lobby") return;
    auto cur = (*other)->get_stream("lobby");
    ASSERT_TRUE(cur.ok());
    cur->enabled = !cur->enabled;  // another field: the file's values still differ
    ASSERT_TRUE((*other)->update_stream(*cur, cur->version).ok());
  };
  text = replace(text, "10.0.0.7/s", "10.0.0.8/s");
  text = replace(text, "loop: true", "loop: false");
  auto lost = import_desired_state(racing, *read_config_file(write_config(text)));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, "store.version_conflict");
  EXPECT_EQ(lost.error().message.rfind("importing stream 'lobby': ", 0), 0u)
      << lost.error().message;
  EXPECT_NE(lost.error().message.find("(1 earlier record(s) written and kept; importing again "
                                      "finishes the rest)"),
            std::string::npos)
      << lost.error().message;
  EXPECT_EQ(store().get_stream("cam1")->url, "rtsp://user:secret@10.0.0.8/s");  // written first

  // And importing again (no one racing now) finishes it.
  racing.before_update = nullptr;
  auto again = import_desired_state(racing, *read_config_file(write_config(text)));
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_FALSE(store().get_stream("lobby")->loop);
  EXPECT_TRUE(store().get_stream("lobby")->enabled);  // the file's value again
}

}  // namespace
}  // namespace orion::api
