// chat::Client's attachments over HTTP (docs/protocol.md, "HTTP: upload" and "HTTP: download"): one
// short connection per transfer to the client's host and port (TLS when the client uses it), with the
// session's bearer token, the bytes moved in chunks with a progress callback. Runs on the calling
// thread with its own io_context; the WebSocket link is not involved.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <limits>

#include "client_internal.h"
#include "client_stream.h"
#include "crypto.h"

namespace chat {

using namespace client_internal;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t kChunk = 64 * 1024;

// The error a failed HTTP answer carries ({"code", "message"}), as a Status.
Status HttpError(const http::response<http::string_body>& res) {
  Reply r;
  r.code = "unavailable";
  r.message = "HTTP " + std::to_string(res.result_int());
  Json j = Json::parse(res.body(), nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (auto c = j.find("code"); c != j.end() && c->is_string()) r.code = c->get<std::string>();
    if (auto m = j.find("message"); m != j.end() && m->is_string()) r.message = m->get<std::string>();
  }
  return r.status();
}

void Expire(ClientStream& s, std::chrono::milliseconds t) { s.tcp().expires_after(t); }

// PUT `bytes` to `target`, `progress` after each chunk; the server's answer.
Result<http::response<http::string_body>> DoPut(ClientStream& stream, const std::string& host, const std::string& target,
                                                const std::string& token, const std::string& mime,
                                                std::string_view bytes, const TransferProgress& progress,
                                                std::chrono::milliseconds timeout) {
  http::request<http::empty_body> req{http::verb::put, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, mime);
  req.set(http::field::connection, "close");
  req.content_length(bytes.size());
  beast::error_code ec;
  Expire(stream, timeout);
  http::request_serializer<http::empty_body> sr{req};
  http::write_header(stream, sr, ec);
  for (std::size_t off = 0; !ec && off < bytes.size();) {
    const std::size_t n = std::min(kChunk, bytes.size() - off);
    Expire(stream, timeout);
    net::write(stream, net::buffer(bytes.data() + off, n), ec);
    off += n;
    if (!ec && progress) progress(off, bytes.size());
  }
  // A refusal may come before the whole body was sent (the server then closes): read it either way.
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code read_ec;
  Expire(stream, timeout);
  http::read(stream, buffer, res, read_ec);
  if (read_ec) return Status::Unavailable("upload: " + (ec ? ec.message() : read_ec.message()));
  return res;
}

// GET `target`; `progress` as the body arrives.
Result<http::response<http::string_body>> DoGet(ClientStream& stream, const std::string& host, const std::string& target,
                                                const std::string& token, const TransferProgress& progress,
                                                std::chrono::milliseconds timeout) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::connection, "close");
  beast::error_code ec;
  Expire(stream, timeout);
  http::write(stream, req, ec);
  if (ec) return Status::Unavailable("download: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  Expire(stream, timeout);
  http::read_header(stream, buffer, parser, ec);
  if (ec) return Status::Unavailable("download: " + ec.message());
  const std::uint64_t total = parser.content_length().value_or(0);
  while (!parser.is_done()) {
    Expire(stream, timeout);
    http::read_some(stream, buffer, parser, ec);
    if (ec) return Status::Unavailable("download: " + ec.message());
    if (progress) progress(parser.get().body().size(), total);
  }
  return parser.release();
}

}  // namespace

template <class R, class F>
R Client::Impl::WithHttpStream(F exchange) {
  Impl& impl = *this;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints = resolver.resolve(impl.host, std::to_string(impl.port), ec);
  if (ec) return Status::Unavailable("resolve " + impl.host + ": " + ec.message());
  const std::string host = impl.host + ":" + std::to_string(impl.port);
  // Plain or TLS: one stream type (client_stream.h), so the exchange is compiled once.
  ClientStream stream(ioc, impl.tls_ctx.get());
  stream.SetServerName(impl.options.tls_server_name.empty() ? impl.host : impl.options.tls_server_name,
                       impl.options.tls_verify);
  stream.tcp().expires_after(impl.options.connect_timeout);
  stream.tcp().connect(endpoints, ec);
  if (ec) return Status::Unavailable("connect: " + ec.message());
  stream.Handshake(ec);
  if (ec) return Status::Unavailable("TLS handshake: " + ec.message());
  auto out = exchange(stream, host);
  stream.Shutdown(ec);
  return out;
}

Result<Attachment> Client::UploadAttachment(AttachmentKind kind, const std::string& mime_type, std::string_view bytes,
                                            TransferProgress progress) {
  Json announce{{"kind", ToString(kind)}, {"mimeType", mime_type}, {"size", bytes.size()},
                {"sha256", detail::Sha256Hex(bytes)}};
  auto ticket = ParseReply<std::pair<std::string, Attachment>>(impl_->Call("createAttachment", std::move(announce)),
                                                               [](const Json& j) {
    return std::make_pair(j.at("uploadPath").get<std::string>(), AttachmentFrom(j.at("attachment")));
  });
  if (!ticket.ok()) return ticket.error();
  std::string token;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    token = impl_->token;
  }
  const auto timeout = impl_->options.request_timeout;
  using Response = Result<http::response<http::string_body>>;
  auto res = impl_->WithHttpStream<Response>([&](ClientStream& stream, const std::string& host) {
    return DoPut(stream, host, ticket->first, token, mime_type, bytes, progress, timeout);
  });
  if (!res.ok()) return res.error();
  if (res->result() != http::status::ok) return HttpError(*res);
  try {
    return AttachmentFrom(Json::parse(res->body()).at("attachment"));
  } catch (const std::exception& e) {  // Json::exception or MalformedJson.
    return Status::Internal(std::string("malformed upload answer: ") + e.what());
  }
}

Result<std::string> Client::DownloadAttachment(const std::string& attachment_id, TransferProgress progress) {
  // Ids are 32 hex digits; anything else cannot name one (and must not reach the request line).
  if (attachment_id.empty() || attachment_id.size() > 64 ||
      attachment_id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::InvalidArgument("not an attachment id: '" + attachment_id.substr(0, 64) + "'");
  }
  std::string token;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    token = impl_->token;
  }
  const auto timeout = impl_->options.request_timeout;
  using Response = Result<http::response<http::string_body>>;
  auto res = impl_->WithHttpStream<Response>([&](ClientStream& stream, const std::string& host) {
    return DoGet(stream, host, "/v1/attachments/" + attachment_id, token, progress, timeout);
  });
  if (!res.ok()) return res.error();
  if (res->result() != http::status::ok) return HttpError(*res);
  return std::move(res->body());
}

}  // namespace chat
