/* unit.h: a minimal test harness.  CHECK records a failure and goes on;
 * UNIT_MAIN runs the listed tests and prints "N passed, N failed". */
#ifndef MKV_UNIT_H
#define MKV_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            unit_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (strcmp(g_, w_) != 0) {                                                                 \
            fprintf(stderr, "  %s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_, w_);     \
            unit_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

struct unit_test {
    const char *name;
    void (*fn)(void);
};

static inline int unit_run(const char *suite, const struct unit_test *t, size_t n)
{
    int passed = 0, failed = 0;

    /* Line by line: a sanitizer that ends the process at exit must not
     * take the results still in stdio's buffer with it. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < n; i++) {
        int before = unit_failed_checks;
        t[i].fn();
        if (unit_failed_checks == before) {
            passed++;
            printf("PASS %s/%s\n", suite, t[i].name);
        } else {
            failed++;
            printf("FAIL %s/%s\n", suite, t[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define T(fn)                                                                                      \
    {                                                                                              \
#fn, fn                                                                                    \
    }
#define UNIT_MAIN(suite, ...)                                                                      \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct unit_test tests[] = {__VA_ARGS__};                                     \
        return unit_run(suite, tests, sizeof(tests) / sizeof(tests[0]));                           \
    }

#endif
