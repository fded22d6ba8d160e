// Resources: the JSON form of streams, models and pipelines, and every check an input must
// pass before it reaches the store. One validator for every door: the REST API and the YAML
// `--config` import (YAML converted to JSON, with the file's name as the Source label) get the
// same checks and the same messages. Nothing here knows about HTTP.
//
// JSON fields (POST body; GET answers add `version`, `updated_at` and the read-only status
// fields of api/service.h):
//   stream    name*, url*, enabled (true), loop (false), tls_verify (true), stall_timeout_s
//             (0 = the engine's default, else 0.5..3600: connected but silent this long → stalled)
//   model     name*, kind* (yolov8 | yolox | torch_yolov8 | torch_yolox | hog | fake), path
//             (required for yolov8/yolox/torch_*, not taken for hog/fake), input_width,
//             input_height (0 = the model's own, else 32..4096), class_names (list of strings;
//             empty = the model's own / COCO), threads (0 = the backend's default, else 1..1024
//             inference threads), device (core/device.h: "cpu", "cuda:N" or "cuda" = "cuda:0";
//             stored and shown canonical; default the kind's: "cuda:0" for torch_*, "cpu" for
//             the others; a device the kind cannot run on is refused — the OpenCV DNN and HOG
//             kinds and fake take only "cpu", torch_* only CUDA devices; ADR 0092. A PATCH that
//             changes the kind keeps the stored device, so moving between a CPU and a GPU kind
//             must give the device too, or null for the new kind's default)
//   pipeline  name*, stream*, model*, sla (critical | best_effort; "best-effort" is read as
//             best_effort), min_score (0.25, [0,1]), iou (0.45, [0,1]), classes (names or ids;
//             empty = all), enabled (true), motion_gate (false | true | {enabled, min_motion
//             [0,1], analysis_width 1..1e6, history 1..1e6, max_skipped_in_row 0..1e6}),
//             events ({enabled, classes, min_score [0,1], min_interval_ms 0..86400000}),
//             worker_command (list of strings; only where Source::allow_worker_command: it names a
//             program the engine runs, so the REST API refuses it and the config file may set it)
// (* required)
//
// Checks: names are 1..64 of [A-Za-z0-9_.-], not starting with '.' (so never "..", "../x",
// NUL or a control character: a stream's name is its RTSP output path); URLs are at most 2048
// bytes without control characters, with a scheme of rtsp, rtsps, file, test, v4l2 or a plain
// path, and then parsed the way the engine will (media::parse_source_url: a test pattern's
// parameters, an rtsp host, an absolute file:// path); an rtsp URL whose password is "***" (a
// redacted URL sent back) is refused. Unknown fields, wrong JSON types, null and fields the
// server sets (version, updated_at, state, ...) are refused. Every error names its field, and
// URLs in messages are redacted.
//
// PATCH bodies are JSON Merge Patch (RFC 7396) over the current record: fields given replace
// the stored ones, null resets a field to its default, nested objects (events, motion_gate)
// merge; `version` in the body is the version the client read; `name` may be repeated but not
// changed; a url equal to the redacted form of the stored one keeps the stored one (so a
// client that sends back what GET showed does not overwrite the password with "***").
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/api_error.h"
#include "store/store.h"

namespace orion::api {

inline constexpr size_t kMaxNameLength = 64;
inline constexpr size_t kMaxUrlLength = 2048;
inline constexpr size_t kMaxPathLength = 4096;
inline constexpr size_t kMaxClasses = 1000;
inline constexpr size_t kMaxClassNameLength = 128;
inline constexpr size_t kMaxWorkerArgs = 64;
inline constexpr int kMaxJsonDepth = 32;
inline constexpr int kMinInputSize = 32, kMaxInputSize = 4096;
inline constexpr int kMaxModelThreads = 1024;
inline constexpr int64_t kMaxEventIntervalMs = 86'400'000;
inline constexpr int kMaxEventLimit = 1000, kDefaultEventLimit = 100;

// Where an input came from, for messages and field paths.
struct Source {
  std::string label = "request body";  // "request body", "orion.yaml", ...
  std::string prefix;                  // field path prefix ("streams[2]"); "" for the API
  bool allow_worker_command = false;   // true only for the operator's own config file
};

// Text → JSON. Refuses malformed JSON (message with the byte offset), duplicate keys in an
// object, and nesting deeper than kMaxJsonDepth. Error: api.malformed_json.
Checked<nlohmann::json> parse_json_text(std::string_view text, const Source& src = {});

// Name rules above; `field` names it in the error (api.invalid_field / api.wrong_type).
Checked<std::string> check_name(const nlohmann::json& value, const std::string& field,
                                const Source& src = {});
// The same rules for a name given as text (a path segment or a query parameter).
Checked<std::string> check_name_text(std::string_view name, const std::string& field,
                                     const Source& src = {});

// A stream URL as above.
Checked<std::string> check_stream_url(std::string_view url, const std::string& field,
                                      const Source& src = {});

// Full records from a create body (every default filled in; version 0).
Checked<store::StreamRecord> stream_from_json(const nlohmann::json& j, const Source& src = {});
Checked<store::ModelRecord> model_from_json(const nlohmann::json& j, const Source& src = {});
Checked<store::PipelineRecord> pipeline_from_json(const nlohmann::json& j, const Source& src = {});

// A whole config document (the YAML `--config` file converted to JSON):
//   {"streams": [...], "models": [...], "pipelines": [...]}   (each list optional, null = empty)
// Every entry is checked as a create body with the field prefix "streams[2]" (after
// Source::prefix); unknown top-level keys, a list that is not a list, and a name given twice in
// one list are refused; a pipeline must name a stream and a model of the same document (as
// `orion up --config` always required). Paths are taken as given: resolving relative ones
// against the file's folder is the loader's job, before or after.
struct DesiredState {
  std::vector<store::StreamRecord> streams;
  std::vector<store::ModelRecord> models;
  std::vector<store::PipelineRecord> pipelines;
};
Checked<DesiredState> desired_state_from_json(const nlohmann::json& root, const Source& src);

// A PATCH body applied to the current record. `version` is the one found in the body, if any.
template <class R>
struct Patched {
  R record;
  std::optional<int64_t> version;
};
Checked<Patched<store::StreamRecord>> patch_stream(const store::StreamRecord& current,
                                                   const nlohmann::json& patch,
                                                   const Source& src = {});
Checked<Patched<store::ModelRecord>> patch_model(const store::ModelRecord& current,
                                                 const nlohmann::json& patch,
                                                 const Source& src = {});
Checked<Patched<store::PipelineRecord>> patch_pipeline(const store::PipelineRecord& current,
                                                       const nlohmann::json& patch,
                                                       const Source& src = {});

// Answers: the desired fields plus version and updated_at; the stream URL redacted.
nlohmann::json to_json(const store::StreamRecord& r);
nlohmann::json to_json(const store::ModelRecord& r);
nlohmann::json to_json(const store::PipelineRecord& r);

// `GET events` query parameters: stream, pipeline (names), since (Unix ms, or ISO 8601 UTC),
// after (cursor, an event id >= 0), limit (1..1000, default 100). Anything else is refused.
Checked<store::EventQuery> event_query_from_params(
    const std::vector<std::pair<std::string, std::string>>& params);

// A version from the body, a query or an If-Match header ("3", "\"3\"", W/"3"): >= 1.
Checked<int64_t> parse_version_text(std::string_view text, const std::string& field);

// "2026-12-01T20:18:00Z", "2026-12-01 20:18:00.123", "...+00:00" → Unix ms; nullopt if not one.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);
std::string format_iso8601_ms(int64_t unix_ms);  // "2026-12-01T20:18:00.123Z"

// Recursively redacts every string value of `j` (api/redact.h): the last pass over
// every answer, so a status row's last_error carrying a camera URL never shows its password.
void redact_json(nlohmann::json& j);

}  // namespace orion::api
