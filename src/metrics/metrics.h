// Metrics: Orion's figures in the Prometheus text exposition format (version 0.0.4), for
// GET /metrics (api::ServerOptions::metrics). docs/design/metrics.md lists every metric.
//
// Who does what: whoever owns the figures (the engine: its own counters, never a worker's claim;
// `orion api`: the status rows engines wrote to the store, metrics/from_status.h) fills a
// Snapshot of plain sample structs; render() turns it into text. Nothing here keeps state
// between calls: each render() builds a fresh prometheus::Registry, registers the families,
// sets every series to its absolute value (counters through Counter::Increment(value) on a fresh
// counter, gauges through Gauge::Set) and serialises it with prometheus::TextSerializer.
// prometheus-cpp stays inside this module (metrics.cc); this header needs none of it.
//
// Conventions of the text (docs/design/metrics.md says why):
// - Labels: `stream`, `pipeline`, `engine`. A label whose value would be empty is left out
//   (Prometheus treats an empty label as an absent one): `engine` when the sample has none,
//   `stream` on a pipeline that does not say its stream (from_status()).
// - fps: two gauges, orion_stream_fps_in and orion_stream_fps_out (like the two frame counters;
//   a sum over a `direction` label would mean nothing).
// - State: one series per stream / pipeline, orion_*_state{state="<current>"} 1; when the state
//   changes the old series disappears. An empty state string is written as "unknown".
// - Restarts: one series per reason; when `restarts` exceeds the sum over the reasons, the rest
//   is reason="unspecified", so the sum of the series is always `restarts`. Violations: one
//   series per code. A pipeline without restarts or violations has no such series.
// - orion_pipeline_last_result_age_seconds is left out while there is no result yet (age < 0 or
//   not a number).
// - Events and process families are written only when their sample is `present`, the store
//   gauge only when `store_up` is set. A family with no series at all (e.g. no streams) is not
//   written, not even its HELP and TYPE lines (prometheus-cpp drops empty families).
// - Order: families in the order of docs/design/metrics.md, series of a family sorted by their
//   labels, so two renders of one Snapshot are byte-for-byte equal.
// - Precision: every value is a float64, as in Prometheus' own data model, written with 16
//   significant digits by TextSerializer. Counts up to 2^53 (9007199254740992) are exact; above
//   that they are rounded to the nearest float64 (2^53+1 is written as 9007199254740992).
// - Duplicates: samples of one kind with the same label set (same stream and engine, or same
//   pipeline, stream and engine) are a caller's mistake; the first one is rendered, the others
//   are skipped and counted in a comment line at the end ("# orion: skipped N duplicate
//   samples"), never summed.
// - Label values and comments are written as given (escaped as the format says); HELP texts are
//   constants of this module.
//
// Thread-safety: the structs are value types (thread-compatible); render() and
// read_process_sample() are thread-safe (no shared state), so GET /metrics may call them from
// several HTTP threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace orion::metrics {

// A latency histogram the engine counted (engine/latency_book.h): every frame, none sampled.
// Rendered as a Prometheus histogram orion_<stream|pipeline>_<hop>_seconds.
struct HistogramSample {
  std::vector<double> bounds;    // bucket upper bounds, seconds, increasing (+Inf implied)
  std::vector<uint64_t> counts;  // per bucket, NOT cumulative: bounds.size() + 1 entries
  double sum = 0;                // seconds
};

// The hops a StreamSample / PipelineSample may carry, in the order they are rendered.
inline constexpr const char* kStreamHops[] = {"output_latency", "decode_to_publish",
                                              "publish_to_composite", "composite_to_encoder"};
inline constexpr const char* kPipelineHops[] = {"frame_age_at_inference", "inference",
                                                "result_latency", "result_age_drawn"};

// One stream's capture and output, as its engine counts them.
struct StreamSample {
  std::string stream;
  std::string engine;       // engine id; "" = not said (label left out)
  std::string state;        // connecting | live | retrying | stalled | failed | ... ("" = unknown)
  uint64_t frames_in = 0;   // frames captured (published into the stream's pool), all attempts
  uint64_t frames_out = 0;  // frames sent to the output encoder
  uint64_t reconnects = 0;  // times the capture was started again (attempts after the first)
  double fps_in = 0, fps_out = 0;
  std::map<std::string, HistogramSample> latency;  // by hop (kStreamHops); empty: none
};

// One pipeline (model × stream × worker), as the engine's supervisor counts it.
struct PipelineSample {
  std::string pipeline;
  std::string stream;  // "" = not said (label left out)
  std::string engine;  // "" = not said (label left out)
  std::string state;   // starting | running | backoff | failed | stopped | ... ("" = unknown)
  uint64_t offered = 0, taken = 0, dropped = 0;     // frames offered to / taken by / dropped for it
  uint64_t results = 0;                             // results accepted from its workers
  uint64_t restarts = 0;                            // worker restarts, all reasons
  std::map<std::string, uint64_t> restart_reasons;  // reason → restarts
  std::map<std::string, uint64_t> violations;       // violation code → count
  double last_result_age_s = -1;                    // < 0: no result yet
  // Frames its motion gate kept from the detector (0 with the gate off: a true 0). nullopt: not
  // known to this process (the store has no such figure); the series is left out rather than
  // written as a 0 nobody counted.
  std::optional<uint64_t> motion_skipped;
  std::map<std::string, HistogramSample> latency;  // by hop (kPipelineHops); empty: none
  std::optional<uint64_t> latency_clamped;         // results whose claimed times were clamped
};

// The engine's event writer (detections → store events), as it counts them.
struct EventsSample {
  uint64_t written = 0;       // events stored
  uint64_t filtered = 0;      // detections the pipeline's event policy kept out
  uint64_t dropped = 0;       // events given up before the store (e.g. the writer's queue full)
  uint64_t write_errors = 0;  // writes to the store that failed
  uint64_t buffered = 0;      // events held for the store now (queued, or being written)
  bool present = false;       // false: no event writer in this process (families left out)
};

// The engine's status rows (stream/pipeline status, heartbeat) while the store may be away.
struct StatusWritesSample {
  uint64_t rows_pending = 0;      // rows the last round could not write (rewritten fresh)
  uint64_t row_write_errors = 0;  // failed row writes in all
  bool present = false;           // false: no status reporter in this process
};

// This process (read_process_sample()).
struct ProcessSample {
  double cpu_seconds = 0;         // user + system CPU time
  uint64_t rss_bytes = 0;         // resident set size
  double start_time_seconds = 0;  // Unix time the process started
  bool present = false;           // false: families left out
};

// Scale-out (docs/design/scale_out.md), read from the store by `orion api`: one engine...
struct EngineSample {
  std::string engine;
  std::string state;  // running | draining | gone (its heartbeat lease expired)
  bool up = false;    // heartbeat lease alive
  int64_t streams_held = 0;
  int64_t max_streams = 0;  // 0 = no limit declared
  double heartbeat_age_s = 0;
};

// ... and which engine owns each leased stream now, with the output URL a viewer should use
// ("" while the stream moves or waits for an owner).
struct StreamOwnerSample {
  std::string stream;
  std::string engine;      // "" = no live owner
  std::string output_url;  // "" = not known yet
  int64_t epoch = 0;
};

struct Snapshot {
  std::vector<EngineSample> engines;
  std::vector<StreamOwnerSample> owners;
  std::vector<StreamSample> streams;
  std::vector<PipelineSample> pipelines;
  EventsSample events;
  StatusWritesSample status_writes;
  ProcessSample process;
  // Set by a process that reads the figures from the store (`orion api`, from_status.h):
  // orion_metrics_store_up 1 when the status could be read, 0 when it could not (then the
  // stream and pipeline series are missing or partial). Unset: no such series.
  std::optional<bool> store_up;
  // Comment lines for whoever reads the page, written at the end as "# orion: <text>" (newlines
  // in a text become spaces). Prometheus ignores them. Say what is missing and why (an error
  // code), never a secret: the page is readable by anyone who may scrape it.
  std::vector<std::string> comments;
};

// Reads this process's CPU time and start time from /proc/self/stat, its RSS from
// /proc/self/statm and the boot time (`btime`) from /proc/stat, the way Prometheus' own
// clients do. Returns present = true. Errors: "metrics.proc_read" (a file could not be opened
// or read), "metrics.proc_parse" (a file did not have the expected fields) — the message names
// the file and the field — and "metrics.sysconf" (no clock tick rate or page size).
Result<ProcessSample> read_process_sample();

// The same from other files of the same formats (tests).
struct ProcFiles {
  std::string self_stat = "/proc/self/stat";
  std::string self_statm = "/proc/self/statm";
  std::string system_stat = "/proc/stat";
};
Result<ProcessSample> read_process_sample(const ProcFiles& files);

// The text exposition format 0.0.4 of `snapshot` (Content-Type: text/plain; version=0.0.4).
// Never fails for any Snapshot; should prometheus-cpp throw anyway (out of memory), the answer
// is a comment line "# orion: metrics could not be rendered: <what>" and nothing else.
std::string render(const Snapshot& snapshot);

}  // namespace orion::metrics
