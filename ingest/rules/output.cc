#include "ingest/rules/output.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/json_util.h"

namespace corral::ingest::rules {
namespace {

bool IsFieldStart(char c) { return absl::ascii_isalpha(c); }
bool IsFieldChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.';
}

}  // namespace

absl::StatusOr<OutputFormat> OutputFormat::Compile(absl::string_view text) {
  OutputFormat out;
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '%' || i + 1 >= text.size() || !IsFieldStart(text[i + 1])) {
      literal.push_back(c);
      ++i;
      continue;
    }
    size_t start = i + 1;
    size_t end = start;
    while (end < text.size() && IsFieldChar(text[end])) ++end;
    absl::string_view name = text.substr(start, end - start);
    std::optional<absl::string_view> arg;
    if (end < text.size() && text[end] == '[') {
      size_t close = text.find(']', end);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output: missing ']' after %", name, " at column ", end + 1));
      }
      arg = text.substr(end + 1, close - end - 1);
      end = close + 1;
    }
    absl::StatusOr<gcpaudit::FieldRef> ref = gcpaudit::ResolveField(name, arg);
    if (!ref.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output: at column ", i + 1, ": ", ref.status().message()));
    }
    if (!literal.empty()) out.parts_.emplace_back(std::move(literal));
    literal.clear();
    size_t index = out.fields_.size();
    for (size_t k = 0; k < out.fields_.size(); ++k) {
      if (out.fields_[k].name == ref->name) index = k;
    }
    if (index == out.fields_.size()) out.fields_.push_back(*std::move(ref));
    out.parts_.emplace_back(index);
    i = end;
  }
  if (!literal.empty()) out.parts_.emplace_back(std::move(literal));
  for (const gcpaudit::FieldRef& field : out.fields_) {
    std::string key = core::JsonQuote(field.name);
    key.push_back(':');
    out.json_keys_.push_back(std::move(key));
  }
  return out;
}

// Both run for every alert: values are read in place (Lookup), and the JSON
// is written directly rather than built as a document and serialised.
std::string OutputFormat::Format(const gcpaudit::LogEntryFields& entry) const {
  std::string out;
  for (const auto& part : parts_) {
    if (const std::string* lit = std::get_if<std::string>(&part)) {
      out.append(*lit);
    } else {
      const std::string* value = entry.Lookup(fields_[std::get<size_t>(part)]);
      const absl::string_view text =
          value != nullptr ? absl::string_view(*value) : kNotAvailable;
      out.append(text.data(), text.size());
    }
  }
  return out;
}

std::string OutputFormat::FieldsJson(
    const gcpaudit::LogEntryFields& entry) const {
  std::string out = "{";
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(json_keys_[i]);
    if (const std::string* value = entry.Lookup(fields_[i])) {
      core::AppendJsonString(&out, *value);
    } else {
      out.append("null");
    }
  }
  out.push_back('}');
  return out;
}

}  // namespace corral::ingest::rules
