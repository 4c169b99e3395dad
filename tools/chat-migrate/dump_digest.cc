#include "dump_digest.h"

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <ostream>
#include <streambuf>

namespace chat::migrate {
namespace {

// A stream buffer that hashes what is written to it and keeps nothing.
class HashBuf final : public std::streambuf {
 public:
  HashBuf() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }

  std::string Hex() {
    sync();
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md.data(), &n);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 15]);
    }
    return out;
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    EVP_DigestUpdate(ctx_.get(), s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      const char ch = traits_type::to_char_type(c);
      EVP_DigestUpdate(ctx_.get(), &ch, 1);
    }
    return traits_type::not_eof(c);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

Result<Digest> DumpDigest(Store& store) {
  HashBuf buf;
  std::ostream out(&buf);
  LIBCHAT_ASSIGN_OR_RETURN(DumpCounts counts, ExportDump(store, out));
  out.flush();
  return Digest{buf.Hex(), counts};
}

}  // namespace chat::migrate
