#include "ingest/rules/output.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "boost/json.hpp"

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
  return out;
}

std::string OutputFormat::Format(const gcpaudit::LogEntryFields& entry) const {
  std::vector<std::optional<std::string>> values;
  values.reserve(fields_.size());
  for (const gcpaudit::FieldRef& f : fields_) values.push_back(entry.Get(f));
  std::string out;
  for (const auto& part : parts_) {
    if (const std::string* lit = std::get_if<std::string>(&part)) {
      out.append(*lit);
    } else {
      const auto& v = values[std::get<size_t>(part)];
      if (v.has_value()) {
        out.append(*v);
      } else {
        out.append(kNotAvailable.data(), kNotAvailable.size());
      }
    }
  }
  return out;
}

std::string OutputFormat::FieldsJson(
    const gcpaudit::LogEntryFields& entry) const {
  boost::json::object obj;
  for (const gcpaudit::FieldRef& f : fields_) {
    std::optional<std::string> v = entry.Get(f);
    boost::json::string_view key(f.name.data(), f.name.size());
    if (v.has_value()) {
      obj[key] = boost::json::string(v->data(), v->size());
    } else {
      obj[key] = nullptr;
    }
  }
  return boost::json::serialize(obj);
}

}  // namespace corral::ingest::rules
