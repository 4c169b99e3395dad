#include "tls_reload.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>

#include "tls.h"

namespace chat::detail {

struct TlsReloader::Pair {
  X509* leaf = nullptr;
  STACK_OF(X509)* chain = nullptr;  // The intermediates after the leaf; may be empty.
  EVP_PKEY* key = nullptr;
  std::string description;
  ~Pair() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

namespace {

std::string OpenSslReason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no PEM data found";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// A BIO over the file or the PEM text. Null with *error set if the file cannot be opened.
BIO* OpenPem(const std::string& file, const std::string& pem, const std::string& what, std::string* error) {
  if (!pem.empty()) return BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  BIO* bio = BIO_new_file(file.c_str(), "r");
  if (bio == nullptr) {
    ERR_clear_error();
    *error = "TLS cannot read " + what + " '" + file + "': " + std::strerror(errno);
  }
  return bio;
}

std::string DescribeCertificate(X509* leaf) {
  std::string out;
  if (X509_NAME* subject = X509_get_subject_name(leaf)) {
    char name[256];
    X509_NAME_oneline(subject, name, sizeof name);
    out = name;
  }
  BIO* mem = BIO_new(BIO_s_mem());
  if (mem != nullptr && ASN1_TIME_print(mem, X509_get0_notAfter(leaf)) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(mem, &data);
    out += ", valid until " + std::string(data, static_cast<std::size_t>(n));
  }
  BIO_free(mem);
  return out;
}

}  // namespace

Result<std::shared_ptr<const TlsReloader::Pair>> TlsReloader::Load(const TlsOptions& tls) {
  if (!tls.enabled()) return Status::InvalidArgument("TLS is not configured");
  if (tls.key_file.empty() && tls.key_pem.empty()) return Status::InvalidArgument("TLS: a certificate without a private key");
  const std::string cert_source = tls.cert_pem.empty() ? "certificate '" + tls.cert_file + "'" : "certificate (PEM)";
  const std::string key_source = tls.key_pem.empty() ? "key '" + tls.key_file + "'" : "key (PEM)";
  auto pair = std::make_shared<Pair>();
  std::string error;
  BIO* bio = OpenPem(tls.cert_file, tls.cert_pem, "certificate", &error);
  if (bio == nullptr) return Status::InvalidArgument(error);
  pair->leaf = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
  if (pair->leaf == nullptr) {
    BIO_free(bio);
    return Status::InvalidArgument("TLS cannot load " + cert_source + ": " + OpenSslReason());
  }
  pair->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) sk_X509_push(pair->chain, extra);
  ERR_clear_error();  // The end of the file reads as an error.
  BIO_free(bio);
  bio = OpenPem(tls.key_file, tls.key_pem, "key", &error);
  if (bio == nullptr) return Status::InvalidArgument(error);
  pair->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pair->key == nullptr) return Status::InvalidArgument("TLS cannot load " + key_source + ": " + OpenSslReason());
  if (X509_check_private_key(pair->leaf, pair->key) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("TLS " + key_source + " does not match the " + cert_source + " (key values mismatch)");
  }
  pair->description = DescribeCertificate(pair->leaf);
  return std::shared_ptr<const Pair>(std::move(pair));
}

Result<std::shared_ptr<TlsReloader>> TlsReloader::Create(const TlsOptions& tls) {
  LIBCHAT_ASSIGN_OR_RETURN(auto pair, Load(tls));
  std::shared_ptr<TlsReloader> reloader(new TlsReloader());
  MutexLock lock(&reloader->mu_);
  reloader->current_ = std::move(pair);
  return reloader;
}

TlsReloader::~TlsReloader() = default;

void TlsReloader::Attach(boost::asio::ssl::context& ctx) { SSL_CTX_set_cert_cb(ctx.native_handle(), &TlsReloader::OnCertificate, this); }

std::shared_ptr<const TlsReloader::Pair> TlsReloader::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

int TlsReloader::OnCertificate(ssl_st* ssl, void* self) {
  const auto pair = static_cast<TlsReloader*>(self)->Current();
  // The SSL object takes references of its own: the pair may be replaced while it lives.
  return SSL_use_cert_and_key(ssl, pair->leaf, pair->key, pair->chain, /*override=*/1) == 1 ? 1 : 0;
}

Result<std::string> TlsReloader::Reload(const TlsOptions& tls) {
  LIBCHAT_ASSIGN_OR_RETURN(auto pair, Load(tls));
  std::string description = pair->description;
  MutexLock lock(&mu_);
  current_ = std::move(pair);
  return description;
}

std::string TlsReloader::Describe() const { return Current()->description; }

Status CheckTlsPair(const TlsOptions& tls) { return TlsReloader::Create(tls).status(); }

}  // namespace chat::detail
