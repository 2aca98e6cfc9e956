#include "core/bearer_auth.h"

#include <openssl/crypto.h>

#include "absl/strings/match.h"

namespace corral::core {

bool BearerTokenMatches(absl::string_view authorization,
                        absl::string_view expected) {
  constexpr absl::string_view kBearer = "Bearer ";
  if (expected.empty() || !absl::StartsWithIgnoreCase(authorization, kBearer)) {
    return false;
  }
  const absl::string_view token = authorization.substr(kBearer.size());
  return token.size() == expected.size() &&
         CRYPTO_memcmp(token.data(), expected.data(), token.size()) == 0;
}

}  // namespace corral::core
