#include "media/testing/fmp4_decode.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include "media/capture.h"

namespace orion::media::testing {

DecodedVideo decode_fmp4(const std::string& bytes) {
  ensure_gstreamer();
  DecodedVideo d;
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(
      "appsrc name=src caps=video/quicktime ! qtdemux ! h264parse ! avdec_h264 ! "
      "appsink name=sink sync=false",
      &err);
  if (pipe == nullptr) {
    d.error = err ? err->message : "no pipeline";
    if (err) g_error_free(err);
    return d;
  }
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstBuffer* buf = gst_buffer_new_memdup(bytes.data(), bytes.size());
  gst_app_src_push_buffer(GST_APP_SRC(src), buf);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  for (;;) {
    GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 5 * GST_SECOND);
    if (s == nullptr) break;
    const GstStructure* st = gst_caps_get_structure(gst_sample_get_caps(s), 0);
    gst_structure_get_int(st, "width", &d.width);
    gst_structure_get_int(st, "height", &d.height);
    ++d.pictures;
    gst_sample_unref(s);
  }
  GstBus* bus = gst_element_get_bus(pipe);
  if (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* e = nullptr;
    gst_message_parse_error(m, &e, nullptr);
    d.error = e ? e->message : "error";
    if (e) g_error_free(e);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  return d;
}

}  // namespace orion::media::testing
