#include "core/openssl_exit.h"

#include <openssl/crypto.h>

namespace corral::core {

void KeepOpenSslStateAtExit() {
  // The first initialisation decides whether OpenSSL registers its atexit
  // cleanup; later calls cannot undo it.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
}

}  // namespace corral::core
