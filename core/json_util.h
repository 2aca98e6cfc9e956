#ifndef CORRAL_CORE_JSON_UTIL_H_
#define CORRAL_CORE_JSON_UTIL_H_

#include <string>

#include "absl/strings/string_view.h"

namespace corral::core {

// Appends `value` as a quoted JSON string (RFC 8259 escaping; bytes that are
// not valid UTF-8 are replaced by U+FFFD so the output is always valid JSON).
void AppendJsonString(std::string* out, absl::string_view value);

// Returns `value` as a quoted JSON string.
std::string JsonQuote(absl::string_view value);

// Whether `value` is valid UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF).
bool IsValidUtf8(absl::string_view value);

}  // namespace corral::core

#endif  // CORRAL_CORE_JSON_UTIL_H_
