#include "media/decode_probe.h"

#include <atomic>
#include <cstring>

#include "core/clock.h"
#include "core/thread_annotations.h"
#include "media/capture.h"
#include "media/gst_ptr.h"
#include "media/gst_util.h"

namespace orion::media {

namespace {

struct Counter {
  std::atomic<uint64_t> frames{0};  // read without a lock
  Mutex mu;
  std::string decoder GUARDED_BY(mu);
};

GstPadProbeReturn count_buffer(GstPad*, GstPadProbeInfo*, gpointer user) {
  static_cast<Counter*>(user)->frames.fetch_add(1, std::memory_order_relaxed);
  return GST_PAD_PROBE_OK;
}

void on_pad(GstElement* decodebin, GstPad* pad, gpointer user) {
  GstCaps* caps = gst_pad_get_current_caps(pad);
  const bool video = caps && std::strncmp(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "video/", 6) == 0;
  if (caps) gst_caps_unref(caps);
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, nullptr);
  GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(decodebin));
  gst_bin_add(GST_BIN(pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, sinkpad);
  if (video) gst_pad_add_probe(sinkpad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, user, nullptr);
  gst_object_unref(sinkpad);
  gst_object_unref(pipeline);
}

void on_element(GstBin*, GstBin*, GstElement* element, gpointer user) {
  GstElementFactory* f = gst_element_get_factory(element);
  const gchar* klass = f ? gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS) : nullptr;
  if (klass && std::strstr(klass, "Decoder") && std::strstr(klass, "Video")) {
    auto* c = static_cast<Counter*>(user);
    MutexLock lock(c->mu);
    c->decoder = GST_OBJECT_NAME(f);
  }
}

}  // namespace

Result<DecodeRate> measure_decode_rate(const std::string& path, Duration limit) {
  ensure_gstreamer();
  Counter counter;
  auto pipeline = GstPtr<GstElement>::adopt(gst_pipeline_new("decode-probe"));
  GstElement* src = gst_element_factory_make("filesrc", nullptr);
  GstElement* dec = gst_element_factory_make("decodebin", nullptr);
  if (!src || !dec) return make_error("media.missing_plugin", "filesrc/decodebin not installed");
  g_object_set(src, "location", path.c_str(), nullptr);
  gst_bin_add_many(GST_BIN(pipeline.get()), src, dec, nullptr);
  gst_element_link(src, dec);
  g_signal_connect(dec, "pad-added", G_CALLBACK(on_pad), &counter);
  g_signal_connect(pipeline.get(), "deep-element-added", G_CALLBACK(on_element), &counter);
  GstPtr<GstBus> bus = GstPtr<GstBus>::adopt(gst_element_get_bus(pipeline.get()));
  const Timestamp t0 = SteadyClock::instance().now();
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  GstMessage* m = gst_bus_timed_pop_filtered(bus.get(), to_gst(limit),
                                             static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  const Timestamp t1 = SteadyClock::instance().now();
  Result<DecodeRate> out = make_error("media.timeout", "decoding '" + path + "' did not finish in time");
  if (m != nullptr && GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    out = error_from_message("decode-probe", m, path);
  } else if (m != nullptr) {
    DecodeRate r;
    r.frames = counter.frames.load();
    r.elapsed = t1 - t0;
    r.fps = static_cast<double>(r.frames) / r.elapsed.as_seconds();
    MutexLock lock(counter.mu);
    r.decoder = counter.decoder;
    out = r;
  }
  if (m) gst_message_unref(m);
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return out;
}

}  // namespace orion::media
