#include "core/json_util.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace corral::core {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = byte(i);
  size_t len;
  uint32_t min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

constexpr char kHex[] = "0123456789abcdef";

// How each ASCII character is escaped: the character after the backslash
// ('u' for \u00XX), or 0 when it goes in as it is.
constexpr std::array<char, 128> kEscapes = [] {
  std::array<char, 128> escapes{};
  for (int c = 0; c < 0x20; ++c) escapes[c] = 'u';
  escapes['"'] = '"';
  escapes['\\'] = '\\';
  escapes['\n'] = 'n';
  escapes['\r'] = 'r';
  escapes['\t'] = 't';
  escapes['\b'] = 'b';
  escapes['\f'] = 'f';
  return escapes;
}();

// True when none of the 8 bytes at `p` is escaped or >= 0x80 (bit tricks on
// one word instead of eight table lookups).
bool EightPlainBytes(const char* p) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  auto has_zero_byte = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const uint64_t special = (w & kHigh) | ((w - 0x20 * kOnes) & ~w & kHigh) |
                           has_zero_byte(w ^ ('"' * kOnes)) |
                           has_zero_byte(w ^ ('\\' * kOnes));
  return special == 0;
}

// The common case, fast: appends `value` quoted when every byte is ASCII,
// writing in place into room made for it (grown when escapes need more).
// False, with nothing appended, when a byte is >= 0x80 (UTF-8, checked by the
// general path). Blocks of 8 bytes with nothing to escape are copied whole.
bool AppendAsciiJsonString(std::string* out, absl::string_view value) {
  const char* const data = value.data();
  const size_t n = value.size();
  const size_t start = out->size();
  // Room for the value, its quotes and some escapes; `end` is how far the
  // writing may go before more room is made (one escape is at most 6 bytes).
  out->resize(start + n + n / 8 + 8);
  char* p = out->data() + start;
  char* end = out->data() + out->size() - 6;
  *p++ = '"';
  for (size_t i = 0; i < n;) {
    if (p + 8 > end) {
      const size_t written = p - out->data();
      out->resize(out->size() + (n - i) + (n - i) / 4 + 16);
      p = out->data() + written;
      end = out->data() + out->size() - 6;
      continue;
    }
    if (i + 8 <= n && EightPlainBytes(data + i)) {
      std::memcpy(p, data + i, 8);
      p += 8;
      i += 8;
      continue;
    }
    const size_t block_end = std::min(i + 8, n);
    for (; i < block_end; ++i) {
      const auto c = static_cast<uint8_t>(data[i]);
      if (c >= 0x80) {
        out->resize(start);
        return false;
      }
      const char escape = kEscapes[c];
      if (escape == 0) {
        *p++ = static_cast<char>(c);
        continue;
      }
      *p++ = '\\';
      *p++ = escape;
      if (escape == 'u') {
        *p++ = '0';
        *p++ = '0';
        *p++ = kHex[c >> 4];
        *p++ = kHex[c & 0xF];
      }
      if (p + 8 > end) {
        ++i;
        break;
      }
    }
  }
  *p++ = '"';
  out->resize(p - out->data());
  return true;
}

}  // namespace

void AppendJsonString(std::string* out, absl::string_view value) {
  if (AppendAsciiJsonString(out, value)) return;
  out->push_back('"');
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<uint8_t>(value[i]);
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(value, i);
      if (len == 0) {
        out->append("\xEF\xBF\xBD");  // U+FFFD for a byte that is not UTF-8
      } else {
        out->append(value.data() + i, len);
        i += len - 1;
      }
    } else if (kEscapes[c] == 0) {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('\\');
      out->push_back(kEscapes[c]);
      if (kEscapes[c] == 'u') {
        out->append("00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
      }
    }
  }
  out->push_back('"');
}

std::string JsonQuote(absl::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  AppendJsonString(&out, value);
  return out;
}

}  // namespace corral::core
