// A disk that fills up and frees again, for end-to-end tests of the real
// binary: loaded with LD_PRELOAD, it makes write(2), writev(2), pwrite(2),
// fsync(2) and fdatasync(2) on files under $CORRAL_FAULT_DIR fail with ENOSPC
// for as long as the file $CORRAL_FAULT_SWITCH exists. Everything else (other
// files, sockets, pipes) goes to libc untouched. Both variables are read once,
// when the library is loaded; without them it changes nothing.
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

const char* g_dir = nullptr;     // a path prefix, e.g. "/tmp/x/data/"
const char* g_switch = nullptr;  // while this file exists, the disk is full

__attribute__((constructor)) void ReadEnvironment() {
  g_dir = getenv("CORRAL_FAULT_DIR");
  g_switch = getenv("CORRAL_FAULT_SWITCH");
}

// Whether a write to `fd` must fail now (setting errno when it must).
bool DiskFull(int fd) {
  if (g_dir == nullptr || g_switch == nullptr || access(g_switch, F_OK) != 0) {
    return false;
  }
  char link[64];
  char path[4096];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  if (strncmp(path, g_dir, strlen(g_dir)) != 0) return false;
  errno = ENOSPC;
  return true;
}

template <typename Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  static const auto real = Next<ssize_t (*)(int, const void*, size_t)>("write");
  return DiskFull(fd) ? -1 : real(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  static const auto real =
      Next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  return DiskFull(fd) ? -1 : real(fd, iov, count);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  static const auto real =
      Next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  return DiskFull(fd) ? -1 : real(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t offset) {
  static const auto real =
      Next<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  return DiskFull(fd) ? -1 : real(fd, buf, n, offset);
}

int fsync(int fd) {
  static const auto real = Next<int (*)(int)>("fsync");
  return DiskFull(fd) ? -1 : real(fd);
}

int fdatasync(int fd) {
  static const auto real = Next<int (*)(int)>("fdatasync");
  return DiskFull(fd) ? -1 : real(fd);
}

}  // extern "C"
