#ifndef CORRAL_TESTS_FAKES_TEST_CERTS_H_
#define CORRAL_TESTS_FAKES_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace corral::fakes {

// PEM files of a throw-away PKI, generated at test time with the OpenSSL 3 C
// API (ECDSA P-256, valid from an hour ago for a day): a CA, a server
// certificate for 127.0.0.1 and localhost (subjectAltName IP:127.0.0.1,
// DNS:localhost) and a client certificate, both signed by the CA.
struct TestCerts {
  std::string ca_cert;
  std::string ca_key;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

// Writes ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem and
// client-key.pem into `dir` (which must exist) and returns their paths. Every
// call makes a new, unrelated CA.
absl::StatusOr<TestCerts> GenerateTestCerts(const std::string& dir);

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_TEST_CERTS_H_
