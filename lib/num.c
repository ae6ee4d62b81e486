/* num.c: the bounded decimal parser (see num.h). */
#include "num.h"

#include <limits.h>

/* Reads s, all digits, as a magnitude of at most limit (>= 9).  Returns 0,
 * MKV_NUM_SYNTAX, or MKV_NUM_RANGE.  The whole string is checked for junk
 * first: "99999999999999999999x" is junk, not out of range. */
static int magnitude(const char *s, unsigned long long limit, unsigned long long *out)
{
    unsigned long long v = 0;
    const char *p;

    if (*s == '\0')
        return MKV_NUM_SYNTAX;
    for (p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return MKV_NUM_SYNTAX;
    for (p = s; *p; p++) {
        unsigned d = (unsigned)(*p - '0');
        /* v * 10 + d > limit, written so that it cannot wrap. */
        if (v > (limit - d) / 10)
            return MKV_NUM_RANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int num_parse(const char *s, long long min, long long max, long long *out)
{
    unsigned long long m;
    int neg = *s == '-', rc;

    /* The largest magnitude either sign may have: -LLONG_MIN does not fit
     * a long long, so it is computed unsigned. */
    rc = magnitude(s + neg, neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX,
                   &m);
    if (rc < 0)
        return rc;
    if (neg) {
        /* m <= LLONG_MAX + 1: -(m - 1) - 1 is representable for every m >= 1. */
        long long v = m == 0 ? 0 : -(long long)(m - 1) - 1;
        if (v < min || v > max)
            return MKV_NUM_RANGE;
        *out = v;
    } else {
        if ((long long)m < min || (long long)m > max)
            return MKV_NUM_RANGE;
        *out = (long long)m;
    }
    return 0;
}

int num_parse_u(const char *s, unsigned long long min, unsigned long long max,
                unsigned long long *out)
{
    unsigned long long v;
    int rc = magnitude(s, ULLONG_MAX, &v);

    if (rc < 0)
        return rc;
    if (v < min || v > max)
        return MKV_NUM_RANGE;
    *out = v;
    return 0;
}
