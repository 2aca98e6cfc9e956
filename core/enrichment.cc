#include "core/enrichment.h"

#include <algorithm>
#include <boost/json.hpp>

#include "core/alert_json.h"

namespace corral::core {

void Enrichment::Apply(Alert& alert) const {
  if (!custom_fields.empty() || !templated_fields.empty()) {
    boost::json::object fields = ParseOutputFields(alert);
    for (const auto& [key, value] : custom_fields) fields[key] = value;
    std::vector<std::pair<const std::string*, std::string>> rendered;
    for (const auto& [key, tmpl] : templated_fields) {
      rendered.emplace_back(&key, tmpl.Render(fields));
    }
    for (auto& [key, value] : rendered) fields[*key] = std::move(value);
    alert.output_fields_json = SerializeOutputFields(fields);
  }
  for (const std::string& tag : custom_tags) {
    if (std::find(alert.tags.begin(), alert.tags.end(), tag) ==
        alert.tags.end()) {
      alert.tags.push_back(tag);
    }
  }
}

void EnrichingIntake::Submit(Alert alert, IntakeDone done) {
  std::shared_ptr<const Enrichment> enrichment;
  {
    absl::MutexLock lock(&mu_);
    enrichment = enrichment_;
  }
  enrichment->Apply(alert);
  next_->Submit(std::move(alert), std::move(done));
}

void EnrichingIntake::SetEnrichment(Enrichment enrichment) {
  auto next = std::make_shared<const Enrichment>(std::move(enrichment));
  absl::MutexLock lock(&mu_);
  enrichment_ = std::move(next);
}

}  // namespace corral::core
