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
#include "s3_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <pthread.h>
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

/* ---- responses -------------------------------------------------------- */

/* The request's id, as S3 names it in every answer (x-amz-id-2 is S3's
 * host id: mkv has one id a request). */
static void common_headers(struct s3req *q, char *h, size_t cap, const char *extra)
{
    snprintf(h, cap, "x-amz-request-id: %s\r\nx-amz-id-2: %s\r\n%s", q->reqid, q->reqid,
             extra ? extra : "");
}

void s3_error(struct s3req *q, const char *code, const char *message)
{
    s3_error_with(q, code, message, NULL, 0, NULL);
}

void s3_error_with(struct s3req *q, const char *code, const char *message,
                   const struct s3xml_field *fields, size_t n, const char *extra)
{
    struct s3xml_out o = {0};
    struct s3xml_field named;
    char hdr[320], res[MKV_URI_MAX + 8];
    int status = s3xml_error_status(code);

    if (status == 0) { /* a code the table lacks: a defect here, not the client's */
        log_error("S3 error code %s has no status", code);
        status = 500;
    }

    snprintf(res, sizeof(res), "%.*s", (int)q->pathlen, q->path ? q->path : "/");
    common_headers(q, hdr, sizeof(hdr), extra);
    if (n == 0 && !strcmp(code, "NoSuchKey") && q->has_key)
        named = (struct s3xml_field){"Key", q->okey, q->oklen}, fields = &named, n = 1;
    else if (n == 0 && !strcmp(code, "NoSuchBucket"))
        named = (struct s3xml_field){"BucketName", q->bucket, q->blen}, fields = &named, n = 1;
    s3xml_error_with(&o, code, message ? message : s3xml_error_message(code), res, q->reqid, fields,
                     n);
    if (o.oom)
        reply(q->r, 500, hdr, "application/xml", NULL, 0);
    else
        reply(q->r, status, hdr, "application/xml", o.buf, o.len);
    s3xml_out_free(&o);
}

void s3_xml(struct s3req *q, int status, const char *extra, struct s3xml_out *o)
{
    char hdr[1024];

    if (o->oom) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    common_headers(q, hdr, sizeof(hdr), extra);
    reply(q->r, status, hdr, "application/xml", o->buf, o->len);
}

void s3_empty(struct s3req *q, int status, const char *extra)
{
    char hdr[8192];

    common_headers(q, hdr, sizeof(hdr), extra);
    reply(q->r, status, hdr, NULL, NULL, 0);
}

/* ---- request parts ---------------------------------------------------- */

/* A request header by its lowercase name, as FastCGI names it. */
const char *s3_header(void *arg, const char *lname)
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

const char *s3_hdr(struct s3req *q, const char *lname)
{
    const char *v = s3_header(q->r, lname);

    return v ? v : "";
}

/* A query parameter, decoded: 1 found, 0 absent, -1 malformed. */
int s3_qparam(struct s3req *q, const char *name, char *out, size_t cap, size_t *len)
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

int s3_part_number(struct s3req *q, int required, long long *n)
{
    char num[16] = "";
    int rc = s3_qparam(q, "partNumber", num, sizeof(num), NULL);

    if (rc == 0 && !required)
        return 0;
    if (rc <= 0 || num_parse(num, 1, S3_PART_MAX, n) < 0) {
        s3_error(q, "InvalidArgument",
                 "Part number must be an integer between 1 and 10000, inclusive");
        return -1;
    }
    return 1;
}

/* Whether the query names subresource (with or without a value). */
int s3_has_sub(struct s3req *q, const char *name)
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

/* RequestTimeTooSkewed with S3's fields: the request's time as sent, the
 * server's, the skew allowed. */
static void skewed(struct s3req *q, long long now)
{
    char when[128], server[32], max[24];
    const char *t = s3_hdr(q, "x-amz-date");
    time_t tt = (time_t)now;
    struct tm tm;

    if (*t || s3_qparam(q, "X-Amz-Date", when, sizeof(when), NULL) <= 0)
        snprintf(when, sizeof(when), "%s", *t ? t : s3_hdr(q, "date"));
    gmtime_r(&tt, &tm);
    strftime(server, sizeof(server), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(max, sizeof(max), "%d", SIGV4_MAX_SKEW * 1000);
    s3_error_with(q, "RequestTimeTooSkewed", NULL,
                  (const struct s3xml_field[]){{"RequestTime", when, strlen(when)},
                                               {"ServerTime", server, strlen(server)},
                                               {"MaxAllowedSkewMilliseconds", max, strlen(max)}},
                  3, NULL);
}

/* s's bytes as S3 spells them in an error: two lowercase hex digits each,
 * one blank between.  NULL when out of memory. */
static char *spaced_hex(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n ? 3 * n : 1), *o = out;

    if (!out)
        return NULL;
    *o = '\0';
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, i ? " %02x" : "%02x", (unsigned char)s[i]);
    return out;
}

/* SignatureDoesNotMatch with S3's fields: what the server signed, as text
 * and as bytes, for the client to compare with what it signed. */
static void mismatch(struct s3req *q, const struct sigv4_explain *e)
{
    char *sts = spaced_hex(e->string_to_sign), *cr = spaced_hex(e->canonical);

    if (!sts || !cr) {
        s3_error(q, "SignatureDoesNotMatch", NULL);
        goto cleanup;
    }
    s3_error_with(
        q, "SignatureDoesNotMatch", NULL,
        (const struct s3xml_field[]){{"AWSAccessKeyId", e->access_key, strlen(e->access_key)},
                                     {"StringToSign", e->string_to_sign, strlen(e->string_to_sign)},
                                     {"SignatureProvided", e->signature, strlen(e->signature)},
                                     {"StringToSignBytes", sts, strlen(sts)},
                                     {"CanonicalRequest", e->canonical, strlen(e->canonical)},
                                     {"CanonicalRequestBytes", cr, strlen(cr)}},
        6, NULL);
cleanup:
    free(sts);
    free(cr);
}

/* The request's next x-amz-* header (HTTP_X_AMZ_* in FastCGI's parameters:
 * '_' back to '-', lowercase) for sigv4_req.amz_header; *pos indexes envp. */
static int amz_header(void *arg, size_t *pos, char *name, size_t cap)
{
    static const char prefix[] = "HTTP_X_AMZ_";
    struct req *r = arg;

    for (char **e = r->fr->envp; e && e[*pos]; (*pos)++) {
        const char *s = e[*pos], *eq = strchr(s, '=');
        size_t n, k;

        if (!eq || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
            continue;
        (*pos)++;
        n = (size_t)(eq - s) - 5; /* past "HTTP_" */
        if (n >= cap)
            n = cap - 1;
        for (k = 0; k < n; k++)
            name[k] = s[5 + k] == '_' ? '-' : (char)tolower((unsigned char)s[5 + k]);
        name[n] = '\0';
        return 1;
    }
    return 0;
}

static int check_auth(struct s3req *q)
{
    struct sigv4_req sr = {.method = q->r->method,
                           .header = s3_header,
                           .harg = q->r,
                           .now = (long long)time(NULL),
                           .region = q->w->cfg->s3_region,
                           .amz_header = amz_header};
    char path[MKV_URI_MAX], why[256];
    struct sigv4_explain ex; /* written only for a mismatch */
    int rc;

    sr.explain = &ex;
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
    case SIGV4_MISMATCH: mismatch(q, &ex); break;
    case SIGV4_SKEW: skewed(q, sr.now); break;
    case SIGV4_EXPIRED: s3_error(q, "AccessDenied", "Request has expired"); break;
    case SIGV4_BADDATE:
        s3_error(q, "AccessDenied",
                 "AWS authentication requires a valid Date or x-amz-date header");
        break;
    case SIGV4_BADHASH: s3_error(q, "InvalidArgument", why); break;
    case SIGV4_UNSIGNED:
        s3_error_with(q, "AccessDenied",
                      "There were headers present in the request which were not signed",
                      &(struct s3xml_field){"HeadersNotSigned", why, strlen(why)}, 1, NULL);
        break;
    case SIGV4_REGION:
        s3_error_with(q,
                      q->query && strstr(q->query, "X-Amz-") ? "AuthorizationQueryParametersError"
                                                             : "AuthorizationHeaderMalformed",
                      why, &(struct s3xml_field){"Region", sr.region, strlen(sr.region)}, 1, NULL);
        break;
    default: s3_error(q, "InvalidRequest", why); break;
    }
    return -1;
}

/* The bucket exists: 0, or the error answered and -1. */
int s3_need_bucket(struct s3req *q, long long *ctime)
{
    int rc = s3_bucket_get(q->w->ix, q->bucket, q->blen, ctime);

    if (rc == S3STORE_OK)
        return 0;
    s3_error(q, rc == S3STORE_NOBUCKET ? "NoSuchBucket" : "InternalError",
             rc == S3STORE_NOBUCKET ? NULL : "index read failed");
    return -1;
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
        if (s3_has_sub(q, unsupported[i]))
            return 1;
    return 0;
}

/* The bucket subresources mkv reads (GET; POST ?delete): with PUT or
 * DELETE they name an operation it does not serve (PutBucketVersioning,
 * DeleteBucket...?), never CreateBucket or DeleteBucket. */
static const char *const read_only[] = {"location", "versioning", "versions", "uploads", "delete"};

static int read_only_sub(struct s3req *q)
{
    for (size_t i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
        if (s3_has_sub(q, read_only[i]))
            return 1;
    return 0;
}

static void route_bucket(struct s3req *q, enum mkv_method m)
{
    if (unsupported_sub(q) || ((m == MKV_M_PUT || m == MKV_M_DELETE) && read_only_sub(q))) {
        s3_error(q, "NotImplemented", "mkv does not serve this S3 operation");
        return;
    }
    switch (m) {
    case MKV_M_PUT: s3_create_bucket(q); return;
    case MKV_M_DELETE: s3_delete_bucket(q); return;
    case MKV_M_HEAD:
        if (s3_need_bucket(q, NULL) == 0) {
            char h[96];

            snprintf(h, sizeof(h), "x-amz-bucket-region: %s\r\n", q->w->cfg->s3_region);
            s3_empty(q, 200, h);
        }
        return;
    case MKV_M_GET:
        if (s3_has_sub(q, "location"))
            s3_bucket_location(q);
        else if (s3_has_sub(q, "versioning"))
            s3_bucket_versioning(q);
        else if (s3_has_sub(q, "versions"))
            s3_list_objects(q, LIST_VERSIONS);
        else if (s3_has_sub(q, "uploads"))
            s3_list_uploads(q);
        else
            s3_list_objects(q, s3_has_sub(q, "list-type") ? LIST_V2 : LIST_V1);
        return;
    default:
        if (!strcmp(q->r->method, "POST") && s3_has_sub(q, "delete")) {
            if (s3_need_bucket(q, NULL) == 0)
                s3_delete_objects(q);
            return;
        }
        s3_error(q, "MethodNotAllowed", NULL);
    }
}

/* Versioning is off: an object's one version is "null" (listings say so),
 * and no other id names anything: 0, or answered and -1. */
static int bad_version_id(struct s3req *q)
{
    char v[64];
    int rc = s3_qparam(q, "versionId", v, sizeof(v), NULL);

    if (rc == 0 || (rc > 0 && !strcmp(v, "null")))
        return 0;
    s3_error(q, "InvalidArgument", "Invalid version id specified");
    return -1;
}

static void route_object(struct s3req *q, enum mkv_method m)
{
    struct mkv_reject rej;
    int post = !strcmp(q->r->method, "POST"), upload = s3_has_sub(q, "uploadId");

    if (unsupported_sub(q)) {
        s3_error(q, "NotImplemented", "mkv does not serve this S3 operation");
        return;
    }
    if (s3_need_bucket(q, NULL) < 0)
        return;
    if (key_check(q->r->key, q->r->klen, &rej) < 0 &&
        (m == MKV_M_PUT || post || key_check_stored(q->r->key, q->r->klen, &rej) < 0)) {
        s3_error(q, rej.status == 414 ? "KeyTooLongError" : "InvalidArgument", rej.why);
        return;
    }
    if (bad_version_id(q))
        return;
    if (post) {
        if (s3_has_sub(q, "uploads"))
            s3_create_upload(q);
        else if (upload)
            s3_complete_upload(q);
        else
            s3_error(q, "NotImplemented", "mkv does not serve this S3 operation");
        return;
    }
    switch (m) {
    case MKV_M_PUT:
        if (upload)
            s3_upload_part(q);
        else if (*s3_hdr(q, "x-amz-copy-source"))
            s3_copy_into(q, q->r->key, q->r->klen, 0);
        else
            s3_put_object(q);
        return;
    case MKV_M_GET: upload ? s3_list_parts(q) : s3_get_object(q); return;
    case MKV_M_HEAD: s3_head_object(q); return;
    case MKV_M_DELETE: upload ? s3_abort_upload(q) : s3_delete_object(q); return;
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
            s3_list_buckets(&q);
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
