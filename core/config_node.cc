#include "core/config_node.h"

#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace corral::core {
namespace {

std::string Position(const std::string& file, const YAML::Node& at) {
  if (at.IsDefined() && at.Mark().line >= 0) {
    return absl::StrCat(file, ":", at.Mark().line + 1, ":",
                        at.Mark().column + 1);
  }
  return file;
}

}  // namespace

void ConfigErrors::Add(const YAML::Node& at, absl::string_view path,
                       absl::string_view message) {
  errors_.push_back(absl::StrCat(Position(file_, at), ": ",
                                 path.empty() ? "" : absl::StrCat(path, ": "),
                                 message));
}

void ConfigErrors::AddAtTop(absl::string_view path, absl::string_view message) {
  Add(YAML::Node(), path, message);
}

absl::Status ConfigErrors::ToStatus() const {
  if (errors_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
}

std::string ExpandEnv(absl::string_view text) {
  if (text.find('$') == absl::string_view::npos) return std::string(text);
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out.push_back(text[i]);
      continue;
    }
    if (text[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (text[i + 1] != '{' || close == absl::string_view::npos) {
      out.push_back('$');
      continue;
    }
    absl::string_view inner = text.substr(i + 2, close - i - 2);
    absl::string_view fallback;
    if (size_t sep = inner.find(":-"); sep != absl::string_view::npos) {
      fallback = inner.substr(sep + 2);
      inner = inner.substr(0, sep);
    }
    const char* value = std::getenv(std::string(inner).c_str());
    if (value != nullptr && *value != '\0') {
      out.append(value);
    } else {
      absl::StrAppend(&out, fallback);
    }
    i = close;
  }
  return out;
}

std::optional<absl::Duration> ParseConfigDuration(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text == "0") return absl::ZeroDuration();
  absl::Duration d;
  if (text.empty() || !absl::ParseDuration(text, &d) ||
      d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return std::nullopt;
  }
  // A number without a unit is ambiguous (seconds? milliseconds?): refuse it.
  if (absl::ascii_isdigit(static_cast<unsigned char>(text.back()))) {
    return std::nullopt;
  }
  return d;
}

std::optional<uint64_t> ParseConfigSize(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < text.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  uint64_t n;
  if (digits == 0 || !absl::SimpleAtoi(text.substr(0, digits), &n)) {
    return std::nullopt;
  }
  std::string unit =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(digits)));
  uint64_t mult;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "k" || unit == "kib") {
    mult = 1ULL << 10;
  } else if (unit == "kb") {
    mult = 1000;
  } else if (unit == "m" || unit == "mib") {
    mult = 1ULL << 20;
  } else if (unit == "mb") {
    mult = 1000 * 1000;
  } else if (unit == "g" || unit == "gib") {
    mult = 1ULL << 30;
  } else if (unit == "gb") {
    mult = 1000ULL * 1000 * 1000;
  } else {
    return std::nullopt;
  }
  if (n > std::numeric_limits<uint64_t>::max() / mult) return std::nullopt;
  return n * mult;
}

ConfigMap::ConfigMap(YAML::Node node, std::string path, ConfigErrors* errors,
                     std::set<std::string> known)
    : node_(node),
      path_(std::move(path)),
      errors_(errors),
      known_(std::move(known)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    errors_->Add(node_, path_, "expected a mapping of keys to values");
    // reset(), not operator=: assigning a YAML::Node overwrites the node it
    // refers to, which would turn the caller's document node into a map.
    node_.reset(YAML::Node(YAML::NodeType::Map));
  }
}

std::string ConfigMap::KeyPath(absl::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
}

YAML::Node ConfigMap::Lookup(absl::string_view key) {
  known_.insert(std::string(key));
  if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

bool ConfigMap::Has(absl::string_view key) const {
  if (!node_.IsMap()) return false;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      return !it->second.IsNull();
    }
  }
  return false;
}

std::optional<std::string> ConfigMap::Scalar(absl::string_view key,
                                             absl::string_view what) {
  YAML::Node v = Lookup(key);
  if (!v.IsDefined() || v.IsNull()) return std::nullopt;
  if (!v.IsScalar()) {
    errors_->Add(v, KeyPath(key), absl::StrCat("expected ", what));
    return std::nullopt;
  }
  return ExpandEnv(v.Scalar());
}

std::string ConfigMap::String(absl::string_view key, absl::string_view def) {
  std::optional<std::string> v = Scalar(key, "a string");
  return v ? *v : std::string(def);
}

std::string ConfigMap::RequiredString(absl::string_view key) {
  std::string v = String(key);
  if (v.empty()) {
    YAML::Node raw = Lookup(key);
    std::string hint;
    if (raw.IsDefined() && raw.IsScalar() &&
        absl::StrContains(raw.Scalar(), "${")) {
      hint = absl::StrCat(" (\"", raw.Scalar(),
                          "\" expanded to nothing: is the variable set?)");
    }
    errors_->Add(raw.IsDefined() ? raw : node_, KeyPath(key),
                 absl::StrCat("is required", hint));
  }
  return v;
}

std::string ConfigMap::Enum(absl::string_view key, absl::string_view def,
                            const std::vector<absl::string_view>& allowed) {
  std::string v = String(key, def);
  for (absl::string_view a : allowed) {
    if (v == a) return v;
  }
  errors_->Add(Lookup(key), KeyPath(key),
               absl::StrCat("\"", v, "\" is not one of: ",
                            absl::StrJoin(allowed, ", ")));
  return std::string(def);
}

bool ConfigMap::Bool(absl::string_view key, bool def) {
  std::optional<std::string> v = Scalar(key, "true or false");
  if (!v) return def;
  std::string lower = absl::AsciiStrToLower(*v);
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  errors_->Add(Lookup(key), KeyPath(key),
               absl::StrCat("expected true or false, got \"", *v, "\""));
  return def;
}

int64_t ConfigMap::Int(absl::string_view key, int64_t def, int64_t min,
                       int64_t max) {
  std::optional<std::string> v = Scalar(key, "an integer");
  if (!v) return def;
  int64_t n;
  if (!absl::SimpleAtoi(*v, &n) || n < min || n > max) {
    errors_->Add(Lookup(key), KeyPath(key),
                 absl::StrCat("expected an integer from ", min, " to ", max,
                              ", got \"", *v, "\""));
    return def;
  }
  return n;
}

absl::Duration ConfigMap::Duration(absl::string_view key, absl::Duration def) {
  std::optional<std::string> v = Scalar(key, "a duration");
  if (!v) return def;
  std::optional<absl::Duration> d = ParseConfigDuration(*v);
  if (!d) {
    errors_->Add(
        Lookup(key), KeyPath(key),
        absl::StrCat("expected a duration like 500ms, 30s or 24h, got \"", *v,
                     "\""));
    return def;
  }
  return *d;
}

uint64_t ConfigMap::Size(absl::string_view key, uint64_t def) {
  std::optional<std::string> v = Scalar(key, "a size");
  if (!v) return def;
  std::optional<uint64_t> n = ParseConfigSize(*v);
  if (!n) {
    errors_->Add(
        Lookup(key), KeyPath(key),
        absl::StrCat(
            "expected a size in bytes like 1048576, 64KiB or 1GiB, got \"", *v,
            "\""));
    return def;
  }
  return *n;
}

std::vector<std::string> ConfigMap::StringList(absl::string_view key) {
  YAML::Node v = Lookup(key);
  std::vector<std::string> out;
  if (!v.IsDefined() || v.IsNull()) return out;
  if (!v.IsSequence()) {
    errors_->Add(v, KeyPath(key), "expected a list of strings");
    return out;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].IsScalar()) {
      errors_->Add(v[i], absl::StrCat(KeyPath(key), "[", i, "]"),
                   "expected a string");
      continue;
    }
    out.push_back(ExpandEnv(v[i].Scalar()));
  }
  return out;
}

std::map<std::string, std::string> ConfigMap::StringMap(absl::string_view key) {
  YAML::Node v = Lookup(key);
  std::map<std::string, std::string> out;
  if (!v.IsDefined() || v.IsNull()) return out;
  if (!v.IsMap()) {
    errors_->Add(v, KeyPath(key), "expected a mapping of strings to strings");
    return out;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->first.IsScalar() || !it->second.IsScalar()) {
      errors_->Add(it->second, KeyPath(key),
                   "expected string keys and string values");
      continue;
    }
    out[it->first.Scalar()] = ExpandEnv(it->second.Scalar());
  }
  return out;
}

ConfigMap ConfigMap::Map(absl::string_view key) {
  return ConfigMap(Lookup(key), KeyPath(key), errors_);
}

YAML::Node ConfigMap::Raw(absl::string_view key) { return Lookup(key); }

void ConfigMap::Error(absl::string_view key, absl::string_view message) {
  YAML::Node at = Lookup(key);
  errors_->Add(at.IsDefined() ? at : node_, KeyPath(key), message);
}

void ConfigMap::RejectUnknownKeys() {
  if (!node_.IsMap()) return;
  std::vector<std::string> known_list(known_.begin(), known_.end());
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (known_.count(key) == 0) {
      errors_->Add(it->first, KeyPath(key),
                   absl::StrCat("unknown key (known here: ",
                                absl::StrJoin(known_list, ", "), ")"));
    }
  }
}

bool ConfigMap::CheckHttpUrl(absl::string_view key, absl::string_view url) {
  const std::string lower = absl::AsciiStrToLower(url);
  size_t scheme_len = 0;
  if (absl::StartsWith(lower, "http://")) scheme_len = 7;
  if (absl::StartsWith(lower, "https://")) scheme_len = 8;
  if (scheme_len == 0) {
    Error(key, "must start with http:// or https://");
    return false;
  }
  if (url.size() == scheme_len ||
      absl::string_view("/?#").find(url[scheme_len]) !=
          absl::string_view::npos) {
    Error(key, "has no host");
    return false;
  }
  return true;
}

}  // namespace corral::core
