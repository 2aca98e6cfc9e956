#include "router/spool_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "router/crc32c.h"

namespace corral::router::spool_format {
namespace {

constexpr uint8_t kPayloadVersion = 2;
constexpr uint32_t kProgressMagic = 0x47504352;
constexpr uint32_t kProgressVersion = 1;

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

void PutStr(std::string* out, absl::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s.data(), s.size());
}

uint32_t LoadU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

uint64_t LoadU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

// Bounds-checked reading of a payload.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}
  bool U8(uint8_t* v) {
    if (data_.size() < 1) return false;
    *v = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (data_.size() < 4) return false;
    *v = LoadU32(data_.data());
    data_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (data_.size() < 8) return false;
    *v = LoadU64(data_.data());
    data_.remove_prefix(8);
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n;
    if (!U32(&n) || data_.size() < n) return false;
    s->assign(data_.data(), n);
    data_.remove_prefix(n);
    return true;
  }
  bool empty() const { return data_.empty(); }
  size_t size() const { return data_.size(); }

 private:
  absl::string_view data_;
};

uint32_t RecordCrc(const char* length_field, absl::string_view payload) {
  return Crc32cExtend(Crc32cExtend(0, length_field, 4), payload.data(),
                      payload.size());
}

// The payload of a valid record starting at `offset`, or false.
bool ValidRecordAt(absl::string_view data, size_t offset,
                   absl::string_view* payload) {
  if (data.size() - offset < kRecordHeaderBytes) return false;
  const char* p = data.data() + offset;
  if (LoadU32(p) != kRecordMagic) return false;
  const uint32_t length = LoadU32(p + 4);
  if (length == 0 || length > kMaxRecordPayload ||
      length > data.size() - offset - kRecordHeaderBytes) {
    return false;
  }
  absl::string_view body(p + kRecordHeaderBytes, length);
  if (RecordCrc(p + 4, body) != LoadU32(p + 8)) return false;
  *payload = body;
  return true;
}

// A frame too short for its header, or with the magic and a plausible length
// that reaches past the end of `data`.
bool MayBeCutOffRecordAt(absl::string_view data, size_t offset) {
  if (data.size() - offset < kRecordHeaderBytes) return true;
  const char* p = data.data() + offset;
  if (LoadU32(p) != kRecordMagic) return false;
  const uint32_t length = LoadU32(p + 4);
  return length != 0 && length <= kMaxRecordPayload &&
         length > data.size() - offset - kRecordHeaderBytes;
}

bool IsPlainNameByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // EscapeOutputName writes upper case only
}

}  // namespace

namespace {

// The accepted time as stored: Unix ns, 0 when not known.
uint64_t AcceptedNanos(absl::Time accepted) {
  if (accepted == absl::InfinitePast()) return 0;
  return static_cast<uint64_t>(absl::ToUnixNanos(accepted));
}

}  // namespace

std::string EncodeAlertPayload(const core::Alert& alert) {
  std::string out;
  out.reserve(64 + alert.uuid.size() + alert.rule.size() + alert.output.size() +
              alert.source.size() + alert.hostname.size() +
              alert.output_fields_json.size());
  out.push_back(static_cast<char>(kPayloadVersion));
  PutU64(&out, alert.seq);
  PutU64(&out, static_cast<uint64_t>(absl::ToUnixNanos(alert.time)));
  PutU64(&out, AcceptedNanos(alert.accepted));
  out.push_back(static_cast<char>(static_cast<int>(alert.priority)));
  PutStr(&out, alert.uuid);
  PutStr(&out, alert.rule);
  PutStr(&out, alert.output);
  PutStr(&out, alert.source);
  PutStr(&out, alert.hostname);
  PutU32(&out, static_cast<uint32_t>(alert.tags.size()));
  for (const std::string& tag : alert.tags) PutStr(&out, tag);
  PutStr(&out, alert.output_fields_json);
  return out;
}

void SetPayloadSeq(std::string* payload, uint64_t seq) {
  for (int i = 0; i < 8; ++i) {
    (*payload)[kPayloadSeqOffset + i] = static_cast<char>(seq >> (8 * i));
  }
}

void SetPayloadAccepted(std::string* payload, absl::Time accepted) {
  const uint64_t nanos = AcceptedNanos(accepted);
  for (int i = 0; i < 8; ++i) {
    (*payload)[kPayloadAcceptedOffset + i] =
        static_cast<char>(nanos >> (8 * i));
  }
}

absl::StatusOr<core::Alert> DecodeAlertPayload(absl::string_view payload) {
  Reader r(payload);
  uint8_t version, priority;
  uint64_t nanos, accepted = 0;
  uint32_t tag_count;
  core::Alert alert;
  if (!r.U8(&version)) return absl::InvalidArgumentError("empty record");
  if (version != 1 && version != kPayloadVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown record version ", version));
  }
  if (!r.U64(&alert.seq) || !r.U64(&nanos) ||
      (version >= 2 && !r.U64(&accepted)) || !r.U8(&priority) ||
      !r.Str(&alert.uuid) || !r.Str(&alert.rule) || !r.Str(&alert.output) ||
      !r.Str(&alert.source) || !r.Str(&alert.hostname) || !r.U32(&tag_count) ||
      tag_count > r.size() / 4) {
    return absl::InvalidArgumentError("truncated record");
  }
  alert.tags.resize(tag_count);
  for (std::string& tag : alert.tags) {
    if (!r.Str(&tag)) return absl::InvalidArgumentError("truncated record");
  }
  if (!r.Str(&alert.output_fields_json)) {
    return absl::InvalidArgumentError("truncated record");
  }
  if (!r.empty()) return absl::InvalidArgumentError("trailing bytes in record");
  if (priority < static_cast<int>(core::Priority::kDebug) ||
      priority > static_cast<int>(core::Priority::kEmergency)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad priority ", priority, " in record"));
  }
  alert.priority = static_cast<core::Priority>(priority);
  alert.time = absl::FromUnixNanos(static_cast<int64_t>(nanos));
  if (accepted != 0) {
    alert.accepted = absl::FromUnixNanos(static_cast<int64_t>(accepted));
  }
  return alert;
}

void AppendFramedRecord(std::string* out, absl::string_view payload) {
  const size_t start = out->size();
  PutU32(out, kRecordMagic);
  PutU32(out, static_cast<uint32_t>(payload.size()));
  PutU32(out, RecordCrc(out->data() + start + 4, payload));
  out->append(payload.data(), payload.size());
}

ScanResult ScanRecords(
    absl::string_view data,
    absl::FunctionRef<void(uint64_t offset, absl::string_view payload)>
        on_record,
    absl::FunctionRef<void(uint64_t from, uint64_t to)> on_corrupt,
    bool more_follows) {
  ScanResult result;
  size_t offset = 0;
  absl::string_view payload;
  // Whether the frame at `at` may be a record that goes on past `data`.
  auto cut_off = [&](size_t at) {
    return more_follows && MayBeCutOffRecordAt(data, at);
  };
  while (offset < data.size()) {
    if (ValidRecordAt(data, offset, &payload)) {
      on_record(offset, payload);
      offset += kRecordHeaderBytes + payload.size();
      result.good_end = offset;
      continue;
    }
    if (cut_off(offset)) {
      result.resume_at = offset;
      return result;
    }
    // Damaged: look for the next valid record. A false match would need the
    // magic and a matching CRC-32C at a wrong offset.
    size_t next = offset + 1;
    while (next < data.size() && !ValidRecordAt(data, next, &payload)) {
      if (cut_off(next)) {
        result.resume_at = offset;  // the damage is reported once it ends
        return result;
      }
      ++next;
    }
    if (next >= data.size()) break;  // the tail: nothing valid follows
    on_corrupt(offset, next);
    ++result.corrupt_regions;
    offset = next;
  }
  // With more_follows the scan never gets here early: the last bytes of a
  // damaged region are always too short for a header, so cut_off() holds.
  result.resume_at = data.size();
  return result;
}

std::string EncodeProgress(const ProgressData& progress) {
  std::string out;
  PutU32(&out, kProgressMagic);
  PutU32(&out, kProgressVersion);
  PutU64(&out, progress.low_watermark);
  PutU32(&out, static_cast<uint32_t>(progress.finished_above.size()));
  for (uint64_t seq : progress.finished_above) PutU64(&out, seq);
  PutU32(&out, Crc32c(out));
  return out;
}

absl::StatusOr<ProgressData> DecodeProgress(absl::string_view data) {
  if (data.size() < 24 || Crc32c(data.substr(0, data.size() - 4)) !=
                              LoadU32(data.data() + data.size() - 4)) {
    return absl::DataLossError("damaged progress file (size or checksum)");
  }
  Reader r(data.substr(0, data.size() - 4));
  uint32_t magic, version, count;
  ProgressData progress;
  if (!r.U32(&magic) || !r.U32(&version) || magic != kProgressMagic ||
      version != kProgressVersion) {
    return absl::DataLossError("not a version 1 progress file");
  }
  if (!r.U64(&progress.low_watermark) || !r.U32(&count) ||
      r.size() != static_cast<uint64_t>(count) * 8) {
    return absl::DataLossError("damaged progress file (length)");
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t seq;
    r.U64(&seq);
    if (seq > progress.low_watermark) progress.finished_above.insert(seq);
  }
  return progress;
}

std::string EscapeOutputName(absl::string_view name) {
  std::string out;
  for (char c : name) {
    if (IsPlainNameByte(c)) {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

absl::StatusOr<std::string> UnescapeOutputName(absl::string_view file_stem) {
  std::string out;
  for (size_t i = 0; i < file_stem.size(); ++i) {
    const char c = file_stem[i];
    if (c == '%') {
      if (i + 2 >= file_stem.size()) {
        return absl::InvalidArgumentError("truncated escape");
      }
      const int hi = HexValue(file_stem[i + 1]),
                lo = HexValue(file_stem[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("bad escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (IsPlainNameByte(c)) {
      out.push_back(c);
    } else {
      return absl::InvalidArgumentError("unexpected byte in output file name");
    }
  }
  return out;
}

}  // namespace corral::router::spool_format
