// render(): the exposition text, read back line by line with a strict parser
// (metrics/testing/exposition.h); read_process_sample(): this process's /proc figures, and
// clear errors from files of the wrong shape.
#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "metrics/testing/exposition.h"

namespace orion::metrics {
namespace {

namespace fs = std::filesystem;
using testing::Exposition;
using testing::LabelSet;
using testing::parse_exposition;

Exposition parsed(const std::string& text) {
  auto doc = parse_exposition(text);
  EXPECT_TRUE(doc.ok()) << doc.error().to_string() << "\n" << text;
  return doc.ok() ? *doc : Exposition{};
}

// Two streams (one without an engine id) and two pipelines (one without results, restarts,
// violations or a motion gate figure), events and process figures.
Snapshot two_by_two() {
  Snapshot s;
  StreamSample cam1;
  cam1.stream = "cam1";
  cam1.engine = "host-a:41:1764619989";
  cam1.state = "live";
  cam1.frames_in = 1000;
  cam1.frames_out = 990;
  cam1.reconnects = 2;
  cam1.fps_in = 25;
  cam1.fps_out = 24.5;
  StreamSample lobby;
  lobby.stream = "lobby";
  lobby.state = "retrying";
  lobby.frames_in = 7;
  lobby.frames_out = 0;
  lobby.reconnects = 5;
  lobby.fps_in = 0.25;
  lobby.fps_out = 0;
  s.streams = {cam1, lobby};

  PipelineSample people;
  people.pipeline = "people";
  people.stream = "cam1";
  people.engine = "host-a:41:1764619989";
  people.state = "running";
  people.offered = 1000;
  people.taken = 600;
  people.dropped = 399;
  people.results = 598;
  people.restarts = 3;
  people.restart_reasons = {{"crashed", 2}, {"hung", 1}};
  people.violations = {{"result.bad_json", 4}, {"lease.held_too_long", 1}};
  people.last_result_age_s = 0.125;
  people.motion_skipped = 17;
  PipelineSample cars;
  cars.pipeline = "cars";
  cars.stream = "lobby";
  cars.state = "backoff";
  cars.offered = 7;
  cars.taken = 7;
  s.pipelines = {people, cars};

  s.events = {.written = 10,
              .filtered = 20,
              .dropped = 3,
              .write_errors = 1,
              .buffered = 42,
              .present = true};
  s.status_writes = {.rows_pending = 2, .row_write_errors = 9, .present = true};
  s.process = {.cpu_seconds = 12.5,
               .rss_bytes = 104857600,
               .start_time_seconds = 1764619989.5,
               .present = true};
  return s;
}

const LabelSet kCam1 = {{"stream", "cam1"}, {"engine", "host-a:41:1764619989"}};
const LabelSet kLobby = {{"stream", "lobby"}};
const LabelSet kPeople = {
    {"pipeline", "people"}, {"stream", "cam1"}, {"engine", "host-a:41:1764619989"}};
const LabelSet kCars = {{"pipeline", "cars"}, {"stream", "lobby"}};

LabelSet with(LabelSet labels, const std::string& name, const std::string& value) {
  labels[name] = value;
  return labels;
}

TEST(Render, EveryFamilyHasHelpTypeLabelsAndValuesInDocumentedOrder) {
  const Exposition doc = parsed(render(two_by_two()));

  const std::vector<std::pair<std::string, std::string>> families = {
      {"orion_stream_frames_in_total", "counter"},
      {"orion_stream_frames_out_total", "counter"},
      {"orion_stream_fps_in", "gauge"},
      {"orion_stream_fps_out", "gauge"},
      {"orion_stream_reconnects_total", "counter"},
      {"orion_stream_state", "gauge"},
      {"orion_pipeline_frames_offered_total", "counter"},
      {"orion_pipeline_frames_taken_total", "counter"},
      {"orion_pipeline_frames_dropped_total", "counter"},
      {"orion_pipeline_results_total", "counter"},
      {"orion_pipeline_restarts_total", "counter"},
      {"orion_pipeline_violations_total", "counter"},
      {"orion_pipeline_last_result_age_seconds", "gauge"},
      {"orion_pipeline_state", "gauge"},
      {"orion_pipeline_motion_skipped_total", "counter"},
      {"orion_events_written_total", "counter"},
      {"orion_events_filtered_total", "counter"},
      {"orion_events_dropped_total", "counter"},
      {"orion_events_write_errors_total", "counter"},
      {"orion_events_buffered", "gauge"},
      {"orion_status_rows_pending", "gauge"},
      {"orion_status_row_write_errors_total", "counter"},
      {"process_cpu_seconds_total", "counter"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_start_time_seconds", "gauge"},
  };
  std::vector<std::string> expected_order;
  for (const auto& [name, type] : families) {
    expected_order.push_back(name);
    ASSERT_TRUE(doc.families.count(name)) << name;
    EXPECT_EQ(doc.families.at(name).type, type) << name;
    EXPECT_GE(doc.families.at(name).help.size(), 10u) << name << ": a HELP that says something";
  }
  EXPECT_EQ(doc.family_order, expected_order);

  using Values = std::map<LabelSet, double>;
  EXPECT_EQ(doc.of("orion_stream_frames_in_total"), (Values{{kCam1, 1000}, {kLobby, 7}}));
  EXPECT_EQ(doc.of("orion_stream_frames_out_total"), (Values{{kCam1, 990}, {kLobby, 0}}));
  EXPECT_EQ(doc.of("orion_stream_fps_in"), (Values{{kCam1, 25}, {kLobby, 0.25}}));
  EXPECT_EQ(doc.of("orion_stream_fps_out"), (Values{{kCam1, 24.5}, {kLobby, 0}}));
  EXPECT_EQ(doc.of("orion_stream_reconnects_total"), (Values{{kCam1, 2}, {kLobby, 5}}));
  EXPECT_EQ(doc.of("orion_stream_state"),
            (Values{{with(kCam1, "state", "live"), 1}, {with(kLobby, "state", "retrying"), 1}}));

  EXPECT_EQ(doc.of("orion_pipeline_frames_offered_total"), (Values{{kPeople, 1000}, {kCars, 7}}));
  EXPECT_EQ(doc.of("orion_pipeline_frames_taken_total"), (Values{{kPeople, 600}, {kCars, 7}}));
  EXPECT_EQ(doc.of("orion_pipeline_frames_dropped_total"), (Values{{kPeople, 399}, {kCars, 0}}));
  EXPECT_EQ(doc.of("orion_pipeline_results_total"), (Values{{kPeople, 598}, {kCars, 0}}));
  EXPECT_EQ(
      doc.of("orion_pipeline_restarts_total"),
      (Values{{with(kPeople, "reason", "crashed"), 2}, {with(kPeople, "reason", "hung"), 1}}));
  EXPECT_EQ(doc.of("orion_pipeline_violations_total"),
            (Values{{with(kPeople, "code", "result.bad_json"), 4},
                    {with(kPeople, "code", "lease.held_too_long"), 1}}));
  EXPECT_EQ(doc.of("orion_pipeline_last_result_age_seconds"), (Values{{kPeople, 0.125}}));
  EXPECT_EQ(doc.of("orion_pipeline_state"),
            (Values{{with(kPeople, "state", "running"), 1}, {with(kCars, "state", "backoff"), 1}}));
  EXPECT_EQ(doc.of("orion_pipeline_motion_skipped_total"), (Values{{kPeople, 17}}));

  EXPECT_EQ(doc.of("orion_events_written_total"), (Values{{{}, 10}}));
  EXPECT_EQ(doc.of("orion_events_filtered_total"), (Values{{{}, 20}}));
  EXPECT_EQ(doc.of("orion_events_dropped_total"), (Values{{{}, 3}}));
  EXPECT_EQ(doc.of("orion_events_write_errors_total"), (Values{{{}, 1}}));
  EXPECT_EQ(doc.of("orion_events_buffered"), (Values{{{}, 42}}));
  EXPECT_EQ(doc.of("orion_status_rows_pending"), (Values{{{}, 2}}));
  EXPECT_EQ(doc.of("orion_status_row_write_errors_total"), (Values{{{}, 9}}));
  EXPECT_EQ(doc.of("process_cpu_seconds_total"), (Values{{{}, 12.5}}));
  EXPECT_EQ(doc.of("process_resident_memory_bytes"), (Values{{{}, 104857600}}));
  EXPECT_EQ(doc.of("process_start_time_seconds"), (Values{{{}, 1764619989.5}}));

  // Nothing else: 2 streams × 6, people 11, cars 5 (no restarts, violations, age or motion
  // figure), events 5, status writes 2, process 3.
  EXPECT_EQ(doc.series.size(), 12u + 11u + 5u + 5u + 2u + 3u);
  EXPECT_TRUE(doc.comments.empty());
  // Counts are written as integers, not in exponent form.
  EXPECT_EQ(doc.find("orion_pipeline_frames_offered_total", kPeople)->value_text, "1000");
  EXPECT_EQ(doc.find("process_resident_memory_bytes", {})->value_text, "104857600");
}

TEST(Render, CountsAreExactUpToTwoToThe53AndRoundedToFloat64Above) {
  Snapshot s;
  StreamSample big;
  big.stream = "big";
  big.frames_in = (uint64_t{1} << 53) + 1;  // not a float64: documented to round
  big.frames_out = (uint64_t{1} << 53) - 1;
  big.reconnects = uint64_t{1} << 53;
  s.streams = {big};
  const Exposition doc = parsed(render(s));
  const LabelSet labels = {{"stream", "big"}};
  ASSERT_NE(doc.find("orion_stream_frames_out_total", labels), nullptr);
  EXPECT_EQ(doc.find("orion_stream_frames_out_total", labels)->value_text, "9007199254740991");
  EXPECT_EQ(doc.find("orion_stream_reconnects_total", labels)->value_text, "9007199254740992");
  // 2^53+1 is written as the float64 nearest to it (2^53), the value Prometheus would store.
  EXPECT_EQ(doc.find("orion_stream_frames_in_total", labels)->value_text, "9007199254740992");
  EXPECT_EQ(doc.find("orion_stream_frames_in_total", labels)->value,
            static_cast<double>((uint64_t{1} << 53) + 1));
}

TEST(Render, EachRestartReasonIsOneSeriesAndTheirSumIsTheRestarts) {
  Snapshot s;
  PipelineSample p;
  p.pipeline = "p";
  p.restarts = 10;
  p.restart_reasons = {{"crashed", 4}, {"hung", 3}, {"startup_timeout", 1}};
  s.pipelines = {p};
  const Exposition doc = parsed(render(s));
  const LabelSet base = {{"pipeline", "p"}};
  // Two restarts the reasons do not cover: reason="unspecified", so the sum is still 10.
  EXPECT_EQ(doc.of("orion_pipeline_restarts_total"),
            (std::map<LabelSet, double>{{with(base, "reason", "crashed"), 4},
                                        {with(base, "reason", "hung"), 3},
                                        {with(base, "reason", "startup_timeout"), 1},
                                        {with(base, "reason", "unspecified"), 2}}));
}

TEST(Render, APipelineWithoutAResultHasNoAgeSeries) {
  Snapshot s;
  PipelineSample none, nan, fresh;
  none.pipeline = "none";  // -1 by default
  nan.pipeline = "nan";
  nan.last_result_age_s = std::nan("");
  fresh.pipeline = "fresh";
  fresh.last_result_age_s = 0;
  s.pipelines = {none, nan, fresh};
  const Exposition doc = parsed(render(s));
  EXPECT_EQ(doc.of("orion_pipeline_last_result_age_seconds"),
            (std::map<LabelSet, double>{{{{"pipeline", "fresh"}}, 0}}));
  // The pipelines themselves are there.
  EXPECT_EQ(doc.of("orion_pipeline_state").size(), 3u);
}

TEST(Render, EmptyLabelValuesAreLeftOutAndAnEmptyStateIsUnknown) {
  Snapshot s;
  PipelineSample p;
  p.pipeline = "p";  // no stream, no engine, no state
  s.pipelines = {p};
  StreamSample st;
  st.stream = "s";
  s.streams = {st};
  const Exposition doc = parsed(render(s));
  for (const auto& series : doc.series) {
    for (const auto& [name, value] : series.labels) {
      EXPECT_FALSE(value.empty()) << series.name << " has an empty label " << name;
    }
  }
  EXPECT_NE(doc.find("orion_pipeline_state", {{"pipeline", "p"}, {"state", "unknown"}}), nullptr);
  EXPECT_NE(doc.find("orion_stream_state", {{"stream", "s"}, {"state", "unknown"}}), nullptr);
}

TEST(Render, LabelValuesSurviveQuotesBackslashesAndNewlines) {
  Snapshot s;
  StreamSample st;
  st.stream = "cam \"north\" \\ gate\nB";
  st.state = "stalled: \\\"";
  s.streams = {st};
  const Exposition doc = parsed(render(s));
  EXPECT_NE(doc.find("orion_stream_state", {{"stream", st.stream}, {"state", st.state}}), nullptr);
}

TEST(Render, AbsentEventsAndProcessAndAnEmptySnapshotWriteNothing) {
  EXPECT_EQ(render(Snapshot{}), "");
  Snapshot s = two_by_two();
  s.events.present = false;
  s.status_writes.present = false;
  s.process.present = false;
  const Exposition doc = parsed(render(s));
  for (const auto& [name, family] : doc.families) {
    EXPECT_EQ(name.rfind("orion_events_", 0), std::string::npos) << name;
    EXPECT_EQ(name.rfind("process_", 0), std::string::npos) << name;
  }
  EXPECT_EQ(doc.families.count("orion_metrics_store_up"), 0u);
}

TEST(Render, StoreUpIsAGaugeWhenSet) {
  Snapshot s;
  s.store_up = false;
  s.comments = {"stream status not read from the store (store.io)", "two\nlines"};
  const Exposition doc = parsed(render(s));
  ASSERT_TRUE(doc.families.count("orion_metrics_store_up"));
  EXPECT_EQ(doc.families.at("orion_metrics_store_up").type, "gauge");
  EXPECT_EQ(doc.of("orion_metrics_store_up"), (std::map<LabelSet, double>{{{}, 0}}));
  EXPECT_EQ(doc.comments,
            (std::vector<std::string>{"orion: stream status not read from the store (store.io)",
                                      "orion: two lines"}));
  s.store_up = true;
  EXPECT_EQ(parsed(render(s)).of("orion_metrics_store_up"), (std::map<LabelSet, double>{{{}, 1}}));
}

TEST(Render, TwoRendersOfOneSnapshotAreEqualAndSeriesAreSorted) {
  Snapshot s = two_by_two();
  const std::string first = render(s);
  EXPECT_EQ(render(s), first);
  std::swap(s.streams[0], s.streams[1]);
  std::swap(s.pipelines[0], s.pipelines[1]);
  EXPECT_EQ(render(s), first) << "the order of the samples does not show";
  const Exposition doc = parsed(first);
  for (size_t i = 1; i < doc.series.size(); ++i) {
    if (doc.series[i].name == doc.series[i - 1].name) {
      EXPECT_LT(doc.series[i - 1].labels, doc.series[i].labels) << doc.series[i].name;
    }
  }
}

TEST(Render, DuplicateSamplesAreSkippedNotSummed) {
  Snapshot s;
  StreamSample a;
  a.stream = "cam";
  a.frames_in = 5;
  StreamSample again = a;
  again.frames_in = 100;
  PipelineSample p;
  p.pipeline = "p";
  p.offered = 3;
  s.streams = {a, again};
  s.pipelines = {p, p};
  const Exposition doc = parsed(render(s));
  EXPECT_EQ(doc.of("orion_stream_frames_in_total"),
            (std::map<LabelSet, double>{{{{"stream", "cam"}}, 5}}));
  EXPECT_EQ(doc.of("orion_pipeline_frames_offered_total"),
            (std::map<LabelSet, double>{{{{"pipeline", "p"}}, 3}}));
  EXPECT_EQ(doc.comments, (std::vector<std::string>{"orion: skipped 2 duplicate samples"}));
}

// The parser the tests above rely on refuses what the format does not allow.
TEST(ExpositionParser, RefusesMalformedDocuments) {
  EXPECT_TRUE(parse_exposition("# TYPE a counter\na 1\n").ok());
  EXPECT_FALSE(parse_exposition("a 1\n").ok()) << "sample before TYPE";
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na 1").ok()) << "no final newline";
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n").ok());
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na{x=\"\\q\"} 1\n").ok()) << "bad escape";
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na one\n").ok()) << "value";
  EXPECT_FALSE(parse_exposition("# TYPE a counter\n# TYPE b gauge\na 1\nb 1\na 2\n").ok());
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na{x=1} 1\n").ok()) << "unquoted";
  EXPECT_FALSE(parse_exposition("# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n").ok());
  EXPECT_FALSE(parse_exposition("# TYPE a counter\n# TYPE a counter\na 1\n").ok());
}

// ---- read_process_sample --------------------------------------------------------------------

double now_unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(ReadProcessSample, ReadsThisProcess) {
  auto sample = read_process_sample();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_TRUE(sample->present);
  EXPECT_GT(sample->rss_bytes, 0u);
  EXPECT_EQ(sample->rss_bytes % static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)), 0u);
  EXPECT_GE(sample->cpu_seconds, 0);
  // Started before now (btime has whole seconds: up to 1 s early or late), within the last day.
  const double now = now_unix_seconds();
  EXPECT_LE(sample->start_time_seconds, now + 1);
  EXPECT_GT(sample->start_time_seconds, now - 24 * 3600);
}

double process_cpu_clock_seconds() {
  timespec ts{};
  EXPECT_EQ(::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST(ReadProcessSample, CpuTimeGrowsWhileThisThreadBurnsCpuInSeconds) {
  auto before = read_process_sample();
  ASSERT_TRUE(before.ok()) << before.error().to_string();
  // Burn CPU until the kernel's count (clock ticks, usually 10 ms) has moved by 0.1 s: a
  // condition, no sleep; the limit only bounds a failure.
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  volatile uint64_t sink = 0;
  double cpu = before->cpu_seconds;
  while (cpu < before->cpu_seconds + 0.1 && std::chrono::steady_clock::now() < limit) {
    for (int i = 0; i < 1'000'000; ++i) sink = sink + static_cast<uint64_t>(i) * 2654435761u;
    auto now = read_process_sample();
    ASSERT_TRUE(now.ok()) << now.error().to_string();
    cpu = now->cpu_seconds;
  }
  const double clock = process_cpu_clock_seconds();
  EXPECT_GE(cpu, before->cpu_seconds + 0.1);
  // Seconds, not ticks: the kernel's precise CPU clock of this process says the same, within a
  // few ticks.
  EXPECT_NEAR(cpu, clock, 0.05 + 0.1 * clock);
}

class ProcFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "orion-metrics-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    files_.self_stat = write("stat", kStat);
    files_.self_statm = write("statm", "5000 1234 300 10 0 900 0\n");
    files_.system_stat = write("system_stat", "cpu  1 2 3 4\nintr 5\nbtime 1764600000\nctxt 9\n");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // A command name with spaces and parentheses; utime 150, stime 50, starttime 4200.
  static constexpr const char* kStat =
      "1234 (a) b (c) S 1 1 1 0 -1 4194560 100 0 0 0 150 50 7 8 20 0 1 0 4200 1000000 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";

  fs::path dir_;
  ProcFiles files_;
};

TEST_F(ProcFilesTest, ParsesFieldsAfterTheLastParenthesis) {
  auto sample = read_process_sample(files_);
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(sample->cpu_seconds, 200 / ticks);
  EXPECT_EQ(sample->rss_bytes, 1234u * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_DOUBLE_EQ(sample->start_time_seconds, 1764600000 + 4200 / ticks);
  EXPECT_TRUE(sample->present);
}

TEST_F(ProcFilesTest, AMissingFileIsAReadErrorNamingIt) {
  files_.self_statm = (dir_ / "absent").string();
  auto sample = read_process_sample(files_);
  ASSERT_FALSE(sample.ok());
  EXPECT_EQ(sample.error().code, "metrics.proc_read");
  EXPECT_NE(sample.error().message.find(files_.self_statm), std::string::npos)
      << sample.error().message;
}

TEST_F(ProcFilesTest, FilesOfTheWrongShapeAreParseErrorsNamingFileAndField) {
  struct Case {
    std::string file, text, expect;
    std::string ProcFiles::*which;
  };
  const std::vector<Case> cases = {
      {"stat", "1234 no parenthesis 1 2 3\n", "no ')'", &ProcFiles::self_stat},
      {"stat", "1234 (x) S 1 2 3\n", "at least 22", &ProcFiles::self_stat},
      {"stat", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1x 50 0 0 20 0 1 0 4200\n", "field 14 (utime)",
       &ProcFiles::self_stat},
      {"stat", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 50 0 0 20 0 1 0 -5\n", "field 22 (starttime)",
       &ProcFiles::self_stat},
      {"statm", "5000\n", "at least 2", &ProcFiles::self_statm},
      {"statm", "5000 many\n", "field 2 (resident)", &ProcFiles::self_statm},
      {"system_stat", "cpu 1 2 3\n", "no btime", &ProcFiles::system_stat},
      {"system_stat", "btime soon\n", "btime", &ProcFiles::system_stat},
  };
  for (const Case& c : cases) {
    ProcFiles files = files_;
    files.*c.which = write(c.file + "_bad", c.text);
    auto sample = read_process_sample(files);
    ASSERT_FALSE(sample.ok()) << c.text;
    EXPECT_EQ(sample.error().code, "metrics.proc_parse") << c.text;
    EXPECT_NE(sample.error().message.find(files.*c.which), std::string::npos)
        << sample.error().message;
    EXPECT_NE(sample.error().message.find(c.expect), std::string::npos) << sample.error().message;
  }
}

}  // namespace
}  // namespace orion::metrics
