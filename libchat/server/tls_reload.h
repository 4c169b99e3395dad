// TlsReloader: the certificate and key the TLS port presents, replaceable while chatd serves
// (Server::ReloadTls; chatd reloads them on SIGHUP, so that a renewed certificate needs no restart).
//
// It hooks the server's ssl::context with a certificate callback: every handshake takes the pair
// current when it starts. Connections already established keep the certificate they shook hands
// with: nothing is dropped. A pair that cannot be loaded, or a key that does not match its
// certificate, is refused and the current one stays.
//
// Thread-safe. Must outlive the context it is attached to and every connection made with it
// (ServerState owns both, and every session holds the state).
#pragma once

#include <memory>
#include <string>

#include "libchat/result.h"
#include "libchat/server/server.h"
#include "mutex.h"

// Not tls.h: this header is in ServerState, which every session includes.
namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl
struct ssl_st;

namespace chat::detail {

class TlsReloader {
 public:
  // Loads the pair of `tls` (files or PEM text). InvalidArgument, naming the file, as
  // MakeServerTlsContext; InvalidArgument if TLS is not configured.
  static Result<std::shared_ptr<TlsReloader>> Create(const TlsOptions& tls);
  ~TlsReloader();
  TlsReloader(const TlsReloader&) = delete;
  TlsReloader& operator=(const TlsReloader&) = delete;

  // From now on, every handshake on `ctx` presents the current pair.
  void Attach(boost::asio::ssl::context& ctx);
  // Loads the pair of `tls` and makes it current for the handshakes that start after this returns.
  // Returns what the new certificate is ("CN=chat.example.org, valid until ..."). On failure
  // (InvalidArgument naming the file) the current pair stays.
  Result<std::string> Reload(const TlsOptions& tls);
  // What the current certificate is, as Reload describes it.
  std::string Describe() const;

 private:
  struct Pair;
  TlsReloader() = default;
  static Result<std::shared_ptr<const Pair>> Load(const TlsOptions& tls);
  static int OnCertificate(ssl_st* ssl, void* self);
  std::shared_ptr<const Pair> Current() const EXCLUDES(mu_);

  mutable Mutex mu_;
  std::shared_ptr<const Pair> current_ GUARDED_BY(mu_);  // Never null after Create.
};

// Loads and checks `tls` as Server::Start would, without serving: OK, or InvalidArgument naming the
// file (chatd --check-config).
Status CheckTlsPair(const TlsOptions& tls);

}  // namespace chat::detail
