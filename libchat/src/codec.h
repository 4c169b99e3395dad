// Binary encoding of the domain entities for the key-value store: a format byte, then varints and
// length-prefixed strings in a fixed field order. Adding a field means a new format byte; decoders
// keep reading the old ones (chat-migrate rewrites on demand).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libchat/result.h"
#include "libchat/types.h"

namespace chat::detail {

// The format byte of every record this codec writes (codec.cc, spam_tables.cc).
inline constexpr std::uint8_t kFormatV1 = 1;

// Corruption: "undecodable <what> record".
Status CorruptRecord(const char* what);

class Writer {
 public:
  void U64(std::uint64_t v);
  void I64(std::int64_t v) { U64(static_cast<std::uint64_t>(v)); }
  void Str(std::string_view s);
  void Byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what Writer wrote. Every read on truncated input sets failed() and returns zero values.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::uint64_t U64();
  std::int64_t I64() { return static_cast<std::int64_t>(U64()); }
  std::string Str();
  std::uint8_t Byte();
  bool failed() const { return failed_; }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
  bool failed_ = false;
};

std::string EncodeUser(const User& u);
Result<User> DecodeUser(std::string_view in);
std::string EncodeDevice(const Device& d);
Result<Device> DecodeDevice(std::string_view in);
std::string EncodeChat(const Chat& c);
Result<Chat> DecodeChat(std::string_view in);
std::string EncodeParticipant(const Participant& p);
Result<Participant> DecodeParticipant(std::string_view in);
std::string EncodeMessage(const Message& m);
Result<Message> DecodeMessage(std::string_view in);
std::string EncodeReceipt(const ReceiptCursor& r);
Result<ReceiptCursor> DecodeReceipt(std::string_view in);
std::string EncodeAttachment(const Attachment& a);
Result<Attachment> DecodeAttachment(std::string_view in);
std::string EncodeInvite(const Invite& i);
Result<Invite> DecodeInvite(std::string_view in);
std::string EncodeBan(const UserBan& b);
Result<UserBan> DecodeBan(std::string_view in);

}  // namespace chat::detail
