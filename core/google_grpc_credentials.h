#ifndef CORRAL_CORE_GOOGLE_GRPC_CREDENTIALS_H_
#define CORRAL_CORE_GOOGLE_GRPC_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>

#include <memory>

#include "core/google_auth.h"

namespace corral::core {

// Call credentials that attach "authorization: Bearer <token>" from `source`
// to every call. gRPC only sends them over secure (TLS) channels. When no
// token can be had the call fails with UNAVAILABLE and the reason (gRPC makes
// every plugin failure UNAVAILABLE), so callers retry as for any other outage.
std::shared_ptr<grpc::CallCredentials> GoogleCallCredentials(
    std::shared_ptr<GoogleTokenSource> source);

}  // namespace corral::core

#endif  // CORRAL_CORE_GOOGLE_GRPC_CREDENTIALS_H_
