// AttachmentExchange: one HTTP request on /v1/attachments/{id}, taken over by HttpSession once the
// request header is read. PUT streams the body into the attachment's upload; GET and HEAD stream the
// bytes back (one Range, ETag, If-None-Match). Memory per exchange is one chunk buffer, whatever the
// size of the file: the body is read (or written) a chunk at a time, and the next chunk is read only
// after a worker thread has written the previous one to the BlobStore (backpressure by construction).
//
// Runs on the connection's lane (io_lane.h); store and blob calls run on the server's workers and post their
// results back. Errors are JSON {"code","message"} with the HTTP status of the Status code.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "beast.h"
#include "server_state.h"
#include "transport_stream.h"

namespace chat::detail {

inline constexpr std::string_view kAttachmentPathPrefix = "/v1/attachments/";

// http:// and https:// alike (the connection is a TransportStream): compiled once.
class AttachmentExchange : public std::enable_shared_from_this<AttachmentExchange> {
 public:
  // Called on the lane when the exchange is over: keep_alive says whether the connection may read
  // the next request (false: the caller closes it).
  using Done = std::function<void(bool keep_alive)>;

  // `stream`, `buffer` and `header` (a parser that has read the request header) belong to the
  // connection, which `owner` keeps alive until `done` runs.
  AttachmentExchange(TransportStream& stream, beast::flat_buffer& buffer, std::shared_ptr<ServerState> state,
                     http::request_parser<http::empty_body>& header, std::shared_ptr<void> owner, Done done);

  void Run();

 private:
  // ---- upload (PUT)
  void OnUploadReady(Result<std::unique_ptr<AttachmentUpload>> upload);
  void DoReadChunk();
  void OnReadChunk(beast::error_code ec, std::size_t bytes);
  void OnChunkStored(Status written, std::optional<Result<Attachment>> finished);
  // ---- download (GET, HEAD)
  void OnDownloadReady(Result<AttachmentDownload> download);
  void OnHeaderSent(beast::error_code ec, std::size_t bytes);
  void DoSendChunk();
  void OnChunkRead(Result<std::string> chunk);
  void OnChunkSent(beast::error_code ec, std::size_t bytes);
  // ---- both
  // Runs `job` on a worker; false (after answering 503) if the queue is full.
  bool Submit(std::function<void()> job);
  void Reply(http::status status, std::string json, bool close);
  // The Status code's HTTP status unless `status` is given.
  void ReplyError(const Status& s, bool close, std::optional<http::status> status = std::nullopt);
  void OnReplied(bool close, beast::error_code ec, std::size_t bytes);
  void Finish(bool keep_alive);

  TransportStream& stream_;
  beast::flat_buffer& buffer_;
  std::shared_ptr<ServerState> state_;
  http::request_parser<http::empty_body>& header_;
  std::shared_ptr<void> owner_;
  Done done_;
  // From the request header (the parser is moved away for a body).
  bool keep_alive_ = false;
  bool has_body_ = false;
  bool expect_continue_ = false;
  unsigned version_ = 11;
  http::verb method_ = http::verb::unknown;
  std::string id_;
  std::string token_;
  std::string if_none_match_;
  std::string range_;

  std::optional<http::request_parser<http::buffer_body>> body_;
  std::unique_ptr<AttachmentUpload> upload_;
  std::unique_ptr<char[]> chunk_;  // One chunk of the body, in flight to the BlobStore.

  std::unique_ptr<BlobReader> reader_;
  std::uint64_t next_ = 0;  // Next offset to send.
  std::uint64_t end_ = 0;   // One past the last offset to send.
  std::string out_chunk_;
  std::optional<http::response<http::buffer_body>> stream_res_;
  std::optional<http::response_serializer<http::buffer_body>> serializer_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::empty_body>> empty_res_;
};

}  // namespace chat::detail
