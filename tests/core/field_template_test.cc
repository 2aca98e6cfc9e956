#include "core/field_template.h"

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::core {
namespace {

using ::testing::HasSubstr;

const boost::json::object& Fields() {
  static const auto* const fields = new boost::json::object(
      boost::json::parse(
          R"({"k8s.ns.name":"prod","proc.name":"bash","proc.pid":4242,
              "ratio":1.5,"precise":1234567.0625,"container.privileged":true,"fd.name":null,
              "user":"root","labels":{"team":"secops"},"empty":"","fmt":"%x",
              "args":["-c","id"]})")
          .as_object());
  return *fields;
}

std::string Render(const std::string& text) {
  absl::StatusOr<FieldTemplate> t = FieldTemplate::Parse(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status();
  return t.ok() ? t->Render(Fields()) : "<parse error>";
}

std::string ParseError(const std::string& text) {
  absl::StatusOr<FieldTemplate> t = FieldTemplate::Parse(text);
  EXPECT_FALSE(t.ok()) << text << " parsed";
  return std::string(t.status().message());
}

TEST(FieldTemplateTest, PrintsFieldsAsFalcosidekickDocumentsThem) {
  EXPECT_EQ(Render(R"({{ index . "k8s.ns.name" }})"), "prod");
  EXPECT_EQ(Render(R"({{ or (index . "k8s.ns.labels.foo") "bar" }})"), "bar");
  EXPECT_EQ(Render(R"({{ or (index . "k8s.ns.name") "bar" }})"), "prod");
  EXPECT_EQ(Render("ns={{ index . \"k8s.ns.name\" }}/{{ .user }}"),
            "ns=prod/root");
  EXPECT_EQ(Render("plain text"), "plain text");
  EXPECT_EQ(Render(""), "");
}

TEST(FieldTemplateTest, ValuesPrintAsTheyArrived) {
  EXPECT_EQ(Render(R"({{ index . "proc.pid" }})"), "4242");
  EXPECT_EQ(Render("{{ .ratio }}"), "1.5");
  EXPECT_EQ(Render("{{ .precise }}"), "1234567.0625");
  EXPECT_EQ(Render(R"({{ index . "container.privileged" }})"), "true");
  EXPECT_EQ(Render(R"({{ index . "labels" "team" }})"), "secops");
  EXPECT_EQ(Render("{{ .labels.team }}"), "secops");
  EXPECT_EQ(Render(R"({{ index . "args" 1 }})"), "id");
  EXPECT_EQ(Render("{{ 7 }} {{ -2 }} {{ true }} {{ `raw \\n` }}"),
            "7 -2 true raw \\n");
  // What Go prints for a missing or null field.
  EXPECT_EQ(Render("{{ .nope }}"), "<no value>");
  EXPECT_EQ(Render(R"({{ index . "fd.name" }})"), "<no value>");
  EXPECT_EQ(Render(R"({{ index . "labels" "nope" "deeper" }})"), "<no value>");
}

TEST(FieldTemplateTest, ConditionsAndComparisons) {
  EXPECT_EQ(
      Render(
          R"({{ if eq (index . "k8s.ns.name") "prod" }}P{{ else }}N{{ end }})"),
      "P");
  EXPECT_EQ(Render(R"({{ if eq .user "admin" "root" }}priv{{ end }})"), "priv");
  EXPECT_EQ(
      Render(
          R"({{ if ne .user "root" }}a{{ else if .empty }}b{{ else if .ratio }}c{{ else }}d{{ end }}!)"),
      "c!");
  EXPECT_EQ(Render("{{ if .nope }}x{{ else }}y{{ end }}"), "y");
  EXPECT_EQ(Render("{{ if not .empty }}empty{{ end }}"), "empty");
  EXPECT_EQ(Render(R"({{ and .user .empty "z" }}|{{ and .user "z" }})"), "|z");
  EXPECT_EQ(Render(R"({{ if eq (index . "proc.pid") 4242 }}pid{{ end }})"),
            "pid");
  EXPECT_EQ(Render("{{ if .a }}{{ if .user }}x{{ end }}{{ else }}y{{ end }}"),
            "y");
}

TEST(FieldTemplateTest, PrintPrintfPipelinesLenAndTrimming) {
  EXPECT_EQ(
      Render(
          R"({{ printf "%s-%d (%v) %q %%" .user (index . "proc.pid") .ratio .user }})"),
      "root-4242 (1.5) \"root\" %");
  EXPECT_EQ(Render(R"({{ printf "%s %s" .user }})"), "root %!s(MISSING)");
  // Inside print and printf a missing value is Go's <nil>.
  EXPECT_EQ(Render(R"({{ printf "%s/%v" .nope .nope }})"), "%!s(<nil>)/<nil>");
  EXPECT_EQ(Render("{{ print .nope }}"), "<nil>");
  // A format that comes from the data is not checked at Parse: Go's mark.
  EXPECT_EQ(Render(R"({{ printf .fmt .user }})"), "%!x(root)");
  EXPECT_EQ(Render(R"({{ index .args 1.5 }}|{{ index .args -1 }})"),
            "<no value>|<no value>");
  EXPECT_EQ(Render(R"({{ index . "proc.name" | printf "<%s>" }})"), "<bash>");
  EXPECT_EQ(Render(R"({{ print .user 1 2 "x" }})"), "root1 2x");
  EXPECT_EQ(Render("{{ len .user }} {{ len .args }} {{ len . }}"), "4 2 12");
  EXPECT_EQ(Render("a  {{- .user -}}  b {{/* a comment */}}c"), "arootb c");
  EXPECT_EQ(Render("{{ \"tab\\there \\\"q\\\"\" }}"), "tab\there \"q\"");
}

TEST(FieldTemplateTest, RefusesWhatItCannotRunNamingIt) {
  EXPECT_THAT(ParseError("{{ upper .user }}"),
              HasSubstr("'upper' is not supported (functions: and, eq"));
  EXPECT_THAT(ParseError("{{ $x := .user }}"), HasSubstr("variables"));
  EXPECT_THAT(ParseError("{{ range .args }}x{{ end }}"),
              HasSubstr("'{{range}}' is not supported"));
  EXPECT_THAT(ParseError("{{ .user"), HasSubstr("unclosed action"));
  EXPECT_THAT(ParseError("{{ if .user }}x"), HasSubstr("'if' without 'end'"));
  EXPECT_THAT(ParseError("x{{ end }}"), HasSubstr("'end' without 'if'"));
  EXPECT_THAT(ParseError("{{ else }}"), HasSubstr("'else' without 'if'"));
  EXPECT_THAT(ParseError("{{ .user .empty }}"),
              HasSubstr("only functions take arguments"));
  EXPECT_THAT(ParseError(R"({{ "open }})"), HasSubstr("unterminated string"));
  EXPECT_THAT(ParseError("{{ (index . \"a\" }}"), HasSubstr("unclosed '('"));
  EXPECT_THAT(ParseError("{{ .user | .empty }}"),
              HasSubstr("only a function can follow '|'"));
  EXPECT_THAT(ParseError("{{ or index }}"), HasSubstr("needs parentheses"));
  EXPECT_THAT(ParseError("{{ /* open }}"), HasSubstr("unclosed comment"));
  // Numbers are finite; printf formats are ones corral prints as Go does.
  EXPECT_THAT(ParseError("{{ index .args -nan }}"), HasSubstr("bad number"));
  EXPECT_THAT(ParseError("{{ 1e999 }}"), HasSubstr("bad number"));
  EXPECT_THAT(ParseError(R"({{ printf "%-10s" .user }})"),
              HasSubstr("not '%-'"));
  EXPECT_THAT(ParseError(R"({{ printf "%.2f" .ratio }})"),
              HasSubstr("no flags, width or precision"));
  EXPECT_THAT(ParseError(R"({{ printf "50%" }})"), HasSubstr("ends in '%'"));
  // Nesting is bounded, so that no config value can exhaust the stack.
  EXPECT_THAT(ParseError(absl::StrCat("{{ ", std::string(1000, '('), ".user",
                                      std::string(1000, ')'), " }}")),
              HasSubstr("nested more than 64 deep"));
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{{ if .user }}";
  EXPECT_THAT(ParseError(ifs), HasSubstr("nested more than 64 deep"));
  std::string chained = "{{ if .a }}";
  for (int i = 0; i < 1000; ++i) chained += "{{ else if .b }}";
  EXPECT_THAT(ParseError(chained), HasSubstr("nested more than 64 deep"));
  EXPECT_EQ(Render(absl::StrCat("{{ ", std::string(64, '('), ".user",
                                std::string(64, ')'), " }}")),
            "root");
}

TEST(FieldTemplateTest, CopiesShareTheParsedFormAndCompareByText) {
  absl::StatusOr<FieldTemplate> a = FieldTemplate::Parse("{{ .user }}");
  ASSERT_TRUE(a.ok());
  FieldTemplate b = *a;
  EXPECT_EQ(b.Render(Fields()), "root");
  EXPECT_TRUE(b == *a);
  EXPECT_EQ(b.text(), "{{ .user }}");
}

}  // namespace
}  // namespace corral::core
