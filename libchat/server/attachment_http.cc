#include "attachment_http.h"

#include <charconv>

#include "libchat/version.h"
#include "protocol.h"

namespace chat::detail {
namespace {

// Bytes moved per step, up and down. Bounds an exchange's memory; large enough that a 100 MiB
// upload takes a few hundred worker round trips.
constexpr std::size_t kChunkBytes = 256 * 1024;

http::status HttpStatusOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return http::status::ok;
    case StatusCode::kNotFound: return http::status::not_found;
    case StatusCode::kInvalidArgument: return http::status::bad_request;
    case StatusCode::kAlreadyExists: return http::status::conflict;
    case StatusCode::kPermissionDenied: return http::status::forbidden;
    case StatusCode::kUnauthenticated: return http::status::unauthorized;
    case StatusCode::kUnavailable: return http::status::service_unavailable;
    case StatusCode::kResourceExhausted: return http::status::too_many_requests;
    case StatusCode::kFailedPrecondition: return http::status::conflict;
    case StatusCode::kNotSupported: return http::status::not_implemented;
    case StatusCode::kCorruption:
    case StatusCode::kInternal: return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

bool ParseU64(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

enum class RangeKind { kWhole, kPart, kUnsatisfiable };

// One "bytes=" range (RFC 9110 14.1.2) against a representation of `size` bytes. A header this server
// does not serve as a range (several ranges, another unit, a malformed one) means the whole file,
// which the RFC allows a server to answer instead.
RangeKind ParseRange(std::string_view header, std::uint64_t size, std::uint64_t* first, std::uint64_t* last) {
  constexpr std::string_view kUnit = "bytes=";
  if (header.substr(0, kUnit.size()) != kUnit) return RangeKind::kWhole;
  const std::string_view spec = header.substr(kUnit.size());
  const auto dash = spec.find('-');
  if (spec.find(',') != std::string_view::npos || dash == std::string_view::npos) return RangeKind::kWhole;
  const std::string_view a = spec.substr(0, dash);
  const std::string_view b = spec.substr(dash + 1);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  if (a.empty()) {
    // "-N": the last N bytes.
    if (!ParseU64(b, &y)) return RangeKind::kWhole;
    if (y == 0) return RangeKind::kUnsatisfiable;
    *first = size - std::min(y, size);
    *last = size - 1;
    return RangeKind::kPart;
  }
  if (!ParseU64(a, &x)) return RangeKind::kWhole;
  if (b.empty()) {
    y = size == 0 ? 0 : size - 1;
  } else if (!ParseU64(b, &y) || y < x) {
    return RangeKind::kWhole;
  }
  if (x >= size) return RangeKind::kUnsatisfiable;
  *first = x;
  *last = std::min(y, size - 1);
  return RangeKind::kPart;
}

// If-None-Match: a list of entity tags or "*"; weak comparison (RFC 9110 13.1.2).
bool MatchesAny(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

// Images, audio and video (of the checked types: no SVG, no HTML) are what a client shows in place;
// everything else is served as a download.
bool ServedInline(AttachmentKind kind) {
  return kind == AttachmentKind::kImage || kind == AttachmentKind::kAudio || kind == AttachmentKind::kVideo;
}

std::string ErrorJson(const Status& s) {
  return Dump(Json{{"code", StatusCodeName(s.code())}, {"message", s.message()}});
}

}  // namespace

AttachmentExchange::AttachmentExchange(TransportStream& stream, beast::flat_buffer& buffer,
                                       std::shared_ptr<ServerState> state,
                                       http::request_parser<http::empty_body>& header, std::shared_ptr<void> owner,
                                       Done done)
    : stream_(stream),
      buffer_(buffer),
      state_(std::move(state)),
      header_(header),
      owner_(std::move(owner)),
      done_(std::move(done)) {}

void AttachmentExchange::Run() {
  const auto& req = header_.get();
  keep_alive_ = req.keep_alive();
  version_ = req.version();
  method_ = req.method();
  // A body left unread makes the connection unusable for another request: close after answering.
  has_body_ = header_.chunked() || header_.content_length().value_or(0) > 0;
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  id_ = std::string(path.substr(kAttachmentPathPrefix.size()));
  const std::string_view auth(req[http::field::authorization].data(), req[http::field::authorization].size());
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.substr(0, kBearer.size()) == kBearer) token_ = std::string(auth.substr(kBearer.size()));
  if_none_match_ = std::string(req[http::field::if_none_match]);
  range_ = std::string(req[http::field::range]);
  expect_continue_ = beast::iequals(req[http::field::expect], "100-continue");

  if (id_.empty() || id_.find('/') != std::string::npos) {
    return ReplyError(Status::NotFound("no such attachment path"), has_body_);
  }
  if (method_ != http::verb::put && method_ != http::verb::get && method_ != http::verb::head) {
    return ReplyError(Status::InvalidArgument("attachments take PUT, GET and HEAD"), has_body_,
                      http::status::method_not_allowed);
  }
  if (token_.empty()) {
    return ReplyError(Status::Unauthenticated("missing 'Authorization: Bearer <session token>'"), has_body_);
  }
  auto self = this->shared_from_this();
  if (method_ == http::verb::put) {
    Submit([self] {
      ChatService& service = self->state_->service;
      auto session = service.Resume(self->token_);
      Result<std::unique_ptr<AttachmentUpload>> upload =
          session.ok() ? service.BeginUpload(session->user.id, self->id_)
                       : Result<std::unique_ptr<AttachmentUpload>>(session.error());
      net::post(self->stream_.get_executor(),
                [self, upload = std::move(upload)]() mutable { self->OnUploadReady(std::move(upload)); });
    });
    return;
  }
  Submit([self] {
    ChatService& service = self->state_->service;
    auto session = service.Resume(self->token_);
    Result<AttachmentDownload> download = session.ok() ? service.OpenAttachment(session->user.id, self->id_)
                                                       : Result<AttachmentDownload>(session.error());
    net::post(self->stream_.get_executor(),
              [self, download = std::move(download)]() mutable { self->OnDownloadReady(std::move(download)); });
  });
}

// ------------------------------------------------------------------ upload

void AttachmentExchange::OnUploadReady(Result<std::unique_ptr<AttachmentUpload>> upload) {
  if (!upload.ok()) return ReplyError(upload.error(), has_body_);
  upload_ = std::move(*upload);
  const std::uint64_t size = upload_->attachment().size;
  // Refuse a body of the wrong length before reading a byte of it.
  if (auto length = header_.content_length(); length && *length != size) {
    return ReplyError(Status::InvalidArgument("Content-Length " + std::to_string(*length) +
                                              " is not the declared size " + std::to_string(size)),
                      has_body_, *length > size ? http::status::payload_too_large : http::status::bad_request);
  }
  body_.emplace(std::move(header_));
  // A chunked body longer than declared stops here, without reaching the BlobStore.
  body_->body_limit(size);
  chunk_ = std::make_unique<char[]>(kChunkBytes);
  if (expect_continue_) {
    // The client waits for this before sending the body (curl does for large uploads).
    empty_res_.emplace(http::status::continue_, version_);
    stream_.transport().ExpiresAfter(state_->options.write_timeout);
    http::async_write(stream_, *empty_res_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->Finish(false);
      self->DoReadChunk();
    });
    return;
  }
  DoReadChunk();
}

void AttachmentExchange::DoReadChunk() {
  auto& body = body_->get().body();
  body.data = chunk_.get();
  body.size = kChunkBytes;
  // An empty body is complete already; Finish reports what is missing.
  if (body_->is_done()) return OnReadChunk({}, 0);
  // Each chunk must arrive within the idle timeout: a stalled uploader does not hold a worker.
  stream_.transport().ExpiresAfter(state_->options.idle_timeout);
  http::async_read(stream_, buffer_, *body_,
                   beast::bind_front_handler(&AttachmentExchange::OnReadChunk, this->shared_from_this()));
}

void AttachmentExchange::OnReadChunk(beast::error_code ec, std::size_t) {
  // need_buffer: our chunk is full, which is what we asked for.
  if (ec == http::error::need_buffer) ec = {};
  if (ec == http::error::body_limit) {
    return ReplyError(Status::InvalidArgument("the body is longer than the declared size " +
                                              std::to_string(upload_->attachment().size)),
                      true, http::status::payload_too_large);
  }
  if (ec) {
    // The client went away or stalled: the upload is discarded and the attachment stays pending.
    state_->log.Debug("attachment ", id_, ": upload read: ", ec.message());
    return Finish(false);
  }
  const std::size_t n = kChunkBytes - body_->get().body().size;
  const bool last = body_->is_done();
  auto self = this->shared_from_this();
  Submit([self, n, last] {
    Status written = self->upload_->Write(std::string_view(self->chunk_.get(), n));
    std::optional<Result<Attachment>> finished;
    if (written.ok() && last) finished.emplace(self->upload_->Finish());
    net::post(self->stream_.get_executor(), [self, written = std::move(written), finished = std::move(finished)]() mutable {
      self->OnChunkStored(std::move(written), std::move(finished));
    });
  });
}

void AttachmentExchange::OnChunkStored(Status written, std::optional<Result<Attachment>> finished) {
  const bool body_left = !body_->is_done();
  if (!written.ok()) return ReplyError(written, body_left);
  if (!finished) return DoReadChunk();
  if (!finished->ok()) return ReplyError(finished->error(), false);
  state_->metrics.attachment_uploads.Add(1);
  Reply(http::status::ok, Dump(Json{{"attachment", ToJson(**finished)}}), false);
}

// ------------------------------------------------------------------ download

void AttachmentExchange::OnDownloadReady(Result<AttachmentDownload> download) {
  if (!download.ok()) return ReplyError(download.error(), has_body_);
  const Attachment& a = download->attachment;
  reader_ = std::move(download->reader);
  const std::string etag = "\"" + a.sha256 + "\"";
  const std::uint64_t size = reader_->size();
  auto headers = [&](auto& res) {
    res.set(http::field::server, "chatd/" LIBCHAT_VERSION_STRING);
    res.set(http::field::etag, etag);
    res.set(http::field::accept_ranges, "bytes");
    // Only the uploader and chat members may read it: no shared caches.
    res.set(http::field::cache_control, "private, max-age=31536000, immutable");
    // The bytes are a user's: a browser must never run them as a page of this origin (a web client
    // on the same origin would then be an XSS away). No sniffing past the checked type, a download
    // for anything but the media a client shows inline, and a sandbox should it be opened anyway.
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Content-Security-Policy", "sandbox; default-src 'none'");
    res.set(http::field::content_disposition, ServedInline(a.kind) ? "inline" : "attachment");
    res.keep_alive(keep_alive_ && !has_body_);
  };
  if (!if_none_match_.empty() && MatchesAny(if_none_match_, etag)) {
    empty_res_.emplace(http::status::not_modified, version_);
    headers(*empty_res_);
    stream_.transport().ExpiresAfter(state_->options.write_timeout);
    http::async_write(stream_, *empty_res_,
                      beast::bind_front_handler(&AttachmentExchange::OnReplied, this->shared_from_this(), has_body_));
    return;
  }
  std::uint64_t first = 0;
  std::uint64_t last = size - 1;
  const RangeKind range = range_.empty() ? RangeKind::kWhole : ParseRange(range_, size, &first, &last);
  if (range == RangeKind::kUnsatisfiable) {
    res_.emplace(http::status::range_not_satisfiable, version_);
    headers(*res_);
    res_->set(http::field::content_range, "bytes */" + std::to_string(size));
    res_->set(http::field::content_type, "application/json");
    res_->body() = ErrorJson(Status::InvalidArgument("range '" + range_ + "' is outside the " +
                                                     std::to_string(size) + " bytes of attachment " + id_));
    res_->prepare_payload();
    stream_.transport().ExpiresAfter(state_->options.write_timeout);
    http::async_write(stream_, *res_,
                      beast::bind_front_handler(&AttachmentExchange::OnReplied, this->shared_from_this(), has_body_));
    return;
  }
  next_ = first;
  end_ = last + 1;
  const http::status status = range == RangeKind::kPart ? http::status::partial_content : http::status::ok;
  if (method_ == http::verb::head) {
    empty_res_.emplace(status, version_);
    headers(*empty_res_);
    empty_res_->set(http::field::content_type, a.mime);
    if (range == RangeKind::kPart) {
      empty_res_->set(http::field::content_range,
                      "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
    }
    // Set by hand: a HEAD response states the length of what GET would send, with no body.
    empty_res_->content_length(end_ - next_);
    stream_.transport().ExpiresAfter(state_->options.write_timeout);
    http::async_write(stream_, *empty_res_,
                      beast::bind_front_handler(&AttachmentExchange::OnReplied, this->shared_from_this(), has_body_));
    return;
  }
  stream_res_.emplace(status, version_);
  headers(*stream_res_);
  stream_res_->set(http::field::content_type, a.mime);
  if (range == RangeKind::kPart) {
    stream_res_->set(http::field::content_range,
                     "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
  }
  stream_res_->content_length(end_ - next_);
  stream_res_->body().data = nullptr;
  stream_res_->body().more = true;
  serializer_.emplace(*stream_res_);
  stream_.transport().ExpiresAfter(state_->options.write_timeout);
  http::async_write_header(stream_, *serializer_,
                           beast::bind_front_handler(&AttachmentExchange::OnHeaderSent, this->shared_from_this()));
}

void AttachmentExchange::OnHeaderSent(beast::error_code ec, std::size_t) {
  if (ec) return Finish(false);
  DoSendChunk();
}

void AttachmentExchange::DoSendChunk() {
  // The read is disk I/O: on a worker, like every other blocking call.
  auto self = this->shared_from_this();
  Submit([self] {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, self->end_ - self->next_));
    auto chunk = self->reader_->ReadAt(self->next_, n);
    net::post(self->stream_.get_executor(),
              [self, chunk = std::move(chunk)]() mutable { self->OnChunkRead(std::move(chunk)); });
  });
}

void AttachmentExchange::OnChunkRead(Result<std::string> chunk) {
  // The header is out: an error now can only cut the response short.
  if (!chunk.ok() || chunk->empty()) {
    state_->log.Warn("attachment ", id_, ": read: ", chunk.ok() ? "blob shorter than its size" : chunk.error().ToString());
    return Finish(false);
  }
  out_chunk_ = std::move(*chunk);
  next_ += out_chunk_.size();
  auto& body = stream_res_->body();
  body.data = out_chunk_.data();
  body.size = out_chunk_.size();
  body.more = next_ < end_;
  stream_.transport().ExpiresAfter(state_->options.write_timeout);
  http::async_write(stream_, *serializer_,
                    beast::bind_front_handler(&AttachmentExchange::OnChunkSent, this->shared_from_this()));
}

void AttachmentExchange::OnChunkSent(beast::error_code ec, std::size_t) {
  // need_buffer: the serializer consumed our chunk and wants the next.
  if (ec == http::error::need_buffer) ec = {};
  if (ec) return Finish(false);
  if (serializer_->is_done()) {
    state_->metrics.attachment_downloads.Add(1);
    return Finish(keep_alive_ && !has_body_);
  }
  DoSendChunk();
}

// ------------------------------------------------------------------ both

bool AttachmentExchange::Submit(std::function<void()> job) {
  if (state_->workers.TrySubmit(std::move(job))) return true;
  // Nothing of the body was read yet, or a chunk is unread: in either case the connection closes.
  ReplyError(Status::Unavailable("server busy; retry shortly"), true);
  return false;
}

void AttachmentExchange::ReplyError(const Status& s, bool close, std::optional<http::status> status) {
  Reply(status.value_or(HttpStatusOf(s.code())), ErrorJson(s), close);
}

void AttachmentExchange::Reply(http::status status, std::string json, bool close) {
  res_.emplace(status, version_);
  res_->set(http::field::server, "chatd/" LIBCHAT_VERSION_STRING);
  res_->set(http::field::content_type, "application/json");
  res_->set("X-Content-Type-Options", "nosniff");
  if (status == http::status::unauthorized) res_->set(http::field::www_authenticate, "Bearer");
  if (status == http::status::service_unavailable) res_->set(http::field::retry_after, "1");
  res_->keep_alive(keep_alive_ && !close);
  res_->body() = std::move(json);
  res_->prepare_payload();
  stream_.transport().ExpiresAfter(state_->options.write_timeout);
  http::async_write(stream_, *res_, beast::bind_front_handler(&AttachmentExchange::OnReplied, this->shared_from_this(), close));
}

void AttachmentExchange::OnReplied(bool close, beast::error_code ec, std::size_t) {
  Finish(!ec && !close && keep_alive_);
}

void AttachmentExchange::Finish(bool keep_alive) {
  // An unfinished upload is discarded here (its temporary file removed); the attachment stays pending.
  upload_.reset();
  reader_.reset();
  Done done = std::move(done_);
  done_ = nullptr;
  auto owner = std::move(owner_);
  if (done) done(keep_alive);
}

}  // namespace chat::detail
