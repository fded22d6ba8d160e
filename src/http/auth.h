// Bearer tokens and listen addresses, checked the same way by every HTTP server of Orion: the
// REST API (api/server.h) and the engine's media endpoint (engine/media_endpoint.h).
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <string_view>

namespace orion::http {

// true when `given` equals `expected` and `expected` is not empty. The time taken depends on
// the length of `given` only, never on where the first difference is.
bool constant_time_equal(std::string_view given, std::string_view expected);

// true when `authorization` (the value of an Authorization header) is "Bearer <token>" with
// exactly `token`: the scheme in any case, the token compared in constant time. Always false
// when `token` is empty.
bool bearer_matches(std::string_view authorization, std::string_view token);

// true for "localhost", "::1" and 127.0.0.0/8 written as an IPv4 literal "127.…" (digits and
// dots; "127.example.com" is a host name, not loopback): addresses only this machine reaches.
// Servers refuse to listen anywhere else without a token unless told to.
bool is_loopback_address(std::string_view address);

// true when `token` can travel in an Authorization header as is: no whitespace, no control
// character (nothing at or below 0x20, no 0x7f). The empty token fits (it means "no token").
bool token_fits_header(std::string_view token);

}  // namespace orion::http
