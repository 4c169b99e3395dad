#include "dump_digest.h"

#include <ostream>
#include <streambuf>

#include "crypto.h"

namespace chat::migrate {
namespace {

// A stream buffer that hashes what is written to it and keeps nothing.
class HashBuf final : public std::streambuf {
 public:
  std::string Hex() {
    sync();
    return sha_.HexDigest();
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    sha_.Update(std::string_view(s, static_cast<std::size_t>(n)));
    return n;
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      const char ch = traits_type::to_char_type(c);
      sha_.Update(std::string_view(&ch, 1));
    }
    return traits_type::not_eof(c);
  }

 private:
  detail::Sha256 sha_;
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
