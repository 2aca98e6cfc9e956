#ifndef CORRAL_TESTS_SERVER_HTTP_SERVER_TEST_CERTS_H_
#define CORRAL_TESTS_SERVER_HTTP_SERVER_TEST_CERTS_H_

// A throw-away PKI for the HTTP server's TLS tests, generated with the OpenSSL
// 3 C API: a CA, a server certificate (localhost, 127.0.0.1) and a client
// certificate, both signed by the CA.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <string>

namespace corral::server::testing_certs {

struct Pki {
  std::string dir;
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
};

namespace internal {

inline bool AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// Issuer null: self-signed.
inline X509* MakeCert(EVP_PKEY* key, const char* cn, X509* issuer,
                      EVP_PKEY* issuer_key, bool ca, const char* san,
                      long serial) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1,
                             0);
  X509_set_issuer_name(
      cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer != nullptr ? issuer : cert;
  bool ok = true;
  if (ca) {
    ok &= AddExt(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
    ok &= AddExt(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok &= AddExt(cert, signer, NID_basic_constraints, "CA:FALSE");
    ok &= AddExt(cert, signer, NID_key_usage, "critical,digitalSignature");
    ok &= AddExt(cert, signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  if (san != nullptr) ok &= AddExt(cert, signer, NID_subject_alt_name, san);
  ok &= X509_sign(cert, issuer_key != nullptr ? issuer_key : key,
                  EVP_sha256()) > 0;
  if (!ok) {
    X509_free(cert);
    return nullptr;
  }
  return cert;
}

inline bool WriteCert(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  bool ok = PEM_write_X509(f, cert) == 1;
  return std::fclose(f) == 0 && ok;
}

inline bool WriteKey(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  bool ok =
      PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  return std::fclose(f) == 0 && ok;
}

}  // namespace internal

// Writes the PKI into a fresh temporary directory. Fails the test (and returns
// false) on error.
inline bool MakePki(Pki* pki) {
  using namespace internal;
  std::string tmpl = ::testing::TempDir() + "corral_http_server_tls_XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return false;
  }
  pki->dir = tmpl;
  pki->ca_cert = pki->dir + "/ca.pem";
  pki->server_cert = pki->dir + "/server.pem";
  pki->server_key = pki->dir + "/server.key";
  pki->client_cert = pki->dir + "/client.pem";
  pki->client_key = pki->dir + "/client.key";

  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  EVP_PKEY* server_key = EVP_EC_gen("P-256");
  EVP_PKEY* client_key = EVP_EC_gen("P-256");
  X509* ca = nullptr;
  X509* server = nullptr;
  X509* client = nullptr;
  bool ok = ca_key != nullptr && server_key != nullptr && client_key != nullptr;
  if (ok)
    ca = MakeCert(ca_key, "corral test CA", nullptr, nullptr, true, nullptr, 1);
  if (ca != nullptr) {
    server = MakeCert(server_key, "localhost", ca, ca_key, false,
                      "DNS:localhost,IP:127.0.0.1", 2);
    client = MakeCert(client_key, "corral test client", ca, ca_key, false,
                      nullptr, 3);
  }
  ok = ca != nullptr && server != nullptr && client != nullptr &&
       WriteCert(pki->ca_cert, ca) && WriteCert(pki->server_cert, server) &&
       WriteKey(pki->server_key, server_key) &&
       WriteCert(pki->client_cert, client) &&
       WriteKey(pki->client_key, client_key);
  X509_free(ca);
  X509_free(server);
  X509_free(client);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(server_key);
  EVP_PKEY_free(client_key);
  if (!ok) ADD_FAILURE() << "cannot generate the test PKI in " << pki->dir;
  return ok;
}

}  // namespace corral::server::testing_certs

#endif  // CORRAL_TESTS_SERVER_HTTP_SERVER_TEST_CERTS_H_
