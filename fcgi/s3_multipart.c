/* s3_multipart.c: the S3 multipart routes: CreateMultipartUpload,
 * UploadPart (UploadPartCopy: s3_copy_into), CompleteMultipartUpload,
 * AbortMultipartUpload, ListParts, ListMultipartUploads (lib/s3store.h
 * keeps the uploads and assembles the object). */
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

/* ---- multipart uploads ------------------------------------------------ */

/* The request's upload (uploadId, of this key): 0, or answered and -1. */
static int need_upload(struct s3req *q, struct s3_upload *u)
{
    char id[S3_UPLOAD_ID_LEN + 8] = "";
    int rc = s3_qparam(q, "uploadId", id, sizeof(id), NULL);

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

/* An Initiator or Owner: the one account, named by its access key. */
static void owner(struct s3xml_out *o, const char *name, const char *id)
{
    s3xml_open(o, name);
    s3xml_elemf(o, "ID", "%s", id);
    s3xml_elemf(o, "DisplayName", "%s", id);
    s3xml_close(o, name);
}

void s3_create_upload(struct s3req *q)
{
    unsigned char ext[MKV_RECORD_EXT_MAX];
    struct s3_upload u;
    struct s3xml_out o = {0};
    size_t extlen = 0;

    if (s3_request_meta(q, ext, sizeof(ext), &extlen) < 0)
        goto cleanup;
    if (s3_upload_create(q->w->ix, q->r->key, q->r->klen, ext, extlen, (long long)time(NULL), &u) !=
        S3STORE_OK) {
        s3_error(q, "InternalError", "index write failed");
        goto cleanup;
    }
    s3xml_open(&o, "InitiateMultipartUploadResult");
    s3xml_elem(&o, "Bucket", q->bucket, q->blen);
    s3xml_elem(&o, "Key", q->okey, q->oklen);
    s3xml_elem(&o, "UploadId", u.id, S3_UPLOAD_ID_LEN);
    s3xml_close(&o, "InitiateMultipartUploadResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
}

void s3_upload_part(struct s3req *q)
{
    struct s3_upload u;
    char key[64];
    long long n;
    int kl;

    if (need_upload(q, &u) < 0 || s3_part_number(q, 1, &n) < 0)
        return;
    kl = s3_part_key(u.id, (int)n, key);
    if (*s3_hdr(q, "x-amz-copy-source"))
        s3_copy_into(q, key, (size_t)kl, 1);
    else
        s3_put_body(q, key, (size_t)kl, NULL, 0, 0);
}

/* EntityTooSmall with S3's fields: the part's size and number, the
 * minimum, the ETag sent (the part the store stopped at: the last it
 * sized). */
static void too_small(struct s3req *q, const struct s3_part_ref *refs, size_t n, const char *why)
{
    char size[24], num[16], min[24];
    size_t i = n;

    while (i > 0 && refs[i - 1].size < 0)
        i--;
    if (i == 0) {
        s3_error(q, "EntityTooSmall", why);
        return;
    }
    snprintf(size, sizeof(size), "%lld", refs[i - 1].size);
    snprintf(num, sizeof(num), "%d", refs[i - 1].number);
    snprintf(min, sizeof(min), "%lld", (long long)S3_PART_MIN_BYTES);
    s3_error_with(q, "EntityTooSmall", why,
                  (const struct s3xml_field[]){{"ProposedSize", size, strlen(size)},
                                               {"MinSizeAllowed", min, strlen(min)},
                                               {"PartNumber", num, strlen(num)},
                                               {"ETag", refs[i - 1].md5, strlen(refs[i - 1].md5)}},
                  4, NULL);
}

void s3_complete_upload(struct s3req *q)
{
    struct s3xml_parser *p = s3xml_parser_new(S3XML_COMPLETE);
    struct s3_upload u;
    struct s3_part_ref *refs = NULL;
    struct mkv_store s = store_of(q->w);
    struct store_note note;
    struct s3xml_out o = {0};
    char etag[48], why[512], loc[MKV_URI_MAX + 64];
    size_t n;
    int rc;

    if (!p) {
        s3_error(q, "InternalError", "out of memory");
        goto cleanup;
    }
    if (need_upload(q, &u) < 0 || s3_read_xml(q, p, S3XML_BODY_MAX, 1) < 0)
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
    rc = s3_upload_complete(&s, &u, refs, (int)n, param(q->r, "MKV_REQUEST_ID"), etag, &note, why,
                            sizeof(why));
    q->r->bytes_in = 0;
    snprintf(q->r->volume, sizeof(q->r->volume), "%s", note.volume);
    switch (rc) {
    case S3STORE_OK: break;
    case S3STORE_BADPART: s3_error(q, "InvalidPart", why); goto cleanup;
    case S3STORE_ORDER: s3_error(q, "InvalidPartOrder", why); goto cleanup;
    case S3STORE_SMALL: too_small(q, refs, n, why); goto cleanup;
    default: s3_error(q, "InternalError", why); goto cleanup;
    }
    snprintf(loc, sizeof(loc), "http://%s%.*s", s3_hdr(q, "host"), (int)q->pathlen, q->path);
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
}

void s3_abort_upload(struct s3req *q)
{
    struct s3_upload u;
    struct mkv_store s = store_of(q->w);
    char why[512];

    if (need_upload(q, &u) < 0)
        return;
    if (s3_upload_abort(&s, &u, why, sizeof(why)) == S3STORE_OK)
        s3_empty(q, 204, NULL);
    else
        s3_error(q, "InternalError", why);
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

void s3_list_parts(struct s3req *q)
{
    struct s3_upload u;
    struct s3xml_out o = {0};
    struct parts_page pg = {.o = &o, .max = 1000};
    char num[16] = "", mx[16] = "";
    long long marker = 0, max = 1000;

    if (need_upload(q, &u) < 0)
        return;
    if (s3_qparam(q, "part-number-marker", num, sizeof(num), NULL) < 0 ||
        s3_qparam(q, "max-parts", mx, sizeof(mx), NULL) < 0 ||
        (*num && num_parse(num, 0, S3_PART_MAX, &marker) < 0) ||
        (*mx && num_parse(mx, 0, 1000000, &max) < 0)) {
        s3_error(q, "InvalidArgument", "part-number-marker and max-parts must be numbers");
        goto cleanup;
    }
    pg.max = max > 1000 ? 1000 : (int)max;
    s3xml_open(&o, "ListPartsResult");
    s3xml_elem(&o, "Bucket", q->bucket, q->blen);
    s3xml_elem(&o, "Key", q->okey, q->oklen);
    s3xml_elem(&o, "UploadId", u.id, S3_UPLOAD_ID_LEN);
    s3xml_elemf(&o, "PartNumberMarker", "%lld", marker);
    s3xml_elemf(&o, "MaxParts", "%d", pg.max);
    s3xml_elemf(&o, "StorageClass", "STANDARD");
    owner(&o, "Initiator", q->auth.access_key);
    owner(&o, "Owner", q->auth.access_key);
    if (pg.max > 0 &&
        s3_upload_parts(q->w->ix, u.id, (int)marker + 1, list_part, &pg) != S3STORE_OK) {
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
}

/* ListMultipartUploads, in S3's order (key, then upload id) though the
 * uploads are kept by id: one pass over them keeps the first max + 1
 * entries after the markers in a sorted array (an upload, or the common
 * prefix its key folds into under a delimiter), so memory is bounded by
 * the page, not the number of uploads. */
struct upload_item {
    char key[MKV_KEY_MAX + 1]; /* the object key, or a common prefix */
    size_t klen;
    char id[S3_UPLOAD_ID_LEN + 1]; /* "" for a prefix */
    long long ctime;
};

struct uploads_page {
    struct s3req *q;
    char prefix[MKV_URI_MAX]; /* "/B/" + the prefix asked for */
    size_t plen, bplen;       /* ...and of "/B/" */
    char delim[16];
    size_t dlen;
    char marker[MKV_KEY_MAX + 1], id_marker[S3_UPLOAD_ID_LEN + 8];
    size_t mlen;
    int max, n; /* the array holds up to max + 1 */
    struct upload_item items[LIST_MAX_KEYS + 1];
};

static int item_cmp(const char *k, size_t kl, const char *id, const struct upload_item *b)
{
    int c = memcmp(k, b->key, kl < b->klen ? kl : b->klen);

    if (c || kl != b->klen)
        return c ? c : (kl > b->klen) - (kl < b->klen);
    return strcmp(id, b->id);
}

/* Whether (key, id) comes after the markers: a key after key-marker, or
 * that key with an id after upload-id-marker. */
static int after_markers(const struct uploads_page *pg, const char *k, size_t kl, const char *id)
{
    int c;

    if (pg->mlen == 0)
        return 1;
    c = memcmp(k, pg->marker, kl < pg->mlen ? kl : pg->mlen);
    if (!c)
        c = (kl > pg->mlen) - (kl < pg->mlen);
    return c > 0 || (c == 0 && *id && *pg->id_marker && strcmp(id, pg->id_marker) > 0);
}

static int keep_upload(void *arg, const struct s3_upload *u)
{
    struct uploads_page *pg = arg;
    const char *k = u->key + pg->bplen, *d;
    size_t kl = u->klen - pg->bplen, lo = 0, hi;
    const char *id = u->id;

    if (u->klen < pg->plen || memcmp(u->key, pg->prefix, pg->plen) != 0)
        return 0;
    d = pg->dlen ? memmem(u->key + pg->plen, u->klen - pg->plen, pg->delim, pg->dlen) : NULL;
    if (d) { /* its common prefix stands for it */
        kl = (size_t)(d - k) + pg->dlen;
        id = "";
    }
    if (!after_markers(pg, k, kl, id))
        return 0;
    hi = (size_t)pg->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = item_cmp(k, kl, id, &pg->items[mid]);

        if (c == 0)
            return 0; /* a prefix already kept */
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo > (size_t)pg->max)
        return 0; /* past the page and the one that says it is truncated */
    if (pg->n == pg->max + 1)
        pg->n--;
    memmove(&pg->items[lo + 1], &pg->items[lo], ((size_t)pg->n - lo) * sizeof(pg->items[0]));
    memcpy(pg->items[lo].key, k, kl);
    pg->items[lo].klen = kl;
    snprintf(pg->items[lo].id, sizeof(pg->items[lo].id), "%s", id);
    pg->items[lo].ctime = u->ctime;
    pg->n++;
    return 0;
}

static void uploads_xml(struct uploads_page *pg, struct s3xml_out *o)
{
    int shown = pg->n > pg->max ? pg->max : pg->n;
    char t[32];

    if (pg->n > pg->max && shown > 0) {
        const struct upload_item *last = &pg->items[shown - 1];

        s3xml_elem(o, "NextKeyMarker", last->key, last->klen);
        s3xml_elem(o, "NextUploadIdMarker", last->id, strlen(last->id));
    }
    s3xml_elemf(o, "IsTruncated", "%s", pg->n > pg->max ? "true" : "false");
    for (int i = 0; i < shown; i++) {
        const struct upload_item *it = &pg->items[i];

        if (!*it->id)
            continue;
        s3xml_time(t, it->ctime);
        s3xml_open(o, "Upload");
        s3xml_elem(o, "Key", it->key, it->klen);
        s3xml_elem(o, "UploadId", it->id, strlen(it->id));
        owner(o, "Initiator", pg->q->auth.access_key);
        owner(o, "Owner", pg->q->auth.access_key);
        s3xml_elemf(o, "StorageClass", "STANDARD");
        s3xml_elem(o, "Initiated", t, strlen(t));
        s3xml_close(o, "Upload");
    }
    for (int i = 0; i < shown; i++)
        if (!*pg->items[i].id) {
            s3xml_open(o, "CommonPrefixes");
            s3xml_elem(o, "Prefix", pg->items[i].key, pg->items[i].klen);
            s3xml_close(o, "CommonPrefixes");
        }
}

void s3_list_uploads(struct s3req *q)
{
    struct uploads_page *pg = calloc(1, sizeof(*pg));
    struct s3xml_out o = {0};
    char prefix[MKV_URI_MAX] = "", mx[16] = "";
    size_t plen = 0;
    long long max = LIST_MAX_KEYS;

    if (!pg) {
        s3_error(q, "InternalError", "out of memory");
        return;
    }
    if (s3_need_bucket(q, NULL) < 0)
        goto cleanup;
    if (s3_qparam(q, "prefix", prefix, sizeof(prefix) - 1, &plen) < 0 ||
        s3_qparam(q, "delimiter", pg->delim, sizeof(pg->delim) - 1, &pg->dlen) < 0 ||
        s3_qparam(q, "key-marker", pg->marker, sizeof(pg->marker), &pg->mlen) < 0 ||
        s3_qparam(q, "upload-id-marker", pg->id_marker, sizeof(pg->id_marker), NULL) < 0 ||
        s3_qparam(q, "max-uploads", mx, sizeof(mx), NULL) < 0 ||
        (*mx && num_parse(mx, 0, 1000000, &max) < 0) || q->blen + 2 + plen >= sizeof(pg->prefix)) {
        s3_error(q, "InvalidArgument", "a query parameter is malformed or too long");
        goto cleanup;
    }
    if (pg->mlen == 0)
        pg->id_marker[0] = '\0'; /* S3 ignores it without a key-marker */
    pg->q = q;
    pg->max = max > LIST_MAX_KEYS ? LIST_MAX_KEYS : (int)max;
    pg->bplen = q->blen + 2;
    pg->plen =
        (size_t)snprintf(pg->prefix, sizeof(pg->prefix), "/%s/%.*s", q->bucket, (int)plen, prefix);
    if (pg->max > 0 && s3_upload_list(q->w->ix, "", keep_upload, pg) != S3STORE_OK) {
        s3_error(q, "InternalError", "index read failed");
        goto cleanup;
    }
    s3xml_open(&o, "ListMultipartUploadsResult");
    s3xml_elem(&o, "Bucket", q->bucket, q->blen);
    s3xml_elem(&o, "KeyMarker", pg->marker, pg->mlen);
    s3xml_elem(&o, "UploadIdMarker", pg->id_marker, strlen(pg->id_marker));
    s3xml_elem(&o, "Prefix", prefix, plen);
    if (pg->dlen)
        s3xml_elem(&o, "Delimiter", pg->delim, pg->dlen);
    s3xml_elemf(&o, "MaxUploads", "%d", pg->max);
    uploads_xml(pg, &o);
    s3xml_close(&o, "ListMultipartUploadsResult");
    s3_xml(q, 200, NULL, &o);
cleanup:
    s3xml_out_free(&o);
    free(pg);
}
