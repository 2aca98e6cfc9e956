#include "core/google_grpc_credentials.h"

#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace corral::core {
namespace {

// The token a plugin attached last, for GoogleGrpcAuth::token_refused.
struct LastToken {
  absl::Mutex mu;
  std::string token ABSL_GUARDED_BY(mu);
};

class GoogleAuthPlugin : public grpc::MetadataCredentialsPlugin {
 public:
  GoogleAuthPlugin(std::shared_ptr<GoogleTokenSource> source,
                   std::shared_ptr<LastToken> last)
      : source_(std::move(source)), last_(std::move(last)) {}

  // Token() may do HTTP: gRPC must call us off its event loop.
  bool IsBlocking() const override { return true; }
  const char* GetType() const override { return "corral.google"; }

  grpc::Status GetMetadata(
      grpc::string_ref service_url, grpc::string_ref method_name,
      const grpc::AuthContext& channel_auth_context,
      std::multimap<grpc::string, grpc::string>* metadata) override {
    absl::StatusOr<std::string> token = source_->Token();
    if (!token.ok()) {
      // gRPC turns any plugin failure into UNAVAILABLE; the message (never a
      // secret) says why, and callers retry as for any other outage.
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          std::string(token.status().message()));
    }
    metadata->emplace("authorization", absl::StrCat("Bearer ", *token));
    absl::MutexLock lock(&last_->mu);
    last_->token = *std::move(token);
    return grpc::Status::OK;
  }

  grpc::string DebugString() override {
    return absl::StrCat("GoogleCallCredentials(", source_->Describe(), ")");
  }

 private:
  const std::shared_ptr<GoogleTokenSource> source_;
  const std::shared_ptr<LastToken> last_;
};

}  // namespace

GoogleGrpcAuth MakeGoogleGrpcAuth(std::shared_ptr<GoogleTokenSource> source) {
  auto last = std::make_shared<LastToken>();
  GoogleGrpcAuth auth;
  auth.token_refused = [source, last] {
    std::string token;
    {
      absl::MutexLock lock(&last->mu);
      token = last->token;
    }
    source->Invalidate(token);
  };
  auth.call_credentials = grpc::MetadataCredentialsFromPlugin(
      std::make_unique<GoogleAuthPlugin>(std::move(source), std::move(last)));
  return auth;
}

}  // namespace corral::core
