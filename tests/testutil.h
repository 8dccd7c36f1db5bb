/*
 * Minimal test harness: assertions that print both sides and keep going so
 * one run shows every failure, a seeded random source that honours
 * STRATA_TEST_SEED, and a summary line ctest and humans can read.
 */
#ifndef STRATA_TESTUTIL_H
#define STRATA_TESTUTIL_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built with AddressSanitizer: the heaviest randomised tests run fewer
 * rounds there (they say how many); the plain build runs them all. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        test_checks++;                                                                             \
        if (va_ != vb_) {                                                                          \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    va_, vb_);                                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
    do {                                                                                           \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);           \
        test_checks++;                                                                             \
        if (va_ != vb_) {                                                                          \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: %llu != %llu\n", __FILE__, __LINE__, #a, #b,  \
                    va_, vb_);                                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_MEM(a, b, n)                                                                      \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: memory %s == %s differs\n", __FILE__, __LINE__, #a, #b);       \
        }                                                                                          \
    } while (0)

/* Seed for property tests: STRATA_TEST_SEED if set, else a fixed default so
 * CI is reproducible. Printed so a failure can be replayed. */
static inline uint64_t test_seed(uint64_t fallback)
{
    const char *s = getenv("STRATA_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : fallback;
    fprintf(stderr, "seed %" PRIu64 " (replay with STRATA_TEST_SEED=%" PRIu64 ")\n", seed, seed);
    return seed;
}

/* The folder holding latency/: STRATA_DATA_DIR if set, else the repository's
 * data/ (CMake compiles its path in as STRATA_SOURCE_DATA_DIR). */
static inline const char *test_data_dir(void)
{
    const char *dir = getenv("STRATA_DATA_DIR");
    if (dir && *dir)
        return dir;
#ifdef STRATA_SOURCE_DATA_DIR
    return STRATA_SOURCE_DATA_DIR;
#else
    return "data";
#endif
}

/* Writes test_data_dir()/rel into buf and returns buf if that file can be
 * read; otherwise counts a failure, says which path is missing and returns
 * NULL. The data sets ship with the repository, so a missing file is a
 * broken checkout, never a reason to skip. */
static inline const char *test_data_file(const char *rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", test_data_dir(), rel);
    FILE *f = fopen(buf, "r");
    if (!f) {
        fprintf(stderr, "FAIL: cannot read %s (STRATA_DATA_DIR overrides the data folder)\n", buf);
        test_failures++;
        return NULL;
    }
    fclose(f);
    return buf;
}

/* Prints "N passed, N failed" and returns the process exit status. */
static inline int test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_checks - test_failures, test_failures);
    return test_failures ? 1 : 0;
}

#endif
