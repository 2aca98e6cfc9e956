#include "core/json_util.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

}  // namespace

bool IsValidUtf8(absl::string_view value) {
  for (size_t i = 0; i < value.size();) {
    if (static_cast<uint8_t>(value[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(value, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

namespace {

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

// How many of the bytes at data[0, min(16, n)) go into a JSON string as they
// are, counted up to the first one that does not (escaped, or >= 0x80).
size_t PlainPrefix(const char* data, size_t n) {
#if defined(__SSE2__)
  if (n >= 16) {
    // Sixteen bytes per compare; a signed < 0x20 also catches >= 0x80.
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                     _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    const int mask = _mm_movemask_epi8(special);
    return mask == 0 ? 16 : static_cast<size_t>(__builtin_ctz(mask));
  }
#endif
  const size_t limit = std::min<size_t>(n, 16);
  size_t i = 0;
  while (i < limit) {
    const auto c = static_cast<uint8_t>(data[i]);
    if (c >= 0x80 || kEscapes[c] != 0) break;
    ++i;
  }
  return i;
}

// The common case, fast: appends `value` quoted when every byte is ASCII,
// writing in place into room made for it (grown when escapes need more).
// False, with nothing appended, when a byte is >= 0x80 (UTF-8, checked by the
// general path). Runs of bytes with nothing to escape are copied whole.
bool AppendAsciiJsonString(std::string* out, absl::string_view value) {
  // Per step at most 16 plain bytes, or fewer and one escape (6 bytes).
  constexpr ptrdiff_t kStepRoom = 24;
  const char* const data = value.data();
  const size_t n = value.size();
  const size_t start = out->size();
  out->resize(start + n + n / 8 + kStepRoom);
  char* p = out->data() + start;
  char* end = out->data() + out->size();
  *p++ = '"';
  size_t i = 0;
  while (i < n) {
    if (end - p < kStepRoom) {
      const size_t written = p - out->data();
      out->resize(out->size() + (n - i) + (n - i) / 4 + kStepRoom);
      p = out->data() + written;
      end = out->data() + out->size();
    }
    const size_t plain = PlainPrefix(data + i, n - i);
    // A whole block is copied when there is one (one fixed-size move, not a
    // call): bytes past `plain` are overwritten by what follows.
    if (n - i >= 16) {
      std::memcpy(p, data + i, 16);
    } else {
      std::memcpy(p, data + i, plain);
    }
    p += plain;
    i += plain;
    if (plain == 16 || i == n) continue;
    const auto c = static_cast<uint8_t>(data[i++]);
    if (c >= 0x80) {
      out->resize(start);
      return false;
    }
    const char escape = kEscapes[c];
    *p++ = '\\';
    *p++ = escape;
    if (escape == 'u') {
      *p++ = '0';
      *p++ = '0';
      *p++ = kHex[c >> 4];
      *p++ = kHex[c & 0xF];
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
