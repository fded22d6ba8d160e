#include "media/capture.h"

#include <gio/gio.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <spdlog/spdlog.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "colour/convert.h"
#include "core/backoff.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "media/frame_timeline.h"
#include "media/gst_ptr.h"
#include "media/gst_util.h"
#include "media/source_url.h"

namespace orion::media {

std::string_view to_string(StreamState state) {
  switch (state) {
    case StreamState::kStopped: return "stopped";
    case StreamState::kConnecting: return "connecting";
    case StreamState::kLive: return "live";
    case StreamState::kRetrying: return "retrying";
    case StreamState::kEnded: return "ended";
    case StreamState::kFailed: return "failed";
    case StreamState::kStalled:
      return "stalled";
  }
  return "unknown";
}

void ensure_gstreamer() {
  static std::once_flag once;
  std::call_once(once, [] {
    gst_init(nullptr, nullptr);
    // decodebin picks decoders by rank; hardware ones (when their plugin is installed) go
    // first. If one cannot open its device, decodebin falls back to the next (libav).
    GstRegistry* reg = gst_registry_get();
    for (const char* name : {"nvh264dec", "nvh265dec", "vah264dec", "vah265dec", "vaapih264dec",
                             "vaapih265dec"}) {
      if (GstPluginFeature* f = gst_registry_lookup_feature(reg, name)) {
        gst_plugin_feature_set_rank(f, GST_RANK_PRIMARY + 100);
        gst_object_unref(f);
      }
    }
  });
}

namespace {

// What one pipeline attempt shares with its signal handlers (streaming threads).
struct Attempt {
  std::string stream;
  GstPtr<GstElement> pipeline;
  GstPtr<GstElement> appsink;
  GstPtr<GstElement> video_in;  // first element of the video chain (videoconvert)
  GstPtr<GstElement> decodebin;
  // Held for a few stores by the streaming threads and the capture thread. Lock order:
  // mu → Capture::Impl::status_mu (run_attempt() copies the decoder name into the status).
  Mutex mu;
  std::string decoder GUARDED_BY(mu);
  bool video_linked GUARDED_BY(mu) = false;
  bool no_video GUARDED_BY(mu) = false;  // decodebin exposed every pad, none was video
  // rtsps with tls_verify off; set before the pipeline starts, read without a lock.
  bool tls_accept_any = false;
  // GTlsCertificateFlags of a refused certificate.
  unsigned tls_rejected GUARDED_BY(mu) = 0;
};

// rtspsrc "accept-certificate": emitted on the connection's thread only when GIO's validation
// of the camera's certificate failed (`errors` says why). Accepts it when the stream does not
// verify; otherwise records why it was refused, for the attempt's error message.
gboolean on_accept_certificate(GstElement*, GTlsConnection*, GTlsCertificate*, GTlsCertificateFlags errors,
                               gpointer user) {
  auto* a = static_cast<Attempt*>(user);
  if (a->tls_accept_any) return TRUE;
  MutexLock lock(a->mu);
  a->tls_rejected = static_cast<unsigned>(errors) != 0 ? static_cast<unsigned>(errors)
                                                       : static_cast<unsigned>(G_TLS_CERTIFICATE_GENERIC_ERROR);
  return FALSE;
}

// Why GIO refused a certificate, in words ("; "-separated).
std::string describe_tls_errors(unsigned flags) {
  std::string out;
  auto add = [&](unsigned bit, const char* text) {
    if ((flags & bit) == 0) return;
    if (!out.empty()) out += "; ";
    out += text;
  };
  add(G_TLS_CERTIFICATE_UNKNOWN_CA, "it is self-signed or signed by an authority this machine does not trust");
  add(G_TLS_CERTIFICATE_BAD_IDENTITY, "it does not name the host of the url");
  add(G_TLS_CERTIFICATE_NOT_ACTIVATED, "it is not valid yet (check the clocks)");
  add(G_TLS_CERTIFICATE_EXPIRED, "it has expired");
  add(G_TLS_CERTIFICATE_REVOKED, "it has been revoked");
  add(G_TLS_CERTIFICATE_INSECURE, "it uses an insecure algorithm");
  add(G_TLS_CERTIFICATE_GENERIC_ERROR, "it could not be validated");
  return out.empty() ? "it could not be validated" : out;
}

GstElement* add_fakesink(GstElement* pipeline) {
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  return sink;
}

void link_to_fakesink(Attempt* a, GstPad* pad) {
  GstElement* sink = add_fakesink(a->pipeline.get());
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, sinkpad);
  gst_object_unref(sinkpad);
}

std::string caps_name(GstCaps* caps) {
  if (caps == nullptr || gst_caps_get_size(caps) == 0) return "";
  return gst_structure_get_name(gst_caps_get_structure(caps, 0));
}

gboolean on_autoplug_continue(GstElement*, GstPad*, GstCaps* caps, gpointer) {
  const std::string n = caps_name(caps);
  // Audio, subtitles and metadata are not decoded: they end in a fakesink.
  return n.rfind("audio/", 0) == 0 || n.rfind("text/", 0) == 0 ||
                 n.rfind("subpicture/", 0) == 0 || n.rfind("application/x-subtitle", 0) == 0
             ? FALSE
             : TRUE;
}

void on_decodebin_pad(GstElement*, GstPad* pad, gpointer user) {
  auto* a = static_cast<Attempt*>(user);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (caps == nullptr) caps = gst_pad_query_caps(pad, nullptr);
  const std::string n = caps_name(caps);
  if (caps) gst_caps_unref(caps);
  bool link_video = false;
  {
    MutexLock lock(a->mu);
    if (n == "video/x-raw" && !a->video_linked) {
      a->video_linked = true;
      link_video = true;
    }
  }
  if (link_video) {
    GstPad* sinkpad = gst_element_get_static_pad(a->video_in.get(), "sink");
    gst_pad_link(pad, sinkpad);
    gst_object_unref(sinkpad);
  } else {
    link_to_fakesink(a, pad);
  }
}

void on_no_more_pads(GstElement*, gpointer user) {
  auto* a = static_cast<Attempt*>(user);
  MutexLock lock(a->mu);
  if (!a->video_linked) a->no_video = true;
}

void on_rtspsrc_pad(GstElement*, GstPad* pad, gpointer user) {
  auto* a = static_cast<Attempt*>(user);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (caps == nullptr) caps = gst_pad_query_caps(pad, nullptr);
  const gchar* media = nullptr;
  if (caps && gst_caps_get_size(caps) > 0) {
    media = gst_structure_get_string(gst_caps_get_structure(caps, 0), "media");
  }
  const bool is_video = media != nullptr && std::strcmp(media, "video") == 0;
  if (caps) gst_caps_unref(caps);
  GstPad* sinkpad = gst_element_get_static_pad(a->decodebin.get(), "sink");
  if (is_video && !gst_pad_is_linked(sinkpad)) {
    gst_pad_link(pad, sinkpad);
  } else {
    link_to_fakesink(a, pad);
  }
  gst_object_unref(sinkpad);
}

void on_deep_element_added(GstBin*, GstBin*, GstElement* element, gpointer user) {
  auto* a = static_cast<Attempt*>(user);
  GstElementFactory* f = gst_element_get_factory(element);
  if (f == nullptr) return;
  const gchar* klass = gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS);
  if (klass && std::strstr(klass, "Decoder") && std::strstr(klass, "Video")) {
    MutexLock lock(a->mu);
    a->decoder = GST_OBJECT_NAME(f);
  }
}

// After an attempt's pipeline is gone: gives the free pages of every malloc arena back to the
// system (ADR 0087). The attempt's decoder and streaming threads allocated a working set
// (~2.4 MiB at 320x240 H.264) in whichever arena their new threads were given; once freed, it
// stays resident in that arena, and the next attempt's new threads are usually given another
// arena, so without this the RSS grows by the working set at each reconnect until every arena
// (up to 8 per core) holds one. Nothing leaks (the heap in use is flat): this only hands back
// what glibc would otherwise keep. Costs one walk of the arenas per attempt (0.07–0.11 ms in
// `orion bench soak-reconnect`, a bare capture).
void release_freed_memory() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

}  // namespace

struct Capture::Impl {
  Impl(std::string n, StreamId i, SourceSpec s, CaptureOptions o, FramePool& p, FrameSupplier& sup,
       FrameTimeline* t)
      : name(std::move(n)), id(i), spec(std::move(s)), opt(o), pool(p), supplier(sup),
        timeline(t), clock(o.clock ? *o.clock : SteadyClock::instance()) {
    status.name = name;
    status.backoff = opt.backoff_initial;
  }

  enum class Outcome { kStopped, kFailed, kEnded };
  struct AttemptResult {
    Outcome outcome = Outcome::kStopped;
    Error error;
    bool delivered = false;
  };

  const std::string name;
  const StreamId id;
  const SourceSpec spec;
  const CaptureOptions opt;
  FramePool& pool;
  FrameSupplier& supplier;
  FrameTimeline* const timeline;
  const Clock& clock;

  std::thread thread;
  // Read without a lock; stop() sets it holding wait_mu, so a waiter cannot miss the wake-up.
  std::atomic<bool> stopping{false};
  Mutex wait_mu;                        // guards no field (see `stopping`); a leaf
  std::condition_variable_any wait_cv;  // _any: waits through the Clock (core/clock.h)

  // Held to copy or update the status; nothing is locked under it.
  mutable Mutex status_mu ACQUIRED_AFTER(Attempt::mu);
  StreamStatus status GUARDED_BY(status_mu);
  // When the next attempt starts (kRetrying).
  Timestamp retry_at GUARDED_BY(status_mu);

  // Capture thread only.
  uint64_t sequence = 0;
  Duration last_pts;
  bool have_pts = false;
  bool rebase = true;  // next frame starts a new timeline segment (new attempt, loop)
  Duration pts_offset;
  double status_fps = 0;  // the nominal rate last written into the status
  bool use_udp = false;
  // Capture thread only: the last live attempt ended in a stall and no frame came since; the
  // states connecting/retrying then read `stalled` (StreamState::kStalled).
  bool stalled = false;

  // f(StreamStatus&) runs holding status_mu (a lambda that also sets retry_at says
  // REQUIRES(status_mu)).
  template <class F>
  void update(F&& f) {
    MutexLock lock(status_mu);
    f(status);
  }

  // Waits until `deadline` on the capture's clock (a FakeClock releases it when advanced);
  // false when stopping.
  bool wait_until(Timestamp deadline) {
    UniqueLock lock(wait_mu);
    return !clock.wait_until(wait_cv, lock, deadline, {}, [this] { return stopping.load(); });
  }
  // A short real-time pause while GStreamer finishes something (not a timed wait: it does not
  // go through the clock, so a FakeClock never holds it up); false when stopping.
  bool pause_real_time(Duration d) {
    UniqueLock lock(wait_mu);
    return !wait_cv.wait_for(lock.native(), d.to_chrono(), [this] { return stopping.load(); });
  }

  Result<std::unique_ptr<Attempt>> build();
  Error attempt_error(Attempt& a, GstMessage* m);
  AttemptResult run_attempt();
  void handle_sample(GstSample* sample, bool& delivered);
  Result<MutableFramePtr> by_reference(GstBuffer* buf, const GstVideoInfo& info, PixelFormat format,
                                       int w, int h);
  Result<MutableFramePtr> copied_into_pool(GstBuffer* buf, const GstVideoInfo& info,
                                           PixelFormat format, int w, int h);
  void run();
  void run_loop();
};

Result<std::unique_ptr<Attempt>> Capture::Impl::build() {
  auto a = std::make_unique<Attempt>();
  a->stream = name;
  a->pipeline = GstPtr<GstElement>::adopt(gst_pipeline_new(("cap-" + name).c_str()));
  GstBin* bin = GST_BIN(a->pipeline.get());
  auto convert = make_element("videoconvert", "convert");
  auto filter = make_element("capsfilter", "rawcaps");
  auto sink = make_element("appsink", "sink");
  if (!convert) return convert.error();
  if (!filter) return filter.error();
  if (!sink) return sink.error();
  a->video_in = GstPtr<GstElement>::ref(*convert);
  a->appsink = GstPtr<GstElement>::ref(*sink);
  GstMiniPtr<GstCaps> raw =
      GstMiniPtr<GstCaps>::adopt(gst_caps_from_string("video/x-raw,format={I420,NV12}"));
  g_object_set(*filter, "caps", raw.get(), nullptr);
  const bool file = spec.kind == SourceKind::kFile;
  // At most `decoded_queue` decoded buffers wait for the capture thread, the oldest dropped
  // beyond that: a thread preempted for a frame interval (a loaded machine) publishes the
  // frame late instead of losing it (ADR 0090). Files play at their native rate (sync on the
  // clock, like a camera); live sources are taken as soon as decoded.
  g_object_set(*sink, "caps", raw.get(), "max-buffers",
               static_cast<guint>(std::max(1, opt.decoded_queue)), "drop", TRUE, "sync",
               file ? TRUE : FALSE, "enable-last-sample", FALSE, "emit-signals", FALSE, nullptr);
  gst_bin_add_many(bin, *convert, *filter, *sink, nullptr);
  if (!gst_element_link_many(*convert, *filter, *sink, nullptr)) {
    return make_error("media.pipeline", "stream '" + name + "': cannot link the video chain");
  }
  g_signal_connect(a->pipeline.get(), "deep-element-added", G_CALLBACK(on_deep_element_added), a.get());

  auto add_decodebin = [&]() -> Status {
    auto dec = make_element("decodebin", "decode");
    if (!dec) return dec.error();
    a->decodebin = GstPtr<GstElement>::ref(*dec);
    gst_bin_add(bin, *dec);
    g_signal_connect(*dec, "autoplug-continue", G_CALLBACK(on_autoplug_continue), a.get());
    g_signal_connect(*dec, "pad-added", G_CALLBACK(on_decodebin_pad), a.get());
    g_signal_connect(*dec, "no-more-pads", G_CALLBACK(on_no_more_pads), a.get());
    return {};
  };

  switch (spec.kind) {
    case SourceKind::kTest: {
      auto src = make_element("videotestsrc", "source");
      auto caps = make_element("capsfilter", "testcaps");
      if (!src) return src.error();
      if (!caps) return caps.error();
      g_object_set(*src, "is-live", TRUE, nullptr);
      gst_util_set_object_arg(G_OBJECT(*src), "pattern", spec.location.c_str());
      GstMiniPtr<GstCaps> c = GstMiniPtr<GstCaps>::adopt(gst_caps_new_simple(
          "video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT, spec.width, "height",
          G_TYPE_INT, spec.height, "framerate", GST_TYPE_FRACTION, spec.fps, 1, nullptr));
      g_object_set(*caps, "caps", c.get(), nullptr);
      gst_bin_add_many(bin, *src, *caps, nullptr);
      if (!gst_element_link_many(*src, *caps, *convert, nullptr)) {
        return make_error("media.pipeline", "stream '" + name + "': cannot link the test source");
      }
      MutexLock lock(a->mu);
      a->video_linked = true;
      a->decoder = "none (raw test pattern)";
      break;
    }
    case SourceKind::kFile:
    case SourceKind::kV4l2: {
      auto src = make_element(file ? "filesrc" : "v4l2src", "source");
      if (!src) return src.error();
      g_object_set(*src, file ? "location" : "device", spec.location.c_str(), nullptr);
      gst_bin_add(bin, *src);
      if (auto s = add_decodebin(); !s) return s.error();
      if (!gst_element_link(*src, a->decodebin.get())) {
        return make_error("media.pipeline", "stream '" + name + "': cannot link the source");
      }
      break;
    }
    case SourceKind::kRtsp: {
      auto src = make_element("rtspsrc", "source");
      if (!src) return src.error();
      g_object_set(*src, "location", spec.location.c_str(), "latency",
                   static_cast<guint>(opt.rtsp_latency.count_nanos() / 1'000'000), "drop-on-latency",
                   TRUE, "tcp-timeout", static_cast<guint64>(opt.connect_timeout.count_nanos() / 1000),
                   nullptr);
      // rtsps: TCP only, so the media stays in the TLS connection (never plain UDP).
      gst_util_set_object_arg(G_OBJECT(*src), "protocols", use_udp && !spec.tls ? "udp" : "tcp");
      if (spec.tls) {
        a->tls_accept_any = !opt.tls_verify;
        if (!opt.tls_verify) {
          g_object_set(*src, "tls-validation-flags", static_cast<GTlsCertificateFlags>(0), nullptr);
        }
        // Flags 0 alone is enough with GLib 2.74 (measured), but GLib deprecates ignoring
        // validation through flags: the accept-certificate handler accepts as well.
        g_signal_connect(*src, "accept-certificate", G_CALLBACK(on_accept_certificate), a.get());
      }
      gst_bin_add(bin, *src);
      if (auto s = add_decodebin(); !s) return s.error();
      g_signal_connect(*src, "pad-added", G_CALLBACK(on_rtspsrc_pad), a.get());
      break;
    }
  }
  return a;
}

// Whether holding `buf` for as long as consumers hold its frame can starve the element that
// made it: a buffer of a pool with a fixed maximum (hardware decoders, some converters) must go
// back soon, so it is copied; a buffer of a pool that grows on demand, or of none, may be held.
bool may_hold(GstBuffer* buf) {
  if (buf->pool == nullptr) return true;
  GstStructure* config = gst_buffer_pool_get_config(buf->pool);
  guint min = 0, max = 0;
  const bool known = gst_buffer_pool_config_get_params(config, nullptr, nullptr, &min, &max);
  gst_structure_free(config);
  return known && max == 0;
}

// The decoder's buffer as the frame's memory, with no copy (ADR 0089): kept mapped (the map
// holds a reference to the buffer) until the frame dies. nullptr (not an error) when the
// buffer cannot be held: more than one memory block, a bounded pool, planes outside the map.
Result<MutableFramePtr> Capture::Impl::by_reference(GstBuffer* buf, const GstVideoInfo& info,
                                                    PixelFormat format, int w, int h) {
  if (!opt.reference_decoded || gst_buffer_n_memory(buf) != 1 || !may_hold(buf))
    return MutableFramePtr{};
  auto vf = std::make_unique<GstVideoFrame>();
  if (!gst_video_frame_map(vf.get(), &info, buf, GST_MAP_READ)) return MutableFramePtr{};
  const auto* base = static_cast<const uint8_t*>(vf->map[0].data);
  const size_t size = vf->map[0].size;
  FrameLayout layout;
  layout.format = format;
  layout.width = w;
  layout.height = h;
  layout.plane_count = format == PixelFormat::kNV12 ? 2 : 3;
  layout.size = size;
  bool inside = static_cast<int>(GST_VIDEO_FRAME_N_PLANES(vf.get())) == layout.plane_count;
  for (int i = 0; inside && i < layout.plane_count; ++i) {
    const auto* p = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(vf.get(), i));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(vf.get(), i);
    const int rows = i == 0 ? h : h / 2;
    const size_t row_bytes =
        static_cast<size_t>(i == 0 || format == PixelFormat::kNV12 ? w : w / 2);
    inside = p >= base && stride > 0 && static_cast<size_t>(stride) >= row_bytes &&
             static_cast<size_t>(p - base) +
                     static_cast<size_t>(stride) * static_cast<size_t>(rows - 1) + row_bytes <=
                 size;
    if (!inside) break;
    layout.offsets[static_cast<size_t>(i)] = static_cast<size_t>(p - base);
    layout.strides[static_cast<size_t>(i)] = stride;
  }
  if (!inside) {
    gst_video_frame_unmap(vf.get());
    return MutableFramePtr{};
  }
  PixelMemory mem;
  mem.data =
      const_cast<uint8_t*>(base);  // only ever read: the frame is frozen before anyone sees it
  mem.size = size;
  mem.kind = MemoryKind::kHost;
  mem.release = [held = std::shared_ptr<GstVideoFrame>(vf.release(), [](GstVideoFrame* v) {
                   gst_video_frame_unmap(v);
                   delete v;
                 })]() mutable { held.reset(); };
  return std::make_unique<Frame>(layout, std::move(mem));
}

// The decoder's planes copied, as they are (no conversion), into a buffer of the pool.
Result<MutableFramePtr> Capture::Impl::copied_into_pool(GstBuffer* buf, const GstVideoInfo& info,
                                                        PixelFormat format, int w, int h) {
  const FrameLayout layout = FrameLayout::packed(format, w, h);
  auto frame = pool.acquire(layout);
  if (!frame) return MutableFramePtr{};  // the pool is exhausted: dropped, counted
  GstVideoFrame vf;
  if (!gst_video_frame_map(&vf, &info, buf, GST_MAP_READ))
    return make_error("media.map", "stream '" + name + "': cannot map a decoded buffer");
  colour::ImageView src;
  src.format = format;
  src.width = w;
  src.height = h;
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(&vf) && i < src.planes.size(); ++i) {
    src.planes[i] = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, i));
    src.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(&vf, i);
  }
  const Status copied = colour::copy_image(src, layout, (*frame)->mutable_data());
  gst_video_frame_unmap(&vf);
  if (!copied) return copied.error();
  return frame;
}

void Capture::Impl::handle_sample(GstSample* sample, bool& delivered) {
  const Timestamp capture_time = clock.now();
  GstBuffer* buf = gst_sample_get_buffer(sample);
  GstCaps* caps = gst_sample_get_caps(sample);
  GstVideoInfo info;
  if (buf == nullptr || caps == nullptr || !gst_video_info_from_caps(&info, caps)) return;
  // 4:2:0 conversions need even sizes (colour/convert.h); an odd last row/column is cropped.
  const int w = GST_VIDEO_INFO_WIDTH(&info) & ~1, h = GST_VIDEO_INFO_HEIGHT(&info) & ~1;
  if (w <= 0 || h <= 0) return;
  // The decoder's layout is kept (ADR 0080): the frame holds I420 or NV12, the decoder's buffer
  // itself where it may be held (ADR 0089), else copied once; BGR is made only for the workers,
  // in their shared-memory slot (IpcBridge).
  const PixelFormat format = GST_VIDEO_INFO_FORMAT(&info) == GST_VIDEO_FORMAT_NV12
                                 ? PixelFormat::kNV12
                                 : PixelFormat::kI420;
  Result<MutableFramePtr> frame = by_reference(buf, info, format, w, h);
  const bool referenced = frame.ok() && *frame != nullptr;
  if (!referenced) frame = copied_into_pool(buf, info, format, w, h);
  if (!frame.ok() || *frame == nullptr) {
    update([](StreamStatus& s) { ++s.dropped; });
    if (!frame.ok()) spdlog::error("stream '{}': {}", name, frame.error().to_string());
    return;
  }
  Frame& f = **frame;

  // pts: the buffer's running time, rebased at each new attempt or loop so it keeps growing.
  const GstSegment* seg = gst_sample_get_segment(sample);
  Duration frame_dur = info.fps_n > 0 ? Duration::nanos(static_cast<int64_t>(
                                             gst_util_uint64_scale(GST_SECOND, static_cast<guint64>(info.fps_d),
                                                                   static_cast<guint64>(info.fps_n))))
                                      : Duration::millis(40);
  Duration raw = Duration::nanos(0);
  if (GST_BUFFER_PTS_IS_VALID(buf)) {
    const guint64 rt = seg ? gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf))
                           : GST_BUFFER_PTS(buf);
    if (GST_CLOCK_TIME_IS_VALID(rt)) raw = Duration::nanos(static_cast<int64_t>(rt));
  }
  if (rebase) {
    pts_offset = (have_pts ? last_pts + frame_dur : Duration::zero()) - raw;
    rebase = false;
  }
  Duration pts = raw + pts_offset;
  if (have_pts && pts <= last_pts) pts = last_pts + Duration::nanos(1);
  last_pts = pts;
  have_pts = true;

  FrameIdentity ident;
  ident.stream = id;
  ident.sequence = ++sequence;
  ident.pts = pts;
  ident.capture_time = capture_time;
  f.set_identity(ident);
  // Recorded before publish() (which is O(1)) so a subscriber never looks it up too early.
  if (timeline) timeline->record_published(ident.sequence, clock.now(), ident.capture_time);
  const double fps = info.fps_n > 0 ? static_cast<double>(info.fps_n) / info.fps_d : 0.0;
  // Likewise the nominal rate: the compositor builds the encoder on the first frame it takes,
  // at this rate (read after publish() it was sometimes still 0, and the encoder ran at 10).
  if (!delivered || fps != status_fps) {
    update([&](StreamStatus& s) { s.nominal_fps = fps; });
    status_fps = fps;
  }
  supplier.publish(freeze(std::move(*frame)));
  const bool first = !delivered;
  delivered = true;
  stalled = false;
  update([&](StreamStatus& s) {
    ++s.frames;
    if (referenced) ++s.by_reference;
    s.last_sequence = ident.sequence;
    s.width = w;
    s.height = h;
    s.nominal_fps = fps;
    s.state = StreamState::kLive;
  });
  if (first) spdlog::info("stream '{}': live ({}x{} @ {:.2f} fps)", name, w, h, fps);
}

// The error of a failed attempt: a refused TLS certificate says so (rtspsrc's own text is only
// "Could not open resource for reading and writing"); anything else is classified from the
// message (`m` may be null).
Error Capture::Impl::attempt_error(Attempt& a, GstMessage* m) {
  unsigned rejected = 0;
  {
    MutexLock lock(a.mu);
    rejected = a.tls_rejected;
  }
  if (rejected != 0) {
    return make_error("media.tls_untrusted",
                      "stream '" + name + "': the TLS certificate of '" + spec.location + "' was not trusted: " +
                          describe_tls_errors(rejected) +
                          ". If this camera uses a self-signed certificate, accept it with `tls_verify: false` on "
                          "the stream (still encrypted, but the camera's identity is not checked)");
  }
  if (m != nullptr) return error_from_message(name, m, spec.location);
  return make_error("media.pipeline", "stream '" + name + "': cannot start pipeline for '" + spec.location + "'");
}

Capture::Impl::AttemptResult Capture::Impl::run_attempt() {
  AttemptResult r;
  auto built = build();
  if (!built) {
    r.outcome = Outcome::kFailed;
    r.error = built.error();
    return r;
  }
  std::unique_ptr<Attempt> a = std::move(built.value());
  // However the attempt ends (an exception included), the pipeline is set to NULL before its
  // last reference goes.
  struct ToNull {
    GstElement* pipeline;
    ~ToNull() { gst_element_set_state(pipeline, GST_STATE_NULL); }
  } to_null{a->pipeline.get()};
  update([&](StreamStatus& s) {
    s.transport = spec.kind != SourceKind::kRtsp ? "" : spec.tls ? "tcp+tls" : use_udp ? "udp" : "tcp";
  });
  GstPtr<GstBus> bus = GstPtr<GstBus>::adopt(gst_element_get_bus(a->pipeline.get()));
  auto* appsink = GST_APP_SINK(a->appsink.get());
  rebase = true;
  const Timestamp started = clock.now();
  Timestamp last_frame;
  std::string decoder_seen;

  auto finish = [&](Outcome o, Error e) {
    r.outcome = o;
    r.error = std::move(e);
  };
  if (gst_element_set_state(a->pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    // The error message (if any) says why; otherwise a generic one.
    GstMessage* m = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR);
    finish(Outcome::kFailed, attempt_error(*a, m));
    if (m) gst_message_unref(m);
    return r;
  }
  r.outcome = Outcome::kStopped;
  while (!stopping.load()) {
    bool done = false;
    while (GstMessage* m = gst_bus_pop_filtered(
               bus.get(), static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_WARNING))) {
      GstMiniPtr<GstMessage> msg = GstMiniPtr<GstMessage>::adopt(m);
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
        finish(Outcome::kFailed, attempt_error(*a, m));
        done = true;
      } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
        if (spec.kind == SourceKind::kFile && opt.loop) {
          rebase = true;
          if (!gst_element_seek_simple(a->pipeline.get(), GST_FORMAT_TIME,
                                       static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT), 0)) {
            finish(Outcome::kFailed, make_error("media.pipeline", "stream '" + name + "': cannot loop: seek to start failed"));
            done = true;
          }
        } else if (spec.kind == SourceKind::kFile) {
          finish(Outcome::kEnded, make_error("media.ended", "stream '" + name + "': end of file"));
          done = true;
        } else {
          finish(Outcome::kFailed, make_error("media.ended", "stream '" + name + "': the source ended the stream"));
          done = true;
        }
      } else {
        GError* err = nullptr;
        gchar* dbg = nullptr;
        gst_message_parse_warning(m, &err, &dbg);
        spdlog::warn("stream '{}': {}", name, err ? err->message : "warning");
        if (err) g_error_free(err);
        g_free(dbg);
      }
      if (done) break;
    }
    if (done) break;
    {
      MutexLock lock(a->mu);
      if (a->no_video) {
        finish(Outcome::kFailed, make_error("media.not_video", "stream '" + name + "': '" + spec.location +
                                                                   "' has no video track"));
        break;
      }
      if (a->decoder != decoder_seen) {
        decoder_seen = a->decoder;
        update([&](StreamStatus& s) { s.decoder = decoder_seen; });
      }
    }
    GstSample* sample = gst_app_sink_try_pull_sample(appsink, 50 * GST_MSECOND);
    const Timestamp now = clock.now();
    if (sample != nullptr) {
      GstMiniPtr<GstSample> owned = GstMiniPtr<GstSample>::adopt(sample);
      handle_sample(sample, r.delivered);
      last_frame = now;
      continue;
    }
    if (gst_app_sink_is_eos(appsink)) pause_real_time(Duration::millis(10));  // EOS message follows
    if (!last_frame.is_set() && now - started > opt.connect_timeout) {
      finish(Outcome::kFailed,
             make_error("media.timeout", "stream '" + name + "': no frame within " +
                                             std::to_string(opt.connect_timeout.as_seconds()).substr(0, 4) +
                                             " s of opening '" + spec.location + "'"));
      break;
    }
    if (last_frame.is_set() && now - last_frame > opt.stall_timeout) {
      finish(Outcome::kFailed, make_error("media.stalled", "stream '" + name + "': no frame for " +
                                                               std::to_string(opt.stall_timeout.as_seconds()).substr(0, 4) +
                                                               " s (source stalled)"));
      break;
    }
  }
  return r;
}

void Capture::Impl::run() {
  // Thread entry point: an exception ends the thread, reported in the status, never the process.
  run_guarded(
      "cap-" + name, [this] { run_loop(); },
      [this](std::string_view why) {
        spdlog::error("stream '{}': capture thread failed: {}", name, why);
        update([&](StreamStatus& s) {
          s.state = StreamState::kFailed;
          s.last_error =
              "media.internal: stream '" + name + "': capture thread failed: " + std::string(why);
        });
      });
}

void Capture::Impl::run_loop() {
  Backoff backoff(BackoffPolicy{opt.backoff_initial, opt.backoff_max, opt.backoff_factor});
  while (!stopping.load()) {
    update([this](StreamStatus& s) {
      s.state = stalled ? StreamState::kStalled : StreamState::kConnecting;
      ++s.attempts;
    });
    AttemptResult r = run_attempt();  // its pipeline is in NULL and released on return
    release_freed_memory();
    if (stopping.load()) break;
    if (r.outcome == Outcome::kEnded) {
      spdlog::info("{}", r.error.message);
      update([&](StreamStatus& s) {
        s.state = StreamState::kEnded;
        s.last_error = r.error.to_string();
      });
      wait_until(Clock::kNever);  // until stop()
      break;
    }
    if (r.error.code == "media.stalled") stalled = true;
    if (r.delivered) {
      backoff.reset();  // a camera that delivered: the next failure waits `initial` again
    } else if (spec.kind == SourceKind::kRtsp && !spec.tls) {
      use_udp = !use_udp;  // TCP first; an attempt that got nothing tries the other transport
    }
    const Duration delay = backoff.next();
    const Timestamp retry = clock.deadline_after(delay);
    spdlog::warn("{} (code {}); retrying in {:.1f} s", r.error.message, r.error.code,
                 delay.as_seconds());
    update([&](StreamStatus& s) REQUIRES(status_mu) {
      s.state = stalled ? StreamState::kStalled : StreamState::kRetrying;
      s.last_error = r.error.to_string();
      s.backoff = delay;
      s.retry_in = delay;
      retry_at = retry;
    });
    if (!wait_until(retry)) break;
  }
  update([](StreamStatus& s) { s.state = StreamState::kStopped; });
}

Result<std::unique_ptr<Capture>> Capture::create(std::string stream_name, StreamId stream_id,
                                                 std::string url, CaptureOptions options,
                                                 FramePool& pool, FrameSupplier& supplier,
                                                 FrameTimeline* timeline) {
  auto spec = parse_source_url(url);
  if (!spec) {
    return make_error(spec.error().code, "stream '" + stream_name + "': " + spec.error().message);
  }
  ensure_gstreamer();
  return std::unique_ptr<Capture>(new Capture(std::make_unique<Impl>(
      std::move(stream_name), stream_id, std::move(spec.value()), options, pool, supplier, timeline)));
}

Capture::Capture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Capture::~Capture() { stop(); }

void Capture::start() {
  if (impl_->thread.joinable() || impl_->stopping.load()) return;
  impl_->thread = std::thread([this] { impl_->run(); });
}

void Capture::stop() {
  {
    MutexLock lock(impl_->wait_mu);
    impl_->stopping.store(true);
  }
  impl_->wait_cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

StreamStatus Capture::status() const {
  MutexLock lock(impl_->status_mu);
  StreamStatus s = impl_->status;
  if (s.state == StreamState::kRetrying || s.state == StreamState::kStalled) {
    s.retry_in = std::max(Duration::zero(), impl_->retry_at - impl_->clock.now());
  }
  return s;
}

const std::string& Capture::name() const { return impl_->name; }

}  // namespace orion::media
