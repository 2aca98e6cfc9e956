// Fuzzes the Cloud Logging LogEntry field extractor
// (ingest/gcpaudit/log_entry_fields): every gcp.* field, and json.value with
// pointers to nodes of the input itself (keys with '/' and '~' escaped as RFC
// 6901 says). Properties: any text parses or fails with InvalidArgument, never
// a crash; a field reads the same by name, through the per-entry cache and
// without a copy.
#include <boost/json.hpp>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using corral::fuzz::Check;
namespace gcpaudit = corral::ingest::gcpaudit;
namespace json = boost::json;

constexpr size_t kMaxPointers = 64;

// JSON pointers to nodes of `v` (depth first, at most kMaxPointers).
void CollectPointers(const json::value& v, const std::string& at,
                     std::vector<std::string>* out) {
  if (out->size() >= kMaxPointers) return;
  out->push_back(at);
  if (const json::object* obj = v.if_object()) {
    for (const auto& member : *obj) {
      std::string key(member.key().data(), member.key().size());
      CollectPointers(
          member.value(),
          absl::StrCat(at, "/",
                       absl::StrReplaceAll(key, {{"~", "~0"}, {"/", "~1"}})),
          out);
    }
  } else if (const json::array* arr = v.if_array()) {
    for (size_t i = 0; i < arr->size(); ++i) {
      CollectPointers((*arr)[i], absl::StrCat(at, "/", i), out);
    }
  }
}

void CheckField(const gcpaudit::LogEntryFields& entry, absl::string_view name,
                std::optional<absl::string_view> arg) {
  absl::StatusOr<gcpaudit::FieldRef> ref = gcpaudit::ResolveField(name, arg);
  Check(ref.ok(), "a field does not resolve", ref.status().ToString());
  const std::optional<std::string> by_ref = entry.Get(*ref);
  const std::optional<std::string> cached = entry.Get(*ref);
  const std::string* looked_up = entry.Lookup(*ref);
  const std::optional<std::string> by_name = entry.Get(ref->name);
  Check(by_ref == cached, "a field reads differently the second time",
        ref->name);
  Check(by_ref.has_value() == (looked_up != nullptr) &&
            (looked_up == nullptr || *looked_up == *by_ref),
        "Lookup and Get disagree", ref->name);
  Check(by_name == by_ref, "a field reads differently by name", ref->name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text = corral::fuzz::AsText(data, size);
  absl::StatusOr<gcpaudit::LogEntryFields> entry =
      gcpaudit::LogEntryFields::Parse(text);
  if (!entry.ok()) {
    Check(absl::IsInvalidArgument(entry.status()),
          "a refusal that is not InvalidArgument", entry.status().ToString());
    return 0;
  }
  (void)entry->timestamp();
  for (const std::string& name : gcpaudit::AllGcpFieldNames()) {
    CheckField(*entry, name, std::nullopt);
  }

  json::parse_options options;
  options.max_depth = 512;  // as LogEntryFields::Parse allows
  std::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()),
                                 ec, {}, options);
  Check(!ec, "LogEntryFields parsed what Boost.JSON refuses", ec.message());
  std::vector<std::string> pointers;
  CollectPointers(root, "", &pointers);
  pointers.push_back("/no/such/node");
  pointers.push_back("/protoPayload/~2bad-escape");
  for (const std::string& pointer : pointers) {
    CheckField(*entry, "json.value", pointer);
  }

  // The entry moves (the handler keeps it in a vector) with its cache.
  gcpaudit::LogEntryFields moved = *std::move(entry);
  CheckField(moved, "gcp.user", std::nullopt);
  return 0;
}
