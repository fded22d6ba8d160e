// The token and address checks every HTTP server of Orion makes.
#include "http/auth.h"

#include <gtest/gtest.h>

#include <string>

namespace orion::http {
namespace {

TEST(HttpAuth, ConstantTimeEqualIsEqualityWithAnEmptyExpectedNeverMatching) {
  EXPECT_TRUE(constant_time_equal("s3cret", "s3cret"));
  EXPECT_FALSE(constant_time_equal("s3cres", "s3cret"));
  EXPECT_FALSE(constant_time_equal("s3cre", "s3cret"));    // a prefix
  EXPECT_FALSE(constant_time_equal("s3crett", "s3cret"));  // longer
  EXPECT_FALSE(constant_time_equal("", "s3cret"));
  EXPECT_FALSE(constant_time_equal("", ""));  // no token configured: nothing matches
  EXPECT_FALSE(constant_time_equal("x", ""));
  EXPECT_FALSE(constant_time_equal(std::string("s3cret\0", 7), "s3cret"));
}

TEST(HttpAuth, BearerMatchesOnlyTheBearerSchemeWithExactlyTheToken) {
  EXPECT_TRUE(bearer_matches("Bearer tok-1", "tok-1"));
  EXPECT_TRUE(bearer_matches("bearer tok-1", "tok-1"));  // the scheme is case-insensitive
  EXPECT_TRUE(bearer_matches("BEARER tok-1", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearer TOK-1", "tok-1"));  // the token is not
  EXPECT_FALSE(bearer_matches("Bearer tok-1 ", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearer  tok-1", "tok-1"));
  EXPECT_FALSE(bearer_matches("Basic tok-1", "tok-1"));
  EXPECT_FALSE(bearer_matches("tok-1", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearer ", "tok-1"));
  EXPECT_FALSE(bearer_matches("", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearer ", ""));  // no token configured: nothing matches
  EXPECT_FALSE(bearer_matches("Bearer x", ""));
}

TEST(HttpAuth, LoopbackIsLocalhostColonColonOneAnd127Slash8) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "localhost", "::1"}) {
    EXPECT_TRUE(is_loopback_address(a)) << a;
  }
  for (const char* a : {"0.0.0.0", "::", "192.168.1.4", "10.0.0.1", "", "128.0.0.1",
                        "localhost.evil", "127.example.com", "127."}) {
    EXPECT_FALSE(is_loopback_address(a)) << a;
  }
}

TEST(HttpAuth, ATokenFitsAHeaderWithoutWhitespaceOrControlCharacters) {
  EXPECT_TRUE(token_fits_header(""));
  EXPECT_TRUE(token_fits_header("abc-DEF_123.~+/="));
  EXPECT_FALSE(token_fits_header("a b"));
  EXPECT_FALSE(token_fits_header("a\tb"));
  EXPECT_FALSE(token_fits_header("ab\r\nX-Evil: 1"));
  EXPECT_FALSE(token_fits_header(std::string("a\0b", 3)));
  EXPECT_FALSE(token_fits_header("a\x7f"));
}

}  // namespace
}  // namespace orion::http
