// An assertion for fuzz targets: a broken invariant must crash, so libFuzzer keeps the input.
#pragma once

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)
