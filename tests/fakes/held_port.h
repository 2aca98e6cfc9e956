#ifndef CORRAL_TESTS_FAKES_HELD_PORT_H_
#define CORRAL_TESTS_FAKES_HELD_PORT_H_

namespace corral::fakes {

// Keeps a stopped fake's loopback port bound but not listening, so that
// clients see "connection refused" (a server that went away) and no other
// test takes the port before the fake starts on it again. Not thread-safe.
class HeldPort {
 public:
  HeldPort() = default;
  ~HeldPort() { Release(); }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;

  // Binds 127.0.0.1:`port` (SO_REUSEADDR, no listen); best effort.
  void Hold(int port);
  // Unbinds, so that the fake can listen there again.
  void Release();

 private:
  int fd_ = -1;
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_HELD_PORT_H_
