// The attachment type table. Signatures after the file formats' specifications (PNG, JPEG/JFIF, GIF,
// RIFF for WebP and WAVE, ISO BMFF "ftyp" for MP4/M4A/QuickTime, EBML for WebM/Matroska, Ogg, MPEG
// audio frames and ID3v2, PDF, ZIP local file header for the ZIP-based office formats).
#include "attachment_types.h"

#include <array>
#include <string>

namespace chat::detail {
namespace {

using Matcher = bool (*)(std::string_view head);

bool StartsWith(std::string_view head, std::string_view magic) { return head.substr(0, magic.size()) == magic; }

bool Png(std::string_view h) { return StartsWith(h, "\x89PNG\r\n\x1a\n"); }
bool Jpeg(std::string_view h) { return StartsWith(h, "\xff\xd8\xff"); }
bool Gif(std::string_view h) { return StartsWith(h, "GIF87a") || StartsWith(h, "GIF89a"); }
// substr() past the end throws: every check of an offset tests the size first.
bool Riff(std::string_view h, std::string_view form) {
  return h.size() >= 12 && StartsWith(h, "RIFF") && h.substr(8, 4) == form;
}
bool Webp(std::string_view h) { return Riff(h, "WEBP"); }
bool Wave(std::string_view h) { return Riff(h, "WAVE"); }
// ISO base media file format (MP4, M4A, 3GP, QuickTime): a box of type "ftyp" first.
bool IsoBmff(std::string_view h) { return h.size() >= 8 && h.substr(4, 4) == "ftyp"; }
bool Ebml(std::string_view h) { return StartsWith(h, "\x1a\x45\xdf\xa3"); }
bool Ogg(std::string_view h) { return StartsWith(h, "OggS"); }
// An ID3v2 tag, or an MPEG audio frame header (11 sync bits set).
bool Mp3(std::string_view h) {
  return StartsWith(h, "ID3") ||
         (h.size() >= 2 && static_cast<unsigned char>(h[0]) == 0xff && (static_cast<unsigned char>(h[1]) & 0xe0) == 0xe0);
}
bool Flac(std::string_view h) { return StartsWith(h, "fLaC"); }
bool Pdf(std::string_view h) { return StartsWith(h, "%PDF-"); }
bool Zip(std::string_view h) { return StartsWith(h, std::string_view("PK\x03\x04", 4)); }
// OLE2 compound file: the legacy Office formats (.doc, .xls, .ppt).
bool Ole2(std::string_view h) { return StartsWith(h, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"); }
bool Rtf(std::string_view h) { return StartsWith(h, "{\\rtf"); }
bool Gzip(std::string_view h) { return StartsWith(h, "\x1f\x8b"); }
bool SevenZip(std::string_view h) { return StartsWith(h, "7z\xbc\xaf\x27\x1c"); }

struct Type {
  std::string_view mime;
  AttachmentKind kind;
  Matcher matches;  // nullptr: a text format without a signature (any content is served as a download).
};

constexpr std::array kTypes = {
    Type{"image/png", AttachmentKind::kImage, &Png},
    Type{"image/jpeg", AttachmentKind::kImage, &Jpeg},
    Type{"image/gif", AttachmentKind::kImage, &Gif},
    Type{"image/webp", AttachmentKind::kImage, &Webp},
    Type{"audio/mpeg", AttachmentKind::kAudio, &Mp3},
    Type{"audio/wav", AttachmentKind::kAudio, &Wave},
    Type{"audio/x-wav", AttachmentKind::kAudio, &Wave},
    Type{"audio/ogg", AttachmentKind::kAudio, &Ogg},
    Type{"audio/opus", AttachmentKind::kAudio, &Ogg},
    Type{"audio/webm", AttachmentKind::kAudio, &Ebml},
    Type{"audio/mp4", AttachmentKind::kAudio, &IsoBmff},
    Type{"audio/x-m4a", AttachmentKind::kAudio, &IsoBmff},
    Type{"audio/flac", AttachmentKind::kAudio, &Flac},
    Type{"video/mp4", AttachmentKind::kVideo, &IsoBmff},
    Type{"video/quicktime", AttachmentKind::kVideo, &IsoBmff},
    Type{"video/3gpp", AttachmentKind::kVideo, &IsoBmff},
    Type{"video/webm", AttachmentKind::kVideo, &Ebml},
    Type{"video/x-matroska", AttachmentKind::kVideo, &Ebml},
    Type{"video/ogg", AttachmentKind::kVideo, &Ogg},
    Type{"application/pdf", AttachmentKind::kDocument, &Pdf},
    Type{"application/zip", AttachmentKind::kDocument, &Zip},
    Type{"application/epub+zip", AttachmentKind::kDocument, &Zip},
    Type{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", AttachmentKind::kDocument, &Zip},
    Type{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", AttachmentKind::kDocument, &Zip},
    Type{"application/vnd.openxmlformats-officedocument.presentationml.presentation", AttachmentKind::kDocument, &Zip},
    Type{"application/vnd.oasis.opendocument.text", AttachmentKind::kDocument, &Zip},
    Type{"application/vnd.oasis.opendocument.spreadsheet", AttachmentKind::kDocument, &Zip},
    Type{"application/vnd.oasis.opendocument.presentation", AttachmentKind::kDocument, &Zip},
    Type{"application/msword", AttachmentKind::kDocument, &Ole2},
    Type{"application/vnd.ms-excel", AttachmentKind::kDocument, &Ole2},
    Type{"application/vnd.ms-powerpoint", AttachmentKind::kDocument, &Ole2},
    Type{"application/rtf", AttachmentKind::kDocument, &Rtf},
    Type{"application/gzip", AttachmentKind::kDocument, &Gzip},
    Type{"application/x-7z-compressed", AttachmentKind::kDocument, &SevenZip},
    // Plain text and unknown binaries: no signature to check, and no active content either way, since
    // documents are served as downloads with nosniff (never text/html, image/svg+xml, text/javascript,
    // application/xhtml+xml and the like, which a browser would run).
    Type{"text/plain", AttachmentKind::kDocument, nullptr},
    Type{"text/csv", AttachmentKind::kDocument, nullptr},
    Type{"text/markdown", AttachmentKind::kDocument, nullptr},
    Type{"application/octet-stream", AttachmentKind::kDocument, nullptr},
};

const Type* Find(std::string_view mime) {
  for (const Type& t : kTypes) {
    if (t.mime == mime) return &t;
  }
  return nullptr;
}

// RFC 6838 restricted-name characters, lower-case only (the server compares MIME types as written).
bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '!' || c == '#' || c == '$' || c == '&' ||
         c == '-' || c == '^' || c == '_' || c == '.' || c == '+';
}

bool WellFormed(std::string_view mime) {
  const auto slash = mime.find('/');
  if (mime.size() > 127 || slash == std::string_view::npos || slash == 0 || slash + 1 == mime.size()) return false;
  for (std::size_t i = 0; i < mime.size(); ++i) {
    if (i != slash && !NameChar(mime[i])) return false;
  }
  return true;
}

}  // namespace

Status CheckAttachmentType(AttachmentKind kind, std::string_view mime) {
  if (!WellFormed(mime)) {
    return Status::InvalidArgument("mimeType '" + std::string(mime.substr(0, 128)) +
                                   "' is not a lower-case type/subtype");
  }
  const Type* t = Find(mime);
  if (kind == AttachmentKind::kDocument && t != nullptr && t->kind != AttachmentKind::kDocument) {
    return Status::InvalidArgument("mimeType '" + std::string(mime) + "' is of kind " +
                                   std::string(ToString(t->kind)) + ", not document");
  }
  // Every kind, documents included, takes only the types of the table: an open list would take
  // text/html or image/svg+xml, which a browser runs.
  if (t == nullptr || t->kind != kind) {
    std::string accepted;
    for (const Type& each : kTypes) {
      if (each.kind != kind) continue;
      if (!accepted.empty()) accepted += ", ";
      accepted += each.mime;
    }
    return Status::InvalidArgument("mimeType '" + std::string(mime) + "' is not accepted for kind " +
                                   std::string(ToString(kind)) + " (accepted: " + accepted + ")");
  }
  return Status::Ok();
}

Status CheckMagic(std::string_view mime, std::string_view head) {
  const Type* t = Find(mime);
  if (t == nullptr || t->matches == nullptr || t->matches(head)) return Status::Ok();
  return Status::InvalidArgument("the content is not " + std::string(mime) + " (its first bytes do not match)");
}

}  // namespace chat::detail
