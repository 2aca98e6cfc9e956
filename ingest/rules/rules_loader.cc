#include "ingest/rules/rules_loader.h"

#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_util.h"
#include "yaml-cpp/yaml.h"

namespace corral::ingest::rules {
namespace {

struct Origin {
  std::string file;
  int line = 0;  // 1-based
};

// One exception value: a scalar, or a list (for in / intersects / pmatch).
struct ExcValue {
  std::vector<AstValue> items;
  bool is_list = false;
};

struct ExceptionDef {
  std::string name;
  std::vector<std::string> fields;
  bool single_field = false;  // `fields: f` rather than `fields: [f, ...]`
  std::vector<CmpOp> comps;
  std::vector<std::vector<ExcValue>> rows;  // single_field: one value a row
};

struct RuleDef {
  std::string name;
  std::string desc;
  std::string condition;
  std::string output;
  std::string source = std::string(gcpaudit::kSource);
  core::Priority priority = core::Priority::kDebug;
  std::vector<std::string> tags;
  bool enabled = true;
  std::vector<ExceptionDef> exceptions;
  Origin origin;            // where the rule was (re)defined
  Origin condition_origin;  // the item that last set or appended condition
  Origin output_origin;
};

struct MacroDef {
  std::string name;
  std::string condition;
  Origin origin;
};

struct ListDef {
  std::string name;
  std::vector<AstValue> items;
  Origin origin;
};

// Definitions in first-definition order, by name.
template <typename T>
class Ordered {
 public:
  T* Find(const std::string& name) {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &items_[it->second];
  }
  void Put(T def) {
    if (T* existing = Find(def.name)) {
      *existing = std::move(def);  // a redefinition keeps its place
      return;
    }
    index_[def.name] = items_.size();
    items_.push_back(std::move(def));
  }
  const std::vector<T>& items() const { return items_; }

 private:
  std::vector<T> items_;
  absl::flat_hash_map<std::string, size_t> index_;
};

std::string Trim(absl::string_view s) {
  return std::string(absl::StripAsciiWhitespace(s));
}

// An exception's comparison operator: any binary one (not "exists").
std::optional<CmpOp> ParseOpName(absl::string_view name) {
  std::optional<CmpOp> op = CmpOpFromName(name);
  if (op == CmpOp::kExists) return std::nullopt;
  return op;
}

bool IsListOp(CmpOp op) {
  return op == CmpOp::kIn || op == CmpOp::kIntersects || op == CmpOp::kPMatch;
}

// A YAML scalar written without quotes may name a list.
AstValue ScalarValue(const YAML::Node& node) {
  return AstValue{node.Scalar(), node.Tag() != "!"};
}

class Loader {
 public:
  void LoadFile(const RulesText& file) {
    file_ = file.name;
    YAML::Node root;
    try {
      root = YAML::Load(file.content);
    } catch (const YAML::Exception& e) {
      errors_.push_back(
          absl::StrCat(file_, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
      return;
    }
    if (!root.IsDefined() || root.IsNull()) return;  // an empty file
    if (!root.IsSequence()) {
      errors_.push_back(absl::StrCat(
          file_, ":", root.Mark().line + 1,
          ": expected a YAML sequence of items (list, macro, rule, ...)"));
      return;
    }
    for (const YAML::Node& item : root) {
      // yaml-cpp throws on some shape mismatches; one bad item must not stop
      // the others from being checked.
      try {
        LoadItem(item);
      } catch (const YAML::Exception& e) {
        errors_.push_back(absl::StrCat(file_, ":", item.Mark().line + 1,
                                       ": malformed item: ", e.what()));
      }
    }
  }

  LoadResult Finish() {
    LoadResult result;
    ExpandLists();
    CompileAll(&result);
    result.errors = std::move(errors_);
    result.warnings.insert(result.warnings.begin(), warnings_.begin(),
                           warnings_.end());
    if (result.errors.empty()) {
      result.rules = std::make_shared<const RuleSet>(std::move(compiled_));
    }
    return result;
  }

 private:
  // Errors for one item are gathered here and the item is applied only when
  // there are none, so a bad item never half-changes a definition.
  struct ItemCtx {
    std::string kind;  // rule / macro / list
    std::string name;
    std::vector<std::string> errors;
  };

  std::string Where(int line, const ItemCtx& ctx) const {
    if (ctx.name.empty()) return absl::StrCat(file_, ":", line, ": ");
    return absl::StrCat(file_, ":", line, ": ", ctx.kind, " \"", ctx.name,
                        "\": ");
  }
  void Fail(ItemCtx* ctx, const YAML::Node& at, absl::string_view msg) {
    ctx->errors.push_back(absl::StrCat(Where(at.Mark().line + 1, *ctx), msg));
  }
  bool Flush(ItemCtx* ctx) {
    bool ok = ctx->errors.empty();
    for (std::string& e : ctx->errors) errors_.push_back(std::move(e));
    ctx->errors.clear();
    return ok;
  }

  Origin OriginOf(const YAML::Node& node) const {
    return Origin{file_, node.Mark().line + 1};
  }

  std::optional<std::string> ReadString(const YAML::Node& item, const char* key,
                                        ItemCtx* ctx) {
    YAML::Node v = item[key];
    if (!v.IsDefined()) return std::nullopt;
    if (!v.IsScalar()) {
      Fail(ctx, v, absl::StrCat(key, ": expected a string"));
      return std::nullopt;
    }
    return v.Scalar();
  }

  std::optional<bool> ReadBool(const YAML::Node& item, const char* key,
                               ItemCtx* ctx) {
    YAML::Node v = item[key];
    if (!v.IsDefined()) return std::nullopt;
    bool b;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
      Fail(ctx, v, absl::StrCat(key, ": expected true or false"));
      return std::nullopt;
    }
    return b;
  }

  std::optional<std::vector<std::string>> ReadStrings(const YAML::Node& item,
                                                      const char* key,
                                                      ItemCtx* ctx) {
    YAML::Node v = item[key];
    if (!v.IsDefined()) return std::nullopt;
    std::vector<std::string> out;
    if (v.IsNull()) return out;
    if (!v.IsSequence()) {
      Fail(ctx, v, absl::StrCat(key, ": expected a list of strings"));
      return std::nullopt;
    }
    for (const YAML::Node& s : v) {
      if (!s.IsScalar()) {
        Fail(ctx, s, absl::StrCat(key, ": expected a list of strings"));
        return std::nullopt;
      }
      out.push_back(s.Scalar());
    }
    return out;
  }

  // Refuses keys outside `allowed`, naming what was expected.
  void CheckKeys(const YAML::Node& item,
                 std::initializer_list<absl::string_view> allowed,
                 ItemCtx* ctx) {
    for (const auto& kv : item) {
      const std::string key = kv.first.Scalar();
      bool known = false;
      for (absl::string_view a : allowed) known = known || key == a;
      if (!known) {
        Fail(ctx, kv.first,
             absl::StrCat("unknown key \"", key, "\"; expected one of: ",
                          absl::StrJoin(allowed, ", ")));
      }
    }
  }

  // Reads `override:`: key → "append" | "replace", checking each key may be
  // changed that way and is present in the item, and that every other key of
  // the item is listed.
  std::optional<absl::flat_hash_map<std::string, bool>> ReadOverride(
      const YAML::Node& item, const char* name_key,
      std::initializer_list<absl::string_view> appendable,
      std::initializer_list<absl::string_view> replaceable, ItemCtx* ctx) {
    YAML::Node ov = item["override"];
    if (!ov.IsMap()) {
      Fail(ctx, ov, "override: expected a mapping of key: append|replace");
      return std::nullopt;
    }
    absl::flat_hash_map<std::string, bool> append;  // key → is append
    size_t errors = ctx->errors.size();
    for (const auto& kv : ov) {
      std::string key = kv.first.Scalar();
      std::string mode = kv.second.IsScalar() ? kv.second.Scalar() : "";
      auto contains = [&](std::initializer_list<absl::string_view> l) {
        for (absl::string_view s : l) {
          if (s == key) return true;
        }
        return false;
      };
      if (mode == "append") {
        if (!contains(appendable)) {
          Fail(ctx, kv.first,
               absl::StrCat("override: \"", key, "\" cannot be appended; ",
                            "appendable: ", absl::StrJoin(appendable, ", ")));
        }
      } else if (mode == "replace") {
        if (!contains(replaceable)) {
          Fail(ctx, kv.first,
               absl::StrCat("override: \"", key, "\" cannot be replaced; ",
                            "replaceable: ", absl::StrJoin(replaceable, ", ")));
        }
      } else {
        Fail(ctx, kv.second,
             absl::StrCat("override: ", key, ": expected append or replace"));
        continue;
      }
      if (!item[key].IsDefined()) {
        Fail(ctx, kv.first,
             absl::StrCat("override lists \"", key,
                          "\" but the item does not give it"));
      }
      append[key] = mode == "append";
    }
    for (const auto& kv : item) {
      std::string key = kv.first.Scalar();
      if (key == name_key || key == "override") continue;
      if (!append.contains(key)) {
        Fail(ctx, kv.first,
             absl::StrCat("\"", key, "\" is given but not listed in override"));
      }
    }
    if (ctx->errors.size() != errors) return std::nullopt;
    return append;
  }

  void LoadItem(const YAML::Node& item) {
    ItemCtx ctx;
    if (!item.IsMap()) {
      Fail(&ctx, item,
           "expected a mapping item (list, macro, rule, "
           "required_engine_version, required_plugin_versions)");
      Flush(&ctx);
      return;
    }
    static constexpr const char* kKinds[] = {"rule", "macro", "list",
                                             "required_engine_version",
                                             "required_plugin_versions"};
    std::vector<std::string> kinds;
    for (const char* k : kKinds) {
      if (item[k].IsDefined()) kinds.push_back(k);
    }
    if (kinds.size() != 1) {
      Fail(&ctx, item,
           kinds.empty() ? "unknown item; expected one of: rule, macro, list, "
                           "required_engine_version, required_plugin_versions"
                         : absl::StrCat("an item may be only one of: ",
                                        absl::StrJoin(kinds, ", ")));
      Flush(&ctx);
      return;
    }
    const std::string& kind = kinds.front();
    if (kind == "required_engine_version") {
      CheckKeys(item, {"required_engine_version"}, &ctx);
      Flush(&ctx);
      return;
    }
    if (kind == "required_plugin_versions") {
      CheckPluginVersions(item, &ctx);
      Flush(&ctx);
      return;
    }
    ctx.kind = kind;
    YAML::Node name = item[kind];
    if (!name.IsScalar() || name.Scalar().empty()) {
      Fail(&ctx, name, absl::StrCat(kind, ": expected a non-empty name"));
      Flush(&ctx);
      return;
    }
    ctx.name = name.Scalar();
    if (kind == "rule") {
      LoadRule(item, &ctx);
    } else if (kind == "macro") {
      LoadMacro(item, &ctx);
    } else {
      LoadList(item, &ctx);
    }
  }

  void CheckPluginVersions(const YAML::Node& item, ItemCtx* ctx) {
    CheckKeys(item, {"required_plugin_versions"}, ctx);
    YAML::Node v = item["required_plugin_versions"];
    if (!v.IsSequence()) {
      Fail(ctx, v,
           "required_plugin_versions: expected a list of {name, version}");
      return;
    }
    for (const YAML::Node& p : v) {
      if (!p.IsMap() || !p["name"].IsDefined() || !p["name"].IsScalar() ||
          !p["version"].IsDefined() || !p["version"].IsScalar()) {
        Fail(ctx, p,
             "required_plugin_versions: expected an item with name and "
             "version");
      }
    }
  }

  // Appends with a space between, as Falco joins appended conditions.
  static void AppendText(std::string* to, const std::string& more) {
    if (to->empty()) {
      *to = more;
    } else if (!more.empty()) {
      absl::StrAppend(to, " ", more);
    }
  }

  void LoadList(const YAML::Node& item, ItemCtx* ctx) {
    CheckKeys(item, {"list", "items", "override", "append"}, ctx);
    std::vector<AstValue> items;
    YAML::Node v = item["items"];
    if (v.IsDefined() && !v.IsNull()) {
      if (!v.IsSequence()) {
        Fail(ctx, v, "items: expected a list of strings");
      } else {
        for (const YAML::Node& s : v) {
          if (!s.IsScalar()) {
            Fail(ctx, s, "items: expected a list of strings");
          } else {
            items.push_back(ScalarValue(s));
          }
        }
      }
    }
    std::optional<bool> append = ReadBool(item, "append", ctx);
    ListDef* existing = lists_.Find(ctx->name);
    if (item["override"].IsDefined()) {
      if (append.has_value())
        Fail(ctx, item, "give override or append, not both");
      auto ov = ReadOverride(item, "list", {"items"}, {"items"}, ctx);
      if (existing == nullptr) Fail(ctx, item, "override of an undefined list");
      if (!Flush(ctx) || !ov.has_value()) return;
      if (!(*ov)["items"]) existing->items.clear();
      existing->items.insert(existing->items.end(), items.begin(), items.end());
      return;
    }
    if (!v.IsDefined()) Fail(ctx, item, "expected key \"items\"");
    if (append.value_or(false)) {
      if (existing == nullptr) Fail(ctx, item, "append to an undefined list");
      if (!Flush(ctx)) return;
      existing->items.insert(existing->items.end(), items.begin(), items.end());
      return;
    }
    if (!Flush(ctx)) return;
    lists_.Put(ListDef{ctx->name, std::move(items), OriginOf(item)});
  }

  void LoadMacro(const YAML::Node& item, ItemCtx* ctx) {
    CheckKeys(item, {"macro", "condition", "override", "append"}, ctx);
    std::optional<std::string> cond = ReadString(item, "condition", ctx);
    std::optional<bool> append = ReadBool(item, "append", ctx);
    MacroDef* existing = macros_.Find(ctx->name);
    Origin origin =
        OriginOf(item["condition"].IsDefined() ? item["condition"] : item);
    if (item["override"].IsDefined()) {
      if (append.has_value())
        Fail(ctx, item, "give override or append, not both");
      auto ov = ReadOverride(item, "macro", {"condition"}, {"condition"}, ctx);
      if (existing == nullptr)
        Fail(ctx, item, "override of an undefined macro");
      if (!Flush(ctx) || !ov.has_value()) return;
      if (!(*ov)["condition"]) existing->condition.clear();
      AppendText(&existing->condition, Trim(*cond));
      existing->origin = origin;
      return;
    }
    if (!item["condition"].IsDefined()) {
      Fail(ctx, item, "expected key \"condition\"");
    }
    if (append.value_or(false)) {
      if (existing == nullptr) Fail(ctx, item, "append to an undefined macro");
      if (!Flush(ctx)) return;
      AppendText(&existing->condition, Trim(*cond));
      existing->origin = origin;
      return;
    }
    if (!Flush(ctx)) return;
    macros_.Put(MacroDef{ctx->name, Trim(*cond), origin});
  }

  // `appending_to` holds the rule's exceptions when the item appends: an
  // exception there with the same name lends its fields and comps, so that
  // an append may give only `name` and `values`.
  std::optional<std::vector<ExceptionDef>> ReadExceptions(
      const YAML::Node& item, const std::vector<ExceptionDef>* appending_to,
      ItemCtx* ctx) {
    YAML::Node v = item["exceptions"];
    std::vector<ExceptionDef> out;
    if (!v.IsDefined() || v.IsNull()) return out;
    size_t errors = ctx->errors.size();
    if (!v.IsSequence()) {
      Fail(ctx, v,
           "exceptions: expected a list of {name, fields, comps, values}");
      return std::nullopt;
    }
    for (const YAML::Node& e : v) {
      if (!e.IsMap() || !e["name"].IsDefined() || !e["name"].IsScalar()) {
        Fail(ctx, e, "exceptions: expected an item with a name");
        continue;
      }
      ExceptionDef def;
      def.name = e["name"].Scalar();
      std::string what = absl::StrCat("exception \"", def.name, "\": ");
      for (const auto& kv : e) {
        std::string key = kv.first.Scalar();
        if (key != "name" && key != "fields" && key != "comps" &&
            key != "values") {
          Fail(ctx, kv.first,
               absl::StrCat(what, "unknown key \"", key,
                            "\"; expected name, fields, comps, values"));
        }
      }
      YAML::Node fields = e["fields"];
      const ExceptionDef* base = nullptr;
      if (appending_to != nullptr) {
        for (const ExceptionDef& have : *appending_to) {
          if (have.name == def.name) base = &have;
        }
      }
      if (!fields.IsDefined() && base != nullptr) {
        def.fields = base->fields;
        def.single_field = base->single_field;
        def.comps = base->comps;
      } else if (!fields.IsDefined()) {
        Fail(ctx, e, absl::StrCat(what, "expected key \"fields\""));
        continue;
      } else if (fields.IsScalar()) {
        def.single_field = true;
        def.fields.push_back(fields.Scalar());
      } else if (fields.IsSequence()) {
        for (const YAML::Node& f : fields) def.fields.push_back(f.Scalar());
      } else {
        Fail(ctx, fields,
             absl::StrCat(what, "fields: expected a field or a list"));
        continue;
      }
      if (def.fields.empty()) {
        Fail(ctx, fields, absl::StrCat(what, "fields: expected at least one"));
        continue;
      }
      for (const std::string& f : def.fields) {
        std::optional<absl::string_view> arg;
        absl::string_view name = f;
        if (!name.empty() && name.back() == ']' &&
            name.find('[') != absl::string_view::npos) {
          size_t open = name.find('[');
          arg = name.substr(open + 1, name.size() - open - 2);
          name = name.substr(0, open);
        }
        absl::StatusOr<gcpaudit::FieldRef> ref =
            gcpaudit::ResolveField(name, arg);
        if (!ref.ok())
          Fail(ctx, fields, absl::StrCat(what, ref.status().message()));
      }
      YAML::Node comps = e["comps"];
      if (!fields.IsDefined()) {
        // Fields and comps both come from `base`.
      } else if (!comps.IsDefined()) {
        def.comps.assign(def.fields.size(),
                         def.single_field ? CmpOp::kIn : CmpOp::kEq);
      } else {
        std::vector<YAML::Node> names;
        if (comps.IsScalar()) {
          names.push_back(comps);
        } else if (comps.IsSequence()) {
          for (const YAML::Node& c : comps) names.push_back(c);
        }
        for (const YAML::Node& c : names) {
          std::optional<CmpOp> op =
              c.IsScalar() ? ParseOpName(c.Scalar()) : std::nullopt;
          if (!op.has_value()) {
            Fail(ctx, c,
                 absl::StrCat(what, "comps: \"", c.IsScalar() ? c.Scalar() : "",
                              "\" is not a comparison operator"));
            continue;
          }
          def.comps.push_back(*op);
        }
        if (def.comps.size() != def.fields.size()) {
          Fail(ctx, comps,
               absl::StrCat(what, "expected one comp per field (",
                            def.fields.size(), ")"));
          continue;
        }
      }
      YAML::Node values = e["values"];
      if (values.IsDefined() && !values.IsNull()) {
        if (!values.IsSequence()) {
          Fail(ctx, values, absl::StrCat(what, "values: expected a list"));
          continue;
        }
        for (const YAML::Node& row : values) {
          std::optional<std::vector<ExcValue>> r = ReadRow(def, row, what, ctx);
          if (r.has_value()) def.rows.push_back(*std::move(r));
        }
      }
      out.push_back(std::move(def));
    }
    if (ctx->errors.size() != errors) return std::nullopt;
    return out;
  }

  std::optional<std::vector<ExcValue>> ReadRow(const ExceptionDef& def,
                                               const YAML::Node& row,
                                               const std::string& what,
                                               ItemCtx* ctx) {
    auto read_value = [&](const YAML::Node& v,
                          CmpOp op) -> std::optional<ExcValue> {
      ExcValue out;
      out.is_list = IsListOp(op);
      if (v.IsScalar()) {
        out.items.push_back(ScalarValue(v));
        return out;
      }
      if (v.IsSequence() && out.is_list) {
        for (const YAML::Node& s : v) {
          if (!s.IsScalar()) break;
          out.items.push_back(ScalarValue(s));
        }
        if (out.items.size() == v.size()) return out;
      }
      Fail(ctx, v,
           absl::StrCat(what, out.is_list ? "expected a value or a list"
                                          : "expected a single value"));
      return std::nullopt;
    };
    std::vector<ExcValue> out;
    if (def.single_field) {
      // One value per row; list operators gather the rows (see BuildExcept).
      std::optional<ExcValue> v = read_value(row, def.comps.front());
      if (!v.has_value()) return std::nullopt;
      out.push_back(*std::move(v));
      return out;
    }
    if (!row.IsSequence() || row.size() != def.fields.size()) {
      Fail(ctx, row,
           absl::StrCat(what, "expected a list of ", def.fields.size(),
                        " values per row"));
      return std::nullopt;
    }
    for (size_t i = 0; i < row.size(); ++i) {
      std::optional<ExcValue> v = read_value(row[i], def.comps[i]);
      if (!v.has_value()) return std::nullopt;
      out.push_back(*std::move(v));
    }
    return out;
  }

  // Appended rows join the exception of the same name (AppendExceptions),
  // already there or appended before them, so they must have its fields and
  // comparisons: a row with more values than it has fields would index past
  // them.
  void CheckAppendable(const std::vector<ExceptionDef>& to,
                       const std::vector<ExceptionDef>& more,
                       const YAML::Node& at, ItemCtx* ctx) {
    auto same_shape = [](const ExceptionDef& a, const ExceptionDef& b) {
      return a.name != b.name || (a.fields == b.fields && a.comps == b.comps &&
                                  a.single_field == b.single_field);
    };
    for (size_t i = 0; i < more.size(); ++i) {
      bool ok = true;
      for (const ExceptionDef& have : to) ok = ok && same_shape(have, more[i]);
      for (size_t k = 0; k < i; ++k) ok = ok && same_shape(more[k], more[i]);
      if (!ok) {
        Fail(ctx, at,
             absl::StrCat("exception \"", more[i].name,
                          "\": appending to an existing exception gives "
                          "only values (its fields and comps differ)"));
      }
    }
  }

  static void AppendExceptions(std::vector<ExceptionDef>* to,
                               std::vector<ExceptionDef> more) {
    for (ExceptionDef& e : more) {
      bool merged = false;
      for (ExceptionDef& have : *to) {
        if (have.name != e.name) continue;
        // Falco: appending an exception of the same name adds its values.
        have.rows.insert(have.rows.end(), e.rows.begin(), e.rows.end());
        merged = true;
      }
      if (!merged) to->push_back(std::move(e));
    }
  }

  void LoadRule(const YAML::Node& item, ItemCtx* ctx) {
    CheckKeys(
        item,
        {"rule", "desc", "condition", "output", "priority", "source", "tags",
         "enabled", "exceptions", "override", "append", "warn_evttypes",
         "skip-if-unknown-filter", "capture", "capture_duration"},
        ctx);
    RuleDef def;
    def.name = ctx->name;
    def.origin = OriginOf(item);
    def.condition_origin =
        OriginOf(item["condition"].IsDefined() ? item["condition"] : item);
    def.output_origin =
        OriginOf(item["output"].IsDefined() ? item["output"] : item);
    std::optional<std::string> desc = ReadString(item, "desc", ctx);
    std::optional<std::string> cond = ReadString(item, "condition", ctx);
    std::optional<std::string> output = ReadString(item, "output", ctx);
    std::optional<std::string> source = ReadString(item, "source", ctx);
    std::optional<std::string> priority = ReadString(item, "priority", ctx);
    std::optional<std::vector<std::string>> tags =
        ReadStrings(item, "tags", ctx);
    std::optional<bool> enabled = ReadBool(item, "enabled", ctx);
    std::optional<bool> append = ReadBool(item, "append", ctx);
    RuleDef* existing = rules_.Find(ctx->name);
    bool appending = item["override"].IsDefined() || append.value_or(false);
    std::optional<std::vector<ExceptionDef>> exceptions = ReadExceptions(
        item, appending && existing ? &existing->exceptions : nullptr, ctx);
    std::optional<core::Priority> prio;
    if (priority.has_value()) {
      absl::StatusOr<core::Priority> p = core::ParsePriority(*priority);
      if (!p.ok()) {
        Fail(ctx, item["priority"],
             absl::StrCat("priority \"", *priority,
                          "\" is not one of EMERGENCY, ALERT, CRITICAL, "
                          "ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG"));
      } else {
        prio = *p;
      }
    }

    if (item["override"].IsDefined()) {
      if (append.has_value())
        Fail(ctx, item, "give override or append, not both");
      auto ov = ReadOverride(
          item, "rule", {"condition", "output", "desc", "tags", "exceptions"},
          {"condition", "output", "desc", "priority", "tags", "exceptions",
           "enabled", "source"},
          ctx);
      if (existing == nullptr) Fail(ctx, item, "override of an undefined rule");
      if (existing != nullptr && ov.has_value() && exceptions.has_value()) {
        auto mode = ov->find("exceptions");
        if (mode != ov->end() && mode->second) {
          CheckAppendable(existing->exceptions, *exceptions, item["exceptions"],
                          ctx);
        }
      }
      if (!Flush(ctx) || !ov.has_value()) return;
      for (const auto& [key, is_append] : *ov) {
        if (key == "condition") {
          if (!is_append) existing->condition.clear();
          AppendText(&existing->condition, Trim(*cond));
          existing->condition_origin = def.condition_origin;
        } else if (key == "output") {
          if (!is_append) existing->output.clear();
          AppendText(&existing->output, Trim(*output));
          existing->output_origin = def.output_origin;
        } else if (key == "desc") {
          if (!is_append) existing->desc.clear();
          AppendText(&existing->desc, Trim(*desc));
        } else if (key == "tags") {
          if (!is_append) existing->tags.clear();
          for (std::string& t : *tags) {
            bool have = false;
            for (const std::string& h : existing->tags) have = have || h == t;
            if (!have) existing->tags.push_back(std::move(t));
          }
        } else if (key == "exceptions") {
          if (!is_append) existing->exceptions.clear();
          AppendExceptions(&existing->exceptions, std::move(*exceptions));
        } else if (key == "priority") {
          existing->priority = *prio;
        } else if (key == "enabled") {
          existing->enabled = *enabled;
        } else if (key == "source") {
          existing->source = *source;
        }
      }
      return;
    }

    if (append.value_or(false)) {
      // The deprecated form: only the condition and exceptions grow.
      for (const auto& kv : item) {
        std::string key = kv.first.Scalar();
        if (key != "rule" && key != "append" && key != "condition" &&
            key != "exceptions") {
          Fail(ctx, kv.first,
               absl::StrCat("\"", key,
                            "\" cannot be given with append: true (only "
                            "condition and exceptions); use override"));
        }
      }
      if (existing == nullptr) Fail(ctx, item, "append to an undefined rule");
      if (existing != nullptr && exceptions.has_value()) {
        CheckAppendable(existing->exceptions, *exceptions, item["exceptions"],
                        ctx);
      }
      if (!Flush(ctx)) return;
      if (cond.has_value()) {
        AppendText(&existing->condition, Trim(*cond));
        existing->condition_origin = def.condition_origin;
      }
      if (exceptions.has_value()) {
        AppendExceptions(&existing->exceptions, std::move(*exceptions));
      }
      return;
    }

    bool only_enabled = enabled.has_value() && item.size() == 2;
    if (only_enabled) {
      if (existing == nullptr) {
        Fail(ctx, item,
             "enabled given for an undefined rule (expected condition, "
             "output, priority, desc)");
      }
      if (!Flush(ctx)) return;
      existing->enabled = *enabled;
      return;
    }

    for (const char* key : {"condition", "output", "priority", "desc"}) {
      if (!item[key].IsDefined()) {
        Fail(ctx, item, absl::StrCat("expected key \"", key, "\""));
      }
    }
    if (!Flush(ctx)) return;
    def.desc = Trim(*desc);
    def.condition = Trim(*cond);
    def.output = Trim(*output);
    if (source.has_value()) def.source = *source;
    def.priority = *prio;
    if (tags.has_value()) def.tags = *std::move(tags);
    def.enabled = enabled.value_or(true);
    if (exceptions.has_value()) def.exceptions = *std::move(exceptions);
    rules_.Put(std::move(def));
  }

  // A list item that names an earlier list is replaced by its items.
  void ExpandLists() {
    for (const ListDef& list : lists_.items()) {
      std::vector<std::string> items;
      for (const AstValue& v : list.items) {
        auto it = v.bare ? expanded_lists_.find(v.text) : expanded_lists_.end();
        const size_t more = it != expanded_lists_.end() ? it->second.size() : 1;
        // Lists that name a list twice double at each step.
        if (more > kMaxListItems - items.size()) {
          errors_.push_back(
              absl::StrCat(list.origin.file, ":", list.origin.line, ": list \"",
                           list.name, "\": more than ", kMaxListItems,
                           " items with the lists it names expanded"));
          items.clear();
          break;
        }
        if (it != expanded_lists_.end()) {
          items.insert(items.end(), it->second.begin(), it->second.end());
        } else {
          items.push_back(v.text);
        }
      }
      expanded_lists_[list.name] = std::move(items);
    }
  }

  static std::unique_ptr<AstNode> Compare(const std::string& field, CmpOp op,
                                          const ExcValue& value) {
    auto node = std::make_unique<AstNode>();
    node->kind = AstNode::Kind::kCompare;
    absl::string_view name = field;
    if (!name.empty() && name.back() == ']' &&
        name.find('[') != absl::string_view::npos) {
      size_t open = name.find('[');
      node->field_arg =
          std::string(name.substr(open + 1, name.size() - open - 2));
      name = name.substr(0, open);
    }
    node->field = std::string(name);
    node->op = op;
    node->values = value.items;
    node->list_operand = IsListOp(op);
    return node;
  }

  static std::unique_ptr<AstNode> Node(AstNode::Kind kind) {
    auto node = std::make_unique<AstNode>();
    node->kind = kind;
    return node;
  }

  // `cond and not ((f1 c1 v1 and f2 c2 v2) or ...)`, built as a tree so that
  // values never need quoting.
  static std::unique_ptr<AstNode> WithExceptions(
      std::unique_ptr<AstNode> cond, const std::vector<ExceptionDef>& excs) {
    auto any = Node(AstNode::Kind::kOr);
    for (const ExceptionDef& e : excs) {
      if (e.rows.empty()) continue;
      if (e.single_field) {
        if (IsListOp(e.comps.front())) {
          ExcValue all{{}, true};
          for (const auto& row : e.rows) {
            all.items.insert(all.items.end(), row[0].items.begin(),
                             row[0].items.end());
          }
          any->children.push_back(Compare(e.fields[0], e.comps[0], all));
        } else {
          for (const auto& row : e.rows) {
            any->children.push_back(Compare(e.fields[0], e.comps[0], row[0]));
          }
        }
        continue;
      }
      for (const auto& row : e.rows) {
        auto all = Node(AstNode::Kind::kAnd);
        for (size_t i = 0; i < row.size(); ++i) {
          all->children.push_back(Compare(e.fields[i], e.comps[i], row[i]));
        }
        any->children.push_back(std::move(all));
      }
    }
    if (any->children.empty()) return cond;
    auto neg = Node(AstNode::Kind::kNot);
    neg->children.push_back(std::move(any));
    auto both = Node(AstNode::Kind::kAnd);
    both->children.push_back(std::move(cond));
    both->children.push_back(std::move(neg));
    return both;
  }

  void CompileAll(LoadResult* result) {
    absl::flat_hash_map<std::string, std::unique_ptr<AstNode>> macro_asts;
    absl::flat_hash_map<std::string, const AstNode*> macro_ptrs;
    absl::flat_hash_set<std::string> failed;
    for (const MacroDef& m : macros_.items()) {
      absl::StatusOr<std::unique_ptr<AstNode>> ast =
          ParseCondition(m.condition);
      if (!ast.ok()) {
        errors_.push_back(
            absl::StrCat(m.origin.file, ":", m.origin.line, ": macro \"",
                         m.name, "\": condition: ", ast.status().message()));
        failed.insert(m.name);
        continue;
      }
      macro_ptrs[m.name] = ast->get();
      macro_asts[m.name] = *std::move(ast);
    }
    CompileEnv env{&expanded_lists_, &macro_ptrs, &failed};
    // Each macro is checked on its own too, so that an unused macro with an
    // unknown field is still an error, reported once, under its own name.
    for (const MacroDef& m : macros_.items()) {
      auto it = macro_asts.find(m.name);
      if (it == macro_asts.end()) continue;
      absl::StatusOr<Condition> c = Condition::Compile(*it->second, env);
      if (!c.ok() && c.status().code() == absl::StatusCode::kInvalidArgument) {
        errors_.push_back(
            absl::StrCat(m.origin.file, ":", m.origin.line, ": macro \"",
                         m.name, "\": condition: ", c.status().message()));
        failed.insert(m.name);
      }
    }
    std::vector<Rule> compiled;
    for (const RuleDef& r : rules_.items()) {
      if (r.source != gcpaudit::kSource) {
        warnings_.push_back(absl::StrCat(r.origin.file, ":", r.origin.line,
                                         ": rule \"", r.name, "\": source \"",
                                         r.source, "\" is not ",
                                         gcpaudit::kSource, "; skipped"));
        continue;
      }
      auto where = [&](const Origin& o) {
        return absl::StrCat(o.file, ":", o.line, ": rule \"", r.name, "\": ");
      };
      absl::StatusOr<std::unique_ptr<AstNode>> ast =
          ParseCondition(r.condition);
      if (!ast.ok()) {
        errors_.push_back(absl::StrCat(where(r.condition_origin),
                                       "condition: ", ast.status().message()));
        continue;
      }
      std::unique_ptr<AstNode> full =
          WithExceptions(*std::move(ast), r.exceptions);
      absl::StatusOr<Condition> cond = Condition::Compile(*full, env);
      absl::StatusOr<OutputFormat> output = OutputFormat::Compile(r.output);
      if (!cond.ok()) {
        // FailedPrecondition: a macro it uses was already reported.
        if (cond.status().code() == absl::StatusCode::kInvalidArgument) {
          errors_.push_back(
              absl::StrCat(where(r.condition_origin),
                           "condition: ", cond.status().message()));
        }
      }
      if (!output.ok()) {
        errors_.push_back(
            absl::StrCat(where(r.output_origin), output.status().message()));
      }
      if (!cond.ok() || !output.ok() || !r.enabled) continue;
      compiled.push_back(Rule{r.name, r.desc, r.priority, r.source, r.tags,
                              *std::move(cond), *std::move(output)});
    }
    compiled_ = std::move(compiled);
  }

  std::string file_;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
  Ordered<ListDef> lists_;
  Ordered<MacroDef> macros_;
  Ordered<RuleDef> rules_;
  absl::flat_hash_map<std::string, std::vector<std::string>> expanded_lists_;
  std::vector<Rule> compiled_;
};

}  // namespace

LoadResult LoadRules(const std::vector<RulesText>& files) {
  Loader loader;
  for (const RulesText& f : files) loader.LoadFile(f);
  return loader.Finish();
}

LoadResult LoadRulesFiles(const std::vector<std::string>& paths) {
  std::vector<RulesText> files;
  std::vector<std::string> read_errors;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> content = core::ReadFileToString(path);
    if (!content.ok()) {
      read_errors.push_back(
          absl::StrCat(path, ": cannot read: ", content.status().message()));
      continue;
    }
    files.push_back(RulesText{path, *std::move(content)});
  }
  LoadResult result = LoadRules(files);
  if (!read_errors.empty()) {
    result.rules.reset();
    result.errors.insert(result.errors.begin(), read_errors.begin(),
                         read_errors.end());
  }
  return result;
}

}  // namespace corral::ingest::rules
