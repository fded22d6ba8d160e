// NvdecSource on GStreamer nvcodec (built when CUDA and GStreamer's CUDA library are found).
#include "gpu/nvdec_source.h"

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "core/clock.h"

// The few functions of GStreamer's CUDA library (gst-plugins-bad 1.22, "unstable API") used
// here, declared by hand so that no -dev package of gst-plugins-bad is needed to build.
extern "C" {
typedef struct _GstCudaContext GstCudaContext;
gboolean gst_cuda_load_library(void);
GstCudaContext* gst_cuda_context_new_wrapped(CUcontext handler, CUdevice device);
GstContext* gst_context_new_cuda_context(GstCudaContext* cuda_ctx);
}
#define ORION_GST_MAP_CUDA (GST_MAP_FLAG_LAST << 1)  // GST_MAP_CUDA of gstcudamemory.h

namespace orion::gpu {
namespace {

void init_gstreamer() {
  static std::once_flag once;
  std::call_once(once, [] { gst_init(nullptr, nullptr); });
}

std::string decoder_name(const std::string& codec, int device) {
  return device == 0 ? "nv" + codec + "dec"
                     : "nv" + codec + "device" + std::to_string(device) + "dec";
}

// The primary context of `device`, wrapped for GStreamer (one per device, kept for the process).
Result<GstContext*> cuda_context(int device) {
  static std::mutex mu;
  static std::vector<GstContext*> contexts;
  std::lock_guard lock(mu);
  if (contexts.size() <= static_cast<size_t>(device))
    contexts.resize(static_cast<size_t>(device) + 1, nullptr);
  if (contexts[static_cast<size_t>(device)]) return contexts[static_cast<size_t>(device)];
  // The driver API through dlopen: linking libcuda would make every orion binary need the
  // driver, also on machines without a GPU. The primary context comes from the runtime.
  auto fail = [&](const std::string& what) {
    return make_error("gpu.unavailable", what + " failed for cuda:" + std::to_string(device));
  };
  if (cudaSetDevice(device) != cudaSuccess || cudaFree(nullptr) != cudaSuccess) {
    return fail(std::string("CUDA runtime initialisation (") +
                cudaGetErrorString(cudaGetLastError()) + ")");
  }
  void* libcuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!libcuda) return fail("dlopen(libcuda.so.1)");
  using CtxGetCurrent = CUresult (*)(CUcontext*);
  using DeviceGet = CUresult (*)(CUdevice*, int);
  auto ctx_get_current = reinterpret_cast<CtxGetCurrent>(dlsym(libcuda, "cuCtxGetCurrent"));
  auto device_get = reinterpret_cast<DeviceGet>(dlsym(libcuda, "cuDeviceGet"));
  if (!ctx_get_current || !device_get) return fail("dlsym(cuCtxGetCurrent/cuDeviceGet)");
  CUcontext ctx = nullptr;
  if (ctx_get_current(&ctx) != CUDA_SUCCESS || ctx == nullptr) return fail("cuCtxGetCurrent");
  CUdevice dev;
  if (device_get(&dev, device) != CUDA_SUCCESS) return fail("cuDeviceGet");
  if (!gst_cuda_load_library())
    return make_error("gpu.unavailable", "GStreamer's CUDA library could not load libcuda");
  GstCudaContext* gctx = gst_cuda_context_new_wrapped(ctx, dev);
  if (!gctx)
    return make_error("gpu.unavailable",
                      "gst_cuda_context_new_wrapped failed for cuda:" + std::to_string(device));
  GstContext* c = gst_context_new_cuda_context(gctx);
  gst_object_unref(gctx);
  contexts[static_cast<size_t>(device)] = c;
  return c;
}

class GstNvdecSource final : public NvdecSource {
 public:
  GstNvdecSource(NvdecOptions o, OnFrame f) : opt_(std::move(o)), on_frame_(std::move(f)) {}
  ~GstNvdecSource() override {
    stop();
    if (pipeline_) gst_object_unref(pipeline_);
  }

  Status build() {
    const std::string dec = decoder_name(opt_.codec, opt_.device);
    const std::string parse = opt_.codec == "h265" ? "h265parse" : "h264parse";
    const int n = std::max(1, opt_.branches);
    std::string desc;
    for (int i = 0; i < n; ++i) {
      const std::string k = std::to_string(i);
      desc += "filesrc name=src" + k + " ! qtdemux ! " + parse + " ! " +
              std::string(opt_.realtime && opt_.pace_input ? "identity sync=true ! queue ! " : "") +
              dec + " name=dec" + k + " ! video/x-raw(memory:CUDAMemory),format=NV12 ! " +
              (opt_.realtime && !opt_.pace_input && opt_.decode_ahead > 0
                   ? "queue max-size-buffers=" + std::to_string(opt_.decode_ahead) +
                         " max-size-bytes=0 max-size-time=0 ! "
                   : std::string()) +
              (opt_.count_only ? "fakesink name=sink" + k + " sync="
                               : "appsink name=sink" + k + " max-buffers=2 drop=false sync=") +
              std::string(opt_.realtime && !opt_.pace_input ? "true" : "false") + " ";
    }
    GError* err = nullptr;
    pipeline_ = gst_parse_launch(desc.c_str(), &err);
    if (err) {
      std::string m = err->message;
      g_error_free(err);
      if (pipeline_) gst_object_unref(pipeline_);
      pipeline_ = nullptr;
      return make_error("media.pipeline", "cannot build '" + desc + "': " + m);
    }
    GstContext* ctx = nullptr;
    if (!opt_.gstreamer_context) {
      auto c = cuda_context(opt_.device);
      if (!c) return c.error();
      ctx = *c;
    }
    branches_.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const std::string k = std::to_string(i);
      Branch& b = branches_[static_cast<size_t>(i)];
      b.self = this;
      b.stream = opt_.stream + static_cast<StreamId>(i);
      GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline_), ("src" + k).c_str());
      g_object_set(src, "location", opt_.path.c_str(), nullptr);
      gst_object_unref(src);
      if (ctx) {
        GstElement* d = gst_bin_get_by_name(GST_BIN(pipeline_), ("dec" + k).c_str());
        gst_element_set_context(d, ctx);
        gst_object_unref(d);
      }
      GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline_), ("sink" + k).c_str());
      if (opt_.count_only) {
        GstPad* pad = gst_element_get_static_pad(sink, "sink");
        gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, &GstNvdecSource::count_buffer, this,
                          nullptr);
        gst_object_unref(pad);
      } else {
        GstAppSinkCallbacks cb{};
        cb.new_sample = &GstNvdecSource::on_sample;
        gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, &b, nullptr);
      }
      gst_object_unref(sink);
    }
    return {};
  }

  Status start() override {
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      return make_error("media.pipeline", "cannot play " + opt_.path + ": " + bus_error_now());
    }
    running_ = true;
    bus_thread_ = std::thread([this] { bus_loop(); });
    return {};
  }

  void stop() override {
    if (!pipeline_) return;
    running_ = false;
    if (bus_thread_.joinable()) bus_thread_.join();
    gst_element_set_state(pipeline_, GST_STATE_NULL);
  }

  uint64_t frames() const override { return frames_.load(std::memory_order_relaxed); }
  bool finished() const override { return finished_.load(); }
  std::string error() const override {
    std::lock_guard lock(err_mu_);
    return error_;
  }

 private:
  std::string bus_error_now() {
    GstBus* bus = gst_element_get_bus(pipeline_);
    std::string m = "state change failed";
    if (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gst_message_parse_error(msg, &e, nullptr);
      m = e->message;
      g_error_free(e);
      gst_message_unref(msg);
    }
    gst_object_unref(bus);
    return m;
  }

  void bus_loop() {
    GstBus* bus = gst_element_get_bus(pipeline_);
    while (running_) {
      GstMessage* msg = gst_bus_timed_pop_filtered(
          bus, 100 * GST_MSECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
      if (!msg) continue;
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
        if (!opt_.loop ||
            !gst_element_seek_simple(
                pipeline_, GST_FORMAT_TIME,
                static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT), 0)) {
          finished_ = true;
        }
      } else {
        GError* e = nullptr;
        gchar* dbg = nullptr;
        gst_message_parse_error(msg, &e, &dbg);
        {
          std::lock_guard lock(err_mu_);
          error_ = std::string(e->message) + (dbg ? std::string(" (") + dbg + ")" : "");
        }
        g_error_free(e);
        g_free(dbg);
        finished_ = true;
      }
      gst_message_unref(msg);
    }
    gst_object_unref(bus);
  }

  // One decoder's branch of the pipeline; its fields belong to that branch's streaming thread.
  struct Branch {
    GstNvdecSource* self = nullptr;
    StreamId stream = 0;
    GstVideoInfo info{};
    bool info_ready = false;
    uint64_t seq = 0;
  };

  // count_only: a fakesink in place of the appsink, its buffers counted here.
  static GstPadProbeReturn count_buffer(GstPad*, GstPadProbeInfo*, gpointer self_ptr) {
    static_cast<GstNvdecSource*>(self_ptr)->frames_.fetch_add(1, std::memory_order_relaxed);
    return GST_PAD_PROBE_OK;
  }

  static GstFlowReturn on_sample(GstAppSink* sink, gpointer branch_ptr) {
    auto* branch = static_cast<Branch*>(branch_ptr);
    GstNvdecSource* self = branch->self;
    GstSample* sample = gst_app_sink_pull_sample(sink);
    if (!sample) return GST_FLOW_EOS;
    GstBuffer* buf = gst_sample_get_buffer(sample);
    if (!branch->info_ready) {
      if (!gst_video_info_from_caps(&branch->info, gst_sample_get_caps(sample))) {
        gst_sample_unref(sample);
        return GST_FLOW_ERROR;
      }
      branch->info_ready = true;
    }
    auto* map = new GstMapInfo;
    if (!gst_buffer_map(buf, map, static_cast<GstMapFlags>(GST_MAP_READ | ORION_GST_MAP_CUDA))) {
      delete map;
      gst_sample_unref(sample);
      std::lock_guard lock(self->err_mu_);
      self->error_ = "cannot map a decoded buffer as CUDA memory";
      self->finished_ = true;
      return GST_FLOW_ERROR;
    }
    FrameLayout layout;
    layout.format = PixelFormat::kNV12;
    layout.width = GST_VIDEO_INFO_WIDTH(&branch->info);
    layout.height = GST_VIDEO_INFO_HEIGHT(&branch->info);
    layout.plane_count = 2;
    if (GstVideoMeta* meta = gst_buffer_get_video_meta(buf)) {
      for (int p = 0; p < 2; ++p) {
        layout.offsets[static_cast<size_t>(p)] = meta->offset[p];
        layout.strides[static_cast<size_t>(p)] = meta->stride[p];
      }
    } else {
      for (int p = 0; p < 2; ++p) {
        layout.offsets[static_cast<size_t>(p)] = GST_VIDEO_INFO_PLANE_OFFSET(&branch->info, p);
        layout.strides[static_cast<size_t>(p)] = GST_VIDEO_INFO_PLANE_STRIDE(&branch->info, p);
      }
    }
    layout.size = map->size;
    PixelMemory mem;
    mem.data = map->data;  // a CUdeviceptr (GST_MAP_CUDA)
    mem.size = map->size;
    mem.kind = MemoryKind::kDevice;
    mem.release = [buf, map, sample] {
      gst_buffer_unmap(buf, map);
      delete map;
      gst_sample_unref(sample);
    };
    auto frame = std::make_unique<Frame>(layout, std::move(mem));
    self->frames_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t seq = ++branch->seq;
    const GstClockTime pts = GST_BUFFER_PTS(buf);
    frame->set_identity(
        FrameIdentity{branch->stream, seq,
                      Duration::nanos(GST_CLOCK_TIME_IS_VALID(pts) ? static_cast<int64_t>(pts) : 0),
                      SteadyClock::instance().now()});
    self->on_frame_(freeze(std::move(frame)));
    return GST_FLOW_OK;
  }

  NvdecOptions opt_;
  OnFrame on_frame_;
  GstElement* pipeline_ = nullptr;
  std::thread bus_thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> frames_{0};
  std::vector<Branch> branches_;  // built by build(), then each entry is its branch's
  mutable std::mutex err_mu_;
  std::string error_;
};

}  // namespace

bool nvdec_available(int device, const std::string& codec, std::string* why) {
  init_gstreamer();
  const std::string name = decoder_name(codec, device);
  GstElementFactory* f = gst_element_factory_find(name.c_str());
  if (!f) {
    if (why) {
      *why = "GStreamer has no element '" + name +
             "' (nvcodec plugin of gst-plugins-bad missing, or it found no NVDEC for cuda:" +
             std::to_string(device) + ")";
    }
    return false;
  }
  gst_object_unref(f);
  return true;
}

Result<NvdecSourcePtr> NvdecSource::open(const NvdecOptions& options, OnFrame on_frame) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.path, ec)) {
    return make_error("media.bad_source", "video file '" + options.path + "' not found");
  }
  if (options.codec != "h264" && options.codec != "h265") {
    return make_error("media.bad_source", "codec '" + options.codec + "' is not h264 or h265");
  }
  std::string why;
  if (!nvdec_available(options.device, options.codec, &why))
    return make_error("gpu.unavailable", why);
  auto src = std::make_unique<GstNvdecSource>(options, std::move(on_frame));
  if (auto st = src->build(); !st) return st.error();
  return NvdecSourcePtr(std::move(src));
}

}  // namespace orion::gpu
