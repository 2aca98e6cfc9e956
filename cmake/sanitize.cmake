# CORRAL_SANITIZE=ON: every target (libraries, tests, the corral binary) is built with
# AddressSanitizer and UndefinedBehaviorSanitizer, and with libFuzzer's coverage instrumentation so
# that the same libraries link into the fuzz targets of tests/fuzz (built only in this mode).
# Needs clang (scripts/test-sanitized uses clang-14 and lld).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "CORRAL_SANITIZE needs clang (libFuzzer); configure with "
                      "-DCMAKE_CXX_COMPILER=clang++-14")
endif()

add_compile_options(
  # Cheaper to build than -O2 -g (this build runs in CI after the release one); sanitizer reports
  # still name file:line. After the build type's flags, so these win.
  -O1 -gline-tables-only
  -fsanitize=address,undefined
  # Undefined behaviour is an error, not a warning: the test fails.
  -fno-sanitize-recover=undefined
  -fno-omit-frame-pointer
  # clang 14's function check (indirect calls through a mistyped function pointer) cannot
  # assemble some of Beast's and gRPC's templates ("Cannot represent a difference across
  # sections"). It checks calls through function pointers cast to another type, which corral
  # does not make.
  -fno-sanitize=function
  -fsanitize=fuzzer-no-link
  # Bounds checks in libstdc++ (operator[], front(), back() on empty containers, ...).
  -D_GLIBCXX_ASSERTIONS)
# --as-needed as Debian's gcc links by default, so that the binary loads the same libraries as
# the release build (the DockerRecipe test checks them against the runtime image).
add_link_options(-fsanitize=address,undefined -Wl,--as-needed)

find_program(CORRAL_LLD NAMES ld.lld-14 ld.lld)
if(CORRAL_LLD)
  add_link_options(-fuse-ld=lld)  # links the large sanitized test binaries much faster
endif()
