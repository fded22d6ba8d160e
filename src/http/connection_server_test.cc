// ConnectionServer's listening socket on loopback.
#include "http/connection_server.h"

#include <gtest/gtest.h>

#include <thread>

#include "testing/watchdog.h"

namespace orion::http {
namespace {

// httplib's default socket options (SO_REUSEPORT) let a second server bind a port in use
// without an error and take a share of its connections.
TEST(ConnectionServer, ASecondServerCannotListenOnAPortInUse) {
  orion::testing::Watchdog dog(Duration::seconds(20), "connection server bind");
  ConnectionServer first;
  first.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("first", "text/plain");
  });
  const int port = first.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread listener([&] { first.listen_after_bind(); });
  while (!first.is_running()) std::this_thread::yield();

  ConnectionServer second;
  EXPECT_FALSE(second.bind_to_port("127.0.0.1", port));
  httplib::Client client("http://127.0.0.1:" + std::to_string(port));
  auto res = client.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "first");

  first.stop();
  listener.join();
}

}  // namespace
}  // namespace orion::http
