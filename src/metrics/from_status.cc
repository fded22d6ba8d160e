#include "metrics/from_status.h"

#include <string>
#include <utility>

namespace orion::metrics {

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
