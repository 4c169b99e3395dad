// The framing of a dump (header line, record lines, end line) around the record codec, and the
// three ways to drive it: export to a stream, import from a stream, and copy (one into the other).
#include "libchat/dump.h"

#include <cstring>
#include <istream>
#include <ostream>
#include <vector>

#include "record_json.h"

namespace chat {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::string_view kFormatName = "libchat-dump";
// Far above any record the service accepts; it bounds what a damaged file (one without newlines)
// can make the reader hold.
constexpr std::size_t kMaxLineBytes = 64u << 20;

struct Counter {
  DumpCounts* c;
  void operator()(const IdCounters&) const { ++c->counters; }
  void operator()(const User&) const { ++c->users; }
  void operator()(const Device&) const { ++c->devices; }
  void operator()(const ChatRecord&) const { ++c->chats; }
  void operator()(const Participant&) const { ++c->participants; }
  void operator()(const Message&) const { ++c->messages; }
  void operator()(const DeviceCursorRecord&) const { ++c->device_cursors; }
  void operator()(const ReceiptCursor&) const { ++c->receipts; }
  void operator()(const Attachment&) const { ++c->attachments; }
  void operator()(const UserBan&) const { ++c->bans; }
  void operator()(const Invite&) const { ++c->invites; }
  void operator()(const UserBlock&) const { ++c->blocks; }
  void operator()(const SpamFlag&) const { ++c->spam_flags; }
  void operator()(const SpamReport&) const { ++c->spam_reports; }
};

void Count(DumpCounts* counts, const StoreRecord& record) {
  ++counts->records;
  std::visit(Counter{counts}, record.entity);
}

// Produces the lines of a dump, without newlines, and hands each to `emit`.
class DumpWriter {
 public:
  using Emit = std::function<Status(const std::string& line)>;
  explicit DumpWriter(Emit emit) : emit_(std::move(emit)) {}

  Status Header() {
    ordered_json h;
    h["type"] = "header";
    h["format"] = kFormatName;
    h["format_version"] = kDumpFormatVersion;
    h["schema_version"] = kSchemaVersion;
    return emit_(h.dump());
  }

  Status Record(const StoreRecord& record) {
    LIBCHAT_ASSIGN_OR_RETURN(std::string line, detail::EncodeRecordJson(record));
    Count(&counts_, record);
    return emit_(line);
  }

  Status End() {
    ordered_json e;
    e["type"] = "end";
    e["records"] = counts_.records;
    return emit_(e.dump());
  }

  const DumpCounts& counts() const { return counts_; }

 private:
  Emit emit_;
  DumpCounts counts_;
};

// Takes the lines of a dump one at a time, checks the framing and imports each record into the
// store as it comes. Every error names the line.
class DumpReader {
 public:
  explicit DumpReader(Store& store) : store_(store) {}

  Status Line(std::string_view line) {
    ++line_no_;
    Status s = Consume(line);
    return s.ok() ? s : s.WithContext("line " + std::to_string(line_no_));
  }

  // At the end of the input: the end line must have been seen.
  Status Finish() const {
    if (line_no_ == 0) return Status::InvalidArgument("line 1: empty input, not a libchat dump");
    if (!ended_) {
      return Status::InvalidArgument("line " + std::to_string(line_no_) +
                                     ": the dump stops here without its end line (truncated?)");
    }
    return Status::Ok();
  }

  std::uint64_t line_no() const { return line_no_; }
  const DumpCounts& counts() const { return counts_; }

 private:
  Status Consume(std::string_view line) {
    if (ended_) return Status::InvalidArgument("data after the end line");
    if (line.empty()) return Status::InvalidArgument("empty line");
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Status::InvalidArgument("not valid JSON (a truncated or corrupt line)");
    if (!j.is_object()) return Status::InvalidArgument("expected a JSON object");
    auto t = j.find("type");
    const std::string type = t != j.end() && t->is_string() ? t->get<std::string>() : std::string();
    if (!header_) return Header(j, type);
    if (type == "header") return Status::InvalidArgument("a second header line");
    if (type == "end") return End(j);
    LIBCHAT_ASSIGN_OR_RETURN(StoreRecord record, detail::DecodeRecord(j));
    LIBCHAT_RETURN_IF_ERROR(store_.Import(record));
    Count(&counts_, record);
    return Status::Ok();
  }

  Status Header(const json& j, const std::string& type) {
    auto format = j.find("format");
    auto version = j.find("format_version");
    if (type != "header" || format == j.end() || *format != kFormatName) {
      return Status::InvalidArgument(std::string("not a libchat dump: the first line must be its header, {\"type\":"
                                                 "\"header\",\"format\":\"") +
                                     std::string(kFormatName) + "\",...}");
    }
    if (version == j.end() || !version->is_number_unsigned()) {
      return Status::InvalidArgument("header: format_version: expected a non-negative integer");
    }
    if (version->get<std::uint64_t>() > static_cast<std::uint64_t>(kDumpFormatVersion)) {
      return Status::InvalidArgument("dump format version " + version->dump() + " is newer than this build reads (" +
                                     std::to_string(kDumpFormatVersion) + "); upgrade libchat");
    }
    header_ = true;
    return Status::Ok();
  }

  Status End(const json& j) {
    auto records = j.find("records");
    if (records == j.end() || !records->is_number_unsigned() || j.size() != 2) {
      return Status::InvalidArgument("end line: expected {\"type\":\"end\",\"records\":N}");
    }
    if (records->get<std::uint64_t>() != counts_.records) {
      return Status::InvalidArgument("the end line counts " + records->dump() + " records but the dump holds " +
                                     std::to_string(counts_.records));
    }
    ended_ = true;
    return Status::Ok();
  }

  Store& store_;
  std::uint64_t line_no_ = 0;
  bool header_ = false;
  bool ended_ = false;
  DumpCounts counts_;
};

// Splits a stream into lines, holding one line at most (bounded by kMaxLineBytes).
class LineReader {
 public:
  explicit LineReader(std::istream& in) : in_(in), buf_(64 * 1024) {}

  // The next line without its '\n' in *line; false at the end of the input. A last line without a
  // newline is returned like the others (the reader then decides whether it is complete).
  Result<bool> Next(std::string* line) {
    line->clear();
    for (;;) {
      if (pos_ == end_) {
        if (eof_) return !line->empty();
        in_.read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        if (in_.bad()) return Status::Unavailable("reading the dump failed");
        end_ = static_cast<std::size_t>(in_.gcount());
        pos_ = 0;
        eof_ = end_ < buf_.size();
        continue;
      }
      const char* start = buf_.data() + pos_;
      const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
      const std::size_t n = nl != nullptr ? static_cast<std::size_t>(nl - start) : end_ - pos_;
      if (line->size() + n > kMaxLineBytes) {
        return Status::InvalidArgument("line longer than " + std::to_string(kMaxLineBytes >> 20) + " MiB");
      }
      line->append(start, n);
      pos_ += n;
      if (nl != nullptr) {
        ++pos_;
        return true;
      }
    }
  }

 private:
  std::istream& in_;
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
};

}  // namespace

Result<DumpCounts> ExportDump(Store& store, std::ostream& out) {
  DumpWriter writer([&out](const std::string& line) {
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    out.put('\n');
    return out ? Status::Ok() : Status::Unavailable("writing the dump failed");
  });
  LIBCHAT_RETURN_IF_ERROR(writer.Header());
  LIBCHAT_RETURN_IF_ERROR(store.Export([&writer](const StoreRecord& r) { return writer.Record(r); }));
  LIBCHAT_RETURN_IF_ERROR(writer.End());
  out.flush();
  if (!out) return Status::Unavailable("writing the dump failed");
  return writer.counts();
}

Result<DumpCounts> ImportDump(std::istream& in, Store& store) {
  DumpReader reader(store);
  LineReader lines(in);
  std::string line;
  for (;;) {
    auto more = lines.Next(&line);
    if (!more.ok()) return more.error().WithContext("line " + std::to_string(reader.line_no() + 1));
    if (!*more) break;
    LIBCHAT_RETURN_IF_ERROR(reader.Line(line));
  }
  LIBCHAT_RETURN_IF_ERROR(reader.Finish());
  return reader.counts();
}

Result<DumpCounts> CopyStore(Store& from, Store& to) {
  DumpReader reader(to);
  // Each line goes straight from the writer into the reader: a dump that is never held anywhere.
  DumpWriter writer([&reader](const std::string& line) { return reader.Line(line); });
  LIBCHAT_RETURN_IF_ERROR(writer.Header());
  LIBCHAT_RETURN_IF_ERROR(from.Export([&writer](const StoreRecord& r) { return writer.Record(r); }));
  LIBCHAT_RETURN_IF_ERROR(writer.End());
  LIBCHAT_RETURN_IF_ERROR(reader.Finish());
  return reader.counts();
}

}  // namespace chat
