#include "ingest/falco_grpc/falco_grpc_config.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::ingest::falco_grpc {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::vector<FalcoGrpcConfig>> Parse(const std::string& yaml) {
  return ParseFalcoGrpcConfigs(YAML::Load(yaml), "corral.yaml");
}

std::string Error(const std::string& yaml) {
  auto c = Parse(yaml);
  EXPECT_FALSE(c.ok()) << yaml;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(FalcoGrpcConfigTest, DefaultsAndEveryKey) {
  auto c = Parse(R"(
- name: node-a
  address: unix:///run/falco/falco.sock
- name: node-b
  address: falco-b.internal:5060
  tls: {ca_file: /etc/corral/falco-ca.pem, cert_file: /etc/corral/client.pem,
        key_file: /etc/corral/client-key.pem, server_name: localhost}
  poll_interval: 1s
  hostname: node-b
- name: proxy
  address: "[::1]:5060"
  plaintext: true
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 3u);
  const FalcoGrpcConfig& a = (*c)[0];
  EXPECT_EQ(a.name, "node-a");
  EXPECT_EQ(a.address, "unix:///run/falco/falco.sock");
  EXPECT_TRUE(a.unix_socket);
  EXPECT_FALSE(a.tls());
  EXPECT_EQ(a.poll_interval, absl::Milliseconds(100));
  EXPECT_EQ(a.hostname, "");
  EXPECT_EQ(a.host(), "");
  EXPECT_EQ(a.path, "ingest.falco_grpc[0]");
  const FalcoGrpcConfig& b = (*c)[1];
  EXPECT_FALSE(b.unix_socket);
  EXPECT_TRUE(b.tls());
  EXPECT_EQ(b.ca_file, "/etc/corral/falco-ca.pem");
  EXPECT_EQ(b.cert_file, "/etc/corral/client.pem");
  EXPECT_EQ(b.key_file, "/etc/corral/client-key.pem");
  EXPECT_EQ(b.server_name, "localhost");
  EXPECT_EQ(b.poll_interval, absl::Seconds(1));
  EXPECT_EQ(b.hostname, "node-b");
  EXPECT_EQ(b.host(), "falco-b.internal");
  const FalcoGrpcConfig& p = (*c)[2];
  EXPECT_TRUE(p.plaintext);
  EXPECT_FALSE(p.tls());
  EXPECT_EQ(p.host(), "::1");
}

TEST(FalcoGrpcConfigTest, AbsentOrNullMeansNoConnections) {
  auto absent = ParseFalcoGrpcConfigs(YAML::Node(), "corral.yaml");
  ASSERT_TRUE(absent.ok());
  EXPECT_TRUE(absent->empty());
  auto null = Parse("~");
  ASSERT_TRUE(null.ok());
  EXPECT_TRUE(null->empty());
}

TEST(FalcoGrpcConfigTest, NotAList) {
  EXPECT_THAT(Error("name: a\n"),
              HasSubstr("corral.yaml:1:1: ingest.falco_grpc: expected a list"));
}

TEST(FalcoGrpcConfigTest, EveryMistakeIsReportedWithItsPlace) {
  const std::string e = Error(R"(
- address: unix:///run/falco/falco.sock
  poll_interval: 5ms
  colour: blue
- name: b
  address: falco:http
- name: b
  address: unix://relative.sock
)");
  EXPECT_THAT(e, HasSubstr("corral.yaml:2:3: ingest.falco_grpc[0].name: "
                           "is required"));
  EXPECT_THAT(e, HasSubstr("corral.yaml:3:18: ingest.falco_grpc[0]."
                           "poll_interval: must be between 10ms and 1m"));
  EXPECT_THAT(e, HasSubstr("corral.yaml:4:3: ingest.falco_grpc[0].colour: "));
  EXPECT_THAT(e, HasSubstr("corral.yaml:6:12: ingest.falco_grpc[1].address: "
                           "expected unix:///PATH (Falco's unix socket) or "
                           "HOST:PORT, got \"falco:http\""));
  EXPECT_THAT(e, HasSubstr("corral.yaml:7:9: ingest.falco_grpc[2].name: \"b\" "
                           "is already the name of another entry"));
  EXPECT_THAT(e, HasSubstr("corral.yaml:8:12: ingest.falco_grpc[2].address: "
                           "expected unix:///ABSOLUTE/PATH, got "
                           "\"unix://relative.sock\""));
}

TEST(FalcoGrpcConfigTest, AddressNeedsHostAndPortInRange) {
  for (const char* bad : {"falco", ":5060", "falco:0", "falco:65536",
                          "::1:5060", "[::1]5060", "unix://", "unix:///"}) {
    EXPECT_THAT(Error(absl::StrCat("- {name: a, address: \"", bad,
                                   "\", plaintext: true}\n")),
                HasSubstr("ingest.falco_grpc[0].address: expected"))
        << bad;
  }
}

TEST(FalcoGrpcConfigTest, TcpNeedsTlsOrAnExplicitPlaintext) {
  EXPECT_THAT(Error("- {name: a, address: 10.0.0.7:5060}\n"),
              HasSubstr("ingest.falco_grpc[0].address: a TCP address needs "
                        "tls {ca_file, cert_file, key_file} (Falco serves "
                        "gRPC over TCP only with mutual TLS), or plaintext: "
                        "true"));
  // Loopback is no exception: the opt-in is always written out.
  EXPECT_THAT(Error("- {name: a, address: 127.0.0.1:5060}\n"),
              HasSubstr("a TCP address needs tls"));
  EXPECT_TRUE(
      Parse("- {name: a, address: 127.0.0.1:5060, plaintext: true}\n").ok());
  EXPECT_THAT(Error("- {name: a, address: 10.0.0.7:5060, plaintext: true, "
                    "tls: {ca_file: /ca.pem}}\n"),
              HasSubstr("ingest.falco_grpc[0].plaintext: contradicts tls"));
  // Server-authenticated TLS only (a TLS proxy in front of Falco).
  auto ca_only =
      Parse("- {name: a, address: 10.0.0.7:5060, tls: {ca_file: /ca.pem}}\n");
  ASSERT_TRUE(ca_only.ok()) << ca_only.status();
  EXPECT_TRUE((*ca_only)[0].tls());
}

TEST(FalcoGrpcConfigTest, ClientCertificateAndKeyGoTogether) {
  EXPECT_THAT(Error("- {name: a, address: h:1, tls: {cert_file: /c.pem}}\n"),
              HasSubstr("ingest.falco_grpc[0].tls.key_file: cert_file and "
                        "key_file go together"));
  EXPECT_THAT(Error("- {name: a, address: h:1, tls: {key_file: /k.pem}}\n"),
              HasSubstr("ingest.falco_grpc[0].tls.cert_file: cert_file and "
                        "key_file go together"));
  EXPECT_THAT(
      Error("- {name: a, address: h:1, tls: {ca_file: /a, server: x}}\n"),
      HasSubstr("ingest.falco_grpc[0].tls.server"));
}

TEST(FalcoGrpcConfigTest, UnixSocketTakesNeitherTlsNorPlaintext) {
  EXPECT_THAT(Error("- {name: a, address: \"unix:///run/falco/falco.sock\", "
                    "tls: {ca_file: /ca.pem}}\n"),
              HasSubstr("ingest.falco_grpc[0].tls: a unix socket takes no "
                        "tls (Falco serves it without authentication)"));
  EXPECT_THAT(Error("- {name: a, address: \"unix:///run/falco/falco.sock\", "
                    "plaintext: true}\n"),
              HasSubstr("ingest.falco_grpc[0].plaintext: applies to TCP "
                        "addresses only"));
  EXPECT_THAT(Error("- {name: a, address: \"unix:///f.sock\", "
                    "plaintext: maybe}\n"),
              HasSubstr("ingest.falco_grpc[0].plaintext: expected true or "
                        "false, got \"maybe\""));
}

}  // namespace
}  // namespace corral::ingest::falco_grpc
