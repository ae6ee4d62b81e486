/* record.c: encode and decode index records (see record.h). */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "log.h"

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why && whylen) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int is_upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

int record_volpath_ok(const char *s, size_t n)
{
    size_t i = 0, j;

    if (n > 0 && s[0] == '[') { /* IPv6 literal */
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!is_upper_hex(s[i]) && !(s[i] >= 'a' && s[i] <= 'f') && s[i] != ':' && s[i] != '.')
                return 0;
        if (i == 1 || i == n)
            return 0;
        i++;
    } else {
        while (i < n && is_host_char(s[i]))
            i++;
        if (i == 0)
            return 0;
    }
    if (i < n && s[i] == ':') {
        unsigned long port = 0;

        for (j = ++i; i < n && s[i] >= '0' && s[i] <= '9' && i - j < 5; i++)
            port = port * 10 + (unsigned long)(s[i] - '0');
        if (i == j || port > 65535)
            return 0;
    }
    if (i == n)
        return 1;
    if (n - i < 5 || memcmp(s + i, "/sv", 3) != 0 || n - i > 3 + 8)
        return 0;
    for (i += 3; i < n; i++)
        if (!is_upper_hex(s[i]))
            return 0;
    return 1;
}

int record_decode_why(const char *buf, size_t len, struct mkv_record *rec, char *why, size_t whylen)
{
    const char *p = buf, *end = buf + len;

    memset(rec, 0, sizeof(*rec));
    if (why && whylen)
        why[0] = '\0';
    if (memchr(buf, '\0', len))
        return fail(why, whylen, "a NUL byte in the record");
    if (len >= 7 && !memcmp(p, "DELETED", 7)) {
        rec->deleted = 1;
        p += 7;
    }
    if (end - p >= 4 && !memcmp(p, "HASH", 4)) {
        if (end - p < 36 || !is_lower_hex(p + 4, 32))
            return fail(why, whylen, "HASH is not followed by 32 lowercase hex digits");
        memcpy(rec->hash, p + 4, 32);
        rec->hash[32] = '\0';
        p += 36;
    }
    /* The rest split on ','.  An empty rest is one empty volume name in the
     * original; it never writes one (placement and rebuild name at least one
     * volume), and no request could be served from it: refused like any
     * volume path outside the grammar. */
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t n = (size_t)(stop - p);

        if (rec->nvols == MKV_RECORD_VOLS)
            return fail(why, whylen, "more than %d volume paths", MKV_RECORD_VOLS);
        if (n >= MKV_VOLPATH_MAX)
            return fail(why, whylen, "volume path %d is longer than %d bytes", rec->nvols + 1,
                        MKV_VOLPATH_MAX - 1);
        if (n == 0)
            return fail(why, whylen, "volume path %d is empty", rec->nvols + 1);
        if (!record_volpath_ok(p, n))
            return fail(why, whylen, "volume path %d is not host[:port][/svXX]", rec->nvols + 1);
        memcpy(rec->vols[rec->nvols], p, n);
        rec->vols[rec->nvols][n] = '\0';
        rec->nvols++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int record_decode(const char *buf, size_t len, struct mkv_record *rec)
{
    return record_decode_why(buf, len, rec, NULL, 0);
}

int record_join_vols(const struct mkv_record *rec, char *out, size_t cap)
{
    size_t off = 0;

    if (cap == 0)
        return -1;
    out[0] = '\0';
    for (int i = 0; i < rec->nvols; i++) {
        int n = snprintf(out + off, cap - off, "%s%s", i ? "," : "", rec->vols[i]);
        if (n < 0 || (size_t)n >= cap - off)
            return -1;
        off += (size_t)n;
    }
    return (int)off;
}

int record_encode(const struct mkv_record *rec, char *out, size_t cap)
{
    int n =
        snprintf(out, cap, "%s%s%s", rec->deleted ? "DELETED" : "",
                 strlen(rec->hash) == 32 ? "HASH" : "", strlen(rec->hash) == 32 ? rec->hash : "");
    int m;

    if (n < 0 || (size_t)n >= cap)
        return -1;
    m = record_join_vols(rec, out + n, cap - (size_t)n);
    return m < 0 ? -1 : n + m;
}

void record_set_vols(struct mkv_record *rec, const struct mkv_placement *p)
{
    rec->nvols = p->n;
    for (int i = 0; i < p->n; i++)
        memcpy(rec->vols[i], p->vols[i], MKV_VOLPATH_MAX);
}

int record_lists_first(const struct mkv_record *rec, const struct mkv_placement *p)
{
    if (rec->nvols < p->n)
        return 0;
    for (int i = 0; i < p->n; i++)
        if (strcmp(rec->vols[i], p->vols[i]) != 0)
            return 0;
    return 1;
}

int record_matches(const struct mkv_record *rec, const struct mkv_placement *p)
{
    return rec->nvols == p->n && record_lists_first(rec, p);
}

void record_log_malformed(const char *key, size_t klen)
{
    char shown[3 * 200 + 1];

    if (escape_nonprint(key, klen < 200 ? klen : 200, shown, sizeof(shown)) < 0)
        shown[0] = '\0';
    log_error("malformed index record for key %s%s: not served (mkv-delete removes it)", shown,
              klen > 200 ? "..." : "");
}
