#include "metrics/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <set>
#include <string_view>
#include <utility>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace orion::metrics {

namespace {

// ---- /proc ----------------------------------------------------------------------------------

Result<std::string> read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error("metrics.proc_read", "cannot open " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return make_error("metrics.proc_read", "cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  if (::close(fd) != 0) {
    return make_error("metrics.proc_read", "cannot close " + path + ": " + std::strerror(errno));
  }
  return text;
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    const size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n' && text[i] != '\t') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

// Parses a whole field as an unsigned decimal number.
Result<uint64_t> parse_count(std::string_view field, const std::string& path,
                             const std::string& what) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || end != field.data() + field.size() || field.empty()) {
    return make_error("metrics.proc_parse",
                      path + ": " + what + " is not a count: '" + std::string(field) + "'");
  }
  return value;
}

Result<long> sysconf_positive(int name, const char* what) {
  errno = 0;
  const long value = ::sysconf(name);
  if (value <= 0) {
    return make_error("metrics.sysconf", std::string("sysconf(") + what + ") failed: " +
                                             (errno != 0 ? std::strerror(errno) : "no value"));
  }
  return value;
}

// ---- rendering ------------------------------------------------------------------------------

using prometheus::Labels;

// The families of one render, in the order they are registered (the order of the document:
// prometheus-cpp itself collects every counter before every gauge).
class Document {
 public:
  prometheus::Family<prometheus::Counter>& counter(const std::string& name,
                                                   const std::string& help) {
    order_.push_back(name);
    return prometheus::BuildCounter().Name(name).Help(help).Register(registry_);
  }
  prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help) {
    order_.push_back(name);
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry_);
  }
  prometheus::Family<prometheus::Histogram>& histogram(const std::string& name,
                                                       const std::string& help) {
    order_.push_back(name);
    return prometheus::BuildHistogram().Name(name).Help(help).Register(registry_);
  }

  std::string text() const {
    std::vector<prometheus::MetricFamily> families = registry_.Collect();
    auto rank = [this](const prometheus::MetricFamily& f) {
      return std::find(order_.begin(), order_.end(), f.name) - order_.begin();
    };
    std::stable_sort(families.begin(), families.end(),
                     [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    for (auto& f : families) {
      std::sort(f.metric.begin(), f.metric.end(),
                [](const auto& a, const auto& b) { return a.label < b.label; });
    }
    return prometheus::TextSerializer().Serialize(families);
  }

 private:
  prometheus::Registry registry_;
  std::vector<std::string> order_;
};

// Adds the label unless its value is empty (an empty label is an absent one to Prometheus).
void put_label(Labels& labels, const char* name, const std::string& value) {
  if (!value.empty()) labels.emplace(name, value);
}

Labels with(Labels labels, const char* name, const std::string& value) {
  labels[name] = value;
  return labels;
}

double as_value(uint64_t count) { return static_cast<double>(count); }

// One series of a latency histogram: the exact per-bucket counts and sum, as counted.
void add_histogram(prometheus::Family<prometheus::Histogram>& family, const Labels& labels,
                   const HistogramSample& h) {
  if (h.counts.size() != h.bounds.size() + 1) return;  // malformed sample: left out
  std::vector<double> increments(h.counts.begin(), h.counts.end());
  family.Add(labels, prometheus::Histogram::BucketBoundaries(h.bounds.begin(), h.bounds.end()))
      .ObserveMultiple(increments, h.sum);
}

const char* hop_help(const std::string& hop) {
  if (hop == "output_latency")
    return "Engine-added output latency per frame: decoded to handed to the encoder.";
  if (hop == "decode_to_publish")
    return "Per frame: decoded to published into the stream's supplier.";
  if (hop == "publish_to_composite") return "Per frame: published to overlay drawn.";
  if (hop == "composite_to_encoder") return "Per frame: overlay drawn to accepted by the encoder.";
  if (hop == "frame_age_at_inference")
    return "Per result: frame decoded to inference start (the worker's claim, bounded by the "
           "engine).";
  if (hop == "inference")
    return "Per result: inference time (the worker's claim, bounded by the engine).";
  if (hop == "result_latency")
    return "Per result: frame decoded to result back at the engine (engine-measured).";
  if (hop == "result_age_drawn")
    return "Per picture and drawn result: the result's frame decoded to the picture composited.";
  return "Latency.";
}

std::string state_or_unknown(const std::string& state) { return state.empty() ? "unknown" : state; }

void render_streams(Document& doc, const std::vector<StreamSample>& streams, size_t& duplicates) {
  auto& frames_in = doc.counter("orion_stream_frames_in_total",
                                "Frames captured from the stream's source, over all attempts.");
  auto& frames_out = doc.counter("orion_stream_frames_out_total",
                                 "Frames of the stream sent to its annotated output.");
  auto& fps_in = doc.gauge("orion_stream_fps_in",
                           "Frames per second captured from the source, as the engine measures.");
  auto& fps_out = doc.gauge("orion_stream_fps_out",
                            "Frames per second sent to the output, as the engine measures.");
  auto& reconnects = doc.counter("orion_stream_reconnects_total",
                                 "Times the stream's capture was started again after the first.");
  auto& state = doc.gauge("orion_stream_state",
                          "1 for the stream's current state (label state); one series per stream.");
  std::set<Labels> seen;
  for (const StreamSample& s : streams) {
    Labels labels;
    put_label(labels, "stream", s.stream);
    put_label(labels, "engine", s.engine);
    if (!seen.insert(labels).second) {
      ++duplicates;
      continue;
    }
    frames_in.Add(labels).Increment(as_value(s.frames_in));
    frames_out.Add(labels).Increment(as_value(s.frames_out));
    fps_in.Add(labels).Set(s.fps_in);
    fps_out.Add(labels).Set(s.fps_out);
    reconnects.Add(labels).Increment(as_value(s.reconnects));
    state.Add(with(labels, "state", state_or_unknown(s.state))).Set(1);
  }
  for (const char* hop : kStreamHops) {
    bool any = false;
    for (const StreamSample& s : streams) any = any || s.latency.count(hop);
    if (!any) continue;
    auto& family = doc.histogram(std::string("orion_stream_") + hop + "_seconds", hop_help(hop));
    std::set<Labels> done;
    for (const StreamSample& s : streams) {
      auto it = s.latency.find(hop);
      if (it == s.latency.end()) continue;
      Labels labels;
      put_label(labels, "stream", s.stream);
      put_label(labels, "engine", s.engine);
      if (done.insert(labels).second) add_histogram(family, labels, it->second);
    }
  }
}

void render_engines(Document& doc, const std::vector<EngineSample>& engines,
                    const std::vector<StreamOwnerSample>& owners) {
  if (engines.empty() && owners.empty()) return;
  auto& up = doc.gauge("orion_engine_up",
                       "1 while the engine's heartbeat lease is alive (label state: running, "
                       "draining, gone).");
  auto& held = doc.gauge("orion_engine_streams_held", "Streams whose live lease names the engine.");
  auto& capacity =
      doc.gauge("orion_engine_max_streams", "Streams the engine takes at most; 0 = no limit.");
  auto& age = doc.gauge("orion_engine_heartbeat_age_seconds",
                        "Seconds since the engine's last heartbeat (its lease round).");
  for (const EngineSample& e : engines) {
    Labels labels;
    put_label(labels, "engine", e.engine);
    up.Add(with(labels, "state", state_or_unknown(e.state))).Set(e.up ? 1 : 0);
    held.Add(labels).Set(static_cast<double>(e.streams_held));
    capacity.Add(labels).Set(static_cast<double>(e.max_streams));
    age.Add(labels).Set(e.heartbeat_age_s);
  }
  auto& owner = doc.gauge("orion_stream_owner",
                          "1 per leased stream: its owner engine now (label engine, \"\" = none), "
                          "the output URL to view it at, and the lease epoch.");
  for (const StreamOwnerSample& o : owners) {
    Labels labels;
    put_label(labels, "stream", o.stream);
    labels["engine"] = o.engine;
    labels["output_url"] = o.output_url;
    labels["epoch"] = std::to_string(o.epoch);
    owner.Add(labels).Set(1);
  }
}

void render_pipelines(Document& doc, const std::vector<PipelineSample>& pipelines,
                      size_t& duplicates) {
  auto& offered = doc.counter("orion_pipeline_frames_offered_total",
                              "Frames offered to the pipeline's worker (its mailbox).");
  auto& taken = doc.counter("orion_pipeline_frames_taken_total",
                            "Frames the pipeline's worker took from its mailbox.");
  auto& dropped = doc.counter("orion_pipeline_frames_dropped_total",
                              "Frames overwritten in the mailbox before the worker took them.");
  auto& results =
      doc.counter("orion_pipeline_results_total", "Results accepted from the pipeline's workers.");
  auto& restarts =
      doc.counter("orion_pipeline_restarts_total", "Worker restarts of the pipeline, by reason.");
  auto& violations = doc.counter("orion_pipeline_violations_total",
                                 "Protocol violations by the pipeline's workers, by code.");
  auto& age = doc.gauge("orion_pipeline_last_result_age_seconds",
                        "Seconds since the pipeline's newest result; absent before the first.");
  auto& state = doc.gauge("orion_pipeline_state",
                          "1 for the pipeline's current state (label state); one series each.");
  auto& motion_skipped =
      doc.counter("orion_pipeline_motion_skipped_total",
                  "Frames the pipeline's motion gate kept from the detector for lack of motion.");
  std::set<Labels> seen;
  for (const PipelineSample& p : pipelines) {
    Labels labels;
    put_label(labels, "pipeline", p.pipeline);
    put_label(labels, "stream", p.stream);
    put_label(labels, "engine", p.engine);
    if (!seen.insert(labels).second) {
      ++duplicates;
      continue;
    }
    offered.Add(labels).Increment(as_value(p.offered));
    taken.Add(labels).Increment(as_value(p.taken));
    dropped.Add(labels).Increment(as_value(p.dropped));
    results.Add(labels).Increment(as_value(p.results));
    uint64_t by_reason = 0;
    for (const auto& [reason, count] : p.restart_reasons) {
      restarts.Add(with(labels, "reason", reason)).Increment(as_value(count));
      by_reason += count;
    }
    if (p.restarts > by_reason) {
      restarts.Add(with(labels, "reason", "unspecified"))
          .Increment(as_value(p.restarts - by_reason));
    }
    for (const auto& [code, count] : p.violations) {
      violations.Add(with(labels, "code", code)).Increment(as_value(count));
    }
    if (p.last_result_age_s >= 0) age.Add(labels).Set(p.last_result_age_s);  // false for NaN
    state.Add(with(labels, "state", state_or_unknown(p.state))).Set(1);
    if (p.motion_skipped) motion_skipped.Add(labels).Increment(as_value(*p.motion_skipped));
  }
  bool any_clamped = false;
  for (const PipelineSample& p : pipelines)
    any_clamped = any_clamped || p.latency_clamped.has_value();
  if (any_clamped) {
    auto& clamped = doc.counter(
        "orion_pipeline_latency_clamped_total",
        "Results whose worker-claimed times fell outside the engine's bounds (clamped).");
    std::set<Labels> done;
    for (const PipelineSample& p : pipelines) {
      if (!p.latency_clamped) continue;
      Labels labels;
      put_label(labels, "pipeline", p.pipeline);
      put_label(labels, "stream", p.stream);
      put_label(labels, "engine", p.engine);
      if (done.insert(labels).second) clamped.Add(labels).Increment(as_value(*p.latency_clamped));
    }
  }
  for (const char* hop : kPipelineHops) {
    bool any = false;
    for (const PipelineSample& p : pipelines) any = any || p.latency.count(hop);
    if (!any) continue;
    auto& family = doc.histogram(std::string("orion_pipeline_") + hop + "_seconds", hop_help(hop));
    std::set<Labels> done;
    for (const PipelineSample& p : pipelines) {
      auto it = p.latency.find(hop);
      if (it == p.latency.end()) continue;
      Labels labels;
      put_label(labels, "pipeline", p.pipeline);
      put_label(labels, "stream", p.stream);
      put_label(labels, "engine", p.engine);
      if (done.insert(labels).second) add_histogram(family, labels, it->second);
    }
  }
}

void render_events(Document& doc, const EventsSample& e) {
  if (!e.present) return;
  doc.counter("orion_events_written_total", "Detection events written to the store.")
      .Add({})
      .Increment(as_value(e.written));
  doc.counter("orion_events_filtered_total",
              "Detections kept out of the store by their pipeline's event policy.")
      .Add({})
      .Increment(as_value(e.filtered));
  doc.counter("orion_events_dropped_total",
              "Events the event writer gave up before they reached the store.")
      .Add({})
      .Increment(as_value(e.dropped));
  doc.counter("orion_events_write_errors_total", "Writes of events to the store that failed.")
      .Add({})
      .Increment(as_value(e.write_errors));
  doc.gauge("orion_events_buffered",
            "Events held by the event writer for the store (waiting, or being written).")
      .Add({})
      .Set(as_value(e.buffered));
}

void render_status_writes(Document& doc, const StatusWritesSample& w) {
  if (!w.present) return;
  doc.gauge("orion_status_rows_pending",
            "Status rows (and heartbeat) the last round could not write to the store.")
      .Add({})
      .Set(as_value(w.rows_pending));
  doc.counter("orion_status_row_write_errors_total",
              "Writes of status rows to the store that failed (each superseded by a later one).")
      .Add({})
      .Increment(as_value(w.row_write_errors));
}

void render_process(Document& doc, const ProcessSample& p) {
  if (!p.present) return;
  doc.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
      .Add({})
      .Increment(p.cpu_seconds);
  doc.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
      .Add({})
      .Set(as_value(p.rss_bytes));
  doc.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
      .Add({})
      .Set(p.start_time_seconds);
}

std::string render_or_throw(const Snapshot& snapshot) {
  Document doc;
  size_t duplicates = 0;
  render_engines(doc, snapshot.engines, snapshot.owners);
  render_streams(doc, snapshot.streams, duplicates);
  render_pipelines(doc, snapshot.pipelines, duplicates);
  render_events(doc, snapshot.events);
  render_status_writes(doc, snapshot.status_writes);
  render_process(doc, snapshot.process);
  if (snapshot.store_up.has_value()) {
    doc.gauge("orion_metrics_store_up",
              "1 if the stream and pipeline status could be read from the store, 0 if not.")
        .Add({})
        .Set(*snapshot.store_up ? 1 : 0);
  }
  std::string text = doc.text();
  if (duplicates > 0) {
    text += "# orion: skipped " + std::to_string(duplicates) + " duplicate samples\n";
  }
  for (std::string comment : snapshot.comments) {
    std::replace(comment.begin(), comment.end(), '\n', ' ');
    std::replace(comment.begin(), comment.end(), '\r', ' ');
    text += "# orion: " + comment + "\n";
  }
  return text;
}

}  // namespace

Result<ProcessSample> read_process_sample() { return read_process_sample(ProcFiles{}); }

Result<ProcessSample> read_process_sample(const ProcFiles& files) {
  auto ticks = sysconf_positive(_SC_CLK_TCK, "_SC_CLK_TCK");
  if (!ticks) return ticks.error();
  auto page = sysconf_positive(_SC_PAGESIZE, "_SC_PAGESIZE");
  if (!page) return page.error();

  // /proc/[pid]/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so the
  // fields are counted from the last ')'. Field 14 utime, 15 stime, 22 starttime (clock ticks;
  // starttime since boot) are tokens 11, 12 and 19 after it.
  auto stat = read_whole_file(files.self_stat);
  if (!stat) return stat.error();
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos) {
    return make_error("metrics.proc_parse", files.self_stat + ": no ')' closing the command name");
  }
  const auto fields = split_fields(std::string_view(*stat).substr(paren + 1));
  if (fields.size() < 20) {
    return make_error("metrics.proc_parse", files.self_stat + ": " +
                                                std::to_string(fields.size() + 2) +
                                                " fields, at least 22 expected");
  }
  auto utime = parse_count(fields[11], files.self_stat, "field 14 (utime)");
  if (!utime) return utime.error();
  auto stime = parse_count(fields[12], files.self_stat, "field 15 (stime)");
  if (!stime) return stime.error();
  auto start = parse_count(fields[19], files.self_stat, "field 22 (starttime)");
  if (!start) return start.error();

  // /proc/[pid]/statm: "size resident shared text lib data dt", in pages.
  auto statm = read_whole_file(files.self_statm);
  if (!statm) return statm.error();
  const auto mem = split_fields(*statm);
  if (mem.size() < 2) {
    return make_error("metrics.proc_parse", files.self_statm + ": " + std::to_string(mem.size()) +
                                                " fields, at least 2 expected");
  }
  auto resident = parse_count(mem[1], files.self_statm, "field 2 (resident)");
  if (!resident) return resident.error();

  // /proc/stat: the line "btime SECONDS" (boot time, Unix seconds).
  auto system = read_whole_file(files.system_stat);
  if (!system) return system.error();
  std::optional<uint64_t> btime;
  std::string_view rest = *system;
  while (!rest.empty() && !btime) {
    const size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    const auto words = split_fields(line);
    if (words.size() == 2 && words[0] == "btime") {
      auto value = parse_count(words[1], files.system_stat, "btime");
      if (!value) return value.error();
      btime = *value;
    }
  }
  if (!btime) return make_error("metrics.proc_parse", files.system_stat + ": no btime line");

  ProcessSample sample;
  const double tick_s = 1.0 / static_cast<double>(*ticks);
  sample.cpu_seconds = static_cast<double>(*utime + *stime) * tick_s;
  sample.rss_bytes = *resident * static_cast<uint64_t>(*page);
  sample.start_time_seconds = static_cast<double>(*btime) + static_cast<double>(*start) * tick_s;
  sample.present = true;
  return sample;
}

std::string render(const Snapshot& snapshot) {
  try {
    return render_or_throw(snapshot);
  } catch (const std::exception& e) {
    return std::string("# orion: metrics could not be rendered: ") + e.what() + "\n";
  }
}

}  // namespace orion::metrics
