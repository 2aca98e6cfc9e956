#ifndef CORRAL_CORE_CONFIG_NODE_H_
#define CORRAL_CORE_CONFIG_NODE_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace corral::core {

// Every problem found while reading a config, each with file, line, column and
// key path:
//   corral.yaml:12:5: outputs[0].retry.max_backoff: expected a duration ...
// Readers record errors and carry on, so that one run reports every mistake at
// once.
class ConfigErrors {
 public:
  explicit ConfigErrors(std::string file) : file_(std::move(file)) {}

  // `at` gives the position (may be a null node: then the position is unknown).
  void Add(const YAML::Node& at, absl::string_view path,
           absl::string_view message);
  void AddAtTop(absl::string_view path, absl::string_view message);

  bool empty() const { return errors_.empty(); }
  const std::vector<std::string>& messages() const { return errors_; }
  const std::string& file() const { return file_; }
  // OK when empty; otherwise InvalidArgument with one error per line.
  absl::Status ToStatus() const;

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

// Expands ${VAR} and ${VAR:-default} from the environment; an unset VAR expands
// to "" (or the default). "$$" is a literal "$".
std::string ExpandEnv(absl::string_view text);

// Parses "500ms", "30s", "1m30s", "24h", "0". A bare number other than 0 is
// refused: the unit is always written out.
std::optional<absl::Duration> ParseConfigDuration(absl::string_view text);
// Parses a byte size: "1048576", "64KiB", "1MiB", "1GiB", "10MB" (KB/MB/GB are
// powers of 1000, K/KiB/M/MiB/G/GiB powers of 1024).
std::optional<uint64_t> ParseConfigSize(absl::string_view text);

// A typed, checked view of one YAML mapping at a key path ("outputs[0].retry").
// Each getter marks its key as known, checks the value's type and records an
// error (returning the default) when it is wrong; RejectUnknownKeys() then
// reports every key nobody asked for. String values have ${VAR} expanded. Not
// thread-safe; lives only while a config is read.
class ConfigMap {
 public:
  // `node` may be null/undefined (treated as an empty map); anything else that
  // is not a map is an error. `known` are keys another reader has already
  // handled (e.g. the keys every output has).
  ConfigMap(YAML::Node node, std::string path, ConfigErrors* errors,
            std::set<std::string> known = {});

  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  ConfigErrors* errors() const { return errors_; }
  std::string KeyPath(absl::string_view key) const;

  bool Has(absl::string_view key) const;
  std::string String(absl::string_view key, absl::string_view def = "");
  // Records "KEY is required" when the key is absent or empty after expansion.
  std::string RequiredString(absl::string_view key);
  // Like String(), but the value must be one of `allowed`.
  std::string Enum(absl::string_view key, absl::string_view def,
                   const std::vector<absl::string_view>& allowed);
  bool Bool(absl::string_view key, bool def);
  int64_t Int(absl::string_view key, int64_t def, int64_t min, int64_t max);
  absl::Duration Duration(absl::string_view key, absl::Duration def);
  uint64_t Size(absl::string_view key, uint64_t def);
  std::vector<std::string> StringList(absl::string_view key);
  std::map<std::string, std::string> StringMap(absl::string_view key);
  // A nested map (empty when absent).
  ConfigMap Map(absl::string_view key);
  // The raw node, marked known; for sequences and shapes the getters above do
  // not cover.
  YAML::Node Raw(absl::string_view key);

  // Records an error about `key` at its position.
  void Error(absl::string_view key, absl::string_view message);
  // Records an error about `key` unless `url` is http(s)://HOST...; the value
  // is never echoed (webhook URLs hold their secret in the path). Returns
  // whether it is.
  bool CheckHttpUrl(absl::string_view key, absl::string_view url);
  // Records "unknown key" for every key not read or passed as known.
  void RejectUnknownKeys();

 private:
  YAML::Node Lookup(absl::string_view key);
  std::optional<std::string> Scalar(absl::string_view key,
                                    absl::string_view what);

  YAML::Node node_;
  std::string path_;
  ConfigErrors* errors_;
  std::set<std::string> known_;
};

// Reads the list at `path` (e.g. "ingest.gcpaudit") of maps that each carry a
// "name": every item through `parse_one(ConfigMap&)`, which returns a Config
// with a `name` member; a name given twice is an error. Absent or null: no
// items. `items` says what the list holds ("connections") in the error when
// the node is not a list. Every error found is reported, with `source`.
template <typename Config, typename ParseOne>
absl::StatusOr<std::vector<Config>> ParseNamedList(const YAML::Node& list,
                                                   const std::string& source,
                                                   absl::string_view path,
                                                   absl::string_view items,
                                                   ParseOne parse_one) {
  std::vector<Config> configs;
  if (!list.IsDefined() || list.IsNull()) return configs;
  ConfigErrors errors(source);
  if (!list.IsSequence()) {
    errors.Add(list, path, absl::StrCat("expected a list of ", items));
    return errors.ToStatus();
  }
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    ConfigMap m(list[i], absl::StrCat(path, "[", i, "]"), &errors);
    Config c = parse_one(m);
    if (!c.name.empty() && !names.insert(c.name).second) {
      m.Error("name", absl::StrCat("\"", c.name,
                                   "\" is already the name of another entry"));
    }
    configs.push_back(std::move(c));
  }
  if (!errors.empty()) return errors.ToStatus();
  return configs;
}

}  // namespace corral::core

#endif  // CORRAL_CORE_CONFIG_NODE_H_
