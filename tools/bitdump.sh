#!/bin/sh
# Builds tools/bitdump.cpp in each instruction set and writes its hashes to DIR/<isa>.txt:
#   tools/bitdump.sh DIR [INCLUDE_DIR]
# Run it on the tree before a change and after, then `diff -r BEFORE AFTER`.
set -eu
out=$1
inc=${2:-$(dirname "$0")/../include}
mkdir -p "$out"
build() {  # name, flags...
  name=$1; shift
  g++ -std=c++17 -O2 "$@" -I"$inc" -isystem /usr/include/eigen3 -Wall -Wextra -Wconversion -Wsign-conversion -Wshadow "$(dirname "$0")/bitdump.cpp" \
    -o "$out/$name" -lquadmath -pthread
  "$out/$name" > "$out/$name.txt"
}
build sse2 &
build avx2 -mavx2 -mfma &
wait
build avx512 -march=skylake-avx512 &
build scalar -DEIGEN_DONT_VECTORIZE &
wait
rm -f "$out/sse2" "$out/avx2" "$out/avx512" "$out/scalar"
wc -l "$out"/*.txt
