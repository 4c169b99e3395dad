// JsonScanner: a forward-only pull reader over one JSON text, for the few fields chat-loadgen needs
// from each server frame. It allocates nothing and decodes nothing it is not asked for: a newMessage
// event is read in one pass, its unwanted fields skipped, which keeps the tool cheap per delivery
// (it shares the CPU with the server it measures). Strings are returned raw, escapes left in place;
// the values the tool reads (codes, tokens, its own message bodies) hold no escapes.
//
// Malformed input never crashes or loops: the first error makes every later call return false, and
// ok() tells. It is lenient where leniency costs nothing (a stray comma is accepted).
// Not thread-safe; a scanner is used for one frame by one thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace chat::loadgen {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : text_(text) {}

  // Enters the object at the current position ('{'); false if there is none.
  bool EnterObject();
  // Reads the next key of the current object and steps onto its value. False at the object's end
  // (which it consumes) or on malformed input. REQUIRES: inside an object, its previous value read.
  bool NextKey(std::string_view* key);

  // Enters the array at the current position ('['); false if there is none.
  bool EnterArray();
  // Steps onto the next element. False at the array's end (which it consumes) or on malformed input.
  bool NextElement();

  // Readers of the value at the current position. Each consumes the value and returns true if it had
  // the expected type; otherwise it consumes nothing and returns false (SkipValue then moves on).
  bool ReadUint(std::uint64_t* out);
  bool ReadInt(std::int64_t* out);
  bool ReadBool(bool* out);
  // The string's raw contents between the quotes, escapes not decoded.
  bool ReadString(std::string_view* out);
  bool ReadNull();
  // The whole value (object, array, string, number, literal) as it appears in the text.
  bool ReadRaw(std::string_view* out);
  // Consumes the value at the current position, whatever it is.
  bool SkipValue();

  bool ok() const { return ok_; }

 private:
  void SkipSpace();
  bool Fail() {
    ok_ = false;
    return false;
  }
  // Moves pos_ past the string that starts at pos_ ('"'); false if unterminated.
  bool SkipString();

  std::string_view text_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace chat::loadgen
