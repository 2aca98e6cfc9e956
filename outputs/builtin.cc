#include "outputs/chronicle/chronicle_output.h"
#include "outputs/file/file_output.h"
#include "outputs/gcs/gcs_output.h"
#include "outputs/pubsub/pubsub_output.h"
#include "outputs/registry.h"
#include "outputs/s3/s3_output.h"
#include "outputs/slack/slack_output.h"
#include "outputs/stdout/stdout_output.h"
#include "outputs/webhook/webhook_output.h"

namespace corral::outputs {

// Every built-in destination, one line each.
void RegisterBuiltinOutputs(Registry& registry) {
  (void)registry.Register("stdout", &CreateStdoutOutput);
  (void)registry.Register("file", &CreateFileOutput);
  (void)registry.Register("webhook", &CreateWebhookOutput);
  (void)registry.Register("slack", &CreateSlackOutput);
  (void)registry.Register("chronicle", &CreateChronicleOutput);
  (void)registry.Register("s3", &CreateS3Output);
  (void)registry.Register("gcs", &CreateGcsOutput);
  (void)registry.Register("pubsub", &CreatePubSubOutput);
}

}  // namespace corral::outputs
