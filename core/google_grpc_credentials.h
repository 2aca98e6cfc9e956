#ifndef CORRAL_CORE_GOOGLE_GRPC_CREDENTIALS_H_
#define CORRAL_CORE_GOOGLE_GRPC_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>

#include <functional>
#include <memory>

#include "core/google_auth.h"

namespace corral::core {

// Google tokens on gRPC calls.
struct GoogleGrpcAuth {
  // Attach "authorization: Bearer <token>" from the source to every call.
  // gRPC only sends them over secure (TLS) channels. When no token can be had
  // the call fails with UNAVAILABLE and the reason (gRPC makes every plugin
  // failure UNAVAILABLE), so callers retry as for any other outage.
  std::shared_ptr<grpc::CallCredentials> call_credentials;
  // For a call made with call_credentials that ended UNAUTHENTICATED: drops
  // the token last attached from the source's cache (when it is still the
  // cached one), so that the next call fetches a new one. A revoked token
  // then costs one retry instead of the rest of its lifetime. Thread-safe.
  std::function<void()> token_refused;
};
GoogleGrpcAuth MakeGoogleGrpcAuth(std::shared_ptr<GoogleTokenSource> source);

}  // namespace corral::core

#endif  // CORRAL_CORE_GOOGLE_GRPC_CREDENTIALS_H_
