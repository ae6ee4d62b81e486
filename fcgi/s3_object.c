/* s3_object.c: the S3 object routes: PutObject (the body as sent, plain or
 * aws-chunked, its hashes checked as it passes), GetObject (an internal
 * redirect the front follows to a replica), HeadObject, DeleteObject(s),
 * CopyObject and UploadPartCopy.  The store does the writing (lib/store.h,
 * lib/s3store.h). */
#include "s3_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "keys.h"
#include "log.h"
#include "md5.h"
#include "num.h"
#include "placement.h"
#include "recbin.h"
#include "s3meta.h"
#include "s3store.h"
#include "s3xml.h"
#include "sigv4.h"
#include "store.h"

/* ---- objects ---------------------------------------------------------- */

/* Appends "Name: value\r\n" at *o of out (user metadata and checksums:
 * the prefix and the record's "name: value"); 0, or -1 when it does not
 * fit. */
static int add_line(char *out, size_t cap, size_t *o, unsigned type, const char *v, size_t n)
{
    int w = type == S3META_USER ? snprintf(out + *o, cap - *o, "x-amz-meta-%.*s\r\n", (int)n, v)
            : type == S3META_CHECKSUM
                ? snprintf(out + *o, cap - *o, "x-amz-checksum-%.*s\r\n", (int)n, v)
                : snprintf(out + *o, cap - *o, "%s: %.*s\r\n", s3meta_header(type), (int)n, v);

    if (w < 0 || (size_t)w >= cap - *o) {
        out[*o] = '\0';
        return -1;
    }
    *o += (size_t)w;
    return 0;
}

#define BAD_OVERRIDE "a response-* parameter is malformed or too long"

/* A GetObject's response-* parameter (S3 lets a request, a presigned URL
 * above all, set these headers of its answer): 1 with the value in out,
 * 0 when absent, -1 malformed or holding a control character. */
static int response_param(struct s3req *q, const char *name, char *out, size_t cap)
{
    size_t n = 0;
    int rc = s3_qparam(q, name, out, cap, &n);

    if (rc <= 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            return -1;
    return 1;
}

/* The headers an object is answered with, GetObject and HeadObject alike:
 * each is the record's field, or the request's response-* override in its
 * place (S3 lets a request, a presigned URL above all, set them).  In a
 * GetObject nginx keeps some of them across the X-Accel-Redirect (they go in
 * the worker's answer); the others, user metadata among them, travel in the
 * redirect's query to the front's header filter (nginx/mkv-s3.js), which
 * adds them to the answer; Content-Type, first here, has a header of its
 * own (get_headers). */
static const struct {
    unsigned type;
    const char *param; /* the response-* parameter that overrides it */
    int kept;          /* nginx keeps it across the redirect */
} answer_fields[] = {{S3META_CONTENT_TYPE, "response-content-type", 0},
                     {S3META_CACHE_CONTROL, "response-cache-control", 1},
                     {S3META_CONTENT_DISPOSITION, "response-content-disposition", 1},
                     {S3META_EXPIRES, "response-expires", 1},
                     {S3META_CONTENT_ENCODING, "response-content-encoding", 0},
                     {S3META_CONTENT_LANGUAGE, "response-content-language", 0},
                     {S3META_STORAGE_CLASS, NULL, 0},
                     {S3META_USER, NULL, 0},
                     {S3META_CHECKSUM, NULL, 0}};
#define N_ANSWER_FIELDS (sizeof(answer_fields) / sizeof(answer_fields[0]))

/* The request's response-* overrides, by answer_fields index, and whether
 * it asked for the object's checksum. */
struct overrides {
    int given[N_ANSWER_FIELDS];
    char v[N_ANSWER_FIELDS][512];
    int checksum;
};

/* x-amz-checksum-mode: ENABLED asks for the checksum PutObject was given; S3
 * answers it for the whole object only (a client checks the bytes it reads
 * against it), so not with a Range or a partNumber. */
static int wants_checksum(struct s3req *q)
{
    char part[16];

    return strcasecmp(s3_hdr(q, "x-amz-checksum-mode"), "ENABLED") == 0 && !*s3_hdr(q, "range") &&
           s3_qparam(q, "partNumber", part, sizeof(part), NULL) == 0;
}

/* Reads q's overrides into ov (q NULL: none, as a 304 answers); 0, or -1
 * for a malformed one. */
static int read_overrides(struct s3req *q, struct overrides *ov)
{
    ov->checksum = q && wants_checksum(q);
    for (size_t k = 0; k < N_ANSWER_FIELDS; k++) {
        const char *param = q ? answer_fields[k].param : NULL;

        ov->given[k] = param ? response_param(q, param, ov->v[k], sizeof(ov->v[k])) : 0;
        if (ov->given[k] < 0)
            return -1;
    }
    return 0;
}

/* Appends answer field k's header lines (the override, or the record's
 * fields of its type) at *o of out; 1 when there was any, else 0. */
static int field_lines(const struct mkv_record *rec, const struct overrides *ov, size_t k,
                       char *out, size_t cap, size_t *o)
{
    unsigned t = answer_fields[k].type, type;
    size_t pos = 0, n;
    const unsigned char *v;
    int any = 0;

    if (t == S3META_CHECKSUM && !ov->checksum)
        return 0;
    if (ov->given[k]) {
        (void)add_line(out, cap, o, t, ov->v[k], strlen(ov->v[k]));
        return 1;
    }
    while (recbin_ext_next(rec->ext, rec->extlen, &pos, &type, &v, &n) == 1)
        if (type == t) {
            any = 1;
            if (add_line(out, cap, o, t, (const char *)v, n) < 0)
                break;
        }
    return any;
}

/* The object's stored record: 0, or answered (NoSuchKey, ...) and -1. */
static int get_object(struct s3req *q, struct mkv_record *rec)
{
    int rc = index_get(q->w->ix, q->r->key, q->r->klen, rec);

    if (rc == MKV_OK && !rec->deleted) {
        settle_pending(q->w, q->r->key, q->r->klen, rec);
        return 0;
    }
    if (rc == MKV_OK || rc == MKV_NOTFOUND) {
        if (q->r->head)
            s3_empty(q, 404, NULL);
        else
            s3_error(q, "NoSuchKey", NULL);
    } else {
        if (rc == MKV_BADREC)
            record_log_malformed(q->r->key, q->r->klen);
        s3_error(q, "InternalError", "index read failed");
    }
    return -1;
}

/* An HTTP date in any of the three forms a server must read (RFC 7231
 * 7.1.1.1: RFC 1123, RFC 850, asctime): the time, or -1. */
static long long parse_http_date(const char *s)
{
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
    struct tm tm;
    const char *end;

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, forms[i], &tm);
        if (end && !*end)
            return (long long)timegm(&tm);
    }
    return -1;
}

/* Whether etag (32 hex, no quotes) is in the list (a header's "a", "b" or *). */
static int etag_in(const char *list, const char *etag)
{
    size_t n = strlen(etag);

    if (!strcmp(list, "*"))
        return 1;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',' || *p == '"')
            p++;
        if (!strncmp(p, "W/", 2))
            p += 2;
        while (*p == '"')
            p++;
        if (!strncmp(p, etag, n) && (p[n] == '"' || p[n] == ',' || p[n] == ' ' || !p[n]))
            return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

/* The four conditions of a read (HTTP's If-*, or CopyObject's
 * x-amz-copy-source-if-*, named with prefix) against an object's ETag and
 * time: 0 when met, else the status S3 answers a GET with (412, 304; the
 * failed header's name in *failed).  A match wins over a date, as in HTTP
 * (RFC 7232 §6). */
static int conditions(struct s3req *q, const char *prefix, const char *etag, long long mtime,
                      const char **failed)
{
    char n[4][64];
    const char *h[4];
    long long t;

    *failed = "If-Match";

    snprintf(n[0], sizeof(n[0]), "%sif-match", prefix);
    snprintf(n[1], sizeof(n[1]), "%sif-unmodified-since", prefix);
    snprintf(n[2], sizeof(n[2]), "%sif-none-match", prefix);
    snprintf(n[3], sizeof(n[3]), "%sif-modified-since", prefix);
    for (int i = 0; i < 4; i++)
        h[i] = s3_hdr(q, n[i]);
    if (*h[0] && !etag_in(h[0], etag))
        return 412;
    *failed = "If-Unmodified-Since";
    if (!*h[0] && *h[1] && (t = parse_http_date(h[1])) >= 0 && mtime > t)
        return 412;
    if (*h[2] && etag_in(h[2], etag))
        return 304;
    if (!*h[2] && *h[3] && (t = parse_http_date(h[3])) >= 0 && mtime <= t)
        return 304;
    return 0;
}

/* The ETag of a record: its MD5 (multipart: the one CompleteMultipartUpload
 * kept). */
void s3_etag_of(const struct mkv_record *rec, char *out, size_t cap)
{
    size_t n;
    const unsigned char *v;

    if (recbin_ext_find(rec->ext, rec->extlen, S3META_ETAG, &v, &n) && n < cap) {
        memcpy(out, v, n);
        out[n] = '\0';
        return;
    }
    snprintf(out, cap, "%s", rec->hash);
}

/* An object's headers (q: with the request's response-* overrides): 0, or
 * -1 for a malformed override. */
static int object_headers(struct s3req *q, const struct mkv_record *rec, const char *etag,
                          char *out, size_t cap)
{
    char date[40], meta[MKV_RECORD_EXT_MAX + 1024];
    struct overrides ov;
    size_t o = 0;
    int has_ctype = 0;

    if (read_overrides(q, &ov) < 0)
        return -1;
    meta[0] = '\0';
    for (size_t k = 0; k < N_ANSWER_FIELDS; k++)
        if (field_lines(rec, &ov, k, meta, sizeof(meta), &o))
            has_ctype |= answer_fields[k].type == S3META_CONTENT_TYPE;
    s3xml_http_date(date, rec->mtime);
    snprintf(out, cap, "ETag: \"%s\"\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n%s%s", etag,
             date, meta, has_ctype ? "" : "Content-Type: binary/octet-stream\r\n");
    return 0;
}

/* S3's conditional reads: 0 to go on, or answered (304 with the object's
 * headers, 412) and -1. */
static int preconditions(struct s3req *q, const struct mkv_record *rec, const char *etag)
{
    char h[MKV_RECORD_EXT_MAX + 2048];
    const char *failed;
    int st = conditions(q, "", etag, rec->mtime, &failed);

    if (st == 412) {
        s3_error_with(q, "PreconditionFailed", NULL,
                      &(struct s3xml_field){"Condition", failed, strlen(failed)}, 1, NULL);
    } else if (st == 304) {
        (void)object_headers(NULL, rec, etag, h, sizeof(h));
        s3_empty(q, 304, h);
    }
    return st ? -1 : 0;
}

/* The object's record and ETag, its preconditions met: 0, or answered
 * (404, 304, 412) and -1. */
static int open_object(struct s3req *q, struct mkv_record *rec, char *etag, size_t etagcap)
{
    if (get_object(q, rec) < 0)
        return -1;
    s3_etag_of(rec, etag, etagcap);
    return preconditions(q, rec, etag);
}

/* GetObject's and HeadObject's partNumber=N: the part's bytes into *first,
 * *last, the object's part count into *count (0 for a plain object, whose
 * one part is all of it).  0: none asked (or an empty object: all of it);
 * 1: set; -1: answered (InvalidPartNumber past the last part, ...). */
static int part_range(struct s3req *q, const struct mkv_record *rec, long long *first,
                      long long *last, int *count)
{
    long long pn, size = rec->has_size ? (long long)rec->size : -1, ps;
    size_t n;
    const unsigned char *v;
    int multipart, rc = s3_part_number(q, 0, &pn);

    if (rc <= 0)
        return rc;
    if (*s3_hdr(q, "range")) {
        s3_error(q, "InvalidRequest",
                 "Cannot specify both Range header and partNumber query parameter");
        return -1;
    }
    *count = 0;
    multipart = recbin_ext_find(rec->ext, rec->extlen, S3META_ETAG, &v, &n);
    if (!s3meta_parts_get(rec->ext, rec->extlen, &ps, count))
        ps = -1;
    if (multipart && ps <= 0) {
        s3_error(q, "NotImplemented", "partNumber of an object whose parts are of several sizes");
        return -1;
    }
    if (size < 0 || (!multipart && pn == 1 && size == 0))
        return 0;
    if (!multipart)
        ps = size, *count = 1;
    if (pn > *count) {
        s3_error(q, "InvalidPartNumber", NULL);
        return -1;
    }
    *first = (pn - 1) * ps;
    *last = pn * ps > size ? size - 1 : pn * ps - 1;
    if (!multipart)
        *count = 0;
    return 1;
}

/* The request's one Range as S3 serves it: bytes=A-B, A- or -N; anything
 * else (another unit, B < A, several ranges, no numbers) is ignored, as S3
 * ignores it.  On an object of size bytes: 1 with the bytes in *first,
 * *last; 0 for none; -1 answered (416 InvalidRange: nothing of it is in
 * the object).  size -1 (a record imported from the original, its size
 * unknown until a rebuild): 2 for a range to pass to the volume as sent,
 * which answers 416 itself (nginx/mkv-s3.conf). */
static int object_range(struct s3req *q, long long size, long long *first, long long *last)
{
    const char *r = s3_hdr(q, "range");
    char a[24] = "", b[24] = "", n[24], extra[64];
    const char *dash;

    *first = -1;
    *last = size - 1;
    if (strncmp(r, "bytes=", 6) != 0 || !(dash = strchr(r + 6, '-')) ||
        (size_t)(dash - r - 6) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
        return 0;
    memcpy(a, r + 6, (size_t)(dash - r - 6));
    strcpy(b, dash + 1);
    if ((*a && num_parse(a, 0, LLONG_MAX, first) < 0) ||
        (*b && num_parse(b, 0, LLONG_MAX, last) < 0) || (!*a && !*b) ||
        (*a && *b && *last < *first))
        return 0;
    if (size < 0)
        return 2;
    if (!*a) { /* the last N bytes */
        *first = *last >= size ? 0 : size - *last;
        *last = size - 1;
        if (size == 0 || *first > *last)
            goto unsatisfiable;
    }
    if (*first >= size)
        goto unsatisfiable;
    if (*last >= size)
        *last = size - 1;
    return 1;
unsatisfiable:
    q->r->head_length = -1;
    snprintf(n, sizeof(n), "%lld", size);
    snprintf(extra, sizeof(extra), "Content-Range: bytes */%lld\r\n", size);
    s3_error_with(q, "InvalidRange", NULL,
                  (const struct s3xml_field[]){{"RangeRequested", r, strlen(r)},
                                               {"ActualObjectSize", n, strlen(n)}},
                  2, extra);
    return -1;
}

void s3_head_object(struct s3req *q)
{
    long long first = 0, last = 0;
    int rc, count = 0;
    struct mkv_record rec;
    char etag[80], h[MKV_RECORD_EXT_MAX + 2048];
    size_t o;

    if (open_object(q, &rec, etag, sizeof(etag)) < 0)
        return;
    if (object_headers(q, &rec, etag, h, sizeof(h)) < 0) {
        s3_error(q, "InvalidArgument", BAD_OVERRIDE);
        return;
    }
    q->r->head_length = rec.has_size ? (long long)rec.size : -1;
    /* a part (partNumber), else a Range: 206 with the bytes it names */
    if ((rc = part_range(q, &rec, &first, &last, &count)) == 0 && rec.has_size)
        rc = object_range(q, (long long)rec.size, &first, &last);
    if (rc < 0)
        return;
    if (rc == 0) {
        s3_empty(q, 200, h);
        return;
    }
    o = strlen(h);
    o += (size_t)snprintf(h + o, sizeof(h) - o, "Content-Range: bytes %lld-%lld/%llu\r\n", first,
                          last, rec.size);
    if (count && o < sizeof(h))
        snprintf(h + o, sizeof(h) - o, "x-amz-mp-parts-count: %d\r\n", count);
    q->r->head_length = last - first + 1;
    s3_empty(q, 206, h);
}

/* ---- volume addresses ---- */

/* The front proxies a replica without a resolver of its own (stock nginx
 * resolves names in a variable proxy_pass only through `resolver`, a DNS
 * server, never /etc/hosts): the worker names the volume by address.
 * Addresses are kept a minute, per process. */
#define ADDR_CACHE 64
#define ADDR_TTL   60

static struct {
    char name[MKV_VOLNAME_MAX + 1];
    char addr[64];
    time_t at;
} addr_cache[ADDR_CACHE];
static pthread_mutex_t addr_mu = PTHREAD_MUTEX_INITIALIZER;

static int lookup_host(const char *host, char *out, size_t cap)
{
    struct addrinfo hints, *ai = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, NULL, &hints, &ai)) != 0 || !ai)
        return -1;
    /* IPv4 first: the address of "localhost" the volumes surely listen on. */
    for (struct addrinfo *a = ai; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, out, (socklen_t)cap);
            freeaddrinfo(ai);
            return 0;
        }
    if (ai->ai_family == AF_INET6 && cap > 2) {
        out[0] = '[';
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, out + 1,
                  (socklen_t)(cap - 2));
        strcat(out, "]");
        freeaddrinfo(ai);
        return 0;
    }
    freeaddrinfo(ai);
    return -1;
}

/* vol ("host[:port][/svXX]") with its host as an address, into out. */
static int volume_address(const char *vol, char *out, size_t cap)
{
    const char *colon = vol[0] == '[' ? NULL : strchr(vol, ':');
    const char *slash = strchr(vol, '/');
    size_t hl = colon ? (size_t)(colon - vol) : slash ? (size_t)(slash - vol) : strlen(vol);
    char host[MKV_VOLNAME_MAX + 1], addr[64] = "";
    struct in_addr v4;
    time_t now = time(NULL);
    int slot = -1;

    if (vol[0] == '[' || hl > MKV_VOLNAME_MAX)
        return snprintf(out, cap, "%s", vol) < (int)cap ? 0 : -1;
    memcpy(host, vol, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, &v4) == 1)
        return snprintf(out, cap, "%s", vol) < (int)cap ? 0 : -1;
    pthread_mutex_lock(&addr_mu);
    for (int i = 0; i < ADDR_CACHE && slot < 0; i++)
        if (!strcmp(addr_cache[i].name, host) && now - addr_cache[i].at < ADDR_TTL) {
            snprintf(addr, sizeof(addr), "%s", addr_cache[i].addr);
            slot = i;
        }
    pthread_mutex_unlock(&addr_mu);
    if (slot < 0) {
        if (lookup_host(host, addr, sizeof(addr)) < 0)
            return -1;
        pthread_mutex_lock(&addr_mu);
        slot = (int)((unsigned)now % ADDR_CACHE);
        for (int i = 0; i < ADDR_CACHE; i++)
            if (!addr_cache[i].name[0] || !strcmp(addr_cache[i].name, host)) {
                slot = i;
                break;
            }
        snprintf(addr_cache[slot].name, sizeof(addr_cache[slot].name), "%s", host);
        snprintf(addr_cache[slot].addr, sizeof(addr_cache[slot].addr), "%s", addr);
        addr_cache[slot].at = now;
        pthread_mutex_unlock(&addr_mu);
    }
    return snprintf(out, cap, "%s%s", addr, vol + hl) < (int)cap ? 0 : -1;
}

/* An HTTP date with '_' for its blanks, for the redirect's path. */
static void date_for_path(const char *date, char *out, size_t cap)
{
    size_t i = 0;

    for (; date[i] && i + 1 < cap; i++)
        out[i] = date[i] == ' ' ? '_' : date[i];
    out[i] = '\0';
}

/* Fills ctype (the Content-Type's value), kept (header lines for the
 * worker's answer) and meta (lines for the front's filter).  0, or answered
 * and -1. */
static int get_headers(struct s3req *q, const struct mkv_record *rec, char *ctype, size_t ccap,
                       char *kept, size_t kcap, char *meta, size_t mcap)
{
    struct overrides ov;
    size_t ko = 0, mo = 0;
    const unsigned char *v;
    size_t n;

    if (read_overrides(q, &ov) < 0) {
        s3_error(q, "InvalidArgument", BAD_OVERRIDE);
        return -1;
    }
    snprintf(ctype, ccap, "binary/octet-stream");
    if (ov.given[0])
        snprintf(ctype, ccap, "%s", ov.v[0]);
    else if (recbin_ext_find(rec->ext, rec->extlen, S3META_CONTENT_TYPE, &v, &n) && n < ccap) {
        memcpy(ctype, v, n);
        ctype[n] = '\0';
    }
    kept[0] = meta[0] = '\0';
    for (size_t k = 1; k < N_ANSWER_FIELDS; k++)
        if (answer_fields[k].kept)
            (void)field_lines(rec, &ov, k, kept, kcap, &ko);
        else
            (void)field_lines(rec, &ov, k, meta, mcap, &mo);
    return 0;
}

/* The redirect's query carrying meta: "?mkv-meta=" and its base64url. */
static void meta_query(const char *meta, char *out, size_t cap)
{
    size_t n = strlen(meta), o = sizeof("?mkv-meta=") - 1;

    out[0] = '\0';
    if (n == 0 || o + 4 * ((n + 2) / 3) + 1 > cap)
        return;
    memcpy(out, "?mkv-meta=", o);
    EVP_EncodeBlock((unsigned char *)out + o, (const unsigned char *)meta, (int)n);
    for (char *c = out + o; *c; c++)
        if (*c == '+')
            *c = '-';
        else if (*c == '/')
            *c = '_';
        else if (*c == '=')
            *c = '\0';
}

void s3_get_object(struct s3req *q)
{
    struct mkv_record rec;
    struct mkv_placement p;
    char etag[80], path[MKV_PATH_MAX], why[256] = "";
    char date[40], ctype[512];
    char elm[128], addr[MKV_VOLPATH_MAX + 64], kept[1024], meta[MKV_RECORD_EXT_MAX + 1024];
    char query[4 * (sizeof(meta) + 2) / 3 + 80], pending[STORE_TMP_SUFFIX_LEN + 1] = "";
    /* Room for everything it holds, so it never cuts the redirect short. */
    char loc[64 + 16 + sizeof(etag) + sizeof(elm) + sizeof(addr) + sizeof(path) + sizeof(pending) +
             sizeof(query) + sizeof(ctype) + sizeof(kept)];
    int chosen, answered, part, count = 0;
    long long first = 0, last = 0;

    if (open_object(q, &rec, etag, sizeof(etag)) < 0)
        return;
    if (key2path(q->r->key, q->r->klen, path) < 0 ||
        key2volumes(q->w->cfg, q->r->key, q->r->klen, &p) < 0) {
        s3_error(q, "InternalError", "placement failed");
        return;
    }
    chosen = choose_replica(q->w, &rec, &p, path, &answered, why, sizeof(why));
    if (chosen < 0) {
        s3_error(q, answered ? "NoSuchKey" : "ServiceUnavailable", answered ? NULL : why);
        return;
    }
    /* An overwrite in progress: its value under its temporary name (the
     * front falls back to the path once it is moved there). */
    if (!store_pending(&rec, pending))
        pending[0] = '\0';
    s3xml_http_date(date, rec.mtime);
    if (get_headers(q, &rec, ctype, sizeof(ctype), kept, sizeof(kept), meta, sizeof(meta)) < 0 ||
        (part = part_range(q, &rec, &first, &last, &count)) < 0 ||
        (part == 0 &&
         (part = object_range(q, rec.has_size ? (long long)rec.size : -1, &first, &last)) < 0))
        return;
    if (count) {
        size_t o = strlen(meta);

        snprintf(meta + o, sizeof(meta) - o, "x-amz-mp-parts-count: %d\r\n", count);
    }
    meta_query(meta, query, sizeof(query));
    /* A part or a Range: the front asks the volume for those bytes and for
     * no others (nginx/mkv-s3.conf); a range of a value of unknown size as
     * the client sent it (checked: "bytes=" and digits). */
    if (part > 0) {
        size_t o = strlen(query);

        if (part == 2)
            snprintf(query + o, sizeof(query) - o, "%cmkv_range=%s", o ? '&' : '?',
                     s3_hdr(q, "range"));
        else
            snprintf(query + o, sizeof(query) - o, "%cmkv_range=bytes=%lld-%lld", o ? '&' : '?',
                     first, last);
    }
    date_for_path(date, elm, sizeof(elm));
    if (volume_address(rec.vols[chosen], addr, sizeof(addr)) < 0) {
        s3_error(q, "ServiceUnavailable", "cannot resolve the volume's name");
        return;
    }
    /* The front's internal location proxies the replica; Content-Type and
     * the other headers nginx keeps across the redirect come from here,
     * ETag and Last-Modified from the path, the rest from the query
     * (nginx/mkv-s3.conf). */
    snprintf(loc, sizeof(loc),
             "X-Accel-Redirect: /_mkv_volume/%s/%s/%s/%s%s%s%s\r\nContent-Type: %s\r\n%s",
             q->w->cfg->volume_scheme, etag, elm, addr, path, pending, query, ctype, kept);
    snprintf(q->r->volume, sizeof(q->r->volume), "%s", rec.vols[chosen]);
    reply(q->r, 200, loc, NULL, NULL, 0);
}

/* Stores the request's body at key (the object, or a part) and answers
 * with its ETag. */
/* PutObject's If-Match and If-None-Match (S3's conditional writes),
 * against the live value under the key's lock: 0 to write, else the status
 * in c->status (412; 404 for If-Match without a value). */
struct put_cond {
    struct s3req *q;
    int status;
};

static int put_condition(void *arg, const struct mkv_record *live)
{
    struct put_cond *c = arg;
    const char *im = s3_header(c->q->r, "if-match"), *inm = s3_header(c->q->r, "if-none-match");
    char etag[80];

    if (!live) {
        c->status = im ? 404 : 0;
        return c->status;
    }
    s3_etag_of(live, etag, sizeof(etag));
    c->status = (im && !etag_in(im, etag)) || (inm && etag_in(inm, etag)) ? 412 : 0;
    return c->status;
}

/* The verified checksum of the body as its S3META_CHECKSUM field ("ALG:
 * BASE64") into v: its length, or 0 for none. */
static size_t checksum_field(const struct s3body *b, char *v, size_t cap)
{
    char alg[16];
    const char *sum;
    int n;

    if (!s3body_checksum(b, alg, sizeof(alg), &sum))
        return 0;
    n = snprintf(v, cap, "%s: %s", alg, sum);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* store_body.final_ext: the checksum the request gave, verified, goes in
 * the record for HeadObject and GetObject to answer. */
static void keep_checksum(void *arg, unsigned char *ext, size_t cap, size_t *len)
{
    char v[128];
    size_t n = checksum_field(arg, v, sizeof(v));

    if (n)
        (void)recbin_ext_add(ext, cap, len, S3META_CHECKSUM, v, n);
}

void s3_put_body(struct s3req *q, const char *key, size_t klen, const unsigned char *ext,
                 size_t extlen, int conditional)
{
    struct put_cond cond = {.q = q};
    struct mkv_store s = store_of(q->w);
    struct store_note note = {0};
    struct s3body b;
    unsigned char want[16];
    const char *cmd5 = s3_header(q->r, "content-md5"); /* present but empty: refused */
    char why[512], h[256], hex[33];
    struct store_body sb;
    int rc;

    if (cmd5 && parse_content_md5(cmd5, want) < 0) {
        s3_error(q, "InvalidDigest", NULL);
        return;
    }
    if (s3body_open(q, &b, 0) < 0) {
        s3body_free(&b); /* what it set up before it failed */
        return;
    }
    sb = (struct store_body){.length = b.length,
                             .rd = s3body_read,
                             .rdarg = &b,
                             .want_md5 = cmd5 ? want : NULL,
                             .overwrite = 1,
                             .ext = ext,
                             .extlen = extlen,
                             .allow_empty = 1,
                             .final_ext = keep_checksum,
                             .final_ext_arg = &b};
    if (conditional && (s3_header(q->r, "if-match") || s3_header(q->r, "if-none-match"))) {
        sb.precondition = put_condition;
        sb.precondition_arg = &cond;
    }
    /* An empty body is never read: its hashes are checked here. */
    if (b.length == 0 && s3body_final(&b) < 0) {
        s3body_error(q, &b, NULL);
        s3body_free(&b);
        return;
    }
    rc = store_put(&s, key, klen, param(q->r, "MKV_REQUEST_ID"), &sb, &note, why, sizeof(why));
    q->r->bytes_in = note.bytes_in;
    snprintf(q->r->volume, sizeof(q->r->volume), "%s", note.volume);
    switch (rc) {
    case STORE_OK: {
        char v[128];
        size_t n = checksum_field(&b, v, sizeof(v)), o;

        md5_hex(note.md5, hex);
        o = (size_t)snprintf(h, sizeof(h), "ETag: \"%s\"\r\n", hex);
        if (n)
            (void)add_line(h, sizeof(h), &o, S3META_CHECKSUM, v, n);
        s3_empty(q, 200, h);
        break;
    }
    case STORE_BODY: s3body_error(q, &b, why); break;
    case STORE_BADMD5: s3_error(q, "BadDigest", NULL); break;
    case STORE_PRECONDITION:
        s3_error(q, cond.status == 404 ? "NoSuchKey" : "PreconditionFailed", NULL);
        break;
    case STORE_BUSY: s3_error(q, "OperationAborted", why); break;
    case STORE_RECOVERING: s3_error(q, "ServiceUnavailable", why); break;
    default: s3_error(q, "InternalError", why); break;
    }
    s3body_free(&b);
}

int s3_request_meta(struct s3req *q, unsigned char *ext, size_t cap, size_t *len)
{
    char why[256];
    int rc = s3meta_from_request(q->r->fr->envp, ext, cap, len, why, sizeof(why));

    if (rc < 0)
        s3_error(q, rc == S3META_BAD_CLASS ? "InvalidStorageClass" : "MetadataTooLarge", why);
    return rc < 0 ? -1 : 0;
}

void s3_put_object(struct s3req *q)
{
    unsigned char ext[MKV_RECORD_EXT_MAX];
    size_t extlen = 0;

    if (s3_request_meta(q, ext, sizeof(ext), &extlen) < 0)
        return;
    s3_put_body(q, q->r->key, q->r->klen, ext, extlen, 1);
}

/* ---- copies ----------------------------------------------------------- */

/* The copy's source (x-amz-copy-source: "[/]BUCKET/KEY[?versionId=null]",
 * URL-encoded) as a native key into key: 0, or answered and -1. */
static int copy_source(struct s3req *q, char *key, size_t cap, size_t *klen)
{
    const char *src = s3_hdr(q, "x-amz-copy-source"), *qm = strchr(src, '?');
    size_t n = qm ? (size_t)(qm - src) : strlen(src);
    struct mkv_reject rej;
    const char *slash;
    long long ct;

    if (*src == '/') {
        src++;
        n--;
    }
    if (qm && strcmp(qm, "?versionId=null") != 0) {
        s3_error(q, "NotImplemented", "versions are not kept: only versionId=null is served");
        return -1;
    }
    key[0] = '/';
    if (url_decode(src, n, 0, key + 1, cap - 1, klen, &rej) < 0 || *klen == 0) {
        s3_error(q, "InvalidArgument",
                 "Copy Source must mention the source bucket and key: "
                 "sourcebucket/sourcekey");
        return -1;
    }
    (*klen)++;
    slash = memchr(key + 1, '/', *klen - 1);
    if (!slash || slash == key + *klen - 1) {
        s3_error(q, "InvalidArgument",
                 "Copy Source must mention the source bucket and key: "
                 "sourcebucket/sourcekey");
        return -1;
    }
    if (s3_bucket_get(q->w->ix, key + 1, (size_t)(slash - key - 1), &ct) != S3STORE_OK) {
        s3_error(q, "NoSuchBucket", NULL);
        return -1;
    }
    return 0;
}

/* The copy's object fields: the source's (COPY, the default; not its
 * multipart ETag and part layout: the copy is one value with its own MD5)
 * or the request's (REPLACE). */
static int copy_fields(struct s3req *q, const struct mkv_record *src, unsigned char *ext,
                       size_t *extlen)
{
    static const unsigned multipart[] = {S3META_ETAG, S3META_PARTS};
    const char *dir = s3_hdr(q, "x-amz-metadata-directive");

    *extlen = 0;
    if (!strcmp(dir, "REPLACE"))
        return s3_request_meta(q, ext, MKV_RECORD_EXT_MAX, extlen);
    if (*dir && strcmp(dir, "COPY")) {
        s3_error(q, "InvalidArgument", "Unknown metadata directive.");
        return -1;
    }
    /* the source's fields fit the record they came from */
    (void)recbin_ext_without(src->ext, src->extlen, multipart, 2, ext, MKV_RECORD_EXT_MAX, extlen);
    return 0;
}

/* The copy's source record, its conditions (x-amz-copy-source-if-*) met:
 * 0, or answered (NoSuchKey; PreconditionFailed, which a copy answers where
 * a GET would say 304) and -1. */
static int copy_conditions(struct s3req *q, const char *src, size_t srclen, struct mkv_record *rec)
{
    const char *failed;
    char etag[80];
    int rc;

    rc = index_get(q->w->ix, src, srclen, rec);
    if (rc != MKV_OK || rec->deleted) {
        s3_error(q, rc == MKV_OK || rc == MKV_NOTFOUND ? "NoSuchKey" : "InternalError",
                 rc == MKV_OK || rc == MKV_NOTFOUND ? NULL : "index read failed");
        return -1;
    }
    s3_etag_of(rec, etag, sizeof(etag));
    if (conditions(q, "x-amz-copy-source-", etag, rec->mtime, &failed) != 0) {
        s3_error(q, "PreconditionFailed", NULL);
        return -1;
    }
    return 0;
}

/* "bytes=FIRST-LAST" of x-amz-copy-source-range: 0 (first -1: none), or
 * answered and -1. */
static int copy_range(struct s3req *q, long long *first, long long *last)
{
    const char *r = s3_hdr(q, "x-amz-copy-source-range");
    char a[24], b[24];
    const char *dash;

    *first = *last = -1;
    if (!*r)
        return 0;
    if (strncmp(r, "bytes=", 6) || !(dash = strchr(r + 6, '-')) ||
        (size_t)(dash - r - 6) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
        goto bad;
    snprintf(a, sizeof(a), "%.*s", (int)(dash - r - 6), r + 6);
    snprintf(b, sizeof(b), "%s", dash + 1);
    if (num_parse(a, 0, S3_LENGTH_MAX, first) < 0 || num_parse(b, 0, S3_LENGTH_MAX, last) < 0 ||
        *first > *last)
        goto bad;
    return 0;
bad:
    s3_error(q, "InvalidArgument",
             "The x-amz-copy-source-range value must be of the form "
             "bytes=first-last where first and last are the zero-based "
             "offsets of the first and last bytes to copy");
    return -1;
}

/* CopyObject (part 0), or UploadPartCopy into the native key dst. */
void s3_copy_into(struct s3req *q, const char *dst, size_t dstlen, int part)
{
    struct mkv_store s = store_of(q->w);
    struct store_note note;
    struct s3xml_out o = {0};
    struct mkv_record srec;
    unsigned char ext[MKV_RECORD_EXT_MAX];
    char src[MKV_URI_MAX], why[512], hex[33], t[32];
    size_t srclen, extlen = 0;
    long long first = -1, last = -1;
    int rc;

    /* The source names the bytes; a body would be dropped unread. */
    if ((*s3_hdr(q, "content-length") && strcmp(s3_hdr(q, "content-length"), "0") != 0) ||
        *s3_hdr(q, "transfer-encoding")) {
        s3_error(q, "InvalidRequest",
                 "The request included a body. Requests of this type must "
                 "not include a non-empty body.");
        return;
    }
    if (copy_source(q, src, sizeof(src), &srclen) < 0 ||
        copy_conditions(q, src, srclen, &srec) < 0 ||
        (part ? copy_range(q, &first, &last) : copy_fields(q, &srec, ext, &extlen)) < 0)
        return;
    if (!part && srclen == dstlen && !memcmp(src, dst, dstlen) &&
        strcmp(s3_hdr(q, "x-amz-metadata-directive"), "REPLACE") != 0) {
        s3_error(q, "InvalidRequest",
                 "This copy request is illegal because it is trying to copy an object to itself "
                 "without changing the object's metadata, storage class, website redirect "
                 "location or encryption attributes.");
        return;
    }
    rc = s3_copy(&s, src, srclen, first, last, dst, dstlen, ext, extlen,
                 param(q->r, "MKV_REQUEST_ID"), &note, why, sizeof(why));
    q->r->bytes_in = note.bytes_in;
    snprintf(q->r->volume, sizeof(q->r->volume), "%s", note.volume);
    if (rc == S3STORE_NOSOURCE) {
        s3_error(q, "NoSuchKey", NULL);
        return;
    }
    if (rc == S3STORE_RANGE) {
        s3_error(q, "InvalidRange", why);
        return;
    }
    if (rc != S3STORE_OK) {
        s3_error(q, "InternalError", why);
        return;
    }
    md5_hex(note.md5, hex);
    s3xml_time(t, (long long)time(NULL));
    s3xml_open(&o, part ? "CopyPartResult" : "CopyObjectResult");
    s3xml_elem(&o, "LastModified", t, strlen(t));
    s3xml_elemf(&o, "ETag", "\"%s\"", hex);
    s3xml_close(&o, part ? "CopyPartResult" : "CopyObjectResult");
    s3_xml(q, 200, NULL, &o);
    s3xml_out_free(&o);
}

/* S3's DeleteObject: 204 whether or not the key was there. */
static int delete_key(struct s3req *q, const char *key, size_t klen, char *why, size_t whylen)
{
    struct mkv_store s = store_of(q->w);
    struct store_note note = {0};
    int rc = store_delete(&s, key, klen, "", 0, &note, why, whylen);

    return rc == STORE_ABSENT ? STORE_OK : rc;
}

static const char *delete_code(int rc)
{
    switch (rc) {
    case STORE_PROTECTED: return "AccessDenied";
    case STORE_BUSY: return "OperationAborted";
    case STORE_RECOVERING: return "ServiceUnavailable";
    default: return "InternalError";
    }
}

void s3_delete_object(struct s3req *q)
{
    char why[512];
    int rc = delete_key(q, q->r->key, q->r->klen, why, sizeof(why));

    if (rc == STORE_OK)
        s3_empty(q, 204, NULL);
    else
        s3_error(q, delete_code(rc), why);
}

void s3_delete_objects(struct s3req *q)
{
    struct s3xml_parser *p = s3xml_parser_new(S3XML_DELETE);
    struct s3xml_out o = {0};
    char key[MKV_URI_MAX], why[512];
    int quiet;

    if (!p) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    /* S3 requires a digest of this body (the one request that must carry
     * one): every SDK sends Content-MD5 or an x-amz-checksum-*. */
    if (!s3_header(q->r, "content-md5") && !s3body_has_checksum(q)) {
        s3_error(q, "InvalidRequest", "Missing required header for this request: Content-MD5");
        goto cleanup;
    }
    if (s3_read_xml(q, p, S3XML_BODY_MAX, 1) < 0)
        goto cleanup;
    quiet = s3xml_quiet(p);
    s3xml_open(&o, "DeleteResult");
    for (size_t i = 0; i < s3xml_nobjects(p); i++) {
        struct s3xml_object ob;
        int n, rc;

        if (s3xml_object(p, i, &ob) < 0)
            continue;
        n = snprintf(key, sizeof(key), "/%s/%.*s", q->bucket, (int)ob.keylen, ob.key);
        if (n < 0 || (size_t)n >= sizeof(key) || memchr(ob.key, '\0', ob.keylen)) {
            rc = -100;
            snprintf(why, sizeof(why), "key too long");
        } else {
            rc = delete_key(q, key, (size_t)n, why, sizeof(why));
        }
        if (rc == STORE_OK) {
            if (quiet)
                continue;
            s3xml_open(&o, "Deleted");
            s3xml_elem(&o, "Key", ob.key, ob.keylen);
            s3xml_close(&o, "Deleted");
            continue;
        }
        s3xml_open(&o, "Error");
        s3xml_elem(&o, "Key", ob.key, ob.keylen);
        s3xml_elemf(&o, "Code", "%s", rc == -100 ? "KeyTooLongError" : delete_code(rc));
        s3xml_elem(&o, "Message", why, strlen(why));
        s3xml_close(&o, "Error");
    }
    s3xml_close(&o, "DeleteResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
    s3xml_parser_free(p);
}
