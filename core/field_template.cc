#include "core/field_template.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/alert_json.h"

namespace corral::core {
namespace json = boost::json;

namespace {

constexpr absl::string_view kNoValue = "<no value>";
// Parentheses and ifs nest at most this deep: evaluation recurses, and a
// config value must not be able to exhaust the stack.
constexpr int kMaxDepth = 64;
// The functions Call() runs.
constexpr absl::string_view kFunctions[] = {"and", "eq", "index", "len",   "ne",
                                            "not", "or", "print", "printf"};

// An expression: an operand, a function call, or a pipeline of commands.
struct Expr {
  enum Kind { kDot, kField, kLiteral, kCall, kPipeline } kind = kLiteral;
  std::vector<std::string> path;  // kField: .a.b
  json::value literal;            // kLiteral
  std::string function;           // kCall
  std::vector<Expr> args;         // kCall: arguments; kPipeline: commands
};

// A value during evaluation: the data itself (`.`), one of its fields, or a
// computed value. Fields are referred to, not copied.
struct Val {
  const json::object* root = nullptr;
  const json::value* ref = nullptr;
  json::value own;

  const json::value& value() const { return ref != nullptr ? *ref : own; }
  const json::object* object() const {
    if (root != nullptr) return root;
    const json::value& v = value();
    return v.is_object() ? &v.get_object() : nullptr;
  }
  bool IsNil() const { return root == nullptr && value().is_null(); }
};

Val Own(json::value v) {
  Val out;
  out.own = std::move(v);
  return out;
}

Val Field(const json::object* object, absl::string_view key) {
  if (object == nullptr) return Val{};
  auto it = object->find(json::string_view(key.data(), key.size()));
  if (it == object->end()) return Val{};
  Val out;
  out.ref = &it->value();
  return out;
}

// Go's truth: false, 0, nil, and empty strings, maps and lists are false.
bool Truthy(const Val& v) {
  if (v.root != nullptr) return !v.root->empty();
  const json::value& x = v.value();
  switch (x.kind()) {
    case json::kind::null:
      return false;
    case json::kind::bool_:
      return x.get_bool();
    case json::kind::int64:
      return x.get_int64() != 0;
    case json::kind::uint64:
      return x.get_uint64() != 0;
    case json::kind::double_:
      return x.get_double() != 0;
    case json::kind::string:
      return !x.get_string().empty();
    case json::kind::array:
      return !x.get_array().empty();
    case json::kind::object:
      return !x.get_object().empty();
  }
  return false;
}

// As `{{ x }}` prints it: as corral prints an output field's value in text
// (strings as they are, numbers as they arrived), but a missing or null
// value as Go prints it.
std::string Print(const Val& v) {
  if (v.root != nullptr) return json::serialize(*v.root);
  const json::value& x = v.value();
  if (x.is_null()) return std::string(kNoValue);
  return OutputFieldText(x);
}

std::optional<double> Number(const json::value& x) {
  if (x.is_int64()) return static_cast<double>(x.get_int64());
  if (x.is_uint64()) return static_cast<double>(x.get_uint64());
  if (x.is_double()) return x.get_double();
  return std::nullopt;
}

// Go's eq for basic values; values of different kinds are not equal.
bool Equal(const Val& a, const Val& b) {
  if (a.root != nullptr || b.root != nullptr) return false;
  const json::value& x = a.value();
  const json::value& y = b.value();
  std::optional<double> nx = Number(x), ny = Number(y);
  if (nx && ny) return *nx == *ny;
  if (x.kind() != y.kind()) return false;
  if (x.is_string()) return x.get_string() == y.get_string();
  if (x.is_bool()) return x.get_bool() == y.get_bool();
  return x.is_null();
}

// An operand of print or printf: Go's fmt prints nil as "<nil>" there.
std::string FmtOperand(const Val& v) { return v.IsNil() ? "<nil>" : Print(v); }

// Go's fmt.Sprint: a space between operands when neither is a string.
std::string Sprint(const std::vector<Val>& args) {
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0 && !args[i - 1].value().is_string() &&
        !args[i].value().is_string()) {
      out += ' ';
    }
    out += FmtOperand(args[i]);
  }
  return out;
}

// The printf verbs corral runs: a verb letter right after '%' (no flags,
// width or precision).
bool KnownVerb(char c) {
  return c == 's' || c == 'v' || c == 'd' || c == 'q' || c == '%';
}

// A printf format corral cannot run as Go would: why, or "" when it can.
std::string FormatProblem(absl::string_view format) {
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') continue;
    if (i + 1 == format.size()) return "the format ends in '%'";
    if (!KnownVerb(format[i + 1])) {
      return absl::StrCat(
          "printf supports only %s, %v, %d, %q and %% (no "
          "flags, width or precision), not '%",
          format.substr(i + 1, 1), "'");
    }
    ++i;
  }
  return "";
}

std::string Sprintf(const std::vector<Val>& args) {
  const std::string format =
      args.empty() ? ""
                   : (args[0].value().is_string()
                          ? std::string(args[0].value().get_string())
                          : Print(args[0]));
  std::string out;
  size_t next = 1;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 == format.size()) {
      out += format[i];
      continue;
    }
    const char verb = format[++i];
    if (verb == '%') {
      out += '%';
      continue;
    }
    if (next >= args.size()) {
      absl::StrAppend(&out, "%!", std::string(1, verb), "(MISSING)");
      continue;
    }
    const Val& arg = args[next++];
    if (!KnownVerb(verb)) {
      // A format from the data (a literal one is checked at Parse): Go's
      // mark for a verb it cannot apply.
      absl::StrAppend(&out, "%!", std::string(1, verb), "(", FmtOperand(arg),
                      ")");
    } else if (arg.IsNil()) {
      out += verb == 'v' ? "<nil>"
                         : absl::StrCat("%!", std::string(1, verb), "(<nil>)");
    } else if (verb == 'q') {
      out += json::serialize(json::value(Print(arg)));
    } else {
      out += Print(arg);  // %s, %v, %d
    }
  }
  return out;
}

}  // namespace

struct FieldTemplate::Node {
  enum Kind { kText, kPrint, kIf, kList } kind = kList;
  std::string text;          // kText
  Expr expr;                 // kPrint: what to print; kIf: the condition
  std::vector<Node> body;    // kList, kIf: the `then` part
  std::vector<Node> orelse;  // kIf: the `else` part
};

namespace {

using Node = FieldTemplate::Node;

Val Eval(const Expr& e, const json::object& data);

Val Call(const std::string& f, const std::vector<Val>& a) {
  if (f == "index") {
    if (a.empty()) return Val{};
    Val v = a[0];
    for (size_t i = 1; i < a.size(); ++i) {
      const json::value& key = a[i].value();
      if (const json::object* o = v.object(); o && key.is_string()) {
        v = Field(o, std::string(key.get_string()));
      } else if (const json::value& x = v.value();
                 v.root == nullptr && x.is_array() && Number(key)) {
        const double n = *Number(key);
        const json::array& list = x.get_array();
        // Written so that NaN is out of range too.
        if (!(n >= 0 && n < static_cast<double>(list.size())) ||
            n != std::floor(n)) {
          return Val{};
        }
        Val item;
        item.ref = &list[static_cast<size_t>(n)];
        v = item;
      } else {
        return Val{};
      }
    }
    return v;
  }
  if (f == "or" || f == "and") {
    const bool want = f == "or";
    for (size_t i = 0; i + 1 < a.size(); ++i) {
      if (Truthy(a[i]) == want) return a[i];
    }
    return a.empty() ? Val{} : a.back();
  }
  if (f == "not") return Own(a.empty() || !Truthy(a[0]));
  if (f == "eq" || f == "ne") {
    // Go's eq is true when the first equals any of the others.
    bool any = false;
    for (size_t i = 1; i < a.size() && !any; ++i) any = Equal(a[0], a[i]);
    return Own(f == "eq" ? any : !any);
  }
  if (f == "len") {
    if (a.empty()) return Own(0);
    if (const json::object* o = a[0].object()) return Own(o->size());
    const json::value& x = a[0].value();
    if (x.is_string()) return Own(x.get_string().size());
    if (x.is_array()) return Own(x.get_array().size());
    return Own(0);
  }
  if (f == "print") return Own(json::string(Sprint(a)));
  return Own(json::string(Sprintf(a)));  // printf
}

Val Eval(const Expr& e, const json::object& data) {
  switch (e.kind) {
    case Expr::kDot: {
      Val root;
      root.root = &data;
      return root;
    }
    case Expr::kField: {
      Val v;
      v.root = &data;
      for (const std::string& key : e.path) v = Field(v.object(), key);
      return v;
    }
    case Expr::kLiteral:
      return Own(e.literal);
    case Expr::kCall: {
      std::vector<Val> args;
      for (const Expr& arg : e.args) args.push_back(Eval(arg, data));
      return Call(e.function, args);
    }
    case Expr::kPipeline: {
      Val v = Eval(e.args[0], data);
      for (size_t i = 1; i < e.args.size(); ++i) {
        std::vector<Val> args;
        for (const Expr& arg : e.args[i].args) args.push_back(Eval(arg, data));
        args.push_back(std::move(v));
        v = Call(e.args[i].function, args);
      }
      return v;
    }
  }
  return Val{};
}

void Execute(const std::vector<Node>& nodes, const json::object& data,
             std::string* out) {
  for (const Node& n : nodes) {
    switch (n.kind) {
      case Node::kText:
        *out += n.text;
        break;
      case Node::kPrint:
        *out += Print(Eval(n.expr, data));
        break;
      case Node::kIf:
        Execute(Truthy(Eval(n.expr, data)) ? n.body : n.orelse, data, out);
        break;
      case Node::kList:
        Execute(n.body, data, out);
        break;
    }
  }
}

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

// Parses the inside of one action (between the delimiters).
class ActionParser {
 public:
  explicit ActionParser(absl::string_view s) : s_(s) {}

  // The first word, when it is a keyword the caller handles (if, else, end)
  // or one corral does not support.
  absl::string_view PeekWord() {
    SkipSpace();
    size_t n = 0;
    while (n < s_.size() && IsIdentChar(s_[n])) ++n;
    return s_.substr(0, n);
  }
  void ConsumeWord(absl::string_view word) {
    SkipSpace();
    s_.remove_prefix(word.size());
  }
  bool AtEnd() {
    SkipSpace();
    return s_.empty();
  }

  absl::StatusOr<Expr> Pipeline() {
    Expr pipe;
    pipe.kind = Expr::kPipeline;
    while (true) {
      absl::StatusOr<Expr> command = Command();
      if (!command.ok()) return command.status();
      if (!pipe.args.empty() && command->kind != Expr::kCall) {
        return absl::InvalidArgumentError(
            "only a function can follow '|' in a pipeline");
      }
      pipe.args.push_back(*std::move(command));
      SkipSpace();
      if (s_.empty() || s_[0] != '|') break;
      s_.remove_prefix(1);
    }
    if (pipe.args.size() == 1) return std::move(pipe.args[0]);
    return pipe;
  }

 private:
  void SkipSpace() {
    while (!s_.empty() && absl::ascii_isspace(s_[0])) s_.remove_prefix(1);
  }

  absl::StatusOr<Expr> Command() {
    SkipSpace();
    if (!s_.empty() && IsIdentStart(s_[0])) {
      absl::string_view word = PeekWord();
      if (word != "true" && word != "false" && word != "nil") {
        if (std::find(std::begin(kFunctions), std::end(kFunctions), word) ==
            std::end(kFunctions)) {
          return absl::InvalidArgumentError(
              absl::StrCat("'", word, "' is not supported (functions: ",
                           absl::StrJoin(kFunctions, ", "), ")"));
        }
        Expr call;
        call.kind = Expr::kCall;
        call.function = std::string(word);
        s_.remove_prefix(word.size());
        while (!AtEnd() && s_[0] != '|' && s_[0] != ')') {
          absl::StatusOr<Expr> arg = Operand();
          if (!arg.ok()) return arg.status();
          call.args.push_back(*std::move(arg));
        }
        // A literal format is checked now, so that a verb corral would print
        // differently from Go is refused when the config loads.
        if (call.function == "printf" && !call.args.empty() &&
            call.args[0].kind == Expr::kLiteral &&
            call.args[0].literal.is_string()) {
          const json::string& format = call.args[0].literal.get_string();
          std::string problem =
              FormatProblem(absl::string_view(format.data(), format.size()));
          if (!problem.empty()) return absl::InvalidArgumentError(problem);
        }
        return call;
      }
    }
    absl::StatusOr<Expr> operand = Operand();
    if (!operand.ok()) return operand.status();
    if (!AtEnd() && s_[0] != '|' && s_[0] != ')') {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected '", s_.substr(0, 16),
                       "' after an operand (only functions take arguments)"));
    }
    return operand;
  }

  absl::StatusOr<Expr> Operand() {
    SkipSpace();
    if (s_.empty()) return absl::InvalidArgumentError("missing operand");
    const char c = s_[0];
    Expr e;
    if (c == '(') {
      if (++depth_ > kMaxDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("parentheses nested more than ", kMaxDepth, " deep"));
      }
      s_.remove_prefix(1);
      absl::StatusOr<Expr> inner = Pipeline();
      --depth_;
      if (!inner.ok()) return inner.status();
      SkipSpace();
      if (s_.empty() || s_[0] != ')') {
        return absl::InvalidArgumentError("unclosed '('");
      }
      s_.remove_prefix(1);
      return inner;
    }
    if (c == '.') {
      s_.remove_prefix(1);
      if (s_.empty() || !IsIdentStart(s_[0])) {
        e.kind = Expr::kDot;
        return e;
      }
      e.kind = Expr::kField;
      while (true) {
        size_t n = 0;
        while (n < s_.size() && IsIdentChar(s_[n])) ++n;
        e.path.emplace_back(s_.substr(0, n));
        s_.remove_prefix(n);
        if (s_.size() < 2 || s_[0] != '.' || !IsIdentStart(s_[1])) break;
        s_.remove_prefix(1);
      }
      return e;
    }
    if (c == '"') return QuotedString();
    if (c == '`') {
      const size_t close = s_.find('`', 1);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError("unterminated raw string");
      }
      e.literal = json::string(json::string_view(s_.data() + 1, close - 1));
      s_.remove_prefix(close + 1);
      return e;
    }
    if (c == '$') {
      return absl::InvalidArgumentError("variables ($) are not supported");
    }
    if (c == '-' || c == '+' || absl::ascii_isdigit(c)) {
      size_t n = 1;
      while (n < s_.size() && (absl::ascii_isalnum(s_[n]) || s_[n] == '.' ||
                               s_[n] == '_' || s_[n] == '+' || s_[n] == '-')) {
        ++n;
      }
      const std::string number(s_.substr(0, n));
      int64_t i;
      double d;
      if (absl::SimpleAtoi(number, &i)) {
        e.literal = i;
      } else if (absl::SimpleAtod(number, &d) && std::isfinite(d)) {
        e.literal = d;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("bad number '", number, "'"));
      }
      s_.remove_prefix(n);
      return e;
    }
    if (IsIdentStart(c)) {
      absl::string_view word = PeekWord();
      if (word == "true" || word == "false") {
        e.literal = word == "true";
      } else if (word == "nil") {
        e.literal = nullptr;
      } else {
        // A function as an argument needs parentheses, as in Go.
        return absl::InvalidArgumentError(absl::StrCat(
            "'", word, "' as an argument needs parentheses: (", word, " ...)"));
      }
      s_.remove_prefix(word.size());
      return e;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected '", s_.substr(0, 16), "'"));
  }

  absl::StatusOr<Expr> QuotedString() {
    std::string out;
    size_t i = 1;
    for (; i < s_.size() && s_[i] != '"'; ++i) {
      if (s_[i] != '\\') {
        out += s_[i];
        continue;
      }
      if (++i == s_.size()) break;
      switch (s_[i]) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '\\':
        case '"':
        case '\'':
          out += s_[i];
          break;
        default:
          return absl::InvalidArgumentError(
              absl::StrCat("unsupported escape '\\", s_.substr(i, 1), "'"));
      }
    }
    if (i >= s_.size()) {
      return absl::InvalidArgumentError("unterminated string");
    }
    Expr e;
    e.literal = json::string(out);
    s_.remove_prefix(i + 1);
    return e;
  }

  absl::string_view s_;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<FieldTemplate> FieldTemplate::Parse(absl::string_view text) {
  auto root = std::make_shared<Node>();
  // Where new nodes go: the root's body, or an if's body or else part. An
  // `else if` opens an if that the same `end` closes (chained).
  struct Open {
    Node* node;
    bool in_else;
    bool chained;
  };
  std::vector<Open> open;
  auto target = [&]() -> std::vector<Node>& {
    if (open.empty()) return root->body;
    return open.back().in_else ? open.back().node->orelse
                               : open.back().node->body;
  };
  // Parses an if's condition (the rest of `p`) and opens it.
  auto open_if = [&](ActionParser& p, bool chained) -> absl::Status {
    absl::StatusOr<Expr> cond = p.Pipeline();
    if (!cond.ok()) return cond.status();
    if (!p.AtEnd()) return absl::InvalidArgumentError("junk after the if");
    if (open.size() >= kMaxDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat("ifs nested more than ", kMaxDepth, " deep"));
    }
    Node n;
    n.kind = Node::kIf;
    n.expr = *std::move(cond);
    target().push_back(std::move(n));
    open.push_back({&target().back(), false, chained});
    return absl::OkStatus();
  };
  absl::string_view rest = text;
  bool trim_next = false;
  while (!rest.empty()) {
    size_t start = rest.find("{{");
    absl::string_view literal = rest.substr(0, start);
    if (trim_next) literal = absl::StripLeadingAsciiWhitespace(literal);
    if (start == absl::string_view::npos) {
      if (!literal.empty())
        target().push_back({Node::kText, std::string(literal)});
      break;
    }
    size_t close = rest.find("}}", start + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unclosed action: '{{' without '}}'");
    }
    absl::string_view body = rest.substr(start + 2, close - start - 2);
    rest.remove_prefix(close + 2);
    // "{{- " and " -}}" trim the whitespace around the action.
    if (body.size() >= 2 && body[0] == '-' && absl::ascii_isspace(body[1])) {
      literal = absl::StripTrailingAsciiWhitespace(literal);
      body.remove_prefix(1);
    }
    trim_next = body.size() >= 2 && body.back() == '-' &&
                absl::ascii_isspace(body[body.size() - 2]);
    if (trim_next) body.remove_suffix(1);
    if (!literal.empty())
      target().push_back({Node::kText, std::string(literal)});

    absl::string_view stripped = absl::StripAsciiWhitespace(body);
    if (absl::StartsWith(stripped, "/*")) {
      if (!absl::EndsWith(stripped, "*/")) {
        return absl::InvalidArgumentError("unclosed comment");
      }
      continue;
    }
    ActionParser p(body);
    absl::string_view word = p.PeekWord();
    if (word == "if") {
      p.ConsumeWord(word);
      if (absl::Status s = open_if(p, /*chained=*/false); !s.ok()) return s;
    } else if (word == "else") {
      if (open.empty() || open.back().in_else) {
        return absl::InvalidArgumentError("'else' without 'if'");
      }
      p.ConsumeWord(word);
      open.back().in_else = true;
      if (p.PeekWord() == "if") {
        p.ConsumeWord("if");
        if (absl::Status s = open_if(p, /*chained=*/true); !s.ok()) return s;
      } else if (!p.AtEnd()) {
        return absl::InvalidArgumentError("junk after else");
      }
    } else if (word == "end") {
      p.ConsumeWord(word);
      if (open.empty()) return absl::InvalidArgumentError("'end' without 'if'");
      if (!p.AtEnd()) return absl::InvalidArgumentError("junk after end");
      while (open.back().chained) open.pop_back();
      open.pop_back();
    } else if (word == "range" || word == "with" || word == "define" ||
               word == "template" || word == "block" || word == "break" ||
               word == "continue") {
      return absl::InvalidArgumentError(
          absl::StrCat("'{{", word, "}}' is not supported (only if/else/end)"));
    } else {
      absl::StatusOr<Expr> e = p.Pipeline();
      if (!e.ok()) return e.status();
      if (!p.AtEnd()) {
        return absl::InvalidArgumentError("unexpected text in the action");
      }
      Node n;
      n.kind = Node::kPrint;
      n.expr = *std::move(e);
      target().push_back(std::move(n));
    }
  }
  if (!open.empty()) return absl::InvalidArgumentError("'if' without 'end'");
  return FieldTemplate(std::string(text), std::move(root));
}

std::string FieldTemplate::Render(const json::object& fields) const {
  std::string out;
  Execute(root_->body, fields, &out);
  return out;
}

}  // namespace corral::core
