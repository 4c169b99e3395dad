// The server's Transport (libchat/server/transport.h) on a real TCP connection on 127.0.0.1: the write
// gate keeps every write whole and in queue order, whoever queues it (a session's batch, Beast's own
// frame), and the deadline fails what is pending with timeout and closes the connection.
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "transport.h"

namespace chat::detail {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A connected pair: the server side as a Transport, the client side a plain socket.
struct Pair {
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc, {net::ip::make_address("127.0.0.1"), 0}};
  tcp::socket client{ioc};
  std::unique_ptr<Transport> server;

  Pair() {
    client.connect(acceptor.local_endpoint());
    LaneSocket accepted(ioc.get_executor());
    acceptor.accept(accepted);
    server = MakeTcpTransport(std::move(accepted));
  }
};

TEST_CASE("the transport's write gate keeps each write whole and in queue order, whoever queues it",
          "[integration][transport]") {
  Pair p;
  // A write far larger than the socket buffers, so that the next two wait behind it in the gate.
  const std::string a(8 * 1024 * 1024, 'a');
  const std::string b(1000, 'b');
  const std::string c(3000, 'c');
  const net::const_buffer a_buf[] = {net::buffer(a.data(), a.size() / 2), net::buffer(a.data() + a.size() / 2, a.size() / 2)};
  const net::const_buffer c_buf[] = {net::buffer(c)};
  std::vector<char> completed;
  p.server->Write(a_buf, 2, [&](error_code ec, std::size_t n) {
    CHECK_FALSE(ec);
    CHECK(n == a.size());
    completed.push_back('a');
  });
  // As Beast's frames go through TransportStream: a buffer list the transport keeps.
  p.server->WriteOwned({net::buffer(b)}, [&](error_code ec, std::size_t n) {
    CHECK_FALSE(ec);
    CHECK(n == b.size());
    completed.push_back('b');
  });
  p.server->Write(c_buf, 1, [&](error_code ec, std::size_t n) {
    CHECK_FALSE(ec);
    CHECK(n == c.size());
    completed.push_back('c');
  });
  CHECK(completed.empty());  // Never completed inside the call that started it.
  std::string received(a.size() + b.size() + c.size(), '\0');
  net::async_read(p.client, net::buffer(received), [](error_code ec, std::size_t) { CHECK_FALSE(ec); });
  p.ioc.run_for(std::chrono::seconds(20));
  CHECK(completed == std::vector<char>{'a', 'b', 'c'});
  CHECK(received == a + b + c);
}

TEST_CASE("past the transport's deadline a pending read fails with timeout and the connection closes",
          "[integration][transport]") {
  Pair p;
  p.server->ExpiresAfter(std::chrono::milliseconds(100));
  char byte = 0;
  error_code first;
  bool done = false;
  const auto start = std::chrono::steady_clock::now();
  p.server->ReadSome(net::buffer(&byte, 1), [&](error_code ec, std::size_t) {
    first = ec;
    done = true;
  });
  p.ioc.run_for(std::chrono::seconds(10));
  REQUIRE(done);
  CHECK(first == boost::beast::error::timeout);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(90));
  CHECK_FALSE(p.server->is_open());
  // An operation started after the deadline fails at once, with timeout too.
  error_code second;
  p.server->ReadSome(net::buffer(&byte, 1), [&](error_code ec, std::size_t) { second = ec; });
  p.ioc.restart();
  p.ioc.run_for(std::chrono::seconds(10));
  CHECK(second == boost::beast::error::timeout);
  // The peer sees the connection end.
  error_code client_ec;
  p.client.read_some(net::buffer(&byte, 1), client_ec);
  CHECK(client_ec);
}

TEST_CASE("a read that completes before the deadline is not cut, and a new deadline replaces the old one",
          "[integration][transport]") {
  Pair p;
  p.server->ExpiresAfter(std::chrono::milliseconds(200));
  char byte = 0;
  error_code ec1;
  p.server->ReadSome(net::buffer(&byte, 1), [&](error_code ec, std::size_t) { ec1 = ec; });
  net::write(p.client, net::buffer("x", 1));
  p.ioc.run_for(std::chrono::seconds(5));
  CHECK_FALSE(ec1);
  CHECK(byte == 'x');
  // Past the first deadline, with a new one set: the transport is still usable.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  p.server->ExpiresAfter(std::chrono::seconds(5));
  error_code ec2 = net::error::would_block;
  p.server->ReadSome(net::buffer(&byte, 1), [&](error_code ec, std::size_t) { ec2 = ec; });
  net::write(p.client, net::buffer("y", 1));
  p.ioc.restart();
  p.ioc.run_for(std::chrono::seconds(5));
  CHECK_FALSE(ec2);
  CHECK(byte == 'y');
  CHECK(p.server->is_open());
}

}  // namespace
}  // namespace chat::detail
