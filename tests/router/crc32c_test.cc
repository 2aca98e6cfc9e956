#include "router/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace corral::router {
namespace {

TEST(Crc32cTest, StandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

// RFC 3720, Appendix B.4.
TEST(Crc32cTest, Rfc3720Vectors) {
  std::string buf(32, '\0');
  EXPECT_EQ(Crc32c(buf), 0x8A9136AAu);

  buf.assign(32, '\xFF');
  EXPECT_EQ(Crc32c(buf), 0x62A8AB43u);

  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(buf), 0x46DD794Eu);

  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Crc32c(buf), 0x113FDB5Cu);

  const unsigned char iscsi_read[48] = {
      0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(Crc32cExtend(0, reinterpret_cast<const char*>(iscsi_read), 48),
            0xD9963A56u);
}

// Extending piecewise, at every split point and with unaligned tails, gives the
// checksum of the whole.
TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  const uint32_t whole = Crc32c(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t crc = Crc32cExtend(0, data.data(), split);
    crc = Crc32cExtend(crc, data.data() + split, data.size() - split);
    EXPECT_EQ(crc, whole) << "split at " << split;
  }
  EXPECT_NE(Crc32c(data.substr(1)), whole);
}

TEST(Crc32cTest, HardwareAndPortableAgree) {
  std::string data;
  uint32_t x = 12345;
  for (int i = 0; i < 4099; ++i) {
    x = x * 1103515245 + 12345;
    data.push_back(static_cast<char>(x >> 16));
  }
  // Every length and alignment around the eight-byte steps.
  for (size_t start = 0; start < 9; ++start) {
    for (size_t n = 0; n + start <= data.size(); n += (n < 40 ? 1 : 511)) {
      EXPECT_EQ(Crc32cExtend(7, data.data() + start, n),
                Crc32cExtendPortable(7, data.data() + start, n))
          << start << "+" << n;
    }
  }
}

}  // namespace
}  // namespace corral::router
