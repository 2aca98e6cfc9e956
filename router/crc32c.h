#ifndef CORRAL_ROUTER_CRC32C_H_
#define CORRAL_ROUTER_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace corral::router {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// iSCSI (RFC 3720), ext4 and leveldb. A portable table-driven implementation:
// the spool checksums each record once on write and once on read, which is far
// from the cost of the fsync that follows, so no hardware path is needed.
// Pure functions; thread-safe.

// The CRC-32C of `crc`'s data followed by `data[0, n)`. Extend(0, ...) starts a
// new checksum.
uint32_t Crc32cExtend(uint32_t crc, const char* data, size_t n);

inline uint32_t Crc32c(absl::string_view data) {
  return Crc32cExtend(0, data.data(), data.size());
}

}  // namespace corral::router

#endif  // CORRAL_ROUTER_CRC32C_H_
