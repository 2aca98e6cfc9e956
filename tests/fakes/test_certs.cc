#include "tests/fakes/test_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace corral::fakes {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using CertPtr = std::unique_ptr<X509, Free>;

absl::Status OpenSslError(absl::string_view what) {
  char buf[256] = {0};
  unsigned long e = ERR_get_error();
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return absl::InternalError(
      absl::StrCat("test certificates: ", what, ": ", buf));
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid,
                          const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(
        absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyPtr> NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("EC key generation");
  return key;
}

struct Extension {
  int nid;
  const char* value;
};

// Makes a certificate for `key` named `common_name`, signed by `issuer_key` as
// `issuer` (nullptr: self-signed).
absl::StatusOr<CertPtr> NewCert(EVP_PKEY* key, const char* common_name,
                                X509* issuer, EVP_PKEY* issuer_key,
                                std::initializer_list<Extension> extensions) {
  CertPtr cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3, for extensions
  std::unique_ptr<BIGNUM, Free> serial(BN_new());
  if (!BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ==
          nullptr) {
    return OpenSslError("serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "O", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>("corral tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (X509_set_pubkey(cert.get(), key) != 1)
    return OpenSslError("X509_set_pubkey");
  for (const Extension& ext : extensions) {
    if (absl::Status s = AddExtension(cert.get(), signer, ext.nid, ext.value);
        !s.ok()) {
      return s;
    }
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key,
                EVP_sha256()) == 0) {
    return OpenSslError("X509_sign");
  }
  return cert;
}

absl::Status WriteKey(const std::string& path, EVP_PKEY* key) {
  std::unique_ptr<BIO, Free> bio(BIO_new_file(path.c_str(), "w"));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslError(absl::StrCat("writing ", path));
  }
  return absl::OkStatus();
}

absl::Status WriteCert(const std::string& path, X509* cert) {
  std::unique_ptr<BIO, Free> bio(BIO_new_file(path.c_str(), "w"));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError(absl::StrCat("writing ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TestCerts> GenerateTestCerts(const std::string& dir) {
  absl::StatusOr<KeyPtr> ca_key = NewKey();
  if (!ca_key.ok()) return ca_key.status();
  absl::StatusOr<CertPtr> ca =
      NewCert(ca_key->get(), "corral test CA", nullptr, nullptr,
              {{NID_basic_constraints, "critical,CA:TRUE"},
               {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
               {NID_subject_key_identifier, "hash"},
               {NID_authority_key_identifier, "keyid:always"}});
  if (!ca.ok()) return ca.status();

  absl::StatusOr<KeyPtr> server_key = NewKey();
  if (!server_key.ok()) return server_key.status();
  absl::StatusOr<CertPtr> server =
      NewCert(server_key->get(), "localhost", ca->get(), ca_key->get(),
              {{NID_basic_constraints, "critical,CA:FALSE"},
               {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
               {NID_ext_key_usage, "serverAuth"},
               {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
               {NID_subject_key_identifier, "hash"},
               {NID_authority_key_identifier, "keyid:always"}});
  if (!server.ok()) return server.status();

  absl::StatusOr<KeyPtr> client_key = NewKey();
  if (!client_key.ok()) return client_key.status();
  absl::StatusOr<CertPtr> client =
      NewCert(client_key->get(), "corral test client", ca->get(), ca_key->get(),
              {{NID_basic_constraints, "critical,CA:FALSE"},
               {NID_key_usage, "critical,digitalSignature"},
               {NID_ext_key_usage, "clientAuth"},
               {NID_subject_key_identifier, "hash"},
               {NID_authority_key_identifier, "keyid:always"}});
  if (!client.ok()) return client.status();

  TestCerts paths{
      .ca_cert = dir + "/ca.pem",
      .ca_key = dir + "/ca-key.pem",
      .server_cert = dir + "/server.pem",
      .server_key = dir + "/server-key.pem",
      .client_cert = dir + "/client.pem",
      .client_key = dir + "/client-key.pem",
  };
  for (absl::Status s : {WriteCert(paths.ca_cert, ca->get()),
                         WriteKey(paths.ca_key, ca_key->get()),
                         WriteCert(paths.server_cert, server->get()),
                         WriteKey(paths.server_key, server_key->get()),
                         WriteCert(paths.client_cert, client->get()),
                         WriteKey(paths.client_key, client_key->get())}) {
    if (!s.ok()) return s;
  }
  return paths;
}

}  // namespace corral::fakes
