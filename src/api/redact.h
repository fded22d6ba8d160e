// Redaction of credentials in camera URLs, for every answer and log line of the API
// (rtsp://user:pass@host/path → rtsp://user:***@host/path). The stored URL keeps the password:
// the engine needs it; nothing the API shows or logs does.
//
//   redact_url("rtsp://admin:hunter2@10.0.0.5:554/s1")  == "rtsp://admin:***@10.0.0.5:554/s1"
//   redact_text("cannot open rtsp://a:b@h/x: timeout")   == "cannot open rtsp://a:***@h/x: timeout"
//
// A URL is `scheme://` followed by a token that ends at whitespace, a quote, '<', '>' or the end
// of the text. Its userinfo ends at the last '@' before the first '/', '?' or '#' (RFC 3986);
// when that part has no '@' but the token has one later and a ':' before it (a password with a
// raw '/' in it, which a URL parser would misread anyway), everything from the first ':' to
// that '@' is replaced: redaction errs towards hiding more, never less. A user name without a
// password is kept (rtsp://user@host).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace orion::api {

inline constexpr std::string_view kRedactedPassword = "***";

// Every URL with credentials in `text`, redacted.
std::string redact_text(std::string_view text);

// One URL (same rules; text without "://" comes back unchanged).
inline std::string redact_url(std::string_view url) { return redact_text(url); }

// True when `url` carries a password (so redact_url changes it).
bool has_password(std::string_view url);

}  // namespace orion::api
