#include "media/testing/rtsp_fixtures.h"

#include <fcntl.h>
#include <gst/app/gstappsink.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <gst/video/video.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "media/capture.h"
#include "media/gst_ptr.h"
#include "media/gst_util.h"
#include "media/overlay.h"

namespace orion::media::testing {

namespace {
GstRTSPFilterResult close_client(GstRTSPServer*, GstRTSPClient*, gpointer) { return GST_RTSP_FILTER_REMOVE; }

using FrozenFlag = std::shared_ptr<std::atomic<bool>>;

GstPadProbeReturn drop_when_frozen(GstPad*, GstPadProbeInfo*, gpointer user) {
  return (*static_cast<FrozenFlag*>(user))->load() ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

void delete_flag(gpointer p) { delete static_cast<FrozenFlag*>(p); }
void delete_flag_closure(gpointer p, GClosure*) { delete_flag(p); }

}  // namespace

// What a stamped pattern's pictures were stamped with and when (shared by its medias).
struct StampLog {
  Mutex mu;
  uint64_t next GUARDED_BY(mu) = 0;
  std::unordered_map<uint64_t, Timestamp> at GUARDED_BY(mu);
};

namespace {

using StampLogPtr = std::shared_ptr<StampLog>;

// Stamps each raw picture (I420) with the next code and records when, just before it goes to
// the source's encoder: the "glass" time of that picture.
GstPadProbeReturn stamp_picture(GstPad* pad, GstPadProbeInfo* info, gpointer user) {
  StampLog& log = **static_cast<StampLogPtr*>(user);
  GstBuffer* buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  GstMiniPtr<GstCaps> caps = GstMiniPtr<GstCaps>::adopt(gst_pad_get_current_caps(pad));
  GstVideoInfo vi;
  if (!caps || !gst_video_info_from_caps(&vi, caps.get())) return GST_PAD_PROBE_OK;
  GstVideoFrame vf;
  if (!gst_video_frame_map(&vf, &vi, buf, GST_MAP_WRITE)) return GST_PAD_PROBE_OK;
  YuvPicture pic;
  pic.format = PixelFormat::kI420;
  pic.width = GST_VIDEO_INFO_WIDTH(&vi);
  pic.height = GST_VIDEO_INFO_HEIGHT(&vi);
  for (guint i = 0; i < 3; ++i) {
    pic.planes[i] = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, i));
    pic.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(&vf, i);
  }
  uint64_t code = 0;
  {
    MutexLock lock(log.mu);
    code = ++log.next;
  }
  stamp_sequence(pic, code);
  gst_video_frame_unmap(&vf);
  const Timestamp now = SteadyClock::instance().now();
  MutexLock lock(log.mu);
  log.at[code] = now;
  return GST_PAD_PROBE_OK;
}

void delete_log(gpointer p) { delete static_cast<StampLogPtr*>(p); }
void delete_log_closure(gpointer p, GClosure*) { delete_log(p); }

void on_media_stamp(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer user) {
  GstPtr<GstElement> bin = GstPtr<GstElement>::adopt(gst_rtsp_media_get_element(media));
  GstPtr<GstElement> stamp =
      GstPtr<GstElement>::adopt(gst_bin_get_by_name(GST_BIN(bin.get()), "stamp"));
  if (!stamp) return;
  GstPad* pad = gst_element_get_static_pad(stamp.get(), "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, stamp_picture,
                    new StampLogPtr(*static_cast<StampLogPtr*>(user)), delete_log);
  gst_object_unref(pad);
}

void on_media_configure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer user) {
  GstPtr<GstElement> bin = GstPtr<GstElement>::adopt(gst_rtsp_media_get_element(media));
  GstPtr<GstElement> pay = GstPtr<GstElement>::adopt(gst_bin_get_by_name(GST_BIN(bin.get()), "pay0"));
  if (!pay) return;
  GstPad* pad = gst_element_get_static_pad(pay.get(), "src");
  gst_pad_add_probe(pad, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST), drop_when_frozen, new FrozenFlag(*static_cast<FrozenFlag*>(user)),
                    delete_flag);
  gst_object_unref(pad);
}
}  // namespace

Result<std::unique_ptr<SelfSignedCertificate>> SelfSignedCertificate::generate() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "orion-tls-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return make_error("testing.tls", "cannot create a temporary folder");
  const std::string dir = tmpl;
  TlsServerFiles files{dir + "/cert.pem", dir + "/key.pem"};
  const std::string log = dir + "/openssl.log";
  // EC P-256: generated in milliseconds; valid from now for 2 days; never written elsewhere.
  std::vector<std::string> args = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                                   "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                   "-keyout", files.key, "-out", files.certificate};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "openssl", &fa, nullptr, argv.data(), ::environ);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  if (rc == 0) ::waitpid(pid, &status, 0);
  if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !std::filesystem::exists(files.key)) {
    std::stringstream out;
    out << std::ifstream(log).rdbuf();
    std::filesystem::remove_all(dir);
    return make_error("testing.tls", rc != 0 ? "cannot run 'openssl' (scripts/install-deps.sh installs it)"
                                             : "openssl failed to make a self-signed certificate: " + out.str());
  }
  return std::unique_ptr<SelfSignedCertificate>(new SelfSignedCertificate(dir, std::move(files)));
}

SelfSignedCertificate::SelfSignedCertificate(std::string dir, TlsServerFiles files)
    : dir_(std::move(dir)), files_(std::move(files)) {}

SelfSignedCertificate::~SelfSignedCertificate() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

struct RtspSourceFixture::Impl {
  std::string launch;
  bool shared = false;
  StampLogPtr stamps;  // stamped patterns only
  std::optional<TlsServerFiles> tls;
  FrozenFlag frozen = std::make_shared<std::atomic<bool>>(false);
  int port = 0;
  GstPtr<GstRTSPServer> server;
  GMainContext* ctx = nullptr;
  GMainLoop* loop = nullptr;
  guint source_id = 0;
  std::thread thread;

  // TLS: the server presents the certificate; anyone may play (default token, role allowed
  // on the factory) and the media goes interleaved in the TLS connection only.
  Status setup_tls(GstRTSPMediaFactory* factory) {
    GError* err = nullptr;
    GTlsCertificate* cert =
        g_tls_certificate_new_from_files(tls->certificate.c_str(), tls->key.c_str(), &err);
    if (cert == nullptr) {
      std::string why = err ? err->message : "unknown error";
      if (err) g_error_free(err);
      return make_error("rtsp.tls", "source fixture cannot load certificate '" + tls->certificate + "': " + why);
    }
    GstRTSPAuth* auth = gst_rtsp_auth_new();
    gst_rtsp_auth_set_tls_certificate(auth, cert);
    g_object_unref(cert);
    GstRTSPToken* token =
        gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "anonymous", nullptr);
    gst_rtsp_auth_set_default_token(auth, token);
    gst_rtsp_token_unref(token);
    gst_rtsp_media_factory_add_role(factory, "anonymous", GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN,
                                    TRUE, GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, nullptr);
    gst_rtsp_media_factory_set_protocols(factory, GST_RTSP_LOWER_TRANS_TCP);
    gst_rtsp_server_set_auth(server.get(), auth);
    g_object_unref(auth);
    return {};
  }

  Status serve(int want_port) {
    server = GstPtr<GstRTSPServer>::adopt(gst_rtsp_server_new());
    gst_rtsp_server_set_address(server.get(), "127.0.0.1");
    gst_rtsp_server_set_service(server.get(), std::to_string(want_port).c_str());
    GstPtr<GstRTSPMountPoints> mounts = GstPtr<GstRTSPMountPoints>::adopt(gst_rtsp_server_get_mount_points(server.get()));
    GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
    gst_rtsp_media_factory_set_launch(factory, launch.c_str());
    gst_rtsp_media_factory_set_shared(factory, shared ? TRUE : FALSE);
    g_signal_connect_data(factory, "media-configure", G_CALLBACK(on_media_configure), new FrozenFlag(frozen),
                          delete_flag_closure, static_cast<GConnectFlags>(0));
    if (stamps)
      g_signal_connect_data(factory, "media-configure", G_CALLBACK(on_media_stamp),
                            new StampLogPtr(stamps), delete_log_closure,
                            static_cast<GConnectFlags>(0));
    if (tls) {
      if (auto st = setup_tls(factory); !st) {
        g_object_unref(factory);
        server.reset();
        return st.error();
      }
    }
    gst_rtsp_mount_points_add_factory(mounts.get(), "/src", factory);
    ctx = g_main_context_new();
    source_id = gst_rtsp_server_attach(server.get(), ctx);
    if (source_id == 0) {
      g_main_context_unref(ctx);
      ctx = nullptr;
      server.reset();
      return make_error("rtsp.bind", "source fixture cannot listen on 127.0.0.1:" + std::to_string(want_port));
    }
    port = gst_rtsp_server_get_bound_port(server.get());
    loop = g_main_loop_new(ctx, FALSE);
    thread = std::thread([this] {
      g_main_context_push_thread_default(ctx);
      run_guarded("rtsp-fixture", [this] { g_main_loop_run(loop); });  // a death shows on stderr
      g_main_context_pop_thread_default(ctx);
    });
    return {};
  }

  void stop() {
    if (!server) return;
    gst_rtsp_server_client_filter(server.get(), close_client, nullptr);
    if (GSource* s = g_main_context_find_source_by_id(ctx, source_id)) g_source_destroy(s);
    g_main_loop_quit(loop);
    thread.join();
    g_main_loop_unref(loop);
    g_main_context_unref(ctx);
    loop = nullptr;
    ctx = nullptr;
    server.reset();
  }
};

RtspSourceFixture::RtspSourceFixture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RtspSourceFixture::~RtspSourceFixture() { stop(); }

Result<std::unique_ptr<RtspSourceFixture>> RtspSourceFixture::serve_file(const std::string& path, int port,
                                                                          std::optional<TlsServerFiles> tls) {
  ensure_gstreamer();
  auto impl = std::make_unique<Impl>();
  impl->tls = std::move(tls);
  impl->launch = "( filesrc location=\"" + path +
                 "\" ! qtdemux name=d d.video_0 ! queue ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )";
  if (auto s = impl->serve(port); !s) return s.error();
  return std::unique_ptr<RtspSourceFixture>(new RtspSourceFixture(std::move(impl)));
}

Result<std::unique_ptr<RtspSourceFixture>> RtspSourceFixture::serve_stamped_pattern(int width,
                                                                                    int height,
                                                                                    int fps,
                                                                                    int port) {
  ensure_gstreamer();
  auto impl = std::make_unique<Impl>();
  impl->stamps = std::make_shared<StampLog>();
  impl->launch = "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=" +
                 std::to_string(width) + ",height=" + std::to_string(height) +
                 ",framerate=" + std::to_string(fps) +
                 "/1 ! identity name=stamp ! x264enc tune=zerolatency speed-preset=ultrafast "
                 "threads=1 key-int-max=" +
                 std::to_string(fps) +
                 " ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )";
  if (auto s = impl->serve(port); !s) return s.error();
  return std::unique_ptr<RtspSourceFixture>(new RtspSourceFixture(std::move(impl)));
}

Result<std::unique_ptr<RtspSourceFixture>> RtspSourceFixture::serve_relay(
    const std::string& source_url, const RelayEncoding& enc, int port) {
  ensure_gstreamer();
  auto impl = std::make_unique<Impl>();
  impl->shared =
      true;  // one decode and one encode whatever the number of clients, as Orion's output
  impl->launch =
      "( rtspsrc location=" + source_url +
      " protocols=tcp latency=" + std::to_string(enc.rtsp_latency_ms) +
      " ! rtph264depay ! h264parse ! avdec_h264 ! x264enc tune=zerolatency speed-preset=ultrafast "
      "threads=1 bframes=0 byte-stream=true key-int-max=" +
      std::to_string(enc.key_int_max) + " bitrate=" + std::to_string(enc.bitrate_kbps) +
      " ! video/x-h264,stream-format=byte-stream,alignment=au ! h264parse config-interval=-1 ! "
      "rtph264pay name=pay0 pt=96 )";
  if (auto s = impl->serve(port); !s) return s.error();
  return std::unique_ptr<RtspSourceFixture>(new RtspSourceFixture(std::move(impl)));
}

std::optional<Timestamp> RtspSourceFixture::stamped_at(uint64_t code) const {
  if (!impl_->stamps) return std::nullopt;
  MutexLock lock(impl_->stamps->mu);
  auto it = impl_->stamps->at.find(code);
  if (it == impl_->stamps->at.end()) return std::nullopt;
  return it->second;
}

uint64_t RtspSourceFixture::stamped() const {
  if (!impl_->stamps) return 0;
  MutexLock lock(impl_->stamps->mu);
  return impl_->stamps->next;
}

Result<std::unique_ptr<RtspSourceFixture>> RtspSourceFixture::serve_pattern(int width, int height, int fps, int port,
                                                                             std::optional<TlsServerFiles> tls) {
  ensure_gstreamer();
  auto impl = std::make_unique<Impl>();
  impl->tls = std::move(tls);
  impl->launch = "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=" + std::to_string(width) +
                 ",height=" + std::to_string(height) + ",framerate=" + std::to_string(fps) +
                 "/1 ! x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max=" + std::to_string(fps) +
                 " ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )";
  if (auto s = impl->serve(port); !s) return s.error();
  return std::unique_ptr<RtspSourceFixture>(new RtspSourceFixture(std::move(impl)));
}

std::string RtspSourceFixture::url() const {
  return std::string(impl_->tls ? "rtsps" : "rtsp") + "://127.0.0.1:" + std::to_string(impl_->port) + "/src";
}
int RtspSourceFixture::port() const { return impl_->port; }
void RtspSourceFixture::stop() { impl_->stop(); }
void RtspSourceFixture::set_frozen(bool frozen) { impl_->frozen->store(frozen); }
Status RtspSourceFixture::restart() {
  impl_->stop();
  return impl_->serve(impl_->port);
}

struct RtspTestClient::Impl {
  GstPtr<GstElement> pipeline;
  GstPtr<GstElement> sink;
  std::thread thread;
  std::atomic<bool> stopping{false};  // read without a lock
  mutable Mutex mu;                   // a leaf
  std::vector<ReceivedFrame> frames GUARDED_BY(mu);
  std::string error GUARDED_BY(mu);
  bool ended GUARDED_BY(mu) = false;  // end of stream or an error
  // The depayloader's counters (its streaming thread writes, anyone reads).
  std::atomic<uint64_t> rtp_packets{0}, rtp_lost{0}, access_units{0};
  int last_seq = -1;  // the depayloader's streaming thread only

  void count_packet(GstBuffer* buf) {
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) return;
    const int seq = gst_rtp_buffer_get_seq(&rtp);
    gst_rtp_buffer_unmap(&rtp);
    rtp_packets.fetch_add(1, std::memory_order_relaxed);
    if (last_seq >= 0) {
      const int gap = (seq - last_seq - 1 + 65536) % 65536;
      if (gap > 0 && gap < 32768)
        rtp_lost.fetch_add(static_cast<uint64_t>(gap), std::memory_order_relaxed);
    }
    last_seq = seq;
  }
  static GstPadProbeReturn on_rtp(GstPad*, GstPadProbeInfo* info, gpointer user) {
    auto* self = static_cast<Impl*>(user);
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
      GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
      for (guint i = 0; i < gst_buffer_list_length(list); ++i)
        self->count_packet(gst_buffer_list_get(list, i));
    } else if (GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info)) {
      self->count_packet(b);
    }
    return GST_PAD_PROBE_OK;
  }
  static GstPadProbeReturn on_access_unit(GstPad*, GstPadProbeInfo* info, gpointer user) {
    auto* self = static_cast<Impl*>(user);
    const uint64_t n = (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST)
                           ? gst_buffer_list_length(GST_PAD_PROBE_INFO_BUFFER_LIST(info))
                           : 1;
    self->access_units.fetch_add(n, std::memory_order_relaxed);
    return GST_PAD_PROBE_OK;
  }

  void run() {
    GstPtr<GstBus> bus = GstPtr<GstBus>::adopt(gst_element_get_bus(pipeline.get()));
    while (!stopping.load()) {
      if (GstMessage* m = gst_bus_pop_filtered(
              bus.get(), static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS))) {
        MutexLock lock(mu);
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR)
          error = error_from_message("client", m).to_string();
        ended = true;
        gst_message_unref(m);
      }
      GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink.get()), 50 * GST_MSECOND);
      if (s == nullptr) continue;
      ReceivedFrame f;
      f.arrival = SteadyClock::instance().now();
      GstBuffer* buf = gst_sample_get_buffer(s);
      GstVideoInfo info;
      if (gst_video_info_from_caps(&info, gst_sample_get_caps(s))) {
        f.width = GST_VIDEO_INFO_WIDTH(&info);
        f.height = GST_VIDEO_INFO_HEIGHT(&info);
        GstVideoFrame vf;
        if (gst_video_frame_map(&vf, &info, buf, GST_MAP_READ)) {
          f.sequence = read_sequence(static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, 0)), f.width, f.height,
                                     GST_VIDEO_FRAME_PLANE_STRIDE(&vf, 0));
          gst_video_frame_unmap(&vf);
        }
      }
      if (GST_BUFFER_PTS_IS_VALID(buf)) f.pts = Duration::nanos(static_cast<int64_t>(GST_BUFFER_PTS(buf)));
      gst_sample_unref(s);
      MutexLock lock(mu);
      frames.push_back(f);
    }
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  }
};

RtspTestClient::RtspTestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RtspTestClient::~RtspTestClient() { stop(); }

Result<std::unique_ptr<RtspTestClient>> RtspTestClient::start(const std::string& url, bool tcp,
                                                              int latency_ms) {
  ensure_gstreamer();
  auto impl = std::make_unique<Impl>();
  const std::string desc =
      "rtspsrc location=" + url + " protocols=" + (tcp ? "tcp" : "udp") +
      " latency=" + std::to_string(latency_ms) +
      " ! rtph264depay name=depay ! h264parse ! avdec_h264 ! videoconvert ! "
      "video/x-raw,format=GRAY8 ! appsink name=sink sync=false max-buffers=100";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (err != nullptr) {
    std::string msg = err->message;
    g_error_free(err);
    if (p) gst_object_unref(p);
    return make_error("media.missing_plugin", "test client: " + msg);
  }
  impl->pipeline = GstPtr<GstElement>::adopt(p);
  impl->sink = GstPtr<GstElement>::adopt(gst_bin_get_by_name(GST_BIN(p), "sink"));
  {
    GstPtr<GstElement> depay = GstPtr<GstElement>::adopt(gst_bin_get_by_name(GST_BIN(p), "depay"));
    const auto types =
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST);
    GstPad* in = gst_element_get_static_pad(depay.get(), "sink");
    gst_pad_add_probe(in, types, &Impl::on_rtp, impl.get(), nullptr);
    gst_object_unref(in);
    GstPad* out = gst_element_get_static_pad(depay.get(), "src");
    gst_pad_add_probe(out, types, &Impl::on_access_unit, impl.get(), nullptr);
    gst_object_unref(out);
  }
  gst_element_set_state(p, GST_STATE_PLAYING);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    run_guarded(
        "rtsp-client", [raw] { raw->run(); },
        [raw](std::string_view why) {
          MutexLock lock(raw->mu);
          raw->error = "test client thread died: " + std::string(why);
        });
  });
  return std::unique_ptr<RtspTestClient>(new RtspTestClient(std::move(impl)));
}

std::vector<ReceivedFrame> RtspTestClient::frames() const {
  MutexLock lock(impl_->mu);
  return impl_->frames;
}

std::vector<ReceivedFrame> RtspTestClient::take_frames() {
  MutexLock lock(impl_->mu);
  std::vector<ReceivedFrame> out;
  out.swap(impl_->frames);
  return out;
}

RtpCounters RtspTestClient::rtp() const {
  RtpCounters c;
  c.packets = impl_->rtp_packets.load(std::memory_order_relaxed);
  c.lost = impl_->rtp_lost.load(std::memory_order_relaxed);
  c.access_units = impl_->access_units.load(std::memory_order_relaxed);
  return c;
}

bool RtspTestClient::ended() const {
  MutexLock lock(impl_->mu);
  return impl_->ended;
}

std::string RtspTestClient::error() const {
  MutexLock lock(impl_->mu);
  return impl_->error;
}

void RtspTestClient::stop() {
  impl_->stopping.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace orion::media::testing
