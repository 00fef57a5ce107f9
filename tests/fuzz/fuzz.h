/* fuzz.h - the one entry point every fuzz target defines (libFuzzer's). */
#ifndef CXS_TESTS_FUZZ_H
#define CXS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
