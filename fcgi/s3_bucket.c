/* s3_bucket.c: the S3 bucket routes: ListBuckets, CreateBucket,
 * DeleteBucket, GetBucketLocation, GetBucketVersioning, and the listings
 * (ListObjects v1 and v2, ListObjectVersions), paged from the index. */
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

void s3_list_buckets(struct s3req *q)
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

/* CreateBucket's LocationConstraint against the one region served (setting
 * s3_region): none, or that region's name; us-east-1 is S3's empty one, which
 * it refuses to be named.  0, or answered and -1. */
static int location_ok(struct s3req *q, const char *loc)
{
    const char *region = q->w->cfg->s3_region;
    char why[256];

    if (!loc || !*loc || (strcmp(loc, region) == 0 && strcmp(region, "us-east-1") != 0))
        return 0;
    if (strcmp(loc, region) == 0) {
        s3_error(q, "InvalidLocationConstraint",
                 "The us-east-1 location constraint is not valid: it is the default, left out");
        return -1;
    }
    /* The request's text is not echoed: the region is a setting. */
    snprintf(why, sizeof(why),
             "The location constraint is incompatible for the region specific endpoint this "
             "request was sent to, which serves %.64s.",
             region);
    s3_error(q, "IllegalLocationConstraintException", why);
    return -1;
}

void s3_create_bucket(struct s3req *q)
{
    struct s3xml_parser *p;
    char h[128];
    int rc;

    if (!s3_bucket_name_new_ok(q->bucket, q->blen)) {
        s3_error(q, "InvalidBucketName", NULL);
        return;
    }
    if (!(p = s3xml_parser_new(S3XML_LOCATION))) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    rc = s3_read_xml(q, p, S3XML_CONF_MAX, 0);
    if (rc == 0)
        rc = location_ok(q, s3xml_location(p));
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

void s3_delete_bucket(struct s3req *q)
{
    switch (s3_bucket_delete(q->w->ix, q->bucket, q->blen)) {
    case S3STORE_OK: s3_empty(q, 204, NULL); break;
    case S3STORE_NOBUCKET: s3_error(q, "NoSuchBucket", NULL); break;
    case S3STORE_NOTEMPTY: s3_error(q, "BucketNotEmpty", NULL); break;
    case S3STORE_UPLOADS:
        s3_error(q, "BucketNotEmpty",
                 "The bucket has multipart uploads in progress: complete or abort them first.");
        break;
    default: s3_error(q, "InternalError", "index failed"); break;
    }
}

void s3_bucket_location(struct s3req *q)
{
    const char *region = q->w->cfg->s3_region;
    char body[256], h[128];
    int n;

    if (s3_need_bucket(q, NULL) < 0)
        return;
    /* us-east-1 is S3's empty LocationConstraint.  The region is a setting
     * (letters, digits, '-'), no text from a request. */
    if (!strcmp(region, "us-east-1"))
        region = "";
    n = snprintf(body, sizeof(body),
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint "
                 "xmlns=\"" S3XML_NS "\">%.64s</LocationConstraint>",
                 region);
    snprintf(h, sizeof(h), "x-amz-request-id: %s\r\n", q->reqid);
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
    int owner;              /* entries name their Owner: v1, versions, v2's fetch-owner=true */
    char next[MKV_URI_MAX]; /* where the walk goes on (inclusive), or "" */
    size_t nextlen;
    char last[MKV_URI_MAX]; /* the last key or prefix listed (v1's NextMarker) */
    size_t lastlen;
    char cp[MKV_URI_MAX]; /* a common prefix to jump past: restart there */
    size_t cplen;
    int jump;
    char after[MKV_URI_MAX + 8]; /* marker, start-after or key-marker, as a key */
    size_t afterlen;             /* 0: none */
};

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    return c ? c : (an > bn) - (an < bn);
}

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

/* The storage class PutObject named (s3meta.h), else STANDARD. */
static void storage_class(const struct mkv_record *rec, const char **sc, size_t *n)
{
    const unsigned char *v;

    if (recbin_ext_find(rec->ext, rec->extlen, S3META_STORAGE_CLASS, &v, n)) {
        *sc = (const char *)v;
        return;
    }
    *sc = "STANDARD";
    *n = 8;
}

static void list_entry(struct listing *l, const char *key, size_t klen,
                       const struct mkv_record *rec)
{
    const char *sc;
    size_t scl;
    char t[32], etag[80];
    const char *k = key + l->bprefix;
    size_t kn = klen - l->bprefix;

    s3xml_time(t, rec->mtime);
    s3_etag_of(rec, etag, sizeof(etag));
    s3xml_open(l->o, l->versions ? "Version" : "Contents");
    list_elem(l, "Key", k, kn);
    if (l->versions) {
        s3xml_elemf(l->o, "VersionId", "null");
        s3xml_elemf(l->o, "IsLatest", "true");
    }
    s3xml_elem(l->o, "LastModified", t, strlen(t));
    s3xml_elemf(l->o, "ETag", "\"%s\"", etag);
    s3xml_elemf(l->o, "Size", "%llu", rec->has_size ? rec->size : 0ULL);
    storage_class(rec, &sc, &scl);
    s3xml_elem(l->o, "StorageClass", sc, scl);
    if (l->owner) {
        s3xml_open(l->o, "Owner");
        s3xml_elemf(l->o, "ID", "%s", l->q->auth.access_key);
        s3xml_elemf(l->o, "DisplayName", "%s", l->q->auth.access_key);
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
    /* A common prefix not after the marker was listed on an earlier page
     * (it ends that page's listing: NextMarker): the keys under it follow
     * the marker, but S3 lists the prefix once. */
    if (d && l->afterlen &&
        bytes_cmp(key, (size_t)(d - key) + l->dlen, l->after, l->afterlen) <= 0) {
        l->nextlen = after_prefix(key, (size_t)(d - key) + l->dlen, l->next);
        l->jump = l->nextlen > 0;
        return 1;
    }
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

void s3_list_objects(struct s3req *q, int kind)
{
    struct listing *l = calloc(1, sizeof(*l));
    struct s3xml_out o = {0};
    char prefix[MKV_URI_MAX] = "", marker[MKV_URI_MAX] = "", token[MKV_URI_MAX] = "";
    char num[32] = "", enc[16] = "", vmark[64], start[MKV_URI_MAX + 8], tok[2 * MKV_URI_MAX];
    size_t plen = 0, mlen = 0, tlen = 0, slen, dl = 0;
    long long max = LIST_MAX_KEYS;
    int has_token, echo_token;

    if (!l) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (s3_need_bucket(q, NULL) < 0)
        goto cleanup;
    if (s3_qparam(q, "prefix", prefix, sizeof(prefix) - 1, &plen) < 0 ||
        s3_qparam(q, "delimiter", l->delim, sizeof(l->delim) - 1, &dl) < 0 ||
        s3_qparam(q, "max-keys", num, sizeof(num), NULL) < 0 ||
        s3_qparam(q, "encoding-type", enc, sizeof(enc), NULL) < 0 ||
        s3_qparam(q,
                  kind == LIST_V2   ? "start-after"
                  : kind == LIST_V1 ? "marker"
                                    : "key-marker",
                  marker, sizeof(marker) - 1, &mlen) < 0 ||
        (has_token = s3_qparam(q, "continuation-token", token, sizeof(token), &tlen)) < 0) {
        s3_error(q, "InvalidArgument", "a query parameter is malformed or too long");
        goto cleanup;
    }
    l->dlen = dl;
    if (kind == LIST_VERSIONS && mlen == 0 &&
        s3_qparam(q, "version-id-marker", vmark, sizeof(vmark), NULL) != 0) {
        s3_error(q, "InvalidArgument",
                 "A version-id marker cannot be specified without a key marker.");
        goto cleanup;
    }
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
    l->owner = kind != LIST_V2 ||
               (s3_qparam(q, "fetch-owner", num, sizeof(num), NULL) > 0 && !strcmp(num, "true"));
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
    echo_token = has_token > 0;
    if (has_token > 0 && tlen == 0)
        has_token = 0; /* continuation-token= : the first page (its empty token echoed) */
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
        memcpy(l->after, m, n);
        l->afterlen = n;
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
    if (kind == LIST_V2 && echo_token)
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
    /* (without a delimiter the last key is the next marker: S3 names it
     * only with one) */
    if (l->truncated && kind == LIST_V1 && l->dlen)
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

void s3_bucket_versioning(struct s3req *q)
{
    struct s3xml_out o = {0};

    if (s3_need_bucket(q, NULL) < 0)
        return;
    s3xml_open(&o, "VersioningConfiguration");
    s3xml_close(&o, "VersioningConfiguration");
    s3_xml(q, 200, NULL, &o);
    s3xml_out_free(&o);
}
