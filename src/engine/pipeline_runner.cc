#include "engine/pipeline_runner.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "protocol/control.h"
#include "protocol/result.h"

namespace orion::engine {

namespace {

void add_counts(std::map<std::string, uint64_t>& to, const std::map<std::string, uint64_t>& from) {
  for (const auto& [k, n] : from) to[k] += n;
}

HealthLimits limits_of(const SupervisorOptions& o) {
  return {o.heartbeat_interval, o.heartbeat_timeout, o.startup_timeout,
          o.detect_timeout,     o.stop_grace,        o.max_violations};
}

}  // namespace

Status PipelineRunner::spawn(PipelineRuntime& p) const {
  auto port = p.pool->attach(p.spec.name);
  if (!port.ok()) return port.error();
  MailboxAttachment mailbox(p.pool, *port);
  auto pool_fd = p.pool->reader_fd();
  if (!pool_fd.ok()) return pool_fd.error();
  SpawnSpec spec;
  if (p.spec.worker_command.empty()) {
    spec.argv = {o_.worker_executable};
    spec.argv.insert(spec.argv.end(), o_.worker_args.begin(), o_.worker_args.end());
  } else {
    spec.argv = p.spec.worker_command;
  }
  spec.argv.push_back("--parent-pid");
  spec.argv.push_back(std::to_string(::getpid()));
  spec.fds = {{pool_fd->get(), 3}, {(*port)->fd(), 4}};
  spec.results_socket = 5;
  spec.own_pid_namespace = o_.own_pid_namespace;
  auto child = ChildProcess::spawn(spec);
  if (!child.ok()) return child.error();

  ResultIntake::Context rc;
  rc.stream_id = p.pool->stream_id();
  rc.pipeline = p.spec.name;
  rc.max_bytes = protocol::kMaxResultBytes;
  rc.max_detections = o_.max_detections_per_result;
  // Where a result's frame stands among the offers made to this very instance.
  rc.offer_state = [port = *port](uint64_t seq) {
    switch (port->delivery(seq)) {
      case ipc::MailboxPort::Delivery::kTaken:
        return OfferState::kTaken;
      case ipc::MailboxPort::Delivery::kDropped:
      case ipc::MailboxPort::Delivery::kPending:
        return OfferState::kNotTaken;
      case ipc::MailboxPort::Delivery::kTooOld:
        return OfferState::kTooOld;
      case ipc::MailboxPort::Delivery::kNeverOffered:
        break;
    }
    return OfferState::kNeverOffered;
  };
  auto inst = std::make_unique<Instance>(std::move(mailbox), std::move(child).value(),
                                         std::move(rc), o_.max_control_lines_per_second);
  inst->spawned = inst->last_heartbeat = clock_.now();

  protocol::WorkerConfig c;
  c.pipeline = p.spec.name;
  c.stream = p.spec.stream;
  c.stream_id = p.pool->stream_id();
  c.sla = std::string(to_string(p.spec.sla));
  c.model = p.spec.model;
  c.min_score = p.spec.min_score;
  c.iou = p.spec.iou;
  c.motion_gate = p.spec.motion_gate;
  c.pool_fd = 3;
  c.mailbox_fd = 4;
  c.results_fd = 5;
  // If this fails the worker sees no configuration and fails its startup; handled like any exit.
  (void)inst->proc.send_line(protocol::encode_configure(c));
  ++p.acc.instances;
  if (p.state != PipelineState::kFailed) p.state = PipelineState::kStarting;
  p.inst = std::move(inst);
  return {};
}

void PipelineRunner::read_stdout(PipelineRuntime& p, Instance& i, size_t budget) const {
  char buf[8192];
  std::vector<std::string> lines;
  while (budget > 0 && i.proc.stdout_fd() >= 0) {
    const ssize_t k = ::read(i.proc.stdout_fd(), buf, std::min(sizeof buf, budget));
    if (k == 0) i.proc.close_stdout();  // a silent worker then fails its heartbeats
    if (k <= 0) break;
    budget -= static_cast<size_t>(k);
    const uint64_t overlong = i.framer.feed(std::string_view(buf, static_cast<size_t>(k)), lines);
    for (uint64_t n = 0; n < overlong; ++n)
      i.violations.add("protocol.line_too_long",
                       "a control line over " + std::to_string(kMaxControlLine) + " bytes");
  }
  const Timestamp now = clock_.now();
  for (const std::string& line : lines) i.control.on_line(line, now, i.facts, i.violations);
  if (i.facts.ready && p.state != PipelineState::kFailed) p.state = PipelineState::kRunning;
}

void PipelineRunner::read_results(PipelineRuntime& p, Instance& i, int budget) const {
  static thread_local std::vector<char> buf(protocol::kMaxResultBytes + 1);
  std::optional<FrameSize> frame;  // the newest frame's size, read once per call when needed
  for (; budget > 0 && i.proc.results_fd() >= 0; --budget) {
    const ssize_t k = ::recv(i.proc.results_fd(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (k < 0) break;
    if (k == 0) {  // SOCK_SEQPACKET: the worker closed its end
      i.proc.close_results();
      break;
    }
    const size_t got = std::min(static_cast<size_t>(k), buf.size());
    if (!frame) {
      const ipc::ShmPoolStats ps = p.pool->shm_stats();
      frame = FrameSize{ps.last_width, ps.last_height};
    }
    auto r = i.results.on_datagram(std::string_view(buf.data(), got), static_cast<size_t>(k),
                                   *frame, i.violations);
    if (!r) {
      ++p.acc.bad_results;
      continue;
    }
    if (o_.vouch) o_.vouch(*r);
    p.acc.last_result_latency = r->done_time - r->frame.capture_time;
    if (o_.on_result) o_.on_result(*r);
    results_.put(std::move(*r));
    ++p.acc.results;
    p.acc.last_result_time = clock_.now();
    i.produced = true;
  }
}

void PipelineRunner::retire(Instance& i, Timestamp now) const {
  if (i.stopping) return;
  i.stopping = true;
  i.stop_requested = now;
  (void)i.proc.send_line(protocol::encode_simple("stop"));
  i.mailbox.port().close();
}

void PipelineRunner::check_health(PipelineRuntime& p, Instance& i, Timestamp now) const {
  if (i.killed) return;
  const ipc::MailboxStats m = i.mailbox.port().stats();
  if (m.scribbled > i.scribbled) {
    i.violations.add("mailbox.scribbled",
                     "wrote a frame token the engine never offered into its mailbox (" +
                         std::to_string(m.scribbled) + " times)");
    i.scribbled = m.scribbled;
  }
  if (m.lease_token != i.lease_token) {
    i.lease_token = m.lease_token;
    i.lease_since = now;
  }
  if (!i.stopping && now - i.last_heartbeat >= o_.heartbeat_interval) {
    (void)i.proc.send_line(protocol::encode_heartbeat(++i.heartbeat_seq));
    i.last_heartbeat = now;
  }
  HealthFacts f;
  f.spawned = i.spawned;
  f.spoke = i.facts.spoke;
  f.last_reply = i.facts.last_reply;
  f.ready = i.facts.ready;
  f.ready_at = i.facts.ready_at;
  f.busy = i.facts.busy;
  f.progress = m.worker_progress;
  f.lease_token = i.lease_token;
  f.lease_since = i.lease_since;
  f.violations = i.violations.counted;
  f.flood = i.control.flood();
  f.fatal = i.facts.fatal;
  f.stopping = i.stopping;
  f.stop_requested = i.stop_requested;
  HealthAssessment a = assess(f, limits_of(o_), now);
  if (a.verdict == HealthVerdict::kHealthy) return;
  if (!a.violation.empty()) i.violations.add(a.violation, a.detail, false);
  i.kill = std::move(a);
  i.killed = true;
  if (Status st = i.proc.kill(); !st.ok()) p.acc.last_error = st.error().to_string();
}

bool PipelineRunner::try_reap(PipelineRuntime& p, bool stopping) const {
  Instance& i = *p.inst;
  const std::optional<ExitStatus> exit = i.proc.try_reap();
  if (!exit) return false;
  // What it said before dying: a fatal error line, its last results.
  read_stdout(p, i, size_t{1} << 20);
  read_results(p, i, 1024);
  std::string reason = exit->signaled || exit->code != 0 ? "crashed" : "exited";
  std::string detail = exit->describe();
  if (i.kill.verdict != HealthVerdict::kHealthy) {
    reason = restart_reason(i.kill.verdict);
    detail = i.kill.detail;
  } else if (i.facts.fatal) {
    reason = "failed";
  }
  // The process is gone: take its mailbox and its leases back before anything else.
  const bool lease_held = i.mailbox.port().stats().lease_held;
  i.mailbox.release();
  const ipc::MailboxStats m = i.mailbox.port().stats();
  if (lease_held) ++p.acc.leases_reclaimed;
  p.acc.offered += m.offered;
  p.acc.taken += m.taken;
  p.acc.dropped += m.dropped + m.pending;
  p.acc.worker_frames += i.facts.frames;
  p.acc.motion_frames += i.facts.motion_frames;
  p.acc.motion_passed += i.facts.motion_passed;
  p.acc.motion_skipped += i.facts.motion_skipped;
  add_counts(p.acc.violations, i.violations.counts);
  const bool produced = i.produced;
  const std::string fatal = i.facts.fatal_error;
  const std::string violation = i.violations.last;
  const bool for_violation = reason == "misbehaved" || !i.kill.violation.empty();
  p.inst.reset();
  if (reason == "stopping" || p.removing || stopping) {
    p.state = PipelineState::kStopped;
    return true;
  }
  ++p.acc.restarts;
  ++p.acc.restart_reasons[reason];
  if (reason == "failed") {
    p.acc.last_error = fatal;
    p.state = PipelineState::kFailed;
  } else {
    p.acc.last_error =
        for_violation && !violation.empty() ? reason + ": " + violation : reason + ": " + detail;
    p.state = PipelineState::kBackoff;
  }
  if (produced) p.backoff.reset();
  p.next_start = clock_.now() + p.backoff.next();
  return true;
}

PipelineStats PipelineRunner::snapshot(const PipelineRuntime& p, Timestamp now) const {
  PipelineStats s = p.acc;
  s.name = p.spec.name;
  s.stream = p.spec.stream;
  s.sla = p.spec.sla;
  s.state = p.state;
  s.motion_gate = p.spec.motion_gate.enabled;
  s.pid = 0;
  s.pending = 0;
  if (const Instance* i = p.inst.get()) {
    const ipc::MailboxStats m = i->mailbox.port().stats();
    s.pid = i->proc.pid();
    s.own_pid_namespace = i->proc.in_own_pid_namespace();
    s.offered += m.offered;
    s.taken += m.taken;
    s.dropped += m.dropped;
    s.pending = m.pending;
    s.lease_held = m.lease_held;
    s.worker_frames += i->facts.frames;
    s.motion_frames += i->facts.motion_frames;
    s.motion_passed += i->facts.motion_passed;
    s.motion_skipped += i->facts.motion_skipped;
    add_counts(s.violations, i->violations.counts);
    if (!i->violations.last.empty()) s.last_error = i->violations.last;
    if (!i->facts.last_error.empty()) s.last_error = i->facts.last_error;
  } else if (p.next_start.is_set()) {
    s.next_start_in = std::max(Duration::zero(), p.next_start - now);
  }
  return s;
}

}  // namespace orion::engine
