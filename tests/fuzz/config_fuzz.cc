// Fuzzes the config loader as `corral check-config` runs it, minus file I/O:
// the YAML text through LoadConfigText (native and Falcosidekick schemas,
// ${VAR} expansion, validation), every output's own keys through the
// registry, the ingest.gcpaudit and ingest.falco_grpc entries, and the
// effective config rendering, and the enrichment (templatedfields included)
// applied to an alert. Properties: any text is answered (a config or
// InvalidArgument, never a crash or an escaping exception); the rendered
// effective config is YAML; every templated field is set on the alert.
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "core/alert_json.h"
#include "core/config.h"
#include "ingest/falco_grpc/falco_grpc_config.h"
#include "ingest/gcpaudit/gcpaudit_config.h"
#include "outputs/registry.h"
#include "server/app.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using corral::fuzz::Check;

// No Falcosidekick environment variables, no PUBSUB_EMULATOR_HOST.
const char* NoEnv(const char*) { return nullptr; }

void CheckRefusal(const absl::Status& status, absl::string_view what) {
  Check(status.ok() || absl::IsInvalidArgument(status), what,
        status.ToString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* registry = [] {
    auto* r = new corral::outputs::Registry;
    corral::outputs::RegisterBuiltinOutputs(*r);
    return r;
  }();

  absl::StatusOr<corral::core::Config> config =
      corral::core::LoadConfigTextWithEnv(
          std::string(corral::fuzz::AsText(data, size)), "fuzz.yaml", &NoEnv);
  if (!config.ok()) {
    CheckRefusal(config.status(),
                 "a config refusal that is not InvalidArgument");
    return 0;
  }

  corral::outputs::OutputContext context;
  context.env = &NoEnv;
  CheckRefusal(
      corral::server::BuildOutputs(*config, *registry, context).status(),
      "an output refusal that is not InvalidArgument");
  CheckRefusal(corral::ingest::gcpaudit::ParseGcpAuditConfigs(
                   config->ingest_gcpaudit, config->source, &NoEnv)
                   .status(),
               "an ingest.gcpaudit refusal that is not InvalidArgument");
  CheckRefusal(corral::ingest::falco_grpc::ParseFalcoGrpcConfigs(
                   config->ingest_falco_grpc, config->source)
                   .status(),
               "an ingest.falco_grpc refusal that is not InvalidArgument");

  corral::core::Alert alert;
  alert.output_fields_json =
      R"({"k8s.ns.name":"prod","proc.pid":42,"ratio":1.5,"ok":true,)"
      R"("none":null,"labels":{"team":"secops"},"args":["-c","id"]})";
  config->enrichment.Apply(alert);
  const boost::json::object fields = corral::core::ParseOutputFields(alert);
  for (const auto& [key, unused] : config->enrichment.templated_fields) {
    Check(fields.contains(key), "a templated field missing from the alert",
          key);
  }

  const std::string rendered = corral::core::RenderEffectiveConfig(*config);
  try {
    (void)YAML::Load(rendered);
  } catch (const YAML::Exception& e) {
    corral::fuzz::Fail("the effective config is not YAML",
                       std::string(e.what()) + "\n" + rendered);
  }
  return 0;
}
