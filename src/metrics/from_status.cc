#include "metrics/from_status.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace orion::metrics {
namespace {

// "2026-12-01T20:13:09.123Z" (the store's times) → Unix ms.
std::optional<int64_t> parse_iso8601(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &sec, &ms) != 7)
    return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  y -= mo <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = int64_t{era} * 146097 + static_cast<int64_t>(doe) - 719468;
  return ((days * 24 + h) * 60 + mi) * 60'000 + int64_t{sec} * 1000 + ms;
}

}  // namespace

Snapshot from_status(const std::vector<store::StreamStatusRecord>& streams,
                     const std::vector<store::PipelineStatusRecord>& pipelines) {
  Snapshot snapshot;
  snapshot.streams.reserve(streams.size());
  for (const store::StreamStatusRecord& r : streams) {
    StreamSample s;
    s.stream = r.stream;
    s.engine = r.engine_id;
    s.state = r.state;
    s.frames_in = r.frames_in;
    s.frames_out = r.frames_out;
    s.reconnects = r.reconnects;
    s.fps_in = r.fps_in;
    s.fps_out = r.fps_out;
    snapshot.streams.push_back(std::move(s));
  }
  snapshot.pipelines.reserve(pipelines.size());
  for (const store::PipelineStatusRecord& r : pipelines) {
    PipelineSample p;
    p.pipeline = r.pipeline;
    p.engine = r.engine_id;
    p.state = r.state;
    p.offered = r.offered;
    p.taken = r.taken;
    p.dropped = r.dropped;
    p.results = r.results;
    p.restarts = r.restarts;
    p.restart_reasons = r.restart_reasons;
    p.violations = r.violations;
    p.last_result_age_s = r.last_result_age_s;
    snapshot.pipelines.push_back(std::move(p));
  }
  return snapshot;
}

Snapshot snapshot_from_store(store::Store& store) {
  auto streams = store.list_stream_status();
  auto pipelines = store.list_pipeline_status();
  static const std::vector<store::StreamStatusRecord> kNoStreams;
  static const std::vector<store::PipelineStatusRecord> kNoPipelines;
  Snapshot snapshot =
      from_status(streams ? *streams : kNoStreams, pipelines ? *pipelines : kNoPipelines);
  // Engines and owners (scale-out); not asked for when the store is already known down.
  const bool reachable = streams.ok() && pipelines.ok();
  auto engines = reachable
                     ? store.list_engines()
                     : Result<std::vector<store::EngineRecord>>(make_error("store.io", "not read"));
  auto loads = reachable
                   ? store.list_engine_loads()
                   : Result<std::vector<store::EngineLoad>>(make_error("store.io", "not read"));
  auto leases = reachable
                    ? store.list_leases()
                    : Result<std::vector<store::LeaseRecord>>(make_error("store.io", "not read"));
  if (engines && loads && leases) {
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    std::map<std::string, std::string> rtsp_of;
    for (const auto& e : *engines) {
      EngineSample s;
      s.engine = e.id;
      s.state = e.state;
      s.max_streams = e.max_streams;
      for (const auto& l : *loads) {
        if (l.id != e.id) continue;
        s.up = l.live;
        s.streams_held = l.held;
        if (!l.live) s.state = "gone";
      }
      if (auto t = parse_iso8601(e.heartbeat_at)) s.heartbeat_age_s = (now_ms - *t) / 1000.0;
      snapshot.engines.push_back(std::move(s));
    }
    std::map<std::string, const store::StreamStatusRecord*> status_of;
    if (streams)
      for (const auto& r : *streams) status_of[r.stream] = &r;
    for (const auto& l : *leases) {
      if (l.epoch == 0) continue;  // never leased
      StreamOwnerSample o;
      o.stream = l.stream;
      o.epoch = l.epoch;
      if (!l.engine_id.empty() && l.expires_in_ms > 0) o.engine = l.engine_id;
      auto st = status_of.find(l.stream);
      if (!o.engine.empty() && st != status_of.end() && st->second->engine_id == o.engine &&
          st->second->epoch == l.epoch)
        o.output_url = st->second->output_url;
      snapshot.owners.push_back(std::move(o));
    }
  } else if (reachable) {
    snapshot.comments.push_back("engines and leases not read from the store");
  }
  snapshot.store_up = streams.ok() && pipelines.ok();
  if (!streams) {
    snapshot.comments.push_back("stream status not read from the store (" + streams.error().code +
                                ")");
  }
  if (!pipelines) {
    snapshot.comments.push_back("pipeline status not read from the store (" +
                                pipelines.error().code + ")");
  }
  auto process = read_process_sample();
  if (process) {
    snapshot.process = *process;
  } else {
    snapshot.comments.push_back("process figures not read (" + process.error().code + ")");
  }
  return snapshot;
}

}  // namespace orion::metrics
