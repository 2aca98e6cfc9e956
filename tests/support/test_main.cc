// The main() of every test binary (tests/CMakeLists.txt), in place of
// gtest_main: sets up OpenSSL for the exit as corral's main() does (see
// core/openssl_exit.h), then runs the tests.
#include "core/openssl_exit.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

int main(int argc, char** argv) {
  corral::core::KeepOpenSslStateAtExit();
  ::testing::InitGoogleMock(&argc, argv);
  return RUN_ALL_TESTS();
}
