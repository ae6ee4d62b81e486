/* s3_int.h: what the S3 route files share (fcgi/s3.c: requests, signatures,
 * errors, routing; s3_body.c: request bodies and their checks; s3_object.c:
 * objects and copies; s3_bucket.c: buckets and listings; s3_multipart.c:
 * multipart uploads).  Internal to fcgi/. */
#ifndef MKV_S3_INT_H
#define MKV_S3_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "s3.h"
#include "s3store.h"
#include "s3xml.h"
#include "sigv4.h"
#include "volume.h"

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

/* ---- s3.c ---- */

/* S3's error document for code (message NULL: S3's own), its status. */
void s3_error(struct s3req *q, const char *code, const char *message);
/* The same with n more elements and extra header lines (NULL: none); with
 * none, NoSuchKey's Key and NoSuchBucket's BucketName, as s3_error adds
 * them. */
void s3_error_with(struct s3req *q, const char *code, const char *message,
                   const struct s3xml_field *fields, size_t n, const char *extra);
/* A 200-style answer with the XML in o (extra: header lines or NULL). */
void s3_xml(struct s3req *q, int status, const char *extra, struct s3xml_out *o);
/* An answer without a body. */
void s3_empty(struct s3req *q, int status, const char *extra);
/* A request header by its lowercase name (NULL when absent) / ("" when). */
const char *s3_header(void *arg, const char *lname);
const char *s3_hdr(struct s3req *q, const char *lname);
/* A query parameter, decoded: 1 found, 0 absent, -1 malformed. */
int s3_qparam(struct s3req *q, const char *name, char *out, size_t cap, size_t *len);
/* The query's partNumber: 1 with it in *n, 0 absent (and not required),
 * or -1 with InvalidArgument answered (not a number from 1 to S3_PART_MAX,
 * or absent where required). */
int s3_part_number(struct s3req *q, int required, long long *n);
/* Whether the query names subresource (with or without a value). */
int s3_has_sub(struct s3req *q, const char *name);
/* The bucket exists: 0, or the error answered and -1. */
int s3_need_bucket(struct s3req *q, long long *ctime);

/* ---- s3_body.c ---- */

/* Reads the body the way it was sent (plain, or aws-chunked), and checks
 * what the request said of it: the signed SHA-256, a checksum header.  The
 * check runs as the last byte passes, before it is handed on, so a mismatch
 * fails the reader's read and nothing is kept. */
struct s3body {
    body_read_fn rd;
    void *rdarg;
    long long length, got;
    struct evp_md_ctx_st *sha;               /* the signed payload hash, or NULL */
    unsigned char want_sha[32], got_sha[32]; /* got: the body's, once it ended */
    struct sigv4_sum sum;                    /* a checksum header, alg 0: none */
    const char *want_sum, *sum_header;       /* its value and name */
    struct sigv4_chunked *chunked;
    const char *bad; /* the S3 error code of a failed check */
    char why[160];
};

/* The request's body (an XML one: without a length, what a chunked
 * transfer brings, else none): 0, or answered (a bad length, ...) and -1;
 * s3body_free either way. */
int s3body_open(struct s3req *q, struct s3body *b, int xml);
/* A body_read_fn: -1 also when a check fails (b->bad, b->why say which). */
ssize_t s3body_read(void *arg, char *buf, size_t cap);
/* The checks at the end of the body (an empty one is never read). */
int s3body_final(struct s3body *b);
/* Answers the check that failed (S3's code and fields), or IncompleteBody
 * with why when none did. */
void s3body_error(struct s3req *q, const struct s3body *b, const char *why);
void s3body_free(struct s3body *b);
/* Whether the request carries a checksum of its body: an x-amz-checksum-*
 * header, or an aws-chunked trailer to come. */
int s3body_has_checksum(struct s3req *q);
/* After s3body_final passed: the body's checksum that the request gave and
 * that matched (the header's or the trailer's), its algorithm as S3 names
 * the header ("crc32" of x-amz-checksum-crc32) into alg: 1, or 0 for none. */
int s3body_checksum(const struct s3body *b, char *alg, size_t cap, const char **value);
/* Reads a small XML body into p, checked as a value is: 0, 1 (empty and
 * !need), or answered and -1. */
int s3_read_xml(struct s3req *q, struct s3xml_parser *p, size_t max, int need);

/* ---- s3_object.c ---- */

/* The S3 fields a request sets (Content-Type, x-amz-meta-*, ...) into ext:
 * 0, or answered (MetadataTooLarge, InvalidStorageClass) and -1. */
int s3_request_meta(struct s3req *q, unsigned char *ext, size_t cap, size_t *len);

/* The ETag of a record: its MD5, or the multipart one it keeps. */
void s3_etag_of(const struct mkv_record *rec, char *out, size_t cap);
/* Stores the request's body at key (an object or a part), answers its ETag;
 * conditional: under the request's If-Match / If-None-Match (PutObject). */
void s3_put_body(struct s3req *q, const char *key, size_t klen, const unsigned char *ext,
                 size_t extlen, int conditional);
void s3_put_object(struct s3req *q);
void s3_get_object(struct s3req *q);
void s3_head_object(struct s3req *q);
void s3_delete_object(struct s3req *q);
void s3_delete_objects(struct s3req *q);
/* CopyObject (part 0) or UploadPartCopy into the native key dst. */
void s3_copy_into(struct s3req *q, const char *dst, size_t dstlen, int part);

/* ---- s3_bucket.c ---- */

enum { LIST_V1, LIST_V2, LIST_VERSIONS };
void s3_list_buckets(struct s3req *q);
void s3_create_bucket(struct s3req *q);
void s3_delete_bucket(struct s3req *q);
void s3_bucket_location(struct s3req *q);
void s3_bucket_versioning(struct s3req *q);
void s3_list_objects(struct s3req *q, int kind);

/* ---- s3_multipart.c ---- */

void s3_create_upload(struct s3req *q);
void s3_upload_part(struct s3req *q);
void s3_complete_upload(struct s3req *q);
void s3_abort_upload(struct s3req *q);
void s3_list_parts(struct s3req *q);
void s3_list_uploads(struct s3req *q);

#endif
