#ifndef CORRAL_CORE_BEARER_AUTH_H_
#define CORRAL_CORE_BEARER_AUTH_H_

#include "absl/strings/string_view.h"

namespace corral::core {

// Whether an `Authorization` header (HTTP) or `authorization` metadata value
// (gRPC) is "Bearer <expected>". The scheme is case-insensitive; the token is
// compared in constant time, so that it cannot be guessed byte by byte from
// response timings. `expected` must not be empty.
bool BearerTokenMatches(absl::string_view authorization,
                        absl::string_view expected);

}  // namespace corral::core

#endif  // CORRAL_CORE_BEARER_AUTH_H_
