#include "core/google_grpc_credentials.h"

#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace corral::core {
namespace {

class GoogleAuthPlugin : public grpc::MetadataCredentialsPlugin {
 public:
  explicit GoogleAuthPlugin(std::shared_ptr<GoogleTokenSource> source)
      : source_(std::move(source)) {}

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
    return grpc::Status::OK;
  }

  grpc::string DebugString() override {
    return absl::StrCat("GoogleCallCredentials(", source_->Describe(), ")");
  }

 private:
  const std::shared_ptr<GoogleTokenSource> source_;
};

}  // namespace

std::shared_ptr<grpc::CallCredentials> GoogleCallCredentials(
    std::shared_ptr<GoogleTokenSource> source) {
  return grpc::MetadataCredentialsFromPlugin(
      std::make_unique<GoogleAuthPlugin>(std::move(source)));
}

}  // namespace corral::core
