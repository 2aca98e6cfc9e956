#ifndef CORRAL_CORE_ENRICHMENT_H_
#define CORRAL_CORE_ENRICHMENT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/field_template.h"
#include "core/intake.h"

namespace corral::core {

// Falcosidekick's enrichment: `customfields` are set in every alert's
// output_fields (replacing a field of the same name); then `templatedfields`
// are, each the result of its template run on the output fields as they are
// after customfields (so every template sees the same fields, whatever their
// order); `customtags` are appended to its tags when not already there.
struct Enrichment {
  std::map<std::string, std::string> custom_fields;
  std::vector<std::string> custom_tags;
  std::map<std::string, FieldTemplate> templated_fields;

  bool empty() const {
    return custom_fields.empty() && templated_fields.empty() &&
           custom_tags.empty();
  }
  void Apply(Alert& alert) const;
};

// An Intake that enriches every alert, then hands it on; so that every input is
// enriched the same way without knowing about it. Does not own `next`.
// Thread-safe.
class EnrichingIntake : public Intake {
 public:
  EnrichingIntake(Enrichment enrichment, Intake* next)
      : enrichment_(std::make_shared<const Enrichment>(std::move(enrichment))),
        next_(next) {}
  void Submit(Alert alert, IntakeDone done) override;

  // Alerts submitted from now on get `enrichment` (configuration reload).
  void SetEnrichment(Enrichment enrichment);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Enrichment> enrichment_ ABSL_GUARDED_BY(mu_);
  Intake* const next_;
};

}  // namespace corral::core

#endif  // CORRAL_CORE_ENRICHMENT_H_
