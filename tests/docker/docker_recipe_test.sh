#!/usr/bin/env bash
# Proves the container recipe (docker/) without a Docker engine:
#  1. every shared library the corral binary loads comes from a Debian package that the image's
#     runtime stage has: the packages of `scripts/install-deps --runtime`, what they depend on, and
#     what debian:12-slim already holds;
#  2. docker/corral.yaml, the image's default config, passes `corral check-config`;
#  3. recipe_checks.py: the Dockerfile's stages, the compose file and the Kubernetes manifests
#     (they parse; ports, probes, paths, users and names agree with each other and with corral).
# Usage: docker_recipe_test.sh CORRAL_BINARY SOURCE_DIR
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CORRAL_BINARY SOURCE_DIR" >&2
  exit 2
fi
corral=$1
src=$2
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

for tool in ldd dpkg-query apt-cache python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool is missing (scripts/install-deps --test installs what this test needs)" >&2
    exit 1
  fi
done
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "FAIL: python3 cannot import yaml (scripts/install-deps --test installs python3-yaml)" >&2
  exit 1
fi

# Packages of debian:12-slim that libraries may come from without the runtime stage installing
# them: the C and C++ runtimes, zlib, and apt, whose own dependencies (gnutls, nettle, gmp, zstd,
# xz, lz4, libsystemd0, ...) are in the image as well. The image holds more than this (every
# Priority: required package of Debian 12), but naming less is the safe side: a library this test
# cannot place makes it fail, never pass.
base_packages=(libc6 libgcc-s1 libstdc++6 zlib1g apt)

# Prints the packages that installing "$@" on a system without them brings in: the packages and,
# recursively, their Depends and Pre-Depends. Of an "a | b" group only the first alternative counts
# (what apt picks when none is installed yet); a virtual package counts as all its providers.
# Roots that apt does not know are printed as "unknown NAME". apt-cache reads the local package
# lists and the dpkg database only, so this works offline.
dependency_closure() {
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "$@" 2>/dev/null |
    awk -v roots="$*" '
      function strip(name) { sub(/:.*/, "", name); return name }
      /^[^ ]/ { pkg = strip($1); known[pkg] = 1; continued = 0; virtual = 0; next }
      /^ [ |](Pre)?Depends: / {
        first = !continued
        continued = ($1 ~ /^\|/)
        virtual = 0
        if (!first) next
        dep = strip($2)
        if (dep ~ /^</) { virtual = 1; next }
        edges[pkg] = edges[pkg] " " dep
        next
      }
      /^    [^ ]/ { if (virtual) edges[pkg] = edges[pkg] " " strip($1); next }
      END {
        n = split(roots, queue, " ")
        for (i = 1; i <= n; i++) {
          if (!(queue[i] in known)) print "unknown " queue[i]
          seen[queue[i]] = 1
        }
        for (i = 1; i <= n; i++) {
          print queue[i]
          m = split(edges[queue[i]], deps, " ")
          for (j = 1; j <= m; j++)
            if (!(deps[j] in seen)) { seen[deps[j]] = 1; queue[++n] = deps[j] }
        }
      }'
}

# Fills `owners` (path -> its packages, comma-separated) and `real_path` for the files given, with
# one dpkg-query call. With Debian 12's merged /usr, ldd may name /lib/x/libfoo.so where the package
# ships /usr/lib/x/libfoo.so (or the reverse), or a symlink to the file: each is looked up as all of
# these.
declare -A owners=() real_path=()
find_owners() {
  local file candidates=() line package packages parts resolved=()
  mapfile -t resolved < <(readlink -f "$@")
  for file in "$@"; do
    real_path[$file]=${resolved[${#candidates[@]} / 3]}
    candidates+=("$file" "/usr$file" "${file#/usr}")
  done
  candidates+=("${resolved[@]}")
  # "libfoo1:amd64, libfoo1-extra:amd64: /path" -> owners[/path]=libfoo1,libfoo1-extra
  while IFS= read -r line; do
    case "$line" in diversion*) continue ;; esac
    packages=""
    IFS=, read -ra parts <<<"${line%%: /*}"
    for package in "${parts[@]}"; do
      package=${package# }
      packages+=${packages:+,}${package%%:*}
    done
    owners[/${line#*: /}]=$packages
  done < <(dpkg-query -S "${candidates[@]}" 2>/dev/null)
}
owner_of() {
  local file=$1 candidate
  for candidate in "$file" "/usr$file" "${file#/usr}" "${real_path[$file]}"; do
    if [ -n "${owners[$candidate]:-}" ]; then
      echo "${owners[$candidate]}"
      return 0
    fi
  done
  return 1
}

# --- 1. Shared libraries -------------------------------------------------------------------------
if ! runtime_list=$("$src/scripts/install-deps" --list --runtime); then
  fail "scripts/install-deps --list --runtime failed"
fi
mapfile -t runtime_packages <<<"$runtime_list"
closure=$(dependency_closure "${runtime_packages[@]}" "${base_packages[@]}")
while read -r unknown; do
  fail "runtime package '$unknown' (scripts/install-deps) is unknown to apt on Debian 12"
done < <(sed -n 's/^unknown //p' <<<"$closure")
declare -A available=()
while read -r pkg; do available[$pkg]=1; done < <(grep -v '^unknown ' <<<"$closure")

if ! ldd_out=$(ldd "$corral" 2>&1); then
  fail "ldd $corral failed: $ldd_out"
fi
# "libfoo.so.1 => /path (0x...)", or the dynamic loader's own "/path (0x...)"; the vDSO is the
# kernel's.
files=()
while read -r line; do
  case "$line" in
    "" | linux-vdso.so* | linux-gate.so*) ;;
    *"not found"*) fail "ldd: ${line%% *} is not found on this machine" ;;
    *" => "*)
      line=${line#* => }
      files+=("${line%% *}")
      ;;
    /*) files+=("${line%% *}") ;;
    *) fail "ldd: cannot read the line '$line'" ;;
  esac
done <<<"$ldd_out"
libraries=${#files[@]}
find_owners "${files[@]}"
for file in "${files[@]}"; do
  if ! file_owners=$(owner_of "$file"); then
    fail "$file (a library of corral) belongs to no Debian package: the image cannot have it"
    continue
  fi
  placed=false
  IFS=, read -ra owner_list <<<"$file_owners"
  for owner in "${owner_list[@]}"; do
    if [ -n "${available[$owner]:-}" ]; then placed=true; fi
  done
  if ! $placed; then
    fail "$file comes from package $file_owners, which the runtime image does not install:" \
      "add it to runtime=(...) in scripts/install-deps"
  fi
done
if [ "$libraries" -lt 2 ]; then
  fail "ldd listed $libraries libraries for $corral: not a dynamically linked corral?"
fi
echo "shared libraries: $libraries checked against ${#available[@]} packages" \
  "(runtime: ${runtime_packages[*]})"

# --- 2. The image's default config ---------------------------------------------------------------
# Without CORRAL_TOKEN, as in a plain `docker run`.
if ! out=$(env -u CORRAL_TOKEN "$corral" check-config -c "$src/docker/corral.yaml" 2>&1); then
  fail "docker/corral.yaml does not pass corral check-config:"$'\n'"$out"
fi

# --- 3. Dockerfile, compose file, Kubernetes manifests -------------------------------------------
python3 "$(dirname "$0")/recipe_checks.py" "$corral" "$src"
case $? in
  0) ;;
  1) failures=$((failures + 1)) ;;  # recipe_checks.py has printed each failure
  *) fail "recipe_checks.py did not run to the end" ;;
esac

if [ "$failures" -ne 0 ]; then
  echo "docker recipe: $failures problem(s)" >&2
  exit 1
fi
echo "docker recipe: ok"
