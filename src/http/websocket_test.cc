// WebSocket pieces against each other over a real loopback socket: the handshake through
// ConnectionServer::take_over_connection(), text/binary/ping/close, and refusals.
#include "http/websocket.h"

#include <gtest/gtest.h>

#include <thread>

#include "http/connection_server.h"
#include "testing/watchdog.h"

namespace orion::http {
namespace {

TEST(WebSocket, AcceptKeyIsRfc6455s) {
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocket, UpgradeProblemsNameWhatIsWrong) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  EXPECT_FALSE(websocket_upgrade_problem("websocket", "keep-alive, Upgrade", "13", key));
  EXPECT_NE(websocket_upgrade_problem("", "Upgrade", "13", key)->find("Upgrade: websocket"),
            std::string::npos);
  EXPECT_NE(websocket_upgrade_problem("websocket", "close", "13", key)->find("Connection"),
            std::string::npos);
  EXPECT_NE(websocket_upgrade_problem("websocket", "Upgrade", "8", key)->find("Version"),
            std::string::npos);
  EXPECT_NE(websocket_upgrade_problem("websocket", "Upgrade", "13", "short")->find("Key"),
            std::string::npos);
}

TEST(WebSocket, FrameLengthsAndMask) {
  for (size_t n : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    const std::string payload(n, 'x');
    const std::string plain = websocket_frame(WsOpcode::kBinary, payload);
    const std::string masked = websocket_frame(WsOpcode::kBinary, payload, 0x01020304u);
    EXPECT_EQ(masked.size(), plain.size() + 4) << n;
    EXPECT_EQ(static_cast<uint8_t>(plain[0]), 0x82);
  }
}

// A server whose /echo upgrades and echoes every data message until the client closes.
TEST(WebSocket, HandshakeEchoPingAndClose) {
  testing::Watchdog dog(Duration::seconds(30), "websocket echo");
  ConnectionServer server;
  std::thread session;
  server.Get("/echo", [&](const httplib::Request& req, httplib::Response& res) {
    auto problem = websocket_upgrade_problem(
        req.get_header_value("Upgrade"), req.get_header_value("Connection"),
        req.get_header_value("Sec-WebSocket-Version"), req.get_header_value("Sec-WebSocket-Key"));
    if (problem) {
      res.status = 400;
      res.set_content(*problem, "text/plain");
      return;
    }
    auto taken = ConnectionServer::take_over_connection();
    ASSERT_TRUE(taken);
    const std::string hello =
        websocket_handshake_response(req.get_header_value("Sec-WebSocket-Key"));
    ASSERT_EQ(::send(taken->fd, hello.data(), hello.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(hello.size()));
    session = std::thread([t = *taken] {
      WebSocketConnection ws(t.fd, false, t.leftover);
      for (;;) {
        auto m = ws.read(Duration::seconds(10));
        if (!m) return;
        if (!ws.send(m->opcode, m->payload)) return;
      }
    });
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread listener([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();

  // Not an upgrade: an ordinary HTTP answer, read by the client as such.
  auto plain = WebSocketClient::connect("127.0.0.1", port, "/nope");
  ASSERT_TRUE(plain) << plain.error().to_string();
  EXPECT_FALSE((*plain)->upgraded());
  EXPECT_EQ((*plain)->answer().status, 404);

  auto c = WebSocketClient::connect("127.0.0.1", port, "/echo");
  ASSERT_TRUE(c) << c.error().to_string();
  ASSERT_TRUE((*c)->upgraded()) << (*c)->answer().status;
  auto& ws = (*c)->connection();
  ASSERT_TRUE(ws.send(WsOpcode::kText, "hello"));
  // A ping between the data: answered by the server's read(), dropped by the client's.
  ASSERT_TRUE(ws.send(WsOpcode::kPing, "p"));
  const std::string big(200000, 'b');
  ASSERT_TRUE(ws.send(WsOpcode::kBinary, big));
  auto m1 = ws.read(Duration::seconds(5));
  ASSERT_TRUE(m1) << m1.error().to_string();
  EXPECT_EQ(m1->opcode, WsOpcode::kText);
  EXPECT_EQ(m1->payload, "hello");
  auto m2 = ws.read(Duration::seconds(5));
  ASSERT_TRUE(m2) << m2.error().to_string();
  EXPECT_EQ(m2->opcode, WsOpcode::kBinary);
  EXPECT_EQ(m2->payload, big);
  ws.close();
  auto end = ws.read(Duration::seconds(5));  // the server's close answer
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().code, "ws.closed");
  session.join();
  server.stop();
  listener.join();
}

}  // namespace
}  // namespace orion::http
