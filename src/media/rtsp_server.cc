#include "media/rtsp_server.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/base/gstbasesink.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <thread>
#include <vector>

#include "colour/convert.h"
#include "core/clock.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "media/capture.h"
#include "media/gst_ptr.h"
#include "media/gst_util.h"

namespace orion::media {

namespace {

// The client media fed from one encoder. Shared (shared_ptr) between the StreamOutput, the
// factory's media-configure handler and each media's unprepared handler, so whichever lives
// longest keeps it valid.
struct Fanout {
  struct Sink {
    GstRTSPMedia* media = nullptr;  // identity only (no reference held)
    GstPtr<GstElement> appsrc;
    bool need_keyframe = true;
    bool have_offset = false;
    GstClockTimeDiff offset = 0;  // media running time - encoder pts
  };
  std::string name;  // set before the fan-out is shared, then constant
  // A leaf: held by the encoder's streaming thread to push to every sink, by the RTSP server's
  // thread to add and remove sinks, and by StreamOutput::stats().
  Mutex mu;
  std::vector<Sink> sinks GUARDED_BY(mu);
  GstMiniPtr<GstCaps> caps GUARDED_BY(mu);  // caps of the encoded stream, once known
  uint64_t encoded GUARDED_BY(mu) = 0;
  uint64_t sent GUARDED_BY(mu) = 0;
  // Identity of each picture handed to the encoder and not yet out of it, by encoder pts (ns).
  struct Pending {
    int64_t pts_ns = 0;
    std::optional<FrameIdentity> identity;
    Duration duration;  // as submitted (the encoder restamps durations from its nominal rate)
  };
  std::deque<Pending> pending GUARDED_BY(mu);
  int width GUARDED_BY(mu) = 0, height GUARDED_BY(mu) = 0, fps GUARDED_BY(mu) = 0;
  bool have_pts_offset GUARDED_BY(mu) = false;
  int64_t pts_offset GUARDED_BY(mu) = 0;  // encoder's output pts - the pts it was given

  void encoder_rebuilt() {
    MutexLock lock(mu);
    have_pts_offset = false;
    pending.clear();
  }

  // Live-view taps. tap_mu is taken by the streaming thread (after mu is let go) and by
  // add/remove; the sinks run under it, so after remove_encoded_sink() a sink is not called.
  Mutex tap_mu;
  std::vector<std::pair<uint64_t, EncodedSink>> taps GUARDED_BY(tap_mu);
  uint64_t next_tap GUARDED_BY(tap_mu) = 1;

  void note_submitted(int64_t pts_ns, const FrameIdentity* id, Duration duration) {
    MutexLock lock(mu);
    pending.push_back(
        Pending{pts_ns, id ? std::optional<FrameIdentity>(*id) : std::nullopt, duration});
    while (pending.size() > 64) pending.pop_front();
  }

  void add(GstRTSPMedia* media, GstElement* appsrc) {
    MutexLock lock(mu);
    Sink s;
    s.media = media;
    s.appsrc = GstPtr<GstElement>::ref(appsrc);
    if (caps) gst_app_src_set_caps(GST_APP_SRC(appsrc), caps.get());
    sinks.push_back(std::move(s));
  }
  void remove(GstRTSPMedia* media) {
    MutexLock lock(mu);
    std::erase_if(sinks, [media](const Sink& s) { return s.media == media; });
  }

  // Encoder streaming thread: one access unit to every sink.
  void deliver(GstSample* sample) {
    GstBuffer* buf = gst_sample_get_buffer(sample);
    GstCaps* c = gst_sample_get_caps(sample);
    if (buf == nullptr) return;
    const bool key = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    EncodedFrame frame;
    deliver_rtsp(buf, c, key, frame);
    MutexLock lock(tap_mu);
    if (taps.empty()) return;
    GstMapInfo map;
    if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return;
    frame.annexb =
        std::make_shared<const std::string>(reinterpret_cast<const char*>(map.data), map.size);
    gst_buffer_unmap(buf, &map);
    for (auto& [id, sink] : taps) sink(frame);
  }

  void deliver_rtsp(GstBuffer* buf, GstCaps* c, bool key, EncodedFrame& frame) {
    MutexLock lock(mu);
    ++encoded;
    if (c != nullptr && (!caps || !gst_caps_is_equal(c, caps.get()))) {
      caps = GstMiniPtr<GstCaps>::ref(c);
      for (auto& s : sinks) gst_app_src_set_caps(GST_APP_SRC(s.appsrc.get()), c);
      const GstStructure* st = gst_caps_get_structure(c, 0);
      gst_structure_get_int(st, "width", &width);
      gst_structure_get_int(st, "height", &height);
      int n = 0, d = 1;
      if (gst_structure_get_fraction(st, "framerate", &n, &d) && d > 0) fps = n / d;
    }
    frame.keyframe = key;
    frame.width = width;
    frame.height = height;
    frame.fps = fps;
    if (GST_BUFFER_PTS_IS_VALID(buf)) {
      auto pts = static_cast<int64_t>(GST_BUFFER_PTS(buf));
      // An encoder may shift its timestamps by a constant (x264enc starts at 1000 h so that DTS
      // never goes negative): measured on the first access unit after each (re)build.
      if (!have_pts_offset && !pending.empty()) {
        pts_offset = pts - pending.front().pts_ns;
        have_pts_offset = true;
      }
      pts -= pts_offset;
      frame.pts = Duration::nanos(pts);
      while (!pending.empty() && pending.front().pts_ns < pts) pending.pop_front();
      if (!pending.empty() && pending.front().pts_ns == pts) {
        frame.identity = pending.front().identity;
        frame.duration = pending.front().duration;
        pending.pop_front();
      } else if (!pending.empty()) {
        // No picture was submitted at this pts: the offset was measured against the wrong
        // picture. Measure it again on the next access unit, against the oldest picture
        // still waiting.
        have_pts_offset = false;
      }
    }
    if (frame.duration == Duration::zero() && GST_BUFFER_DURATION_IS_VALID(buf)) {
      frame.duration = Duration::nanos(static_cast<int64_t>(GST_BUFFER_DURATION(buf)));
    }
    for (auto& s : sinks) {
      if (s.need_keyframe && !key) continue;  // a new viewer starts at a keyframe
      s.need_keyframe = false;
      GstBuffer* out = gst_buffer_copy(buf);  // metadata only; the memory is shared
      // Restamp into the media pipeline's running time, keeping the encoder's exact spacing.
      GstClock* clock = gst_element_get_clock(s.appsrc.get());
      if (clock != nullptr && GST_BUFFER_PTS_IS_VALID(buf)) {
        const GstClockTime now = gst_clock_get_time(clock) - gst_element_get_base_time(s.appsrc.get());
        if (!s.have_offset) {
          s.offset = GST_CLOCK_DIFF(GST_BUFFER_PTS(buf), now);
          s.have_offset = true;
        }
        const GstClockTimeDiff pts = static_cast<GstClockTimeDiff>(GST_BUFFER_PTS(buf)) + s.offset;
        GST_BUFFER_PTS(out) = GST_BUFFER_DTS(out) = pts > 0 ? static_cast<GstClockTime>(pts) : 0;
      } else {
        GST_BUFFER_PTS(out) = GST_BUFFER_DTS(out) = GST_CLOCK_TIME_NONE;  // do-timestamp stamps it
      }
      if (clock) gst_object_unref(clock);
      if (gst_app_src_push_buffer(GST_APP_SRC(s.appsrc.get()), out) == GST_FLOW_OK) ++sent;
    }
  }
};

void set_deadline_zero(GstElement* element) {
  if (GST_IS_BASE_SINK(element)) g_object_set(element, "processing-deadline", static_cast<guint64>(0), nullptr);
}

void on_media_deep_element_added(GstBin*, GstBin*, GstElement* element, gpointer) {
  set_deadline_zero(element);
}

void on_media_unprepared(GstRTSPMedia* media, gpointer user) {
  (*static_cast<std::shared_ptr<Fanout>*>(user))->remove(media);
}

void delete_fanout_ref(gpointer data, GClosure*) { delete static_cast<std::shared_ptr<Fanout>*>(data); }

void on_media_configure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer user) {
  auto& fan = *static_cast<std::shared_ptr<Fanout>*>(user);
  GstPtr<GstElement> bin = GstPtr<GstElement>::adopt(gst_rtsp_media_get_element(media));
  GstPtr<GstElement> src = GstPtr<GstElement>::adopt(gst_bin_get_by_name_recurse_up(GST_BIN(bin.get()), "src"));
  if (!src) {
    spdlog::error("output '{}': media has no appsrc", fan->name);
    return;
  }
  // Sinks the RTSP server adds later (one per transport) get processing-deadline=0.
  if (GstObject* parent = gst_object_get_parent(GST_OBJECT(bin.get()))) {
    if (GST_IS_BIN(parent)) g_signal_connect(parent, "deep-element-added", G_CALLBACK(on_media_deep_element_added), nullptr);
    gst_object_unref(parent);
  }
  g_signal_connect_data(media, "unprepared", G_CALLBACK(on_media_unprepared), new std::shared_ptr<Fanout>(fan),
                        delete_fanout_ref, static_cast<GConnectFlags>(0));
  fan->add(media, src.get());
  spdlog::info("output '{}': client media prepared", fan->name);
}

void on_client_connected(GstRTSPServer*, GstRTSPClient* client, gpointer) {
  // Nagle's algorithm delayed about 1 frame in 100 by ~40 ms for TCP clients.
  if (GstRTSPConnection* conn = gst_rtsp_client_get_connection(client)) {
    if (GSocket* sock = gst_rtsp_connection_get_read_socket(conn)) {
      g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
    }
  }
}

GstRTSPFilterResult close_client(GstRTSPServer*, GstRTSPClient*, gpointer) { return GST_RTSP_FILTER_REMOVE; }

// remove_output(): every client with a session on that mount is disconnected (removing only
// the session under a client that streams over TCP crashed gst-rtsp-server), so a viewer of a
// deleted stream sees its connection end instead of a frozen picture. A client that also
// watched another mount over the same connection reconnects for it.
struct MountFilter {
  std::string path;  // "/name"
  bool matched = false;
};

GstRTSPFilterResult find_mount_session(GstRTSPClient*, GstRTSPSession* session, gpointer user) {
  auto* f = static_cast<MountFilter*>(user);
  // A session media matches when its path is a prefix of the one asked for ("/cam" would
  // match "/cam1"): only a match of the whole path is this mount.
  gint matched = 0;
  if (gst_rtsp_session_get_media(session, f->path.c_str(), &matched) != nullptr &&
      static_cast<size_t>(matched) == f->path.size())
    f->matched = true;
  return GST_RTSP_FILTER_KEEP;
}

GstRTSPFilterResult close_mount_client(GstRTSPServer*, GstRTSPClient* client, gpointer user) {
  auto* f = static_cast<MountFilter*>(user);
  f->matched = false;
  gst_rtsp_client_session_filter(client, find_mount_session, f);
  return f->matched ? GST_RTSP_FILTER_REMOVE : GST_RTSP_FILTER_KEEP;
}

GstFlowReturn on_encoded(GstAppSink* sink, gpointer user) {
  GstSample* sample = gst_app_sink_pull_sample(sink);
  if (sample == nullptr) return GST_FLOW_FLUSHING;
  static_cast<Fanout*>(user)->deliver(sample);
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

}  // namespace

struct StreamOutput::Impl {
  // Set by RtspServer::add_output() before the output is shared, then constant.
  std::string name;
  OutputOptions opt;
  std::shared_ptr<Fanout> fan;
  const Clock& clock = SteadyClock::instance();

  // Serializes submit() with stop(); guards the fields below. Not held with Fanout::mu (the
  // encoder thread takes that one; stats() takes them one after the other).
  Mutex mu;
  bool stopped GUARDED_BY(mu) = false;
  GstPtr<GstElement> pipeline GUARDED_BY(mu);
  GstPtr<GstElement> appsrc GUARDED_BY(mu);
  int width GUARDED_BY(mu) = 0;
  int height GUARDED_BY(mu) = 0;
  std::string encoder GUARDED_BY(mu);
  uint64_t submitted GUARDED_BY(mu) = 0;
  uint64_t by_reference GUARDED_BY(mu) = 0;
  uint64_t dropped GUARDED_BY(mu) = 0;
  uint64_t builds GUARDED_BY(mu) = 0;
  Duration last_pts GUARDED_BY(mu);
  bool have_pts GUARDED_BY(mu) = false;

  Status build(int w, int h, Duration frame_duration) REQUIRES(mu);
  void teardown() REQUIRES(mu) {
    if (pipeline) {
      gst_app_src_end_of_stream(GST_APP_SRC(appsrc.get()));
      gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    }
    pipeline.reset();
    appsrc.reset();
  }
};

Status StreamOutput::Impl::build(int w, int h, Duration frame_duration) {
  teardown();
  fan->encoder_rebuilt();
  const int fps_n = frame_duration > Duration::zero()
                        ? static_cast<int>(std::lround(1000.0 / frame_duration.as_millis()))
                        : 0;
  std::vector<std::string> candidates;
  if (!opt.encoder.empty()) {
    candidates.push_back(opt.encoder);
  } else {
    for (const char* e : {"nvh264enc", "vah264enc", "x264enc"}) {
      if (GstElementFactory* f = gst_element_factory_find(e)) {
        candidates.emplace_back(e);
        gst_object_unref(f);
      }
    }
  }
  std::string last_error = "no H.264 encoder installed (x264enc is in gstreamer1.0-plugins-ugly)";
  for (const auto& enc_name : candidates) {
    auto pipe = GstPtr<GstElement>::adopt(gst_pipeline_new(("out-" + name).c_str()));
    auto src = make_element("appsrc", "src");
    auto enc = make_element(enc_name.c_str(), "enc");
    auto filter = make_element("capsfilter", "h264caps");
    auto parse = make_element("h264parse", "parse");
    auto sink = make_element("appsink", "sink");
    for (auto* r : {&src, &enc, &filter, &parse, &sink}) {
      if (!r->ok()) return r->error();
    }
    GstMiniPtr<GstCaps> raw = GstMiniPtr<GstCaps>::adopt(gst_caps_new_simple(
        "video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT, w, "height", G_TYPE_INT, h,
        "framerate", GST_TYPE_FRACTION, fps_n, 1, nullptr));
    // Not leaky: push() refuses a picture while encoder_queue wait (ADR 0091), so every
    // picture lost on the way to the encoder is counted here, none inside the appsrc.
    g_object_set(*src, "caps", raw.get(), "format", GST_FORMAT_TIME, "is-live", TRUE,
                 "do-timestamp", FALSE, "block", FALSE, "max-buffers", static_cast<guint64>(0),
                 "max-bytes", static_cast<guint64>(0), nullptr);
    const int kbps = opt.bitrate_kbps > 0
                         ? opt.bitrate_kbps
                         : std::clamp(static_cast<int>(static_cast<double>(w) * h * std::max(fps_n, 5) * 0.1 / 1000.0),
                                      300, 8000);
    const int key_int = std::max(1, static_cast<int>(std::lround(opt.key_interval.as_seconds() * std::max(fps_n, 1))));
    if (enc_name == "x264enc") {
      gst_util_set_object_arg(G_OBJECT(*enc), "tune", "zerolatency");
      gst_util_set_object_arg(G_OBJECT(*enc), "speed-preset", "ultrafast");
      g_object_set(*enc, "key-int-max", static_cast<guint>(key_int), "bframes", 0u, "threads", 1u,
                   "bitrate", static_cast<guint>(kbps), "byte-stream", TRUE, nullptr);
    } else {
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(*enc), "gop-size")) {
        g_object_set(*enc, "gop-size", key_int, nullptr);
      }
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(*enc), "bitrate")) {
        g_object_set(*enc, "bitrate", static_cast<guint>(kbps), nullptr);
      }
    }
    GstMiniPtr<GstCaps> h264 = GstMiniPtr<GstCaps>::adopt(
        gst_caps_from_string("video/x-h264,stream-format=byte-stream,alignment=au"));
    g_object_set(*filter, "caps", h264.get(), nullptr);
    g_object_set(*sink, "sync", FALSE, "emit-signals", FALSE, "enable-last-sample", FALSE, nullptr);
    GstAppSinkCallbacks cb{};
    cb.new_sample = on_encoded;
    gst_app_sink_set_callbacks(GST_APP_SINK(*sink), &cb, fan.get(), nullptr);
    gst_bin_add_many(GST_BIN(pipe.get()), *src, *enc, *filter, *parse, *sink, nullptr);
    if (!gst_element_link_many(*src, *enc, *filter, *parse, *sink, nullptr) ||
        gst_element_set_state(pipe.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      gst_element_set_state(pipe.get(), GST_STATE_NULL);
      last_error = "encoder '" + enc_name + "' cannot start";
      continue;
    }
    pipeline = std::move(pipe);
    ++builds;
    appsrc = GstPtr<GstElement>::ref(*src);
    width = w;
    height = h;
    encoder = enc_name;
    spdlog::info("output '{}': encoding {}x{} @ {} fps with {} ({} kbit/s)", name, w, h, fps_n, enc_name, kbps);
    return {};
  }
  return make_error("output.encoder", "output '" + name + "': " + last_error);
}

StreamOutput::StreamOutput(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StreamOutput::~StreamOutput() { close(); }

void StreamOutput::close() {
  MutexLock lock(impl_->mu);
  impl_->stopped = true;
  impl_->teardown();
}

const std::string& StreamOutput::name() const { return impl_->name; }

Result<Timestamp> StreamOutput::submit(const Picture& image, Duration pts, Duration duration) {
  return submit_frame(image, pts, duration, nullptr);
}

uint64_t StreamOutput::add_encoded_sink(EncodedSink sink) {
  Fanout& f = *impl_->fan;
  MutexLock lock(f.tap_mu);
  const uint64_t id = f.next_tap++;
  f.taps.emplace_back(id, std::move(sink));
  return id;
}

void StreamOutput::remove_encoded_sink(uint64_t id) {
  Fanout& f = *impl_->fan;
  EncodedSink gone;  // destroyed after the lock is let go
  MutexLock lock(f.tap_mu);
  for (auto it = f.taps.begin(); it != f.taps.end(); ++it) {
    if (it->first == id) {
      gone = std::move(it->second);
      f.taps.erase(it);
      return;
    }
  }
}

Result<Timestamp> StreamOutput::submit_frame(const Picture& image, Duration pts, Duration duration,
                                             const FrameIdentity* identity) {
  return push(image, nullptr, pts, duration, identity);
}

Result<Timestamp> StreamOutput::submit_picture(const FramePtr& picture, Duration pts,
                                               Duration duration, const FrameIdentity* identity) {
  return push(colour::view_of(*picture), picture, pts, duration, identity);
}

namespace {

// Whether `image` is packed I420 laid out exactly as GStreamer's default I420 video info for
// its size (what the encoder's caps say), so a buffer can wrap it as it is.
bool wrappable_i420(const Picture& image) {
  const int w = image.width, h = image.height;
  if (image.format != PixelFormat::kI420 || w % 8 != 0 || h % 2 != 0) return false;
  const size_t ysz = static_cast<size_t>(w) * static_cast<size_t>(h);
  return image.strides[0] == w && image.strides[1] == w / 2 && image.strides[2] == w / 2 &&
         image.planes[1] == image.planes[0] + ysz && image.planes[2] == image.planes[1] + ysz / 4;
}

}  // namespace

Result<Timestamp> StreamOutput::push(const Picture& image, const FramePtr& keep, Duration pts,
                                     Duration duration, const FrameIdentity* identity) {
  Impl& m = *impl_;
  if (image.width <= 0 || image.height <= 0 || image.width % 2 || image.height % 2) {
    return make_error("output.bad_size", "output '" + m.name + "': picture size " + std::to_string(image.width) +
                                             "x" + std::to_string(image.height) + " must be even and positive");
  }
  MutexLock lock(m.mu);
  if (m.stopped) return make_error("output.stopped", "output '" + m.name + "' is stopped");
  if (!m.pipeline || image.width != m.width || image.height != m.height) {
    if (auto s = m.build(image.width, image.height, duration); !s) return s.error();
  }
  // Only this thread (under mu) adds to the appsrc's queue and the encoder only takes from
  // it, so the level read here can only fall before the push: the queue never holds more
  // than encoder_queue pictures.
  if (gst_app_src_get_current_level_buffers(GST_APP_SRC(m.appsrc.get())) >=
      std::max<size_t>(1, m.opt.encoder_queue)) {
    ++m.dropped;
    return make_error("output.full", "output '" + m.name +
                                         "': " + std::to_string(m.opt.encoder_queue) +
                                         " pictures already wait for the encoder");
  }
  if (m.have_pts && pts <= m.last_pts) pts = m.last_pts + Duration::micros(1);
  m.last_pts = pts;
  m.have_pts = true;
  const size_t ysz = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
  GstBuffer* buf = nullptr;
  const bool by_reference = keep && wrappable_i420(image);
  if (by_reference) {
    // The encoder reads the picture in place; the buffer's last unref drops the reference
    // (on whichever GStreamer thread frees it: FramePtr and its pool are thread-safe).
    auto* held = new FramePtr(keep);
    buf = gst_buffer_new_wrapped_full(
        GST_MEMORY_FLAG_READONLY, const_cast<uint8_t*>(image.planes[0]), ysz * 3 / 2, 0,
        ysz * 3 / 2, held, [](gpointer p) { delete static_cast<FramePtr*>(p); });
  } else {
    buf = gst_buffer_new_allocate(nullptr, ysz * 3 / 2, nullptr);
    GstMapInfo map;
    if (!gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
      gst_buffer_unref(buf);
      return make_error("output.encoder", "output '" + m.name + "': cannot map an encoder buffer");
    }
    // I420 copied as is, NV12 deinterleaved, BGR converted (colour::to_i420).
    const Status converted = colour::to_i420(image, map.data);
    gst_buffer_unmap(buf, &map);
    if (!converted) {
      gst_buffer_unref(buf);
      return make_error("output.encoder",
                        "output '" + m.name + "': " + converted.error().to_string());
    }
  }
  GST_BUFFER_PTS(buf) = GST_BUFFER_DTS(buf) = static_cast<GstClockTime>(std::max<int64_t>(0, pts.count_nanos()));
  GST_BUFFER_DURATION(buf) = to_gst(duration);
  m.fan->note_submitted(static_cast<int64_t>(GST_BUFFER_PTS(buf)), identity, duration);
  const GstFlowReturn ret = gst_app_src_push_buffer(GST_APP_SRC(m.appsrc.get()), buf);
  const Timestamp handed = m.clock.now();
  if (ret != GST_FLOW_OK) {
    return make_error("output.encoder", "output '" + m.name + "': encoder refused the picture (" +
                                            gst_flow_get_name(ret) + ")");
  }
  ++m.submitted;
  if (by_reference) ++m.by_reference;
  return handed;
}

OutputStats StreamOutput::stats() const {
  OutputStats s;
  {
    MutexLock lock(impl_->mu);
    s.submitted = impl_->submitted;
    s.by_reference = impl_->by_reference;
    s.dropped = impl_->dropped;
    s.width = impl_->width;
    s.height = impl_->height;
    s.encoder = impl_->encoder;
    s.encoder_builds = impl_->builds;
  }
  {
    MutexLock lock(impl_->fan->tap_mu);
    s.encoded_sinks = impl_->fan->taps.size();
  }
  MutexLock lock(impl_->fan->mu);
  s.encoded = impl_->fan->encoded;
  s.sent = impl_->fan->sent;
  s.media = impl_->fan->sinks.size();
  return s;
}

struct RtspServer::Impl {
  RtspServerOptions opt;
  GstPtr<GstRTSPServer> server;
  GMainContext* ctx = nullptr;
  GMainLoop* loop = nullptr;
  guint source_id = 0;
  int port = 0;
  std::thread thread;
  Mutex mu;  // a leaf
  bool stopped GUARDED_BY(mu) = false;
  std::string failure GUARDED_BY(mu);
  std::map<std::string, std::shared_ptr<StreamOutput>> outputs GUARDED_BY(mu);
};

RtspServer::RtspServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RtspServer::~RtspServer() { stop(); }

Result<std::unique_ptr<RtspServer>> RtspServer::start(RtspServerOptions options) {
  ensure_gstreamer();
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->server = GstPtr<GstRTSPServer>::adopt(gst_rtsp_server_new());
  gst_rtsp_server_set_address(impl->server.get(), options.address.c_str());
  gst_rtsp_server_set_service(impl->server.get(), std::to_string(options.port).c_str());
  g_signal_connect(impl->server.get(), "client-connected", G_CALLBACK(on_client_connected), nullptr);
  impl->ctx = g_main_context_new();
  impl->source_id = gst_rtsp_server_attach(impl->server.get(), impl->ctx);
  if (impl->source_id == 0) {
    g_main_context_unref(impl->ctx);
    return make_error("rtsp.bind", "RTSP server cannot listen on " + options.address + ":" +
                                       std::to_string(options.port) + " (port in use?)");
  }
  impl->port = gst_rtsp_server_get_bound_port(impl->server.get());
  impl->loop = g_main_loop_new(impl->ctx, FALSE);
  Impl* p = impl.get();
  impl->thread = std::thread([p] {
    g_main_context_push_thread_default(p->ctx);
    run_guarded(
        "rtsp-server", [p] { g_main_loop_run(p->loop); },
        [p](std::string_view why) {
          spdlog::error("RTSP server: main loop died: {}", why);
          MutexLock lock(p->mu);
          p->failure = "RTSP server main loop died: " + std::string(why);
        });
    g_main_context_pop_thread_default(p->ctx);
  });
  spdlog::info("RTSP server listening on {}:{}", options.address, impl->port);
  return std::unique_ptr<RtspServer>(new RtspServer(std::move(impl)));
}

Result<std::shared_ptr<StreamOutput>> RtspServer::add_output(const std::string& name, OutputOptions options) {
  const bool ok_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!ok_name) {
    return make_error("rtsp.bad_name", "output name '" + name + "' must be letters, digits, '-', '_' or '.'");
  }
  MutexLock lock(impl_->mu);
  if (impl_->stopped) return make_error("rtsp.stopped", "RTSP server is stopped");
  if (impl_->outputs.count(name)) return make_error("rtsp.duplicate", "output '" + name + "' already exists");
  auto fan = std::make_shared<Fanout>();
  fan->name = name;
  auto oi = std::make_unique<StreamOutput::Impl>();
  oi->name = name;
  oi->opt = options;
  oi->fan = fan;
  auto out = std::make_shared<StreamOutput>(std::move(oi));

  GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
  // h264parse between appsrc and the payloader: the first buffer after a discontinuity kept
  // stale timestamps without it, and SPS/PPS come from it (rtph264pay's made ffmpeg miscount).
  gst_rtsp_media_factory_set_launch(
      factory,
      "( appsrc name=src is-live=true format=time do-timestamp=true min-latency=0 "
      "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=0 )");
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  gst_rtsp_media_factory_set_eos_shutdown(factory, FALSE);
  gst_rtsp_media_factory_set_suspend_mode(factory, GST_RTSP_SUSPEND_MODE_NONE);
  g_signal_connect_data(factory, "media-configure", G_CALLBACK(on_media_configure), new std::shared_ptr<Fanout>(fan),
                        delete_fanout_ref, static_cast<GConnectFlags>(0));
  GstPtr<GstRTSPMountPoints> mounts = GstPtr<GstRTSPMountPoints>::adopt(gst_rtsp_server_get_mount_points(impl_->server.get()));
  gst_rtsp_mount_points_add_factory(mounts.get(), ("/" + name).c_str(), factory);  // transfer full
  impl_->outputs[name] = out;
  return out;
}

Status RtspServer::remove_output(const std::string& name) {
  std::shared_ptr<StreamOutput> out;
  {
    MutexLock lock(impl_->mu);
    if (impl_->stopped) return make_error("rtsp.stopped", "RTSP server is stopped");
    auto it = impl_->outputs.find(name);
    if (it == impl_->outputs.end())
      return make_error("rtsp.unknown_output", "output '" + name + "' does not exist");
    out = std::move(it->second);
    impl_->outputs.erase(it);
  }
  GstPtr<GstRTSPMountPoints> mounts =
      GstPtr<GstRTSPMountPoints>::adopt(gst_rtsp_server_get_mount_points(impl_->server.get()));
  MountFilter filter{"/" + name};
  gst_rtsp_mount_points_remove_factory(mounts.get(), filter.path.c_str());
  gst_rtsp_server_client_filter(impl_->server.get(), close_mount_client, &filter);
  out->close();
  return {};
}

int RtspServer::port() const { return impl_->port; }

std::string RtspServer::failure() const {
  MutexLock lock(impl_->mu);
  return impl_->failure;
}

std::string RtspServer::url(const std::string& name, const std::string& host) const {
  return "rtsp://" + host + ":" + std::to_string(impl_->port) + "/" + name;
}

void RtspServer::stop() {
  std::map<std::string, std::shared_ptr<StreamOutput>> outputs;
  {
    MutexLock lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    outputs.swap(impl_->outputs);
  }
  GstPtr<GstRTSPMountPoints> mounts = GstPtr<GstRTSPMountPoints>::adopt(gst_rtsp_server_get_mount_points(impl_->server.get()));
  for (const auto& [name, out] : outputs) gst_rtsp_mount_points_remove_factory(mounts.get(), ("/" + name).c_str());
  gst_rtsp_server_client_filter(impl_->server.get(), close_client, nullptr);
  if (GSource* s = g_main_context_find_source_by_id(impl_->ctx, impl_->source_id)) g_source_destroy(s);
  // Quit from inside the loop: a g_main_loop_quit() that comes before the thread has entered
  // g_main_loop_run() is lost (run sets the loop running again), and a stop() right after
  // start() then waited forever. An idle source on the loop's context runs once it does run.
  GSource* quit = g_idle_source_new();
  g_source_set_callback(
      quit,
      [](gpointer loop) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop*>(loop));
        return G_SOURCE_REMOVE;
      },
      impl_->loop, nullptr);
  g_source_attach(quit, impl_->ctx);
  g_source_unref(quit);
  if (impl_->thread.joinable()) impl_->thread.join();
  g_main_loop_unref(impl_->loop);
  g_main_context_unref(impl_->ctx);
  impl_->server.reset();
}

}  // namespace orion::media
