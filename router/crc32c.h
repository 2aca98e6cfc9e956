#ifndef CORRAL_ROUTER_CRC32C_H_
#define CORRAL_ROUTER_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace corral::router {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// iSCSI (RFC 3720), ext4 and leveldb. The spool checksums every record on
// write and on read; with group commit that showed as a few percent of a
// busy ingest, so x86-64 CPUs with SSE4.2 use their crc32 instruction, and
// every other machine a table-driven loop. Pure functions; thread-safe.

// The CRC-32C of `crc`'s data followed by `data[0, n)`. Extend(0, ...) starts a
// new checksum.
uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t n);

// The table-driven implementation, whatever the CPU (tests compare the two).
uint32_t Crc32cExtendPortable(uint32_t crc, const char* data, size_t n);

inline uint32_t Crc32c(absl::string_view data) {
  return Crc32cExtend(0, data.data(), data.size());
}

}  // namespace corral::router

#endif  // CORRAL_ROUTER_CRC32C_H_
