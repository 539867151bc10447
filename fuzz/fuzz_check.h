// FUZZ_CHECK(cond, what): a property of a fuzz target. When it does not hold the input is a
// finding: the message goes to stderr and the process aborts, which libFuzzer and the corpus
// replay test both report (with the input that did it).
#ifndef CAPIF_FUZZ_FUZZ_CHECK_H_
#define CAPIF_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                         \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, __LINE__, \
                   what, #cond);                                                       \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

#endif  // CAPIF_FUZZ_FUZZ_CHECK_H_
