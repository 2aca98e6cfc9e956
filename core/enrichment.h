#ifndef CORRAL_CORE_ENRICHMENT_H_
#define CORRAL_CORE_ENRICHMENT_H_

#include <map>
#include <string>
#include <vector>

#include "core/intake.h"

namespace corral::core {

// Falcosidekick's enrichment: `customfields` are set in every alert's
// output_fields (replacing a field of the same name), `customtags` are appended
// to its tags when not already there.
struct Enrichment {
  std::map<std::string, std::string> custom_fields;
  std::vector<std::string> custom_tags;

  bool empty() const { return custom_fields.empty() && custom_tags.empty(); }
  void Apply(Alert& alert) const;
};

// An Intake that enriches every alert, then hands it on; so that every input is
// enriched the same way without knowing about it. Does not own `next`.
class EnrichingIntake : public Intake {
 public:
  EnrichingIntake(Enrichment enrichment, Intake* next)
      : enrichment_(std::move(enrichment)), next_(next) {}
  void Submit(Alert alert, IntakeDone done) override;

 private:
  const Enrichment enrichment_;
  Intake* const next_;
};

}  // namespace corral::core

#endif  // CORRAL_CORE_ENRICHMENT_H_
