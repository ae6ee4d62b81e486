/* s3.c: the S3 API (path-style), served by the same workers as the native
 * one on the front's S3 listener (nginx/mkv-s3.conf sets MKV_API=s3).
 *
 * Object KEY of bucket B is the native key "/B/KEY": a request's decoded
 * path is the key.  Buckets are kept in the index (lib/s3store.h).  This
 * file parses requests, checks signatures (lib/sigv4), and maps the store's
 * outcomes (lib/store) to S3's statuses and XML (lib/s3xml); it never
 * touches a volume or the index's records itself, except to read them.
 * GetObject answers with an internal redirect (X-Accel-Redirect) to the
 * front's /_mkv_volume/ location, which proxies the chosen replica: the
 * bytes never pass through the worker.  README: S3 lists what is served. */
#include "s3.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define S3_LENGTH_MAX (5LL << 30) /* S3's largest PutObject: 5 GiB */
#define LIST_MAX_KEYS 1000

/* One S3 request as the routes see it. */
struct s3req {
    struct worker *w;
    struct req *r;
    const char *path; /* raw path, no query */
    size_t pathlen;
    const char *query; /* raw, or NULL */
    char bucket[S3_BUCKET_MAX + 1];
    size_t blen;
    const char *okey; /* the object key: into r->key after "/B/" */
    size_t oklen;
    int has_key; /* "/B/..." with something after the slash */
    struct sigv4_auth auth;
    char reqid[40];
};

/* ---- responses -------------------------------------------------------- */

static void common_headers(struct s3req *q, char *h, size_t cap)
{
    snprintf(h, cap, "x-amz-request-id: %s\r\n", q->reqid);
}

static void s3_error(struct s3req *q, const char *code, const char *message)
{
    struct s3xml_out o = {0};
    char hdr[128], res[MKV_URI_MAX + 8];
    int status = s3xml_error_status(code);

    if (status == 0) { /* a code the table lacks: a defect here, not the client's */
        log_error("S3 error code %s has no status", code);
        status = 500;
    }

    snprintf(res, sizeof(res), "%.*s", (int)q->pathlen, q->path ? q->path : "/");
    common_headers(q, hdr, sizeof(hdr));
    s3xml_error(&o, code, message ? message : s3xml_error_message(code), res, q->reqid);
    if (o.oom)
        reply(q->r, 500, hdr, "application/xml", NULL, 0);
    else
        reply(q->r, status, hdr, "application/xml", o.buf, o.len);
    s3xml_out_free(&o);
}

static void s3_xml(struct s3req *q, int status, const char *extra, struct s3xml_out *o)
{
    char hdr[1024];

    if (o->oom) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    snprintf(hdr, sizeof(hdr), "x-amz-request-id: %s\r\n%s", q->reqid, extra ? extra : "");
    reply(q->r, status, hdr, "application/xml", o->buf, o->len);
}

static void s3_empty(struct s3req *q, int status, const char *extra)
{
    char hdr[8192];

    snprintf(hdr, sizeof(hdr), "x-amz-request-id: %s\r\n%s", q->reqid, extra ? extra : "");
    reply(q->r, status, hdr, NULL, NULL, 0);
}

/* ---- request parts ---------------------------------------------------- */

/* A request header by its lowercase name, as FastCGI names it. */
static const char *header_of(void *arg, const char *lname)
{
    struct req *r = arg;
    char name[128];
    size_t i = 0, o = 0;
    const char *v;

    if (!strcmp(lname, "content-type"))
        return (v = FCGX_GetParam("CONTENT_TYPE", r->fr->envp)) && *v ? v : NULL;
    if (!strcmp(lname, "host")) /* as signed: nginx/mkv-s3.conf */
        return (v = FCGX_GetParam("MKV_HOST", r->fr->envp)) && *v
                   ? v
                   : FCGX_GetParam("HTTP_HOST", r->fr->envp);
    if (!strcmp(lname, "content-length"))
        return (v = FCGX_GetParam("CONTENT_LENGTH", r->fr->envp)) && *v ? v : NULL;
    o = (size_t)snprintf(name, sizeof(name), "HTTP_");
    for (; lname[i] && o + 1 < sizeof(name); i++)
        name[o++] = lname[i] == '-' ? '_' : (char)toupper((unsigned char)lname[i]);
    if (lname[i])
        return NULL;
    name[o] = '\0';
    return FCGX_GetParam(name, r->fr->envp);
}

static const char *hdr(struct s3req *q, const char *lname)
{
    const char *v = header_of(q->r, lname);

    return v ? v : "";
}

/* A query parameter, decoded: 1 found, 0 absent, -1 malformed. */
static int qparam(struct s3req *q, const char *name, char *out, size_t cap, size_t *len)
{
    struct mkv_reject rej;
    size_t n = 0;
    int found = 0;

    if (!q->query)
        return 0;
    if (query_param(q->query, name, out, cap, len ? len : &n, &found, &rej) < 0)
        return -1;
    return found;
}

/* Whether the query names subresource (with or without a value). */
static int has_sub(struct s3req *q, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = q->query; p && *p;) {
        const char *e = strchr(p, '&');
        size_t l = e ? (size_t)(e - p) : strlen(p);

        if (l >= n && !strncmp(p, name, n) && (l == n || p[n] == '='))
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Splits the decoded path "/B[/KEY]" (r->key) into bucket and key. */
static int split_path(struct s3req *q)
{
    struct req *r = q->r;
    const char *s = r->key + 1, *slash;
    size_t rest = r->klen - 1;

    if (r->klen == 0 || r->key[0] != '/')
        return -1;
    slash = memchr(s, '/', rest);
    q->blen = slash ? (size_t)(slash - s) : rest;
    if (q->blen > S3_BUCKET_MAX)
        return -1;
    memcpy(q->bucket, s, q->blen);
    q->bucket[q->blen] = '\0';
    q->okey = slash ? slash + 1 : s + rest;
    q->oklen = slash ? rest - q->blen - 1 : 0;
    q->has_key = q->oklen > 0;
    return 0;
}

static int check_auth(struct s3req *q)
{
    struct sigv4_req sr = {
        .method = q->r->method, .header = header_of, .harg = q->r, .now = (long long)time(NULL)};
    char path[MKV_URI_MAX], why[256];
    int rc;

    if (!q->w->s3creds) {
        s3_error(q, "AccessDenied", "no S3 credentials are configured (setting s3_credentials)");
        return -1;
    }
    snprintf(path, sizeof(path), "%.*s", (int)q->pathlen, q->path);
    sr.path = path;
    sr.query = q->query;
    rc = sigv4_verify(q->w->s3creds, &sr, &q->auth, why, sizeof(why));
    switch (rc) {
    case 0: return 0;
    case SIGV4_MISSING: s3_error(q, "AccessDenied", "anonymous requests are not served"); break;
    case SIGV4_MALFORMED:
        s3_error(q,
                 q->query && strstr(q->query, "X-Amz-") ? "AuthorizationQueryParametersError"
                                                        : "AuthorizationHeaderMalformed",
                 why);
        break;
    case SIGV4_UNKNOWN_KEY: s3_error(q, "InvalidAccessKeyId", NULL); break;
    case SIGV4_MISMATCH: s3_error(q, "SignatureDoesNotMatch", NULL); break;
    case SIGV4_SKEW: s3_error(q, "RequestTimeTooSkewed", NULL); break;
    case SIGV4_EXPIRED: s3_error(q, "AccessDenied", "Request has expired"); break;
    default: s3_error(q, "InvalidRequest", why); break;
    }
    return -1;
}

/* The bucket exists: 0, or the error answered and -1. */
static int need_bucket(struct s3req *q, long long *ctime)
{
    int rc = s3_bucket_get(q->w->ix, q->bucket, q->blen, ctime);

    if (rc == S3STORE_OK)
        return 0;
    s3_error(q, rc == S3STORE_NOBUCKET ? "NoSuchBucket" : "InternalError",
             rc == S3STORE_NOBUCKET ? NULL : "index read failed");
    return -1;
}

/* ---- the body of a PUT ------------------------------------------------ */

/* Reads the value the way it was sent (plain, or aws-chunked), and checks
 * what the request said of it: the signed SHA-256, a checksum header.  The
 * check runs as the last byte passes, before it is handed on, so a mismatch
 * fails the store's read and nothing is kept. */
struct s3body {
    body_read_fn rd;
    void *rdarg;
    long long length, got;
    EVP_MD_CTX *sha; /* the signed payload hash, or NULL */
    unsigned char want_sha[32];
    struct sigv4_sum sum; /* a checksum header, alg 0: none */
    const char *want_sum;
    struct sigv4_chunked *chunked;
    const char *bad; /* the S3 error code of a failed check */
    char why[160];
};

static int body_final(struct s3body *b)
{
    unsigned char d[32];
    unsigned int dl = 0;
    char tail[1];

    if (b->chunked && sigv4_chunked_read(b->chunked, tail, sizeof(tail)) != 0) {
        b->bad = "IncompleteBody";
        snprintf(b->why, sizeof(b->why), "%s", b->chunked->why);
        return -1;
    }
    if (b->sha && (EVP_DigestFinal_ex(b->sha, d, &dl) != 1 || memcmp(d, b->want_sha, 32) != 0)) {
        b->bad = "XAmzContentSHA256Mismatch";
        snprintf(b->why, sizeof(b->why),
                 "The provided 'x-amz-content-sha256' header does not match what was computed.");
        return -1;
    }
    if (b->sum.alg && !sigv4_sum_matches(&b->sum, b->want_sum)) {
        b->bad = "BadDigest";
        snprintf(b->why, sizeof(b->why),
                 "The checksum you specified did not match the calculated checksum.");
        return -1;
    }
    return 0;
}

static ssize_t s3body_read(void *arg, char *buf, size_t cap)
{
    struct s3body *b = arg;
    ssize_t n;

    if (b->length >= 0 && (long long)cap > b->length - b->got)
        cap = (size_t)(b->length - b->got);
    if (cap == 0)
        return 0;
    n = b->rd(b->rdarg, buf, cap);
    if (n < 0) {
        if (b->chunked && !b->bad) {
            b->bad = "InvalidRequest";
            snprintf(b->why, sizeof(b->why), "%s", b->chunked->why);
        }
        return -1;
    }
    if (n == 0)
        return 0; /* short: the store says so */
    if (b->sha && EVP_DigestUpdate(b->sha, buf, (size_t)n) != 1)
        return -1;
    if (b->sum.alg)
        sigv4_sum_update(&b->sum, buf, (size_t)n);
    b->got += n;
    if (b->got == b->length && body_final(b) < 0)
        return -1;
    return n;
}

static void s3body_free(struct s3body *b)
{
    if (b->sha)
        EVP_MD_CTX_free(b->sha);
    if (b->sum.alg)
        sigv4_sum_free(&b->sum);
    if (b->chunked) {
        sigv4_chunked_free(b->chunked);
        free(b->chunked);
    }
}

/* The checksum header the request carries, if any. */
static const char *const sum_headers[] = {"x-amz-checksum-crc32", "x-amz-checksum-crc32c",
                                          "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1",
                                          "x-amz-checksum-sha256"};

static int open_s3body(struct s3req *q, struct s3body *b)
{
    const char *cl = hdr(q, "content-length");
    int pm = q->auth.payload;

    memset(b, 0, sizeof(*b));
    b->rd = read_fcgi;
    b->rdarg = q->r->fr->in;
    b->length = -1;
    if (*cl && num_parse(cl, 0, S3_LENGTH_MAX * 2, &b->length) < 0) {
        s3_error(q, "InvalidArgument", "invalid Content-Length");
        return -1;
    }
    /* An aws-chunked body announces its length in x-amz-decoded-content-length
     * (and may come with Transfer-Encoding: chunked, no Content-Length). */
    if (!*cl && (pm == SIGV4_PAYLOAD_SHA256 || pm == SIGV4_PAYLOAD_UNSIGNED)) {
        s3_error(q, "MissingContentLength", "You must provide the Content-Length HTTP header.");
        return -1;
    }
    if (pm == SIGV4_PAYLOAD_SHA256) {
        memcpy(b->want_sha, q->auth.payload_sha256, 32);
        if (!(b->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
            s3_error(q, "InternalError", "no SHA-256");
            return -1;
        }
    } else if (pm != SIGV4_PAYLOAD_UNSIGNED) {
        const char *dl = hdr(q, "x-amz-decoded-content-length");
        long long n;

        if (num_parse(dl, 0, S3_LENGTH_MAX, &n) < 0) {
            s3_error(q, "MissingContentLength",
                     "aws-chunked uploads need "
                     "x-amz-decoded-content-length");
            return -1;
        }
        if (!(b->chunked = calloc(1, sizeof(*b->chunked)))) {
            s3_error(q, "InternalError", "out of memory");
            return -1;
        }
        sigv4_chunked_init(b->chunked, &q->auth, pm, read_fcgi, q->r->fr->in,
                           header_of(q->r, "x-amz-trailer"));
        sigv4_chunked_set_length(b->chunked, n);
        b->rd = sigv4_chunked_read;
        b->rdarg = b->chunked;
        b->length = n;
    }
    if (b->length > S3_LENGTH_MAX) {
        s3_error(q, "EntityTooLarge", NULL);
        return -1;
    }
    for (size_t i = 0; i < sizeof(sum_headers) / sizeof(sum_headers[0]); i++) {
        const char *v = header_of(q->r, sum_headers[i]);

        if (!v)
            continue;
        if (sigv4_sum_init(&b->sum, sum_headers[i]) < 0) {
            s3_error(q, "InvalidRequest", "unsupported checksum algorithm");
            return -1;
        }
        b->want_sum = v;
        break;
    }
    return 0;
}

/* ---- objects ---------------------------------------------------------- */

/* The record's S3 fields: metadata kept at PutObject (s3meta.h). */
static void meta_headers(const struct mkv_record *rec, char *out, size_t cap, int *has_ctype)
{
    size_t pos = 0, o = 0;
    unsigned type;
    const unsigned char *v;
    size_t n;

    *has_ctype = 0;
    out[0] = '\0';
    while (recbin_ext_next(rec->ext, rec->extlen, &pos, &type, &v, &n) == 1) {
        const char *name = s3meta_header(type);
        int k;

        if (!name)
            continue;
        *has_ctype |= type == S3META_CONTENT_TYPE;
        if (type == S3META_USER)
            k = snprintf(out + o, cap - o, "x-amz-meta-%.*s\r\n", (int)n, (const char *)v);
        else
            k = snprintf(out + o, cap - o, "%s: %.*s\r\n", name, (int)n, (const char *)v);
        if (k < 0 || (size_t)k >= cap - o) {
            out[o] = '\0';
            return;
        }
        o += (size_t)k;
    }
}

/* The object's stored record: 0, or answered (NoSuchKey, ...) and -1. */
static int get_object(struct s3req *q, struct mkv_record *rec)
{
    int rc = index_get(q->w->ix, q->r->key, q->r->klen, rec);

    if (rc == MKV_OK && !rec->deleted)
        return 0;
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

/* An HTTP date (RFC 1123): the time, or -1. */
static long long parse_http_date(const char *s)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    return (long long)timegm(&tm);
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

/* S3's conditional reads: 0 to go on, or answered (304, 412) and -1. */
static int preconditions(struct s3req *q, const char *etag, long long mtime, const char *extra)
{
    const char *im = hdr(q, "if-match"), *inm = hdr(q, "if-none-match");
    const char *ims = hdr(q, "if-modified-since"), *ius = hdr(q, "if-unmodified-since");
    long long t;

    if (*im && !etag_in(im, etag)) {
        s3_error(q, "PreconditionFailed", NULL);
        return -1;
    }
    if (!*im && *ius && (t = parse_http_date(ius)) >= 0 && mtime > t) {
        s3_error(q, "PreconditionFailed", NULL);
        return -1;
    }
    if (*inm && etag_in(inm, etag)) {
        s3_empty(q, 304, extra);
        return -1;
    }
    if (!*inm && *ims && (t = parse_http_date(ims)) >= 0 && mtime <= t) {
        s3_empty(q, 304, extra);
        return -1;
    }
    return 0;
}

/* The ETag of a record: its MD5 (multipart: the one CompleteMultipartUpload
 * kept). */
static void etag_of(const struct mkv_record *rec, char *out, size_t cap)
{
    size_t pos = 0, n;
    unsigned type;
    const unsigned char *v;

    while (recbin_ext_next(rec->ext, rec->extlen, &pos, &type, &v, &n) == 1)
        if (type == S3META_ETAG && n < cap) {
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    snprintf(out, cap, "%s", rec->hash);
}

static void object_headers(const struct mkv_record *rec, const char *etag, char *out, size_t cap)
{
    char date[40], meta[2048];
    int has_ctype;

    s3xml_http_date(date, rec->mtime);
    meta_headers(rec, meta, sizeof(meta), &has_ctype);
    snprintf(out, cap, "ETag: \"%s\"\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n%s%s", etag,
             date, meta, has_ctype ? "" : "Content-Type: binary/octet-stream\r\n");
}

static void head_object(struct s3req *q)
{
    struct mkv_record rec;
    char etag[80], h[4096];

    if (get_object(q, &rec) < 0)
        return;
    etag_of(&rec, etag, sizeof(etag));
    object_headers(&rec, etag, h, sizeof(h));
    if (preconditions(q, etag, rec.mtime, h) < 0)
        return;
    q->r->head_length = rec.has_size ? (long long)rec.size : -1;
    s3_empty(q, 200, h);
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

/* Escapes a value for the redirect's query (a header value the front adds). */
static size_t arg_escape(const char *s, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

/* The record's headers nginx keeps across an X-Accel-Redirect besides
 * Content-Type (the others, and user metadata, only HEAD returns). */
static const char *redirect_kept(const struct mkv_record *rec, char *out)
{
    size_t pos = 0, n, o = 0;
    unsigned type;
    const unsigned char *v;

    out[0] = '\0';
    while (recbin_ext_next(rec->ext, rec->extlen, &pos, &type, &v, &n) == 1) {
        int k;

        if (type != S3META_CACHE_CONTROL && type != S3META_CONTENT_DISPOSITION &&
            type != S3META_EXPIRES)
            continue;
        k = snprintf(out + o, 1024 - o, "%s: %.*s\r\n", s3meta_header(type), (int)n,
                     (const char *)v);
        if (k < 0 || (size_t)k >= 1024 - o) {
            out[o] = '\0';
            break;
        }
        o += (size_t)k;
    }
    return out;
}

static void get_object_bytes(struct s3req *q)
{
    struct mkv_record rec;
    struct mkv_placement p;
    char etag[80], h[4096], path[MKV_PATH_MAX], why[256] = "", date[40], ctype[512];
    char loc[MKV_PATH_MAX + MKV_VOLPATH_MAX + 2048], elm[128], addr[MKV_VOLPATH_MAX + 64];
    char kept[1024];
    int chosen, answered;
    size_t pos = 0, n;
    unsigned type;
    const unsigned char *v;

    if (get_object(q, &rec) < 0)
        return;
    etag_of(&rec, etag, sizeof(etag));
    object_headers(&rec, etag, h, sizeof(h));
    if (preconditions(q, etag, rec.mtime, h) < 0)
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
    snprintf(ctype, sizeof(ctype), "binary/octet-stream");
    while (recbin_ext_next(rec.ext, rec.extlen, &pos, &type, &v, &n) == 1)
        if (type == S3META_CONTENT_TYPE && n < sizeof(ctype)) {
            memcpy(ctype, v, n);
            ctype[n] = '\0';
        }
    s3xml_http_date(date, rec.mtime);
    if (volume_address(rec.vols[chosen], addr, sizeof(addr)) < 0 ||
        arg_escape(date, strlen(date), elm, sizeof(elm)) == 0) {
        s3_error(q, "ServiceUnavailable", "cannot resolve the volume's name");
        return;
    }
    /* The front's internal location proxies the replica; Content-Type and
     * the other headers nginx keeps across the redirect come from here,
     * ETag and Last-Modified from the path (nginx/mkv-s3.conf). */
    snprintf(loc, sizeof(loc),
             "X-Accel-Redirect: /_mkv_volume/%s/%s/%s/%s%s\r\nContent-Type: %s\r\n%s",
             q->w->cfg->volume_scheme, etag, elm, addr, path, ctype, redirect_kept(&rec, kept));
    snprintf(q->r->volume, sizeof(q->r->volume), "%s", rec.vols[chosen]);
    reply(q->r, 200, loc, NULL, NULL, 0);
}

/* Stores the request's body at key (the object, or a part) and answers
 * with its ETag. */
static void put_body(struct s3req *q, const char *key, size_t klen, const unsigned char *ext,
                     size_t extlen)
{
    struct mkv_store s = store_of(q->w);
    struct store_note note = {0};
    struct s3body b;
    unsigned char want[16];
    const char *cmd5 = hdr(q, "content-md5");
    char why[512], h[128], hex[33];
    struct store_body sb;
    int rc;

    if (*cmd5 && parse_content_md5(cmd5, want) < 0) {
        s3_error(q, "InvalidDigest", NULL);
        return;
    }
    if (open_s3body(q, &b) < 0)
        return;
    sb = (struct store_body){.length = b.length,
                             .rd = s3body_read,
                             .rdarg = &b,
                             .want_md5 = *cmd5 ? want : NULL,
                             .overwrite = 1,
                             .ext = ext,
                             .extlen = extlen};
    if (b.length == 0) {
        s3_error(q, "InvalidRequest", "mkv does not store empty values");
        goto cleanup;
    }
    rc = store_put(&s, key, klen, param(q->r, "MKV_REQUEST_ID"), &sb, &note, why, sizeof(why));
    q->r->bytes_in = note.bytes_in;
    snprintf(q->r->volume, sizeof(q->r->volume), "%s", note.volume);
    switch (rc) {
    case STORE_OK:
        md5_hex(note.md5, hex);
        snprintf(h, sizeof(h), "ETag: \"%s\"\r\n", hex);
        s3_empty(q, 200, h);
        break;
    case STORE_BODY:
        if (b.bad)
            s3_error(q, b.bad, b.why);
        else
            s3_error(q, "IncompleteBody", why);
        break;
    case STORE_BADMD5: s3_error(q, "BadDigest", NULL); break;
    case STORE_BUSY: s3_error(q, "OperationAborted", why); break;
    case STORE_RECOVERING: s3_error(q, "ServiceUnavailable", why); break;
    default: s3_error(q, "InternalError", why); break;
    }
cleanup:
    s3body_free(&b);
}

static void put_object(struct s3req *q)
{
    unsigned char ext[MKV_RECORD_EXT_MAX];
    size_t extlen = 0;
    char why[256];

    if (s3meta_from_request(q->r->fr->envp, ext, sizeof(ext), &extlen, why, sizeof(why)) < 0) {
        s3_error(q, "MetadataTooLarge", why);
        return;
    }
    put_body(q, q->r->key, q->r->klen, ext, extlen);
}

/* Reads a small XML body whole into the parser. */
static int read_xml(struct s3req *q, struct s3xml_parser *p, size_t max, int need)
{
    char buf[16384], why[256];
    size_t total = 0;
    ssize_t n;

    while ((n = read_fcgi(q->r->fr->in, buf, sizeof(buf))) > 0) {
        total += (size_t)n;
        if (total > max) {
            s3_error(q, "MalformedXML", "the XML body is too long");
            return -1;
        }
        if (s3xml_feed(p, buf, (size_t)n, 0, why, sizeof(why)) < 0) {
            s3_error(q, "MalformedXML", why);
            return -1;
        }
    }
    if (n < 0) {
        s3_error(q, "IncompleteBody", "reading the request body failed");
        return -1;
    }
    if (total == 0 && !need)
        return 1;
    if (s3xml_feed(p, "", 0, 1, why, sizeof(why)) < 0) {
        s3_error(q, "MalformedXML", why);
        return -1;
    }
    return 0;
}

/* ---- copies ----------------------------------------------------------- */

/* The copy's source (x-amz-copy-source: "[/]BUCKET/KEY[?versionId=null]",
 * URL-encoded) as a native key into key: 0, or answered and -1. */
static int copy_source(struct s3req *q, char *key, size_t cap, size_t *klen)
{
    const char *src = hdr(q, "x-amz-copy-source"), *qm = strchr(src, '?');
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
 * multipart ETag: the copy is one value with its own MD5) or the request's
 * (REPLACE). */
static int copy_fields(struct s3req *q, const char *src, size_t srclen, unsigned char *ext,
                       size_t *extlen)
{
    const char *dir = hdr(q, "x-amz-metadata-directive");
    struct mkv_record rec;
    size_t pos = 0, n;
    unsigned type;
    const unsigned char *v;
    char why[256];

    *extlen = 0;
    if (!strcmp(dir, "REPLACE")) {
        if (s3meta_from_request(q->r->fr->envp, ext, MKV_RECORD_EXT_MAX, extlen, why, sizeof(why)) <
            0) {
            s3_error(q, "MetadataTooLarge", why);
            return -1;
        }
        return 0;
    }
    if (*dir && strcmp(dir, "COPY")) {
        s3_error(q, "InvalidArgument", "Unknown metadata directive.");
        return -1;
    }
    if (index_get(q->w->ix, src, srclen, &rec) != MKV_OK || rec.deleted) {
        s3_error(q, "NoSuchKey", NULL);
        return -1;
    }
    while (recbin_ext_next(rec.ext, rec.extlen, &pos, &type, &v, &n) == 1)
        if (type != S3META_ETAG)
            recbin_ext_add(ext, MKV_RECORD_EXT_MAX, extlen, type, v, n);
    return 0;
}

/* "bytes=FIRST-LAST" of x-amz-copy-source-range: 0 (first -1: none), or
 * answered and -1. */
static int copy_range(struct s3req *q, long long *first, long long *last)
{
    const char *r = hdr(q, "x-amz-copy-source-range");
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
static void copy_into(struct s3req *q, const char *dst, size_t dstlen, int part)
{
    struct mkv_store s = store_of(q->w);
    struct store_note note;
    struct s3xml_out o = {0};
    unsigned char ext[MKV_RECORD_EXT_MAX];
    char src[MKV_URI_MAX], why[512], hex[33], t[32];
    size_t srclen, extlen = 0;
    long long first = -1, last = -1;
    int rc;

    if (copy_source(q, src, sizeof(src), &srclen) < 0 ||
        (part ? copy_range(q, &first, &last) : copy_fields(q, src, srclen, ext, &extlen)) < 0)
        return;
    if (!part && srclen == dstlen && !memcmp(src, dst, dstlen) &&
        strcmp(hdr(q, "x-amz-metadata-directive"), "REPLACE") != 0) {
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

/* ---- multipart uploads ------------------------------------------------ */

/* The request's upload (uploadId, of this key): 0, or answered and -1. */
static int need_upload(struct s3req *q, struct s3_upload *u)
{
    char id[S3_UPLOAD_ID_LEN + 8] = "";
    int rc = qparam(q, "uploadId", id, sizeof(id), NULL);

    if (rc > 0)
        rc = s3_upload_get(q->w->ix, id, q->r->key, q->r->klen, u);
    if (rc == S3STORE_OK)
        return 0;
    if (rc == S3STORE_INDEX)
        s3_error(q, "InternalError", "index read failed");
    else
        s3_error(q, "NoSuchUpload", NULL);
    return -1;
}

static void create_upload(struct s3req *q)
{
    unsigned char ext[MKV_RECORD_EXT_MAX];
    struct s3_upload *u = malloc(sizeof(*u));
    struct s3xml_out o = {0};
    size_t extlen = 0;
    char why[256];

    if (!u) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (s3meta_from_request(q->r->fr->envp, ext, sizeof(ext), &extlen, why, sizeof(why)) < 0) {
        s3_error(q, "MetadataTooLarge", why);
        goto cleanup;
    }
    if (s3_upload_create(q->w->ix, q->r->key, q->r->klen, ext, extlen, (long long)time(NULL), u) !=
        S3STORE_OK) {
        s3_error(q, "InternalError", "index write failed");
        goto cleanup;
    }
    s3xml_open(&o, "InitiateMultipartUploadResult");
    s3xml_elem(&o, "Bucket", q->bucket, q->blen);
    s3xml_elem(&o, "Key", q->okey, q->oklen);
    s3xml_elem(&o, "UploadId", u->id, S3_UPLOAD_ID_LEN);
    s3xml_close(&o, "InitiateMultipartUploadResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
    free(u);
}

static void upload_part(struct s3req *q)
{
    struct s3_upload *u = malloc(sizeof(*u));
    char num[16] = "", key[64];
    long long n;
    int kl;

    if (!u) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (need_upload(q, u) < 0)
        goto cleanup;
    if (qparam(q, "partNumber", num, sizeof(num), NULL) <= 0 ||
        num_parse(num, 1, S3_PART_MAX, &n) < 0) {
        s3_error(q, "InvalidArgument",
                 "Part number must be an integer between 1 and 10000, "
                 "inclusive");
        goto cleanup;
    }
    kl = s3_part_key(u->id, (int)n, key);
    if (*hdr(q, "x-amz-copy-source"))
        copy_into(q, key, (size_t)kl, 1);
    else
        put_body(q, key, (size_t)kl, NULL, 0);
cleanup:
    free(u);
}

static void complete_upload(struct s3req *q)
{
    struct s3xml_parser *p = s3xml_parser_new(S3XML_COMPLETE);
    struct s3_upload *u = malloc(sizeof(*u));
    struct s3_part_ref *refs = NULL;
    struct mkv_store s = store_of(q->w);
    struct store_note note;
    struct s3xml_out o = {0};
    char etag[48], why[512], loc[MKV_URI_MAX + 64];
    size_t n;
    int rc;

    if (!p || !u) {
        s3_error(q, "InternalError", "out of memory");
        goto cleanup;
    }
    if (need_upload(q, u) < 0 || read_xml(q, p, S3XML_BODY_MAX, 1) < 0)
        goto cleanup;
    n = s3xml_nparts(p);
    if (!(refs = calloc(n ? n : 1, sizeof(*refs)))) {
        s3_error(q, "InternalError", "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        struct s3xml_part part;

        if (s3xml_part(p, i, &part) < 0) {
            s3_error(q, "MalformedXML", NULL);
            goto cleanup;
        }
        refs[i].number = part.number;
        if (part.etag_is_md5)
            snprintf(refs[i].md5, sizeof(refs[i].md5), "%s", part.etag);
    }
    rc = s3_upload_complete(&s, u, refs, (int)n, param(q->r, "MKV_REQUEST_ID"), etag, &note, why,
                            sizeof(why));
    q->r->bytes_in = 0;
    snprintf(q->r->volume, sizeof(q->r->volume), "%s", note.volume);
    switch (rc) {
    case S3STORE_OK: break;
    case S3STORE_BADPART: s3_error(q, "InvalidPart", why); goto cleanup;
    case S3STORE_ORDER: s3_error(q, "InvalidPartOrder", why); goto cleanup;
    case S3STORE_SMALL: s3_error(q, "EntityTooSmall", why); goto cleanup;
    default: s3_error(q, "InternalError", why); goto cleanup;
    }
    snprintf(loc, sizeof(loc), "http://%s%.*s", hdr(q, "host"), (int)q->pathlen, q->path);
    s3xml_open(&o, "CompleteMultipartUploadResult");
    s3xml_elem(&o, "Location", loc, strlen(loc));
    s3xml_elem(&o, "Bucket", q->bucket, q->blen);
    s3xml_elem(&o, "Key", q->okey, q->oklen);
    s3xml_elemf(&o, "ETag", "\"%s\"", etag);
    s3xml_close(&o, "CompleteMultipartUploadResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
    s3xml_parser_free(p);
    free(refs);
    free(u);
}

static void abort_upload(struct s3req *q)
{
    struct s3_upload *u = malloc(sizeof(*u));
    struct mkv_store s = store_of(q->w);
    char why[512];

    if (!u) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (need_upload(q, u) == 0) {
        if (s3_upload_abort(&s, u, why, sizeof(why)) == S3STORE_OK)
            s3_empty(q, 204, NULL);
        else
            s3_error(q, "InternalError", why);
    }
    free(u);
}

struct parts_page {
    struct s3xml_out *o;
    int max, count, truncated, last;
};

static int list_part(void *arg, int number, const struct mkv_record *rec)
{
    struct parts_page *pg = arg;
    char t[32];

    if (pg->count == pg->max) {
        pg->truncated = 1;
        return 1;
    }
    pg->count++;
    pg->last = number;
    s3xml_time(t, rec->mtime);
    s3xml_open(pg->o, "Part");
    s3xml_elemf(pg->o, "PartNumber", "%d", number);
    s3xml_elem(pg->o, "LastModified", t, strlen(t));
    s3xml_elemf(pg->o, "ETag", "\"%s\"", rec->hash);
    s3xml_elemf(pg->o, "Size", "%llu", rec->size);
    s3xml_close(pg->o, "Part");
    return 0;
}

static void list_parts(struct s3req *q)
{
    struct s3_upload *u = malloc(sizeof(*u));
    struct s3xml_out o = {0};
    struct parts_page pg = {.o = &o, .max = 1000};
    char num[16] = "", mx[16] = "";
    long long marker = 0, max = 1000;

    if (!u) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (need_upload(q, u) < 0)
        goto cleanup;
    if (qparam(q, "part-number-marker", num, sizeof(num), NULL) < 0 ||
        qparam(q, "max-parts", mx, sizeof(mx), NULL) < 0 ||
        (*num && num_parse(num, 0, S3_PART_MAX, &marker) < 0) ||
        (*mx && num_parse(mx, 0, 1000000, &max) < 0)) {
        s3_error(q, "InvalidArgument", "part-number-marker and max-parts must be numbers");
        goto cleanup;
    }
    pg.max = max > 1000 ? 1000 : (int)max;
    s3xml_open(&o, "ListPartsResult");
    s3xml_elem(&o, "Bucket", q->bucket, q->blen);
    s3xml_elem(&o, "Key", q->okey, q->oklen);
    s3xml_elem(&o, "UploadId", u->id, S3_UPLOAD_ID_LEN);
    s3xml_elemf(&o, "PartNumberMarker", "%lld", marker);
    s3xml_elemf(&o, "MaxParts", "%d", pg.max);
    s3xml_elemf(&o, "StorageClass", "STANDARD");
    if (pg.max > 0 &&
        s3_upload_parts(q->w->ix, u->id, (int)marker + 1, list_part, &pg) != S3STORE_OK) {
        s3_error(q, "InternalError", "index read failed");
        goto cleanup;
    }
    if (pg.truncated)
        s3xml_elemf(&o, "NextPartNumberMarker", "%d", pg.last);
    s3xml_elemf(&o, "IsTruncated", "%s", pg.truncated ? "true" : "false");
    s3xml_close(&o, "ListPartsResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
    free(u);
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

static void delete_object(struct s3req *q)
{
    char why[512];
    int rc = delete_key(q, q->r->key, q->r->klen, why, sizeof(why));

    if (rc == STORE_OK)
        s3_empty(q, 204, NULL);
    else
        s3_error(q, delete_code(rc), why);
}

static void delete_objects(struct s3req *q)
{
    struct s3xml_parser *p = s3xml_parser_new(S3XML_DELETE);
    struct s3xml_out o = {0};
    char key[MKV_URI_MAX], why[512];
    int quiet;

    if (!p) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (read_xml(q, p, S3XML_BODY_MAX, 1) < 0)
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

/* ---- buckets ---------------------------------------------------------- */

static int list_bucket(void *arg, const char *name, size_t len, long long ctime)
{
    struct s3xml_out *o = arg;
    char t[32];

    s3xml_time(t, ctime);
    s3xml_open(o, "Bucket");
    s3xml_elem(o, "Name", name, len);
    s3xml_elem(o, "CreationDate", t, strlen(t));
    s3xml_close(o, "Bucket");
    return 0;
}

static void list_buckets(struct s3req *q)
{
    struct s3xml_out o = {0};

    s3xml_open(&o, "ListAllMyBucketsResult");
    s3xml_open(&o, "Owner");
    s3xml_elemf(&o, "ID", "%s", q->auth.access_key);
    s3xml_elemf(&o, "DisplayName", "%s", q->auth.access_key);
    s3xml_close(&o, "Owner");
    s3xml_open(&o, "Buckets");
    if (s3_bucket_list(q->w->ix, list_bucket, &o) != S3STORE_OK) {
        s3_error(q, "InternalError", "index read failed");
        goto cleanup;
    }
    s3xml_close(&o, "Buckets");
    s3xml_close(&o, "ListAllMyBucketsResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
}

static void create_bucket(struct s3req *q)
{
    struct s3xml_parser *p;
    char h[128];
    int rc;

    if (!s3_bucket_name_ok(q->bucket, q->blen)) {
        s3_error(q, "InvalidBucketName", NULL);
        return;
    }
    if (!(p = s3xml_parser_new(S3XML_LOCATION))) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    rc = read_xml(q, p, S3XML_CONF_MAX, 0);
    s3xml_parser_free(p);
    if (rc < 0)
        return;
    rc = s3_bucket_create(q->w->ix, q->bucket, q->blen, (long long)time(NULL));
    if (rc == S3STORE_EXISTS) {
        s3_error(q, "BucketAlreadyOwnedByYou", NULL);
        return;
    }
    if (rc != S3STORE_OK) {
        s3_error(q, "InternalError", "index write failed");
        return;
    }
    snprintf(h, sizeof(h), "Location: /%s\r\n", q->bucket);
    s3_empty(q, 200, h);
}

static void delete_bucket(struct s3req *q)
{
    switch (s3_bucket_delete(q->w->ix, q->bucket, q->blen)) {
    case S3STORE_OK: s3_empty(q, 204, NULL); break;
    case S3STORE_NOBUCKET: s3_error(q, "NoSuchBucket", NULL); break;
    case S3STORE_NOTEMPTY: s3_error(q, "BucketNotEmpty", NULL); break;
    default: s3_error(q, "InternalError", "index failed"); break;
    }
}

static void bucket_location(struct s3req *q)
{
    const char *region = q->w->cfg->s3_region;
    char body[256], h[128];
    int n;

    if (need_bucket(q, NULL) < 0)
        return;
    /* us-east-1 is S3's empty LocationConstraint.  The region is a setting
     * (letters, digits, '-'), no text from a request. */
    if (!strcmp(region, "us-east-1"))
        region = "";
    n = snprintf(body, sizeof(body),
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint "
                 "xmlns=\"" S3XML_NS "\">%.64s</LocationConstraint>",
                 region);
    common_headers(q, h, sizeof(h));
    reply(q->r, 200, h, "application/xml", body, (size_t)n);
}

/* ---- listings --------------------------------------------------------- */

/* One page of a listing, walked in key order from the index.  A delimiter
 * folds the keys under each common prefix into one entry; the walk then
 * jumps past them (a restart after the prefix) instead of reading each. */
struct listing {
    struct s3req *q;
    struct s3xml_out *o;
    char base[MKV_URI_MAX]; /* "/B/" + prefix: every key listed starts so */
    size_t baselen, bprefix;
    char delim[16];
    size_t dlen;
    int max, count, truncated, url;
    int versions;           /* ?versions: entries are <Version> */
    char next[MKV_URI_MAX]; /* where the walk goes on (inclusive), or "" */
    size_t nextlen;
    char last[MKV_URI_MAX]; /* the last key or prefix listed (v1's NextMarker) */
    size_t lastlen;
    char cp[MKV_URI_MAX]; /* a common prefix to jump past: restart there */
    size_t cplen;
    int jump;
};

static void list_elem(struct listing *l, const char *name, const char *s, size_t n)
{
    if (l->url)
        s3xml_elem_url(l->o, name, s, n);
    else
        s3xml_elem(l->o, name, s, n);
}

/* The first key after every key starting with s[0..n): s with its last
 * byte raised; 0 if there is none (a run of 0xff bytes). */
static size_t after_prefix(const char *s, size_t n, char *out)
{
    memcpy(out, s, n);
    while (n > 0 && (unsigned char)out[n - 1] == 0xff)
        n--;
    if (n > 0)
        out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return n;
}

static void list_entry(struct listing *l, const char *key, size_t klen,
                       const struct mkv_record *rec)
{
    char t[32], etag[80];
    const char *k = key + l->bprefix;
    size_t kn = klen - l->bprefix;

    s3xml_time(t, rec->mtime);
    etag_of(rec, etag, sizeof(etag));
    s3xml_open(l->o, l->versions ? "Version" : "Contents");
    list_elem(l, "Key", k, kn);
    if (l->versions) {
        s3xml_elemf(l->o, "VersionId", "null");
        s3xml_elemf(l->o, "IsLatest", "true");
    }
    s3xml_elem(l->o, "LastModified", t, strlen(t));
    s3xml_elemf(l->o, "ETag", "\"%s\"", etag);
    s3xml_elemf(l->o, "Size", "%llu", rec->has_size ? rec->size : 0ULL);
    s3xml_elemf(l->o, "StorageClass", "STANDARD");
    if (l->versions) {
        s3xml_open(l->o, "Owner");
        s3xml_elemf(l->o, "ID", "%s", l->q->auth.access_key);
        s3xml_close(l->o, "Owner");
    }
    s3xml_close(l->o, l->versions ? "Version" : "Contents");
}

static int list_visit(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                      const char *raw, size_t rawlen)
{
    struct listing *l = arg;
    const char *d;

    (void)raw;
    (void)rawlen;
    if (klen < l->baselen || memcmp(key, l->base, l->baselen) != 0)
        return 1; /* past the prefix: done */
    if (!rec || rec->deleted)
        return 0;
    d = l->dlen ? memmem(key + l->baselen, klen - l->baselen, l->delim, l->dlen) : NULL;
    if (l->count == l->max) {
        l->truncated = 1;
        return 1;
    }
    l->count++;
    if (d) {
        size_t n = (size_t)(d - key) + l->dlen;

        s3xml_open(l->o, "CommonPrefixes");
        list_elem(l, "Prefix", key + l->bprefix, n - l->bprefix);
        s3xml_close(l->o, "CommonPrefixes");
        memcpy(l->last, key, n);
        l->lastlen = n;
        l->nextlen = after_prefix(key, n, l->next);
        l->jump = l->nextlen > 0;
        return l->jump; /* restart past the prefix */
    }
    list_entry(l, key, klen, rec);
    memcpy(l->last, key, klen);
    l->lastlen = klen;
    memcpy(l->next, key, klen);
    l->next[klen] = '\0'; /* the next key after this one */
    l->nextlen = klen + 1;
    return 0;
}

/* Walks from start (inclusive) until the page is full or the prefix ends. */
static int list_walk(struct listing *l, const char *start, size_t slen)
{
    char from[MKV_URI_MAX];
    size_t flen = slen;

    memcpy(from, start, slen);
    for (;;) {
        l->jump = 0;
        if (index_scan(l->q->w->ix, from, flen, 0, list_visit, l) != MKV_OK)
            return -1;
        if (!l->jump || l->truncated)
            return 0;
        memcpy(from, l->next, l->nextlen);
        flen = l->nextlen;
    }
}

static int b64(const unsigned char *in, size_t n, char *out, size_t cap)
{
    if ((n + 2) / 3 * 4 + 1 > cap)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int unb64(const char *in, char *out, size_t cap, size_t *n)
{
    size_t l = strlen(in);
    int k, pad = 0;

    if (l == 0 || l % 4 || l / 4 * 3 > cap)
        return -1;
    pad = (in[l - 1] == '=') + (l > 1 && in[l - 2] == '=');
    k = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)l);
    if (k < pad)
        return -1;
    *n = (size_t)(k - pad);
    return 0;
}

enum { LIST_V1, LIST_V2, LIST_VERSIONS };

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    return c ? c : (an > bn) - (an < bn);
}

static void list_objects(struct s3req *q, int kind)
{
    struct listing *l = calloc(1, sizeof(*l));
    struct s3xml_out o = {0};
    char prefix[MKV_URI_MAX] = "", marker[MKV_URI_MAX] = "", token[MKV_URI_MAX] = "";
    char num[32] = "", enc[16] = "", start[MKV_URI_MAX + 8], tok[2 * MKV_URI_MAX];
    size_t plen = 0, mlen = 0, tlen = 0, slen, dl = 0;
    long long max = LIST_MAX_KEYS;
    int has_token;

    if (!l) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (need_bucket(q, NULL) < 0)
        goto cleanup;
    if (qparam(q, "prefix", prefix, sizeof(prefix) - 1, &plen) < 0 ||
        qparam(q, "delimiter", l->delim, sizeof(l->delim) - 1, &dl) < 0 ||
        qparam(q, "max-keys", num, sizeof(num), NULL) < 0 ||
        qparam(q, "encoding-type", enc, sizeof(enc), NULL) < 0 ||
        qparam(q,
               kind == LIST_V2   ? "start-after"
               : kind == LIST_V1 ? "marker"
                                 : "key-marker",
               marker, sizeof(marker) - 1, &mlen) < 0 ||
        (has_token = qparam(q, "continuation-token", token, sizeof(token), &tlen)) < 0) {
        s3_error(q, "InvalidArgument", "a query parameter is malformed or too long");
        goto cleanup;
    }
    l->dlen = dl;
    if (*num && num_parse(num, 0, 1000000, &max) < 0) {
        s3_error(q, "InvalidArgument", "max-keys must be a number");
        goto cleanup;
    }
    if (*enc && strcmp(enc, "url")) {
        s3_error(q, "InvalidArgument", "Invalid Encoding Method specified in Request");
        goto cleanup;
    }
    l->q = q;
    l->o = &o;
    l->url = *enc != '\0';
    l->versions = kind == LIST_VERSIONS;
    l->max = max > LIST_MAX_KEYS ? LIST_MAX_KEYS : (int)max;
    l->bprefix = (size_t)snprintf(l->base, sizeof(l->base), "/%s/", q->bucket);
    if (l->bprefix + plen >= sizeof(l->base)) {
        s3_error(q, "InvalidArgument", "prefix too long");
        goto cleanup;
    }
    memcpy(l->base + l->bprefix, prefix, plen);
    l->baselen = l->bprefix + plen;
    /* Where the walk starts (inclusive): the prefix, after start-after or
     * marker, or the continuation token's place. */
    memcpy(start, l->base, l->baselen);
    slen = l->baselen;
    if (has_token > 0) {
        if (unb64(token, start, sizeof(start), &slen) < 0 || slen < l->bprefix ||
            memcmp(start, l->base, l->bprefix) != 0) {
            s3_error(q, "InvalidArgument", "The continuation token provided is incorrect");
            goto cleanup;
        }
    } else if (mlen > 0) {
        char m[MKV_URI_MAX + 8];
        size_t n = l->bprefix + mlen;

        memcpy(m, l->base, l->bprefix);
        memcpy(m + l->bprefix, marker, mlen);
        m[n++] = '\0'; /* exclusive: the first key after it */
        if (bytes_cmp(m, n, start, slen) > 0) {
            memcpy(start, m, n);
            slen = n;
        }
    }
    s3xml_open(&o, kind == LIST_VERSIONS ? "ListVersionsResult" : "ListBucketResult");
    s3xml_elem(&o, "Name", q->bucket, q->blen);
    list_elem(l, "Prefix", prefix, plen);
    if (kind == LIST_V1)
        list_elem(l, "Marker", marker, mlen);
    if (kind == LIST_VERSIONS) {
        list_elem(l, "KeyMarker", marker, mlen);
        s3xml_elem(&o, "VersionIdMarker", "", 0);
    }
    if (kind == LIST_V2 && mlen)
        list_elem(l, "StartAfter", marker, mlen);
    if (kind == LIST_V2 && has_token > 0)
        s3xml_elem(&o, "ContinuationToken", token, tlen);
    s3xml_elemf(&o, "MaxKeys", "%d", l->max);
    if (l->dlen)
        list_elem(l, "Delimiter", l->delim, l->dlen);
    if (l->url)
        s3xml_elem(&o, "EncodingType", "url", 3);
    if (l->max > 0 && list_walk(l, start, slen) < 0) {
        s3_error(q, "InternalError", "index read failed");
        goto cleanup;
    }
    s3xml_elemf(&o, "IsTruncated", "%s", l->truncated ? "true" : "false");
    if (kind == LIST_V2)
        s3xml_elemf(&o, "KeyCount", "%d", l->count);
    if (l->truncated && kind == LIST_V2 &&
        b64((const unsigned char *)l->next, l->nextlen, tok, sizeof(tok)) > 0)
        s3xml_elem(&o, "NextContinuationToken", tok, strlen(tok));
    if (l->truncated && kind == LIST_V1)
        list_elem(l, "NextMarker", l->last + l->bprefix, l->lastlen - l->bprefix);
    if (l->truncated && kind == LIST_VERSIONS) {
        list_elem(l, "NextKeyMarker", l->last + l->bprefix, l->lastlen - l->bprefix);
        s3xml_elem(&o, "NextVersionIdMarker", "null", 4);
    }
    s3xml_close(&o, kind == LIST_VERSIONS ? "ListVersionsResult" : "ListBucketResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
    free(l);
}

struct uploads_page {
    struct s3req *q;
    struct s3xml_out *o;
    char prefix[MKV_URI_MAX];
    size_t plen;
    int max, count, truncated;
    char last_key[MKV_KEY_MAX + 1], last_id[S3_UPLOAD_ID_LEN + 1];
};

static int list_upload(void *arg, const struct s3_upload *u)
{
    struct uploads_page *pg = arg;
    char t[32];

    if (u->klen < pg->plen || memcmp(u->key, pg->prefix, pg->plen) != 0)
        return 0;
    if (pg->count == pg->max) {
        pg->truncated = 1;
        return 1;
    }
    pg->count++;
    snprintf(pg->last_key, sizeof(pg->last_key), "%s", u->key + pg->q->blen + 2);
    snprintf(pg->last_id, sizeof(pg->last_id), "%s", u->id);
    s3xml_time(t, u->ctime);
    s3xml_open(pg->o, "Upload");
    s3xml_elem(pg->o, "Key", u->key + pg->q->blen + 2, u->klen - pg->q->blen - 2);
    s3xml_elem(pg->o, "UploadId", u->id, S3_UPLOAD_ID_LEN);
    s3xml_elemf(pg->o, "StorageClass", "STANDARD");
    s3xml_elem(pg->o, "Initiated", t, strlen(t));
    s3xml_close(pg->o, "Upload");
    return 0;
}

/* In upload id order (not key order, as S3's): the uploads of this bucket
 * whose key has the prefix. */
static void list_uploads(struct s3req *q)
{
    struct uploads_page *pg = calloc(1, sizeof(*pg));
    struct s3xml_out o = {0};
    char prefix[MKV_URI_MAX] = "", from[S3_UPLOAD_ID_LEN + 8] = "";
    size_t plen = 0;

    if (!pg) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (need_bucket(q, NULL) < 0)
        goto cleanup;
    if (qparam(q, "prefix", prefix, sizeof(prefix) - 1, &plen) < 0 ||
        qparam(q, "upload-id-marker", from, sizeof(from), NULL) < 0 ||
        q->blen + 2 + plen >= sizeof(pg->prefix)) {
        s3_error(q, "InvalidArgument", "a query parameter is malformed or too long");
        goto cleanup;
    }
    pg->q = q;
    pg->o = &o;
    pg->max = 1000;
    pg->plen =
        (size_t)snprintf(pg->prefix, sizeof(pg->prefix), "/%s/%.*s", q->bucket, (int)plen, prefix);
    s3xml_open(&o, "ListMultipartUploadsResult");
    s3xml_elem(&o, "Bucket", q->bucket, q->blen);
    s3xml_elem(&o, "KeyMarker", "", 0);
    s3xml_elem(&o, "UploadIdMarker", from, strlen(from));
    s3xml_elem(&o, "Prefix", prefix, plen);
    s3xml_elemf(&o, "MaxUploads", "%d", pg->max);
    if (s3_upload_list(q->w->ix, from, list_upload, pg) != S3STORE_OK) {
        s3_error(q, "InternalError", "index read failed");
        goto cleanup;
    }
    if (pg->truncated) {
        s3xml_elem(&o, "NextKeyMarker", pg->last_key, strlen(pg->last_key));
        s3xml_elem(&o, "NextUploadIdMarker", pg->last_id, strlen(pg->last_id));
    }
    s3xml_elemf(&o, "IsTruncated", "%s", pg->truncated ? "true" : "false");
    s3xml_close(&o, "ListMultipartUploadsResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
    free(pg);
}

static void bucket_versioning(struct s3req *q)
{
    struct s3xml_out o = {0};

    if (need_bucket(q, NULL) < 0)
        return;
    s3xml_open(&o, "VersioningConfiguration");
    s3xml_close(&o, "VersioningConfiguration");
    s3_xml(q, 200, NULL, &o);
    s3xml_out_free(&o);
}

/* ---- routing ---------------------------------------------------------- */

/* Subresources S3 has and mkv does not serve: 501, not a listing. */
static const char *const unsupported[] = {"acl",
                                          "policy",
                                          "cors",
                                          "lifecycle",
                                          "tagging",
                                          "website",
                                          "logging",
                                          "notification",
                                          "replication",
                                          "encryption",
                                          "object-lock",
                                          "retention",
                                          "legal-hold",
                                          "accelerate",
                                          "analytics",
                                          "inventory",
                                          "metrics",
                                          "ownershipControls",
                                          "publicAccessBlock",
                                          "requestPayment",
                                          "intelligent-tiering",
                                          "select",
                                          "restore",
                                          "torrent",
                                          "attributes",
                                          "policyStatus"};

static int unsupported_sub(struct s3req *q)
{
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (has_sub(q, unsupported[i]))
            return 1;
    return 0;
}

static void route_bucket(struct s3req *q, enum mkv_method m)
{
    if (unsupported_sub(q)) {
        s3_error(q, "NotImplemented", "mkv does not serve this S3 operation");
        return;
    }
    switch (m) {
    case MKV_M_PUT: create_bucket(q); return;
    case MKV_M_DELETE: delete_bucket(q); return;
    case MKV_M_HEAD:
        if (need_bucket(q, NULL) == 0)
            s3_empty(q, 200, NULL);
        return;
    case MKV_M_GET:
        if (has_sub(q, "location"))
            bucket_location(q);
        else if (has_sub(q, "versioning"))
            bucket_versioning(q);
        else if (has_sub(q, "versions"))
            list_objects(q, LIST_VERSIONS);
        else if (has_sub(q, "uploads"))
            list_uploads(q);
        else
            list_objects(q, has_sub(q, "list-type") ? LIST_V2 : LIST_V1);
        return;
    default:
        if (!strcmp(q->r->method, "POST") && has_sub(q, "delete")) {
            if (need_bucket(q, NULL) == 0)
                delete_objects(q);
            return;
        }
        s3_error(q, "MethodNotAllowed", NULL);
    }
}

static void route_object(struct s3req *q, enum mkv_method m)
{
    struct mkv_reject rej;
    int post = !strcmp(q->r->method, "POST"), upload = has_sub(q, "uploadId");

    if (unsupported_sub(q)) {
        s3_error(q, "NotImplemented", "mkv does not serve this S3 operation");
        return;
    }
    if (need_bucket(q, NULL) < 0)
        return;
    if (key_check(q->r->key, q->r->klen, &rej) < 0 &&
        (m == MKV_M_PUT || post || key_check_stored(q->r->key, q->r->klen, &rej) < 0)) {
        s3_error(q, rej.status == 414 ? "KeyTooLongError" : "InvalidArgument", rej.why);
        return;
    }
    if (post) {
        if (has_sub(q, "uploads"))
            create_upload(q);
        else if (upload)
            complete_upload(q);
        else
            s3_error(q, "NotImplemented", "mkv does not serve this S3 operation");
        return;
    }
    switch (m) {
    case MKV_M_PUT:
        if (upload)
            upload_part(q);
        else if (*hdr(q, "x-amz-copy-source"))
            copy_into(q, q->r->key, q->r->klen, 0);
        else
            put_object(q);
        return;
    case MKV_M_GET: upload ? list_parts(q) : get_object_bytes(q); return;
    case MKV_M_HEAD: head_object(q); return;
    case MKV_M_DELETE: upload ? abort_upload(q) : delete_object(q); return;
    default: s3_error(q, "MethodNotAllowed", NULL);
    }
}

void s3_handle(struct worker *w, struct req *r)
{
    struct s3req q;
    struct mkv_reject rej;
    enum mkv_method m = method_id(r->method);
    const char *qm;

    memset(&q, 0, sizeof(q));
    q.w = w;
    q.r = r;
    r->head = m == MKV_M_HEAD;
    r->head_length = -1;
    snprintf(q.reqid, sizeof(q.reqid), "%.32s", param(r, "MKV_REQUEST_ID"));
    q.path = r->uri;
    qm = strchr(r->uri, '?');
    q.pathlen = qm ? (size_t)(qm - r->uri) : strlen(r->uri);
    q.query = qm && qm[1] ? qm + 1 : NULL;
    r->query = q.query;
    if (url_decode(r->uri, q.pathlen, 0, r->key, sizeof(r->key), &r->klen, &rej) < 0) {
        s3_error(&q, "InvalidURI", rej.why);
        return;
    }
    if (check_auth(&q) < 0)
        return;
    if (index_ready(w->ix) < 0) {
        s3_error(&q, "ServiceUnavailable", "the index needs `mkv-upkeep upgrade`");
        return;
    }
    if (r->klen <= 1) {
        if (m == MKV_M_GET)
            list_buckets(&q);
        else
            s3_error(&q, "MethodNotAllowed", NULL);
        return;
    }
    if (split_path(&q) < 0) {
        s3_error(&q, "InvalidBucketName", NULL);
        return;
    }
    if (q.has_key)
        route_object(&q, m);
    else
        route_bucket(&q, m);
}
