// from_status: the Snapshot of a process that has no engine in it (`orion api`), made from the
// status rows the engines write to the store (store::StreamStatusRecord,
// store::PipelineStatusRecord). The figures are the engines' own counters, as of each row's
// updated_at; this process adds only its own process figures.
//
// Mapping (field for field; what a record does not have stays unset):
//   StreamStatusRecord   stream, engine_id → engine, state, frames_in, frames_out, reconnects,
//                        fps_in, fps_out (last_error, output_url, updated_at are not metrics)
//   PipelineStatusRecord pipeline, engine_id → engine, state, offered, taken, dropped, results,
//                        restarts, restart_reasons, violations, last_result_age_s
//                        (-1: no result yet); stream "" (the record has none: label left out),
//                        motion_skipped nullopt (not stored: series left out)
//
// Thread-safety: from_status() is a pure function. snapshot_from_store() is as thread-safe as
// the Store (every Store method is), so GET /metrics may call it from several threads at once;
// the Store must outlive the call.
#pragma once

#include <vector>

#include "metrics/metrics.h"
#include "store/store.h"

namespace orion::metrics {

Snapshot from_status(const std::vector<store::StreamStatusRecord>& streams,
                     const std::vector<store::PipelineStatusRecord>& pipelines);

// What `orion api` renders at GET /metrics: from_status() over store.list_stream_status() and
// store.list_pipeline_status(), plus read_process_sample(). Never fails: store_up is true when
// both lists were read and false when either failed (that list is then empty); each failure,
// and a process sample that could not be read (process.present false), adds a comment naming
// what is missing and the error code only (a store message may quote a database URL).
Snapshot snapshot_from_store(store::Store& store);

}  // namespace orion::metrics
