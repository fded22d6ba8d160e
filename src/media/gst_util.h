// Small GStreamer helpers shared by the media module's .cc files (internal header).
#pragma once

#include <gst/gst.h>

#include <string>

#include "core/result.h"
#include "core/time.h"

namespace orion::media {

// An Error from a GST_MESSAGE_ERROR: a stable code (media.not_found, media.connection,
// media.not_video, media.unsupported_codec, media.unauthorized, media.pipeline) and a message
// "stream 'NAME': <GStreamer's text> [<detail>] (element ELEMENT)".
Error error_from_message(const std::string& stream, GstMessage* msg,
                         const std::string& location = "");

// Makes an element or returns an error naming the missing plugin.
Result<GstElement*> make_element(const char* factory, const char* name);

inline GstClockTime to_gst(Duration d) { return static_cast<GstClockTime>(d.count_nanos()); }

}  // namespace orion::media
