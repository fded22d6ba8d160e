#include "media/gst_util.h"

#include <memory>

#include "media/gst_ptr.h"

namespace orion::media {

Error error_from_message(const std::string& stream, GstMessage* msg, const std::string& location) {
  GError* err = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  std::unique_ptr<GError, GErrorDeleter> err_owner(err);
  std::unique_ptr<gchar, GFreeDeleter> debug_owner(debug);
  std::string code = "media.pipeline";
  if (err->domain == GST_RESOURCE_ERROR) {
    switch (err->code) {
      case GST_RESOURCE_ERROR_NOT_FOUND: code = "media.not_found"; break;
      case GST_RESOURCE_ERROR_NOT_AUTHORIZED: code = "media.unauthorized"; break;
      case GST_RESOURCE_ERROR_OPEN_READ:
      case GST_RESOURCE_ERROR_OPEN_READ_WRITE:
      case GST_RESOURCE_ERROR_READ:
      case GST_RESOURCE_ERROR_WRITE:
      case GST_RESOURCE_ERROR_SETTINGS: code = "media.connection"; break;
      default: break;
    }
  } else if (err->domain == GST_STREAM_ERROR) {
    switch (err->code) {
      case GST_STREAM_ERROR_TYPE_NOT_FOUND:
      case GST_STREAM_ERROR_WRONG_TYPE:
      case GST_STREAM_ERROR_DEMUX: code = "media.not_video"; break;
      case GST_STREAM_ERROR_CODEC_NOT_FOUND:
      case GST_STREAM_ERROR_DECODE: code = "media.unsupported_codec"; break;
      default: break;
    }
  } else if (err->domain == GST_CORE_ERROR && err->code == GST_CORE_ERROR_MISSING_PLUGIN) {
    code = "media.unsupported_codec";
  }
  std::string text = "stream '" + stream + "': " + (err->message ? err->message : "error");
  if (code == "media.unsupported_codec" && debug != nullptr) {
    // decodebin's debug text ends with e.g. "Missing decoder: H.265 (video/x-h265, ...)".
    std::string d(debug);
    const size_t nl = d.rfind('\n');
    text += " [" + (nl == std::string::npos ? d : d.substr(nl + 1)) + "]";
  }
  if (code == "media.not_video") text += " (not a playable video)";
  if (GST_MESSAGE_SRC(msg) != nullptr) {
    text += std::string(" (element ") + GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)) + ")";
  }
  if (!location.empty()) text += " opening '" + location + "'";
  return make_error(code, text);
}

Result<GstElement*> make_element(const char* factory, const char* name) {
  GstElement* e = gst_element_factory_make(factory, name);
  if (e == nullptr) {
    return make_error("media.missing_plugin",
                      std::string("GStreamer element '") + factory + "' is not installed");
  }
  return e;
}

}  // namespace orion::media
