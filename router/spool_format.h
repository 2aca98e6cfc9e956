#ifndef CORRAL_ROUTER_SPOOL_FORMAT_H_
#define CORRAL_ROUTER_SPOOL_FORMAT_H_

// The spool's on-disk encodings, as pure functions so that they can be tested
// (and reasoned about) without files. All integers are little-endian.
//
// Segment file `<dir>/<first seq, 20 digits>.seg`: records back to back, no
// header. A segment holds seqs in [its name, the next segment's name).
//
// Record frame (12-byte header, then the payload):
//   u32 magic   0x31535243 ("CRS1" on disk)
//   u32 length  payload bytes, 1..kMaxRecordPayload
//   u32 crc     CRC-32C of the length field's 4 bytes followed by the payload
//   payload
// The magic lets a reader find the next record after a damaged one; the CRC
// covers the length so that a damaged length is never trusted.
//
// Record payload, version 2:
//   u8 version (2), u64 seq, i64 time (Unix ns), i64 accepted (Unix ns, 0
//   when not known), u8 priority,
//   str uuid, str rule, str output, str source, str hostname,
//   u32 tag count, str tag..., str output_fields_json
// where str is u32 length + bytes. Version 1 (still read) has no accepted.
//
// Progress file `<dir>/progress/<escaped output name>.progress`:
//   u32 magic 0x47504352 ("RCPG"), u32 version (1), u64 low watermark,
//   u32 count, u64 finished seq... (ascending), u32 CRC-32C of all before it.

#include <cstdint>
#include <set>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/alert.h"

namespace corral::router::spool_format {

inline constexpr uint32_t kRecordMagic = 0x31535243;
inline constexpr size_t kRecordHeaderBytes = 12;
inline constexpr uint32_t kMaxRecordPayload = 64u << 20;
// Offsets of the u64 seq and the i64 accepted time inside a payload.
inline constexpr size_t kPayloadSeqOffset = 1;
inline constexpr size_t kPayloadAcceptedOffset = 17;

// The record payload of `alert` (including alert.seq).
std::string EncodeAlertPayload(const core::Alert& alert);
// Overwrites the seq of an encoded payload, so that a payload can be encoded
// before its seq is known.
void SetPayloadSeq(std::string* payload, uint64_t seq);
// Overwrites the accepted time of an encoded payload.
void SetPayloadAccepted(std::string* payload, absl::Time accepted);
// Decodes a payload; InvalidArgument when it is malformed or of an unknown
// version (cannot happen for a payload whose CRC matched, short of a bug).
absl::StatusOr<core::Alert> DecodeAlertPayload(absl::string_view payload);

// Appends the framed record (header + payload) to `out`.
void AppendFramedRecord(std::string* out, absl::string_view payload);
inline size_t FramedSize(size_t payload_size) {
  return kRecordHeaderBytes + payload_size;
}

// The outcome of scanning a segment's bytes.
struct ScanResult {
  // Offset just past the last valid record; everything after it holds no
  // valid record (a torn write, or damage at the end).
  uint64_t good_end = 0;
  // Damaged regions that are followed by a valid record (each one skips at
  // least one record).
  int corrupt_regions = 0;
  // Everything before this offset has been reported (records and damaged
  // regions). A scan of a prefix (`more_follows`) stops at a frame that may
  // be a record cut off by the end of the prefix: scan again from here once
  // more bytes follow. Without `more_follows`, data.size().
  uint64_t resume_at = 0;
};

// Walks the records of `data` in order. `on_record(offset, payload)` is called
// for every record whose frame and CRC are valid. After a damaged frame the
// scan resumes at the next offset where a valid record starts, and calls
// `on_corrupt(from, to)` for the skipped bytes. A damaged tail (no valid record
// after it) is not reported through on_corrupt: it is data.size() - good_end.
// With `more_follows`, `data` is a prefix of the segment: a frame that may be
// a record not wholly inside it (a partial header, or the magic with a length
// reaching past the end) ends the scan at resume_at instead of counting as
// damage, so that reading a segment piece by piece finds exactly what one
// scan of the whole would.
ScanResult ScanRecords(
    absl::string_view data,
    absl::FunctionRef<void(uint64_t offset, absl::string_view payload)>
        on_record,
    absl::FunctionRef<void(uint64_t from, uint64_t to)> on_corrupt,
    bool more_follows = false);

struct ProgressData {
  uint64_t low_watermark = 0;
  std::set<uint64_t> finished_above;
};
std::string EncodeProgress(const ProgressData& progress);
// DataLoss when the file is damaged (bad magic, size or CRC).
absl::StatusOr<ProgressData> DecodeProgress(absl::string_view data);

// Output names as file names: [A-Za-z0-9_-] stay, every other byte becomes
// %XX, so no name can escape the progress directory or collide with another.
std::string EscapeOutputName(absl::string_view name);
// The inverse; InvalidArgument for a malformed escape.
absl::StatusOr<std::string> UnescapeOutputName(absl::string_view file_stem);

}  // namespace corral::router::spool_format

#endif  // CORRAL_ROUTER_SPOOL_FORMAT_H_
