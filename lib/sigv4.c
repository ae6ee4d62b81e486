/* sigv4.c: AWS Signature Version 4 (AWS4-HMAC-SHA256) for S3: credentials,
 * the header and presigned forms, chunk and trailer signatures, aws-chunked
 * bodies and the x-amz-checksum-* algorithms.  See sigv4.h. */
#include "sigv4.h"

#include "hex.h"
#include "num.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALGORITHM    "AWS4-HMAC-SHA256"
#define QUERY_MAX    16384 /* bytes of a raw query string */
#define QUERY_PARAMS 512
#define SIGNED_MAX   2048 /* bytes of a SignedHeaders list */
#define SIGNED_NAMES 64
#define CRED_MAX     320 /* bytes of a Credential value */
#define REGION_MAX   63
#define CREDLINE_MAX 1024
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_cred {
    char key[SIGV4_KEY_MAX + 1];
    char secret[SIGV4_KEY_MAX + 1];
};

struct sigv4_creds {
    size_t n;
    struct sigv4_cred *v;
};

__attribute__((format(printf, 3, 4))) static void set_why(char *why, size_t len, const char *fmt,
                                                          ...)
{
    va_list ap;

    if (!why || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* Exactly 64 lowercase hex digits: how signatures are written. */
static int is_sig_hex(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[i] == '\0';
}

static int hmac_sha256(const void *key, size_t klen, const void *msg, size_t n,
                       unsigned char out[32])
{
    unsigned int len = 0;

    if (!HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len) || len != 32)
        return -1;
    return 0;
}

static int md_update(EVP_MD_CTX *md, const char *s, size_t n)
{
    return EVP_DigestUpdate(md, s, n) == 1 ? 0 : -1;
}

static int md_puts(EVP_MD_CTX *md, const char *s)
{
    return md_update(md, s, strlen(s));
}

/* Copies n bytes and a NUL into dst[cap]; -1 when they do not fit. */
static int copy_bounded(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* ---- credentials ---- */

static int key_char(int c)
{
    /* Unreserved characters only: a key appears unescaped in Credential=
     * and percent-encoded in X-Amz-Credential, and must read the same. */
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Splits "KEY SECRET" (blanks around); 1 a pair, 0 blank or comment, -1 bad. */
static int parse_cred_line(char *line, struct sigv4_cred *out)
{
    char *p = line, *k, *s;
    size_t kn, sn;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    for (k = p; key_char((unsigned char)*p); p++)
        ;
    kn = (size_t)(p - k);
    if (kn == 0 || kn > SIGV4_KEY_MAX || (*p != ' ' && *p != '\t'))
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    for (s = p; *p > ' ' && *p < 0x7f; p++)
        ;
    sn = (size_t)(p - s);
    while (*p == ' ' || *p == '\t')
        p++;
    if (sn == 0 || sn > SIGV4_KEY_MAX || *p != '\0')
        return -1;
    memcpy(out->key, k, kn);
    out->key[kn] = '\0';
    memcpy(out->secret, s, sn);
    out->secret[sn] = '\0';
    return 1;
}

static const struct sigv4_cred *creds_find(const struct sigv4_creds *c, const char *key)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->v[i].key, key) == 0)
            return &c->v[i];
    return NULL;
}

static int creds_add(struct sigv4_creds *c, const struct sigv4_cred *e)
{
    struct sigv4_cred *v;

    /* Grown one by one into a fresh copy, so that no secret is left behind
     * in memory realloc gave back. */
    v = calloc(c->n + 1, sizeof(*v));
    if (!v)
        return -1;
    if (c->n) {
        memcpy(v, c->v, c->n * sizeof(*v));
        OPENSSL_cleanse(c->v, c->n * sizeof(*v));
    }
    free(c->v);
    v[c->n++] = *e;
    c->v = v;
    return 0;
}

/* Reads one line into buf; 1 a line, 0 the end, -1 too long. */
static int read_cred_line(FILE *f, char *buf, size_t cap)
{
    size_t n;

    if (!fgets(buf, (int)cap, f))
        return 0;
    n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (!feof(f))
        return -1;
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return 1;
}

int sigv4_creds_load(const char *path, struct sigv4_creds **out, char *why, size_t whylen)
{
    struct sigv4_creds *c = NULL;
    struct sigv4_cred e;
    char line[CREDLINE_MAX];
    FILE *f = NULL;
    int rc = -1, lineno = 0, got;

    *out = NULL;
    f = fopen(path, "r");
    if (!f) {
        set_why(why, whylen, "%s: cannot open: %s", path, strerror(errno));
        goto cleanup;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        set_why(why, whylen, "out of memory");
        goto cleanup;
    }
    while ((got = read_cred_line(f, line, sizeof(line))) != 0) {
        lineno++;
        if (got < 0) {
            set_why(why, whylen, "%s:%d: line too long", path, lineno);
            goto cleanup;
        }
        got = parse_cred_line(line, &e);
        if (got == 0)
            continue;
        if (got < 0) {
            /* The line is not quoted back: it may hold a secret. */
            set_why(why, whylen, "%s:%d: want ACCESS_KEY SECRET (key [A-Za-z0-9._~-], 1-%d bytes)",
                    path, lineno, SIGV4_KEY_MAX);
            goto cleanup;
        }
        if (creds_find(c, e.key)) {
            set_why(why, whylen, "%s:%d: access key %s listed twice", path, lineno, e.key);
            goto cleanup;
        }
        if (creds_add(c, &e) < 0) {
            set_why(why, whylen, "out of memory");
            goto cleanup;
        }
    }
    if (ferror(f)) {
        set_why(why, whylen, "%s: read error", path);
        goto cleanup;
    }
    if (c->n == 0) {
        set_why(why, whylen, "%s: no access keys", path);
        goto cleanup;
    }
    *out = c;
    c = NULL;
    rc = 0;
cleanup:
    OPENSSL_cleanse(line, sizeof(line));
    OPENSSL_cleanse(&e, sizeof(e));
    if (f)
        fclose(f);
    sigv4_creds_free(c);
    return rc;
}

void sigv4_creds_free(struct sigv4_creds *c)
{
    if (!c)
        return;
    if (c->v) {
        OPENSSL_cleanse(c->v, c->n * sizeof(*c->v));
        free(c->v);
    }
    free(c);
}

/* ---- dates ---- */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static long long days_from_civil(long long y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int civil_to_epoch(int y, int mo, int d, int h, int mi, int s, long long *t)
{
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || s < 0 || s > 59)
        return -1;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return 0;
}

/* "20261201T120000Z", exactly. */
static int parse_amz_date(const char *s, long long *t)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    return civil_to_epoch(digits(s, 4), digits(s + 4, 2), digits(s + 6, 2), digits(s + 9, 2),
                          digits(s + 11, 2), digits(s + 13, 2), t);
}

/* RFC 1123, "Tue, 01 Dec 2026 12:00:00 GMT" (or "+0000"/"-0000", as Python's
 * email.utils.formatdate writes it), into the x-amz-date form. */
static int parse_http_date(const char *s, char amz[17], long long *t)
{
    static const char *wdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    size_t len = strlen(s);
    int mo = 0, ok = 0;

    if ((len != 29 || strcmp(s + 26, "GMT") != 0) &&
        (len != 31 || (strcmp(s + 26, "+0000") != 0 && strcmp(s + 26, "-0000") != 0)))
        return -1;
    if (s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
        s[22] != ':' || s[25] != ' ')
        return -1;
    for (int i = 0; i < 7; i++)
        ok |= memcmp(s, wdays[i], 3) == 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months + 3 * i, 3) == 0)
            mo = i + 1;
    if (!ok || !mo)
        return -1;
    if (civil_to_epoch(digits(s + 12, 4), mo, digits(s + 5, 2), digits(s + 17, 2),
                       digits(s + 20, 2), digits(s + 23, 2), t) < 0)
        return -1;
    memcpy(amz, s + 12, 4);
    amz[4] = (char)('0' + mo / 10);
    amz[5] = (char)('0' + mo % 10);
    memcpy(amz + 6, s + 5, 2);
    amz[8] = 'T';
    memcpy(amz + 9, s + 17, 2);
    memcpy(amz + 11, s + 20, 2);
    memcpy(amz + 13, s + 23, 2);
    amz[15] = 'Z';
    amz[16] = '\0';
    return 0;
}

/* ---- the query string ---- */

struct qparam {
    const char *name, *value; /* decoded, NUL-terminated (may hold NULs) */
    size_t nlen, vlen;
    const char *ename, *evalue; /* AWS-encoded */
};

struct query {
    struct qparam *v;
    size_t n;
    char *store;
};

static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Percent-decodes src[n] into dst (room for n + 1); length or -1.  '+' is
 * a literal plus: S3 clients write a space as %20. */
static long pct_decode(const char *src, size_t n, char *dst)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (src[i] != '%') {
            dst[o++] = src[i];
            continue;
        }
        if (i + 2 >= n)
            return -1;
        int hi = hex_value(src[i + 1]), lo = hex_value(src[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        dst[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    dst[o] = '\0';
    return (long)o;
}

/* AWS's URI encoding: unreserved bytes kept, every other as %XX. */
static char *aws_encode(const char *src, size_t n, char *dst)
{
    static const char hexd[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (unreserved(c)) {
            *dst++ = (char)c;
        } else {
            *dst++ = '%';
            *dst++ = hexd[c >> 4];
            *dst++ = hexd[c & 15];
        }
    }
    *dst++ = '\0';
    return dst;
}

static void query_free(struct query *q)
{
    free(q->v);
    free(q->store);
    q->v = NULL;
    q->store = NULL;
    q->n = 0;
}

/* One name[=value] segment into q->v[q->n], its strings at *pos. */
static int query_add(struct query *q, const char *seg, size_t len, char **pos)
{
    const char *eq = memchr(seg, '=', len);
    size_t nraw = eq ? (size_t)(eq - seg) : len;
    const char *vraw = eq ? eq + 1 : seg + len;
    size_t vrawlen = eq ? len - nraw - 1 : 0;
    struct qparam *p = &q->v[q->n];
    long nl, vl;

    p->name = *pos;
    nl = pct_decode(seg, nraw, *pos);
    if (nl < 0)
        return -1;
    *pos += nl + 1;
    p->value = *pos;
    vl = pct_decode(vraw, vrawlen, *pos);
    if (vl < 0)
        return -1;
    *pos += vl + 1;
    p->nlen = (size_t)nl;
    p->vlen = (size_t)vl;
    p->ename = *pos;
    *pos = aws_encode(p->name, p->nlen, *pos);
    p->evalue = *pos;
    *pos = aws_encode(p->value, p->vlen, *pos);
    q->n++;
    return 0;
}

static int query_parse(const char *raw, struct query *q, char *why, size_t whylen)
{
    size_t len = raw ? strlen(raw) : 0, segs = 1;
    const char *s = raw, *end;
    char *pos;

    memset(q, 0, sizeof(*q));
    if (len == 0)
        return 0;
    end = raw + len;
    if (len > QUERY_MAX) {
        set_why(why, whylen, "query string longer than %d bytes", QUERY_MAX);
        return SIGV4_MALFORMED;
    }
    for (size_t i = 0; i < len; i++)
        segs += raw[i] == '&';
    if (segs > QUERY_PARAMS) {
        set_why(why, whylen, "more than %d query parameters", QUERY_PARAMS);
        return SIGV4_MALFORMED;
    }
    /* Decoded strings are no longer than the raw ones, encoded ones at most
     * three times the decoded: 4 bytes per raw byte and 4 NULs a segment. */
    q->v = calloc(segs, sizeof(*q->v));
    q->store = malloc(4 * len + 4 * segs);
    if (!q->v || !q->store) {
        set_why(why, whylen, "out of memory");
        query_free(q);
        return SIGV4_MALFORMED;
    }
    pos = q->store;
    while (s <= end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t seglen = amp ? (size_t)(amp - s) : (size_t)(end - s);
        /* An empty segment ("a=1&&b=2", a trailing '&') is no parameter. */
        if (seglen && query_add(q, s, seglen, &pos) < 0) {
            set_why(why, whylen, "bad percent-encoding in the query string");
            query_free(q);
            return SIGV4_MALFORMED;
        }
        s += seglen + 1;
    }
    return 0;
}

/* The only parameter of that (decoded) name: NULL absent, *dup set when
 * there are several. */
static const struct qparam *query_get(const struct query *q, const char *name, int *dup)
{
    const struct qparam *found = NULL;
    size_t n = strlen(name);

    for (size_t i = 0; i < q->n; i++) {
        if (q->v[i].nlen == n && memcmp(q->v[i].name, name, n) == 0) {
            if (found)
                *dup = 1;
            found = &q->v[i];
        }
    }
    return found;
}

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = *(const struct qparam *const *)a;
    const struct qparam *y = *(const struct qparam *const *)b;
    int c = strcmp(x->ename, y->ename);

    return c ? c : strcmp(x->evalue, y->evalue);
}

/* The canonical request goes to a hash and, when copy is set, into copy
 * as well (cut at cap - 1 bytes, NUL-terminated). */
struct canon {
    EVP_MD_CTX *md;
    char *copy;
    size_t len, cap;
};

static int canon_put(struct canon *c, const char *s, size_t n)
{
    if (c->copy && c->len + 1 < c->cap) {
        size_t k = n < c->cap - 1 - c->len ? n : c->cap - 1 - c->len;

        memcpy(c->copy + c->len, s, k);
        c->len += k;
        c->copy[c->len] = '\0';
    }
    return md_update(c->md, s, n);
}

static int canon_puts(struct canon *c, const char *s)
{
    return canon_put(c, s, strlen(s));
}

/* Sorted name=value pairs joined by '&', X-Amz-Signature left out when
 * presigned. */
static int hash_canonical_query(struct canon *c, const struct query *q, int presigned)
{
    const struct qparam **sorted;
    int rc = -1, first = 1;

    if (q->n == 0)
        return 0;
    sorted = malloc(q->n * sizeof(*sorted));
    if (!sorted)
        return -1;
    for (size_t i = 0; i < q->n; i++)
        sorted[i] = &q->v[i];
    qsort(sorted, q->n, sizeof(*sorted), qparam_cmp);
    for (size_t i = 0; i < q->n; i++) {
        if (presigned && strcmp(sorted[i]->ename, "X-Amz-Signature") == 0)
            continue;
        if ((!first && canon_puts(c, "&") < 0) || canon_puts(c, sorted[i]->ename) < 0 ||
            canon_puts(c, "=") < 0 || canon_puts(c, sorted[i]->evalue) < 0)
            goto cleanup;
        first = 0;
    }
    rc = 0;
cleanup:
    free(sorted);
    return rc;
}

/* ---- the parts of an authorization ---- */

struct parsed {
    int presigned;
    char key[SIGV4_KEY_MAX + 1];
    char date[9];
    char region[REGION_MAX + 1];
    char scope[160];
    char signed_headers[SIGNED_MAX + 1];
    char sig[65];
    char amz_date[17];
    long long t;
    long long expires;
    char payload[65];
    int other_day; /* the credential's date is not the request's (told after the signature) */
    int bad_sig;   /* the signature is not 64 lowercase hex (told once the key is known, as S3
                      answers an unknown key first) */
};

static int is_region_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* "AK/20261201/us-east-1/s3/aws4_request" */
static int parse_credential(const char *s, struct parsed *p, char *why, size_t whylen)
{
    const char *part[5];
    size_t plen[5], n = 0;
    const char *q = s;

    for (;;) {
        const char *slash = strchr(q, '/');
        if (n == 5)
            goto bad;
        part[n] = q;
        plen[n++] = slash ? (size_t)(slash - q) : strlen(q);
        if (!slash)
            break;
        q = slash + 1;
    }
    if (n != 5 || plen[0] == 0 || copy_bounded(p->key, sizeof(p->key), part[0], plen[0]) < 0)
        goto bad;
    if (plen[1] != 8 || digits(part[1], 8) < 0)
        goto bad;
    memcpy(p->date, part[1], 8);
    p->date[8] = '\0';
    if (plen[2] == 0 || copy_bounded(p->region, sizeof(p->region), part[2], plen[2]) < 0)
        goto bad;
    for (size_t i = 0; i < plen[2]; i++)
        if (!is_region_char((unsigned char)part[2][i]))
            goto bad;
    if (plen[3] != 2 || memcmp(part[3], "s3", 2) != 0) {
        set_why(why, whylen, "the credential's service must be s3");
        return SIGV4_MALFORMED;
    }
    if (plen[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0) {
        set_why(why, whylen, "the credential must end in aws4_request");
        return SIGV4_MALFORMED;
    }
    snprintf(p->scope, sizeof(p->scope), "%s/%s/s3/aws4_request", p->date, p->region);
    return 0;
bad:
    set_why(why, whylen, "the credential is not ACCESS_KEY/YYYYMMDD/REGION/s3/aws4_request");
    return SIGV4_MALFORMED;
}

static int header_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* Lowercase names joined by ';', in strictly ascending order, host among
 * them. */
static int parse_signed_headers(const char *s, struct parsed *p, char *why, size_t whylen)
{
    const char *prev = NULL, *q = s;
    size_t prevlen = 0, count = 0;
    int host = 0;

    if (copy_bounded(p->signed_headers, sizeof(p->signed_headers), s, strlen(s)) < 0) {
        set_why(why, whylen, "SignedHeaders longer than %d bytes", SIGNED_MAX);
        return SIGV4_MALFORMED;
    }
    for (;;) {
        size_t n = 0;
        while (header_name_char((unsigned char)q[n]))
            n++;
        if (n == 0 || (q[n] != ';' && q[n] != '\0') || ++count > SIGNED_NAMES) {
            set_why(why, whylen, "SignedHeaders is not lowercase names separated by ';'");
            return SIGV4_MALFORMED;
        }
        if (prev) {
            int c = memcmp(prev, q, prevlen < n ? prevlen : n);
            if (c > 0 || (c == 0 && prevlen >= n)) {
                set_why(why, whylen, "SignedHeaders is not sorted, or lists a name twice");
                return SIGV4_MALFORMED;
            }
        }
        host |= n == 4 && memcmp(q, "host", 4) == 0;
        prev = q;
        prevlen = n;
        if (q[n] == '\0')
            break;
        q += n + 1;
    }
    if (!host) {
        set_why(why, whylen, "the host header must be signed");
        return SIGV4_MALFORMED;
    }
    return 0;
}

/* Keeps the signature, or notes that it cannot be one (see bad_sig). */
static void note_signature(const char *s, struct parsed *p)
{
    p->bad_sig = !is_sig_hex(s);
    if (!p->bad_sig)
        memcpy(p->sig, s, 65);
}

/* "Key=Value" of the Authorization header, into the field it names. */
static int auth_field(const char *f, size_t n, struct parsed *p, unsigned *seen, char *why,
                      size_t whylen)
{
    static const char *names[] = {"Credential", "SignedHeaders", "Signature"};
    const char *eq = memchr(f, '=', n);
    char value[SIGNED_MAX + 2];
    size_t i, klen = eq ? (size_t)(eq - f) : 0;

    for (i = 0; eq && i < 3; i++)
        if (strlen(names[i]) == klen && memcmp(f, names[i], klen) == 0)
            break;
    if (!eq || i == 3) {
        set_why(why, whylen,
                "the Authorization header has a part other than Credential=, "
                "SignedHeaders= and Signature=");
        return SIGV4_MALFORMED;
    }
    if (*seen & (1u << i)) {
        set_why(why, whylen, "the Authorization header has %s twice", names[i]);
        return SIGV4_MALFORMED;
    }
    *seen |= 1u << i;
    if (copy_bounded(value, i == 0 ? CRED_MAX : sizeof(value), eq + 1, n - klen - 1) < 0) {
        set_why(why, whylen, "%s is too long", names[i]);
        return SIGV4_MALFORMED;
    }
    if (strpbrk(value, " \t")) {
        set_why(why, whylen, "%s has a blank in it", names[i]);
        return SIGV4_MALFORMED;
    }
    if (i == 0)
        return parse_credential(value, p, why, whylen);
    if (i == 1)
        return parse_signed_headers(value, p, why, whylen);
    note_signature(value, p);
    return 0;
}

static int parse_auth_header(const char *h, struct parsed *p, char *why, size_t whylen)
{
    const char *s;
    unsigned seen = 0;
    int rc;

    if (strncmp(h, "AWS ", 4) == 0) {
        set_why(why, whylen, "AWS signature version 2 is not supported; use AWS4-HMAC-SHA256");
        return SIGV4_UNSUPPORTED;
    }
    if (strncmp(h, ALGORITHM, strlen(ALGORITHM)) != 0 ||
        (h[strlen(ALGORITHM)] != ' ' && h[strlen(ALGORITHM)] != '\0')) {
        set_why(why, whylen, "unsupported authorization type; use AWS4-HMAC-SHA256");
        return SIGV4_UNSUPPORTED;
    }
    s = h + strlen(ALGORITHM);
    while (*s == ' ')
        s++;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 0 || s[n - 1] == ' ') {
            set_why(why, whylen, "the Authorization header has an empty part or a stray blank");
            return SIGV4_MALFORMED;
        }
        rc = auth_field(s, n, p, &seen, why, whylen);
        if (rc < 0)
            return rc;
        s += n;
        if (*s == ',') {
            s++;
            while (*s == ' ')
                s++;
            if (*s == '\0') {
                set_why(why, whylen, "the Authorization header ends in a comma");
                return SIGV4_MALFORMED;
            }
        }
    }
    if (seen != 7) {
        set_why(why, whylen, "the Authorization header lacks %s",
                !(seen & 1)   ? "Credential="
                : !(seen & 2) ? "SignedHeaders="
                              : "Signature=");
        return SIGV4_MALFORMED;
    }
    return 0;
}

/* A 64-hex hash or one of the named payload forms. */
static int parse_payload(const char *v, int *mode, unsigned char sha[32], char *why, size_t whylen)
{
    static const struct {
        const char *name;
        int mode;
    } forms[] = {
        {"UNSIGNED-PAYLOAD", SIGV4_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", SIGV4_PAYLOAD_STREAMING},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER", SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", SIGV4_PAYLOAD_STREAMING_TRAILER},
    };

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        if (strcmp(v, forms[i].name) == 0) {
            *mode = forms[i].mode;
            return 0;
        }
    }
    if (strncmp(v, "STREAMING-", 10) == 0) {
        set_why(why, whylen, "unsupported x-amz-content-sha256 payload form");
        return SIGV4_UNSUPPORTED;
    }
    if (strlen(v) != 64)
        goto bad;
    for (int i = 0; i < 32; i++) {
        int hi = hex_value(v[2 * i]), lo = hex_value(v[2 * i + 1]);
        if (hi < 0 || lo < 0)
            goto bad;
        sha[i] = (unsigned char)(hi << 4 | lo);
    }
    *mode = SIGV4_PAYLOAD_SHA256;
    return 0;
bad:
    set_why(why, whylen,
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD "
            "or a valid sha256 value.");
    return SIGV4_BADHASH;
}

/* The header form's date: x-amz-date, else Date. */
static int header_date(const struct sigv4_req *r, struct parsed *p, char *why, size_t whylen)
{
    const char *v = r->header(r->harg, "x-amz-date");

    /* S3's answer to all three: 403 AccessDenied, "AWS authentication
     * requires a valid Date or x-amz-date header". */
    if (v) {
        if (parse_amz_date(v, &p->t) < 0) {
            set_why(why, whylen, "x-amz-date is not YYYYMMDDTHHMMSSZ");
            return SIGV4_BADDATE;
        }
        memcpy(p->amz_date, v, 17);
        return 0;
    }
    v = r->header(r->harg, "date");
    if (!v) {
        set_why(why, whylen, "the request has neither x-amz-date nor Date");
        return SIGV4_BADDATE;
    }
    if (parse_http_date(v, p->amz_date, &p->t) < 0) {
        set_why(why, whylen, "Date is not an RFC 1123 date");
        return SIGV4_BADDATE;
    }
    return 0;
}

/* A presigned URL's X-Amz-* parameter, decoded, as a string. */
static int query_string_param(const struct query *q, const char *name, char *out, size_t cap,
                              char *why, size_t whylen)
{
    int dup = 0;
    const struct qparam *p = query_get(q, name, &dup);

    if (!p || dup || memchr(p->value, '\0', p->vlen) ||
        copy_bounded(out, cap, p->value, p->vlen) < 0) {
        set_why(why, whylen, "%s is %s", name,
                !p    ? "missing"
                : dup ? "given twice"
                      : "too long or holds a NUL");
        return SIGV4_MALFORMED;
    }
    return 0;
}

static int parse_presigned(const struct query *q, struct parsed *p, char *why, size_t whylen)
{
    char v[SIGNED_MAX + 1];
    int rc;

    p->presigned = 1;
    if ((rc = query_string_param(q, "X-Amz-Algorithm", v, sizeof(v), why, whylen)) < 0)
        return rc;
    if (strcmp(v, ALGORITHM) != 0) {
        set_why(why, whylen, "X-Amz-Algorithm must be AWS4-HMAC-SHA256");
        return SIGV4_UNSUPPORTED;
    }
    if ((rc = query_string_param(q, "X-Amz-Credential", v, CRED_MAX, why, whylen)) < 0 ||
        (rc = parse_credential(v, p, why, whylen)) < 0)
        return rc;
    if ((rc = query_string_param(q, "X-Amz-SignedHeaders", v, sizeof(v), why, whylen)) < 0 ||
        (rc = parse_signed_headers(v, p, why, whylen)) < 0)
        return rc;
    if ((rc = query_string_param(q, "X-Amz-Signature", v, 66, why, whylen)) < 0)
        return rc;
    note_signature(v, p);
    if ((rc = query_string_param(q, "X-Amz-Date", v, 17, why, whylen)) < 0)
        return rc;
    if (parse_amz_date(v, &p->t) < 0) {
        set_why(why, whylen, "X-Amz-Date is not YYYYMMDDTHHMMSSZ");
        return SIGV4_MALFORMED;
    }
    memcpy(p->amz_date, v, 17);
    if ((rc = query_string_param(q, "X-Amz-Expires", v, 16, why, whylen)) < 0)
        return rc;
    if (num_parse(v, 1, 604800, &p->expires) != 0) {
        set_why(why, whylen, "X-Amz-Expires must be a number of seconds from 1 to 604800");
        return SIGV4_MALFORMED;
    }
    return 0;
}

/* An x-amz-content-sha256 header beside a presigned URL (which signs
 * UNSIGNED-PAYLOAD): the body is checked against it, as S3 checks it. */
static int presigned_body_hash(const struct sigv4_req *r, int *mode, unsigned char sha[32],
                               char *why, size_t whylen)
{
    const char *h = r->header(r->harg, "x-amz-content-sha256");
    int m = 0, rc;

    if (!h || *mode != SIGV4_PAYLOAD_UNSIGNED || !strcmp(h, "UNSIGNED-PAYLOAD"))
        return 0;
    if ((rc = parse_payload(h, &m, sha, why, whylen)) < 0)
        return rc == SIGV4_MALFORMED ? SIGV4_BADHASH : rc;
    if (m != SIGV4_PAYLOAD_SHA256) {
        set_why(why, whylen,
                "a presigned URL's body is sent whole: x-amz-content-sha256 is a hash");
        return SIGV4_BADHASH;
    }
    *mode = m;
    return 0;
}

/* The form, the parts and the payload hash, before any secret is used. */
static int parse_request(const struct sigv4_req *r, const struct query *q, struct parsed *p,
                         int *mode, unsigned char sha[32], char *why, size_t whylen)
{
    const char *auth = r->header(r->harg, "authorization"), *payload;
    int dup = 0, rc;
    char v[80];

    if (auth && !*auth)
        auth = NULL; /* "Authorization:" with nothing: anonymous, as S3 takes it */

    if (auth && query_get(q, "X-Amz-Algorithm", &dup)) {
        set_why(why, whylen, "only one auth mechanism allowed: Authorization or X-Amz-Algorithm");
        return SIGV4_MALFORMED;
    }
    if (auth) {
        if ((rc = parse_auth_header(auth, p, why, whylen)) < 0 ||
            (rc = header_date(r, p, why, whylen)) < 0)
            return rc;
        payload = r->header(r->harg, "x-amz-content-sha256");
        if (!payload) {
            set_why(why, whylen, "Missing required header for this request: x-amz-content-sha256");
            return SIGV4_UNSUPPORTED;
        }
    } else if (query_get(q, "X-Amz-Algorithm", &dup)) {
        if ((rc = parse_presigned(q, p, why, whylen)) < 0)
            return rc;
        /* A presigned URL signs no payload, unless it names one. */
        payload = "UNSIGNED-PAYLOAD";
        if (query_get(q, "X-Amz-Content-Sha256", &dup)) {
            if ((rc = query_string_param(q, "X-Amz-Content-Sha256", v, sizeof(v), why, whylen)) < 0)
                return rc;
            payload = v;
        }
    } else if (query_get(q, "AWSAccessKeyId", &dup) && query_get(q, "Signature", &dup)) {
        set_why(why, whylen, "AWS signature version 2 is not supported; use AWS4-HMAC-SHA256");
        return SIGV4_UNSUPPORTED;
    } else {
        set_why(why, whylen, "the request is not signed");
        return SIGV4_MISSING;
    }
    /* A date changed after signing fails the signature: that is said
     * first (sigv4_verify). */
    p->other_day = strncmp(p->amz_date, p->date, 8) != 0;
    if ((rc = parse_payload(payload, mode, sha, why, whylen)) < 0)
        return rc;
    if (copy_bounded(p->payload, sizeof(p->payload), payload, strlen(payload)) < 0)
        return SIGV4_MALFORMED; /* parse_payload allows nothing longer */
    if (p->presigned)
        return presigned_body_hash(r, mode, sha, why, whylen);
    return 0;
}

/* ---- the canonical request and the signature ---- */

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The value trimmed, inner runs of blanks as one space. */
static int hash_header_value(struct canon *c, const char *v)
{
    const char *s = v;

    while (is_blank((unsigned char)*s))
        s++;
    while (*s) {
        size_t n = 0;
        while (s[n] && !is_blank((unsigned char)s[n]))
            n++;
        if (canon_put(c, s, n) < 0)
            return -1;
        s += n;
        while (is_blank((unsigned char)*s))
            s++;
        if (*s && canon_puts(c, " ") < 0)
            return -1;
    }
    return 0;
}

static int hash_canonical_headers(struct canon *c, const struct sigv4_req *r,
                                  const struct parsed *p, char *why, size_t whylen)
{
    char name[SIGNED_MAX + 1];
    const char *s = p->signed_headers;

    while (*s) {
        size_t n = strcspn(s, ";");
        const char *v;
        memcpy(name, s, n);
        name[n] = '\0';
        v = r->header(r->harg, name);
        if (!v) {
            set_why(why, whylen, "signed header %s is not in the request", name);
            return SIGV4_MISMATCH;
        }
        if (canon_puts(c, name) < 0 || canon_puts(c, ":") < 0 || hash_header_value(c, v) < 0 ||
            canon_puts(c, "\n") < 0)
            return SIGV4_MALFORMED;
        s += n + (s[n] == ';');
    }
    return 0;
}

/* The canonical request's SHA-256 into out; with copy (explaining a
 * mismatch) its text too, cut at cap - 1 bytes. */
static int hash_canonical_request(const struct sigv4_req *r, const struct query *q,
                                  const struct parsed *p, unsigned char out[32], char *copy,
                                  size_t cap, char *why, size_t whylen)
{
    struct canon c = {.md = EVP_MD_CTX_new(), .copy = copy, .cap = cap};
    unsigned int len = 0;
    int rc = SIGV4_MALFORMED;

    set_why(why, whylen, "out of memory");
    if (copy && cap)
        copy[0] = '\0';
    if (!c.md || EVP_DigestInit_ex(c.md, EVP_sha256(), NULL) != 1)
        goto cleanup;
    /* S3's canonical URI is the path exactly as sent: no normalisation and
     * no second encoding. */
    if (canon_puts(&c, r->method) < 0 || canon_puts(&c, "\n") < 0 || canon_puts(&c, r->path) < 0 ||
        canon_puts(&c, "\n") < 0 || hash_canonical_query(&c, q, p->presigned) < 0 ||
        canon_puts(&c, "\n") < 0)
        goto cleanup;
    if ((rc = hash_canonical_headers(&c, r, p, why, whylen)) < 0)
        goto cleanup;
    rc = SIGV4_MALFORMED;
    if (canon_puts(&c, "\n") < 0 || canon_puts(&c, p->signed_headers) < 0 ||
        canon_puts(&c, "\n") < 0 || canon_puts(&c, p->payload) < 0 ||
        EVP_DigestFinal_ex(c.md, out, &len) != 1 || len != 32)
        goto cleanup;
    rc = 0;
cleanup:
    EVP_MD_CTX_free(c.md);
    return rc;
}

/* HMAC chain "AWS4"+secret -> date -> region -> "s3" -> "aws4_request". */
static int signing_key(const char *secret, const struct parsed *p, unsigned char key[32])
{
    char k0[4 + SIGV4_KEY_MAX + 1];
    size_t n = strlen(secret);
    int rc = -1;

    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, n);
    if (hmac_sha256(k0, 4 + n, p->date, 8, key) < 0 ||
        hmac_sha256(key, 32, p->region, strlen(p->region), key) < 0 ||
        hmac_sha256(key, 32, "s3", 2, key) < 0 || hmac_sha256(key, 32, "aws4_request", 12, key) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    OPENSSL_cleanse(k0, sizeof(k0));
    return rc;
}

/* "<algorithm>\n<date>\n<scope>\n<rest>" into sts[cap]: its length, or -1
 * when it does not fit. */
static int string_to_sign(char *sts, size_t cap, const char *algorithm, const char *date,
                          const char *scope, const char *rest)
{
    int n = snprintf(sts, cap, "%s\n%s\n%s\n%s", algorithm, date, scope, rest);

    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* hex(HMAC(key, string to sign)) == sig, in constant time. */
static int sig_matches(const unsigned char key[32], const char *algorithm, const char *date,
                       const char *scope, const char *rest, const char *sig)
{
    char sts[SIGV4_STS_MAX], hex[65];
    unsigned char mac[32];
    int n = string_to_sign(sts, sizeof(sts), algorithm, date, scope, rest);

    if (n < 0 || hmac_sha256(key, 32, sts, (size_t)n, mac) < 0)
        return 0;
    hex_encode(mac, 32, hex);
    return CRYPTO_memcmp(hex, sig, 64) == 0;
}

/* What the server signed, for the client to compare (r->explain). */
static void explain(const struct sigv4_req *r, const struct query *q, const struct parsed *p,
                    const char *crhex)
{
    struct sigv4_explain *e = r->explain;
    unsigned char crhash[32];
    char why[64];

    memcpy(e->access_key, p->key, sizeof(e->access_key));
    memcpy(e->signature, p->sig, sizeof(e->signature));
    if (string_to_sign(e->string_to_sign, sizeof(e->string_to_sign), ALGORITHM, p->amz_date,
                       p->scope, crhex) < 0)
        e->string_to_sign[0] = '\0';
    /* Again, keeping the text this time: only a failed request pays. */
    if (hash_canonical_request(r, q, p, crhash, e->canonical, sizeof(e->canonical), why,
                               sizeof(why)) < 0)
        e->canonical[0] = '\0';
}

static int check_time(const struct sigv4_req *r, const struct parsed *p, char *why, size_t whylen)
{
    if (!p->presigned && (r->now - p->t > SIGV4_MAX_SKEW || p->t - r->now > SIGV4_MAX_SKEW)) {
        set_why(why, whylen,
                "the difference between the request time and the server's time is "
                "too large");
        return SIGV4_SKEW;
    }
    if (p->presigned && p->t - r->now > SIGV4_MAX_SKEW) {
        set_why(why, whylen, "X-Amz-Date is in the future");
        return SIGV4_SKEW;
    }
    if (p->presigned && r->now > p->t + p->expires) {
        set_why(why, whylen, "Request has expired");
        return SIGV4_EXPIRED;
    }
    return 0;
}

/* name is one of the SignedHeaders. */
static int is_signed(const struct parsed *p, const char *name)
{
    size_t n = strlen(name);

    for (const char *s = p->signed_headers; *s;) {
        size_t len = strcspn(s, ";");

        if (len == n && memcmp(s, name, n) == 0)
            return 1;
        s += len + (s[len] == ';');
    }
    return 0;
}

/* S3 wants every x-amz-* header of the header form signed: one that is not
 * could have been added on the way.  0, or SIGV4_UNSIGNED with their names
 * in why. */
static int all_signed(const struct sigv4_req *r, const struct parsed *p, char *why, size_t whylen)
{
    char name[128];
    size_t o = 0, pos = 0;

    why[0] = '\0';
    while (r->amz_header(r->harg, &pos, name, sizeof(name)) == 1) {
        if (is_signed(p, name))
            continue;
        if (o + strlen(name) + 2 < whylen)
            o += (size_t)snprintf(why + o, whylen - o, "%s%s", o ? "," : "", name);
    }
    return o ? SIGV4_UNSIGNED : 0;
}

static void fill_auth(struct sigv4_auth *a, const struct parsed *p, int mode,
                      const unsigned char sha[32], const unsigned char key[32])
{
    memset(a, 0, sizeof(*a));
    memcpy(a->access_key, p->key, sizeof(a->access_key));
    a->payload = mode;
    if (mode == SIGV4_PAYLOAD_SHA256)
        memcpy(a->payload_sha256, sha, 32);
    a->presigned = p->presigned;
    memcpy(a->signing_key, key, 32);
    memcpy(a->amz_date, p->amz_date, sizeof(a->amz_date));
    memcpy(a->scope, p->scope, sizeof(a->scope));
    memcpy(a->prev_sig, p->sig, sizeof(a->prev_sig));
}

static int sane_request(const struct sigv4_req *r, char *why, size_t whylen)
{
    size_t n = r->method ? strlen(r->method) : 0;

    if (n == 0 || n > 32 || strspn(r->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n || !r->path ||
        r->path[0] != '/' || !r->header) {
        set_why(why, whylen, "the request has no method or no path");
        return SIGV4_MALFORMED;
    }
    return 0;
}

int sigv4_verify(const struct sigv4_creds *c, const struct sigv4_req *r, struct sigv4_auth *a,
                 char *why, size_t whylen)
{
    struct query q = {0};
    struct parsed p;
    const struct sigv4_cred *cred;
    unsigned char sha[32] = {0}, crhash[32], key[32];
    char crhex[65];
    int rc, mode = 0;

    memset(&p, 0, sizeof(p));
    if ((rc = sane_request(r, why, whylen)) < 0 ||
        (rc = query_parse(r->query, &q, why, whylen)) < 0 ||
        (rc = parse_request(r, &q, &p, &mode, sha, why, whylen)) < 0)
        goto cleanup;
    /* Before the key: S3 tells any client its region, so that it signs again for it. */
    if (r->region && strcmp(p.region, r->region) != 0) {
        set_why(why, whylen, "%s; the region '%s' is wrong; expecting '%.*s'",
                p.presigned ? "Error parsing the X-Amz-Credential parameter"
                            : "The authorization header is malformed",
                p.region, REGION_MAX, r->region);
        rc = SIGV4_REGION;
        goto cleanup;
    }
    cred = creds_find(c, p.key);
    if (!cred) {
        set_why(why, whylen, "The AWS Access Key Id you provided does not exist in our records.");
        rc = SIGV4_UNKNOWN_KEY;
        goto cleanup;
    }
    if (p.bad_sig) {
        set_why(why, whylen, "the signature is not 64 lowercase hex digits");
        rc = SIGV4_MALFORMED;
        goto cleanup;
    }
    if ((rc = hash_canonical_request(r, &q, &p, crhash, NULL, 0, why, whylen)) < 0)
        goto cleanup;
    rc = SIGV4_MALFORMED;
    set_why(why, whylen, "out of memory");
    if (signing_key(cred->secret, &p, key) < 0)
        goto cleanup;
    hex_encode(crhash, 32, crhex);
    if (!sig_matches(key, ALGORITHM, p.amz_date, p.scope, crhex, p.sig)) {
        if (r->explain)
            explain(r, &q, &p, crhex);
        set_why(why, whylen,
                "The request signature we calculated does not match the signature "
                "you provided. Check your key and signing method.");
        rc = SIGV4_MISMATCH;
        goto cleanup;
    }
    if (!p.presigned && r->amz_header && (rc = all_signed(r, &p, why, whylen)) < 0)
        goto cleanup;
    if (p.other_day) {
        set_why(why, whylen, "the credential's date is not the day of the request's date");
        rc = SIGV4_MALFORMED;
        goto cleanup;
    }
    /* After the signature: only an authentic request learns about the clock. */
    if ((rc = check_time(r, &p, why, whylen)) < 0)
        goto cleanup;
    fill_auth(a, &p, mode, sha, key);
    set_why(why, whylen, "ok");
    rc = 0;
cleanup:
    OPENSSL_cleanse(key, sizeof(key));
    query_free(&q);
    return rc;
}

int sigv4_chunk_check(struct sigv4_auth *a, const char *sig_hex, const unsigned char sha256[32])
{
    char rest[64 + 1 + 64 + 1 + 64 + 1], hex[65];

    if (!is_sig_hex(sig_hex))
        return SIGV4_MISMATCH;
    hex_encode(sha256, 32, hex);
    snprintf(rest, sizeof(rest), "%s\n%s\n%s", a->prev_sig, EMPTY_SHA256, hex);
    if (!sig_matches(a->signing_key, ALGORITHM "-PAYLOAD", a->amz_date, a->scope, rest, sig_hex))
        return SIGV4_MISMATCH;
    memcpy(a->prev_sig, sig_hex, 65);
    return 0;
}

int sigv4_trailer_check(struct sigv4_auth *a, const char *sig_hex, const unsigned char sha256[32])
{
    char rest[64 + 1 + 64 + 1], hex[65];

    if (!is_sig_hex(sig_hex))
        return SIGV4_MISMATCH;
    hex_encode(sha256, 32, hex);
    snprintf(rest, sizeof(rest), "%s\n%s", a->prev_sig, hex);
    if (!sig_matches(a->signing_key, ALGORITHM "-TRAILER", a->amz_date, a->scope, rest, sig_hex))
        return SIGV4_MISMATCH;
    memcpy(a->prev_sig, sig_hex, 65);
    return 0;
}

/* ---- checksums ---- */

static uint32_t crc32_table[256], crc32c_table[256];
static uint64_t crc64_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Reflected polynomials: CRC-32 (IEEE), CRC-32C (Castagnoli), CRC-64/NVME. */
static void crc_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t a = i, b = i;
        uint64_t c = i;
        for (int k = 0; k < 8; k++) {
            a = a & 1 ? (a >> 1) ^ 0xEDB88320u : a >> 1;
            b = b & 1 ? (b >> 1) ^ 0x82F63B78u : b >> 1;
            c = c & 1 ? (c >> 1) ^ 0x9A6C9329AC4BC9B5ull : c >> 1;
        }
        crc32_table[i] = a;
        crc32c_table[i] = b;
        crc64_table[i] = c;
    }
}

int sigv4_sum_init(struct sigv4_sum *s, const char *name)
{
    static const struct {
        const char *name;
        int alg;
    } algs[] = {
        {"x-amz-checksum-crc32", SIGV4_SUM_CRC32},
        {"x-amz-checksum-crc32c", SIGV4_SUM_CRC32C},
        {"x-amz-checksum-crc64nvme", SIGV4_SUM_CRC64NVME},
        {"x-amz-checksum-sha1", SIGV4_SUM_SHA1},
        {"x-amz-checksum-sha256", SIGV4_SUM_SHA256},
    };

    memset(s, 0, sizeof(*s));
    pthread_once(&crc_once, crc_tables);
    for (size_t i = 0; name && i < sizeof(algs) / sizeof(algs[0]); i++)
        if (strcasecmp(name, algs[i].name) == 0)
            s->alg = algs[i].alg;
    if (!s->alg)
        return -1;
    s->crc = s->alg == SIGV4_SUM_CRC64NVME ? ~0ull : 0xFFFFFFFFu;
    if (s->alg == SIGV4_SUM_SHA1 || s->alg == SIGV4_SUM_SHA256) {
        s->md = EVP_MD_CTX_new();
        if (!s->md || EVP_DigestInit_ex(s->md, s->alg == SIGV4_SUM_SHA1 ? EVP_sha1() : EVP_sha256(),
                                        NULL) != 1) {
            sigv4_sum_free(s);
            return -1;
        }
    }
    return 0;
}

void sigv4_sum_update(struct sigv4_sum *s, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t c = s->crc;

    switch (s->alg) {
    case SIGV4_SUM_CRC32:
        for (size_t i = 0; i < n; i++)
            c = (c >> 8) ^ crc32_table[(c ^ b[i]) & 0xFF];
        break;
    case SIGV4_SUM_CRC32C:
        for (size_t i = 0; i < n; i++)
            c = (c >> 8) ^ crc32c_table[(c ^ b[i]) & 0xFF];
        break;
    case SIGV4_SUM_CRC64NVME:
        for (size_t i = 0; i < n; i++)
            c = (c >> 8) ^ crc64_table[(c ^ b[i]) & 0xFF];
        break;
    case SIGV4_SUM_SHA1:
    case SIGV4_SUM_SHA256:
        if (s->md && EVP_DigestUpdate(s->md, p, n) != 1)
            sigv4_sum_free(s); /* a sum that can never match */
        break;
    default: break;
    }
    s->crc = c;
}

/* The bytes of an algorithm's checksum. */
static size_t sum_bytes(int alg)
{
    switch (alg) {
    case SIGV4_SUM_CRC32:
    case SIGV4_SUM_CRC32C: return 4;
    case SIGV4_SUM_CRC64NVME: return 8;
    case SIGV4_SUM_SHA1: return 20;
    case SIGV4_SUM_SHA256: return 32;
    default: return 0;
    }
}

int sigv4_sum_form_ok(const struct sigv4_sum *s, const char *b64)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t want = 4 * ((sum_bytes(s->alg) + 2) / 3), data = strspn(b64, alphabet);

    return want && strlen(b64) == want && data + 2 >= want &&
           strspn(b64 + data, "=") == want - data;
}

int sigv4_sum_final(struct sigv4_sum *s, char *b64, size_t cap)
{
    unsigned char raw[32];
    unsigned int n = 0;
    int rc = -1;

    if (s->alg == SIGV4_SUM_CRC32 || s->alg == SIGV4_SUM_CRC32C) {
        uint32_t v = (uint32_t)s->crc ^ 0xFFFFFFFFu;
        for (n = 0; n < 4; n++)
            raw[n] = (unsigned char)(v >> (24 - 8 * n));
    } else if (s->alg == SIGV4_SUM_CRC64NVME) {
        uint64_t v = s->crc ^ ~0ull;
        for (n = 0; n < 8; n++)
            raw[n] = (unsigned char)(v >> (56 - 8 * n));
    } else if (!s->md || EVP_DigestFinal_ex(s->md, raw, &n) != 1) {
        goto cleanup;
    }
    if (cap < 4 * ((n + 2) / 3) + 1)
        goto cleanup;
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
    rc = 0;
cleanup:
    sigv4_sum_free(s);
    return rc;
}

int sigv4_sum_matches(struct sigv4_sum *s, const char *b64_value)
{
    char mine[64];

    if (sigv4_sum_final(s, mine, sizeof(mine)) < 0 || !b64_value)
        return 0;
    return strcmp(mine, b64_value) == 0;
}

void sigv4_sum_free(struct sigv4_sum *s)
{
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
    s->alg = 0;
}

/* ---- aws-chunked bodies ---- */

enum { ST_SIZE, ST_DATA, ST_DATA_END, ST_TRAILER, ST_END, ST_DONE, ST_FAIL };

static int signed_mode(int mode)
{
    return mode == SIGV4_PAYLOAD_STREAMING || mode == SIGV4_PAYLOAD_STREAMING_TRAILER;
}

static int trailer_mode(int mode)
{
    return mode == SIGV4_PAYLOAD_STREAMING_TRAILER ||
           mode == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
}

void sigv4_chunked_free(struct sigv4_chunked *d)
{
    EVP_MD_CTX_free(d->chunk_md);
    EVP_MD_CTX_free(d->trailer_md);
    d->chunk_md = d->trailer_md = NULL;
    if (d->has_sum)
        sigv4_sum_free(&d->sum);
}

__attribute__((format(printf, 2, 3))) static ssize_t fail(struct sigv4_chunked *d, const char *fmt,
                                                          ...)
{
    va_list ap;

    if (d->state != ST_FAIL) {
        va_start(ap, fmt);
        vsnprintf(d->why, sizeof(d->why), fmt, ap);
        va_end(ap);
        d->state = ST_FAIL;
    }
    sigv4_chunked_free(d);
    return -1;
}

/* The x-amz-trailer header: one checksum name, blanks around. */
static void init_trailer_sum(struct sigv4_chunked *d, const char *names)
{
    size_t n;

    while (*names == ' ' || *names == '\t')
        names++;
    n = strcspn(names, " \t");
    if (names[n + strspn(names + n, " \t")] != '\0' || n >= sizeof(d->sum_name)) {
        fail(d, "x-amz-trailer must name one checksum");
        return;
    }
    memcpy(d->sum_name, names, n);
    d->sum_name[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (d->sum_name[i] >= 'A' && d->sum_name[i] <= 'Z')
            d->sum_name[i] = (char)(d->sum_name[i] - 'A' + 'a');
    if (sigv4_sum_init(&d->sum, d->sum_name) < 0) {
        fail(d, "x-amz-trailer names an unsupported checksum");
        return;
    }
    d->has_sum = 1;
}

void sigv4_chunked_init(struct sigv4_chunked *d, struct sigv4_auth *a, int payload_mode,
                        ssize_t (*rd)(void *, char *, size_t), void *rdarg,
                        const char *trailer_names)
{
    memset(d, 0, sizeof(*d));
    d->a = a;
    d->mode = payload_mode;
    d->rd = rd;
    d->rdarg = rdarg;
    d->want_total = -1;
    d->state = ST_SIZE;
    if (payload_mode != SIGV4_PAYLOAD_STREAMING && !trailer_mode(payload_mode)) {
        fail(d, "the payload is not aws-chunked");
        return;
    }
    if (signed_mode(payload_mode) && !a) {
        fail(d, "a signed chunked payload needs the request's signature");
        return;
    }
    if (trailer_names && *trailer_names) {
        if (!trailer_mode(payload_mode)) {
            fail(d, "x-amz-trailer with a payload form that has no trailer");
            return;
        }
        init_trailer_sum(d, trailer_names);
    }
}

void sigv4_chunked_set_length(struct sigv4_chunked *d, long long decoded_length)
{
    d->want_total = decoded_length;
}

int sigv4_chunked_had_checksum(const struct sigv4_chunked *d)
{
    return d->had_checksum;
}

/* Refills ibuf: 1, or -1 with the reason set (0 bytes is a truncation). */
static int fill(struct sigv4_chunked *d)
{
    ssize_t n = d->rd(d->rdarg, d->ibuf, sizeof(d->ibuf));

    if (n < 0 || (size_t)n > sizeof(d->ibuf))
        return (int)fail(d, "error reading the request body");
    if (n == 0)
        return (int)fail(d, "the chunked body ends early");
    d->ipos = 0;
    d->ilen = (size_t)n;
    return 1;
}

/* The next CRLF-terminated line into d->line (without the CRLF): 0 or -1. */
static int next_line(struct sigv4_chunked *d)
{
    d->linelen = 0;
    for (;;) {
        char c;
        if (d->ipos == d->ilen && fill(d) < 0)
            return -1;
        c = d->ibuf[d->ipos++];
        if (c == '\n')
            break;
        if (c == '\0' || d->linelen + 1 >= sizeof(d->line))
            return (int)fail(d, "a chunk header or trailer line is too long or holds a NUL");
        d->line[d->linelen++] = c;
    }
    if (d->linelen == 0 || d->line[d->linelen - 1] != '\r')
        return (int)fail(d, "a chunk line does not end in CRLF");
    d->line[--d->linelen] = '\0';
    return 0;
}

static int md_start(EVP_MD_CTX **md)
{
    if (!*md)
        *md = EVP_MD_CTX_new();
    return *md && EVP_DigestInit_ex(*md, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

/* Checks the signature of the chunk just read (its hash in chunk_md). */
static int end_signed_chunk(struct sigv4_chunked *d)
{
    unsigned char sha[32];
    unsigned int n = 0;

    if (EVP_DigestFinal_ex(d->chunk_md, sha, &n) != 1 || n != 32)
        return (int)fail(d, "out of memory");
    if (sigv4_chunk_check(d->a, d->sig, sha) < 0) {
        d->failed_check = SIGV4_CHUNK_BADSIG;
        return (int)fail(d, "a chunk signature does not match");
    }
    return 0;
}

/* "<hex>[;chunk-signature=<sig>]": the size and, when signed, the signature. */
static int parse_chunk_header(struct sigv4_chunked *d)
{
    static const char ext[] = ";chunk-signature=";
    const char *s = d->line;
    long long size = 0;
    int n = 0, v;

    while ((v = hex_value(s[n])) >= 0) {
        if (++n > 16 || (size = size * 16 + v) > SIGV4_CHUNK_MAX)
            return (int)fail(d, "a chunk is larger than %lld bytes", SIGV4_CHUNK_MAX);
    }
    if (n == 0)
        return (int)fail(d, "a chunk header does not start with a hex size");
    s += n;
    if (signed_mode(d->mode)) {
        if (strncmp(s, ext, sizeof(ext) - 1) != 0 || !is_sig_hex(s + sizeof(ext) - 1))
            return (int)fail(d, "a chunk header lacks a valid chunk-signature");
        memcpy(d->sig, s + sizeof(ext) - 1, 65);
        if (md_start(&d->chunk_md) < 0)
            return (int)fail(d, "out of memory");
    } else if (*s) {
        return (int)fail(d, "a chunk header has more than a hex size");
    }
    d->left = size;
    if (size > 0) {
        d->state = ST_DATA;
        return 0;
    }
    if (signed_mode(d->mode) && end_signed_chunk(d) < 0)
        return -1;
    if (d->mode == SIGV4_PAYLOAD_STREAMING_TRAILER && md_start(&d->trailer_md) < 0)
        return (int)fail(d, "out of memory");
    d->state = ST_TRAILER;
    return 0;
}

/* x-amz-trailer-signature:<sig>, the last trailer line of the signed form. */
static int trailer_signature(struct sigv4_chunked *d, const char *value)
{
    unsigned char sha[32];
    unsigned int n = 0;

    if (d->mode != SIGV4_PAYLOAD_STREAMING_TRAILER)
        return (int)fail(d, "a trailer signature in an unsigned trailer");
    if (EVP_DigestFinal_ex(d->trailer_md, sha, &n) != 1 || n != 32)
        return (int)fail(d, "out of memory");
    if (sigv4_trailer_check(d->a, value, sha) < 0) {
        d->failed_check = SIGV4_CHUNK_BADSIG;
        return (int)fail(d, "the trailer signature does not match");
    }
    d->trailer_lines = -1; /* nothing may follow but the empty line */
    return 0;
}

static int trailer_header(struct sigv4_chunked *d)
{
    char *colon = strchr(d->line, ':'), *v;
    size_t vn;

    if (!colon || d->trailer_lines < 0 || d->mode == SIGV4_PAYLOAD_STREAMING)
        return (int)fail(d, "unexpected data after the final chunk");
    *colon = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    for (vn = strlen(v); vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'); vn--)
        v[vn - 1] = '\0';
    for (char *p = d->line; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (strcmp(d->line, "x-amz-trailer-signature") == 0)
        return trailer_signature(d, v);
    if (!d->has_sum || strcmp(d->line, d->sum_name) != 0 || d->had_checksum)
        return (int)fail(d, "a trailer header that x-amz-trailer did not declare");
    if (d->mode == SIGV4_PAYLOAD_STREAMING_TRAILER &&
        (md_puts(d->trailer_md, d->line) < 0 || md_puts(d->trailer_md, ":") < 0 ||
         md_puts(d->trailer_md, v) < 0 || md_puts(d->trailer_md, "\n") < 0))
        return (int)fail(d, "out of memory");
    if (!sigv4_sum_matches(&d->sum, v)) {
        d->failed_check = SIGV4_CHUNK_BADSUM;
        return (int)fail(d, "%s does not match the payload", d->sum_name);
    }
    d->had_checksum = 1;
    snprintf(d->sum_value, sizeof(d->sum_value), "%s", v);
    d->trailer_lines++;
    return 0;
}

/* The empty line that ends the body. */
static int trailer_end(struct sigv4_chunked *d)
{
    if (d->has_sum && !d->had_checksum)
        return (int)fail(d, "the trailer lacks %s", d->sum_name);
    if (d->mode == SIGV4_PAYLOAD_STREAMING_TRAILER && d->trailer_lines >= 0)
        return (int)fail(d, "the trailer lacks x-amz-trailer-signature");
    d->state = ST_END;
    return 0;
}

/* Nothing after the final chunk; the decoded length as announced. */
static ssize_t finish(struct sigv4_chunked *d)
{
    char c;
    ssize_t n;

    if (d->ipos < d->ilen)
        return fail(d, "data after the end of the chunked body");
    n = d->rd(d->rdarg, &c, 1);
    if (n < 0)
        return fail(d, "error reading the request body");
    if (n > 0)
        return fail(d, "data after the end of the chunked body");
    if (d->want_total >= 0 && d->total != d->want_total)
        return fail(d, "the chunks do not add up to x-amz-decoded-content-length");
    sigv4_chunked_free(d);
    d->state = ST_DONE;
    return 0;
}

/* Up to cap payload bytes of the current chunk. */
static ssize_t read_data(struct sigv4_chunked *d, char *buf, size_t cap)
{
    size_t want = cap < (unsigned long long)d->left ? cap : (size_t)d->left;
    ssize_t n;

    if (d->ipos < d->ilen) {
        n = (ssize_t)(d->ilen - d->ipos < want ? d->ilen - d->ipos : want);
        memcpy(buf, d->ibuf + d->ipos, (size_t)n);
        d->ipos += (size_t)n;
    } else {
        /* Nothing read ahead: straight into the caller's buffer. */
        n = d->rd(d->rdarg, buf, want);
        if (n < 0 || (size_t)n > want)
            return fail(d, "error reading the request body");
        if (n == 0)
            return fail(d, "the chunked body ends early");
    }
    if (signed_mode(d->mode) && EVP_DigestUpdate(d->chunk_md, buf, (size_t)n) != 1)
        return fail(d, "out of memory");
    if (d->has_sum)
        sigv4_sum_update(&d->sum, buf, (size_t)n);
    d->left -= n;
    d->total += n;
    if (d->want_total >= 0 && d->total > d->want_total)
        return fail(d, "the chunks exceed x-amz-decoded-content-length");
    if (d->left == 0) {
        /* The chunk's last bytes go out only once its signature holds. */
        if (signed_mode(d->mode) && end_signed_chunk(d) < 0)
            return -1;
        d->state = ST_DATA_END;
    }
    return n;
}

ssize_t sigv4_chunked_read(void *arg, char *buf, size_t cap)
{
    struct sigv4_chunked *d = arg;

    if (cap == 0)
        return d->state == ST_FAIL ? -1 : 0;
    for (;;) {
        switch (d->state) {
        case ST_SIZE:
            if (next_line(d) < 0 || parse_chunk_header(d) < 0)
                return -1;
            break;
        case ST_DATA: return read_data(d, buf, cap);
        case ST_DATA_END:
            if (next_line(d) < 0)
                return -1;
            if (d->linelen != 0)
                return fail(d, "a chunk's data is not followed by CRLF");
            d->state = ST_SIZE;
            break;
        case ST_TRAILER:
            if (next_line(d) < 0)
                return -1;
            if ((d->linelen ? trailer_header(d) : trailer_end(d)) < 0)
                return -1;
            break;
        case ST_END: return finish(d);
        case ST_DONE: return 0;
        default: return -1;
        }
    }
}
