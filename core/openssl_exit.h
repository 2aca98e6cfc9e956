#ifndef CORRAL_CORE_OPENSSL_EXIT_H_
#define CORRAL_CORE_OPENSSL_EXIT_H_

namespace corral::core {

// Keeps OpenSSL from freeing its global state in an exit handler. gRPC's
// threads outlive main() and may still hold OpenSSL state (each thread that
// signs or handshakes has its own random generators) while exit handlers
// run. OpenSSL's cleanup frees the shared state under them and drops the
// thread-exit hook, so a thread that ends afterwards never frees its own
// state (LeakSanitizer reports it), and a thread still at work would use
// freed memory. Without the cleanup, each thread frees its state when it ends
// and the rest goes back to the system with the process. Takes effect only if
// it is the first use of OpenSSL: call it first thing in main(). Thread-safe.
void KeepOpenSslStateAtExit();

}  // namespace corral::core

#endif  // CORRAL_CORE_OPENSSL_EXIT_H_
