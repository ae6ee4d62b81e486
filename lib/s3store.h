/* s3store.h: what the S3 routes keep besides objects, over the index: the
 * buckets and multipart uploads.  Objects themselves go through
 * lib/store.h like every native write.  Nothing here knows HTTP.
 *
 * A bucket is an entry of volumes.db (index_meta_*, kind 'b'): its name and
 * creation time.  Its objects are the native keys under "/NAME/".
 *
 * Results follow lib/'s convention: 0, or a negative S3STORE_* code. */
#ifndef MKV_S3STORE_H
#define MKV_S3STORE_H

#include <stddef.h>

#include "index.h"

#define S3_BUCKET_MAX 63

enum {
    S3STORE_OK = 0,
    S3STORE_NOBUCKET = -1,  /* no such bucket */
    S3STORE_EXISTS = -2,    /* the bucket exists */
    S3STORE_NOTEMPTY = -3,  /* DeleteBucket: live objects remain */
    S3STORE_INDEX = -4,     /* the index failed */
    S3STORE_NOUPLOAD = -5,  /* no such multipart upload (or not of this key) */
    S3STORE_BADPART = -6,   /* Complete: a part is missing or its ETag differs */
    S3STORE_ORDER = -7,     /* Complete: part numbers not ascending */
    S3STORE_SMALL = -8,     /* Complete: a part but the last under 5 MiB */
    S3STORE_WRITE = -9,     /* storing the object failed (why: the store's reason) */
    S3STORE_NOSOURCE = -10, /* copy: no such source key */
    S3STORE_RANGE = -11,    /* copy: the source range is not inside the source */
    S3STORE_UPLOADS = -12,  /* DeleteBucket: multipart uploads are in progress */
};

/* S3's bucket names: 3 to 63 of a-z 0-9 '.' '-', a letter or digit at each
 * end.  1 or 0. */
int s3_bucket_name_ok(const char *name, size_t len);
/* What CreateBucket takes on top: no "..", ".-" or "-.", not an IPv4
 * address, none of the prefixes and suffixes S3 reserves.  (A bucket is
 * served by the first rule alone: native keys under a name the second
 * refuses stay reachable.) */
int s3_bucket_name_new_ok(const char *name, size_t len);

int s3_bucket_create(struct mkv_index *ix, const char *name, size_t len, long long now);
int s3_bucket_get(struct mkv_index *ix, const char *name, size_t len, long long *ctime);
/* S3STORE_NOTEMPTY while a live key is under "/NAME/", S3STORE_UPLOADS
 * while an upload of a key under it is in progress. */
int s3_bucket_delete(struct mkv_index *ix, const char *name, size_t len);

typedef int (*s3_bucket_fn)(void *arg, const char *name, size_t len, long long ctime);
int s3_bucket_list(struct mkv_index *ix, s3_bucket_fn fn, void *arg);

/* ---- multipart uploads ----
 *
 * An upload is an entry of volumes.db (kind 'u', named by its id: 32 hex
 * digits): the object's native key, the time it began and the object's
 * S3 fields (s3meta.h).  Each part is a native key of its own,
 * "/.mkv-mpu/<id>/<5-digit number>", stored like any value (every replica,
 * its MD5 its ETag) and so listed, rebalanced and rebuilt like one; no
 * bucket can be named ".mkv-mpu", so no listing of a bucket shows them.
 * CompleteMultipartUpload streams the parts in order from their volumes
 * into one value at the object's key (the original's path: one file per
 * replica), then removes the parts and the entry. */
#include "store.h"

#define S3_UPLOAD_ID_LEN  32
#define S3_PART_MAX       10000
#define S3_PART_MIN_BYTES (5LL << 20)
#define S3_PART_PREFIX    "/.mkv-mpu/"

struct s3_upload {
    char id[S3_UPLOAD_ID_LEN + 1];
    char key[MKV_KEY_MAX + 1]; /* the object's native key */
    size_t klen;
    long long ctime;
    unsigned char ext[MKV_RECORD_EXT_MAX];
    size_t extlen;
};

/* Begins an upload of key with the object's fields ext: u->id is set. */
int s3_upload_create(struct mkv_index *ix, const char *key, size_t klen, const unsigned char *ext,
                     size_t extlen, long long now, struct s3_upload *u);

/* Reads upload id (of key, when key is not NULL): S3STORE_NOUPLOAD if
 * there is none, or it is another key's. */
int s3_upload_get(struct mkv_index *ix, const char *id, const char *key, size_t klen,
                  struct s3_upload *u);

/* The native key of part n of upload id into out (64 bytes): its length. */
int s3_part_key(const char *id, int n, char *out);

/* One part as CompleteMultipartUpload names it. */
struct s3_part_ref {
    int number;
    char md5[33];   /* the ETag sent, as 32 hex digits ("" when it was not one) */
    long long size; /* set by s3_upload_complete: the part's size as it found it */
};

/* Stores the object from the parts (in the order given, ascending), with
 * ETag "<md5 of the parts' MD5s>-<n>" (etag, 48 bytes), then removes the
 * parts and the upload.  note: the store's, for the caller's log line.
 * S3STORE_SMALL: the part too small is the last one with a size. */
int s3_upload_complete(struct mkv_store *s, const struct s3_upload *u, struct s3_part_ref *parts,
                       int n, const char *request_id, char *etag, struct store_note *note,
                       char *why, size_t whylen);

/* CopyObject and UploadPartCopy: stores at dst the value of src (bytes
 * first..last of it; first -1: all), streamed from one of its replicas
 * through this process, with the fields ext. */
int s3_copy(struct mkv_store *s, const char *src, size_t srclen, long long first, long long last,
            const char *dst, size_t dstlen, const unsigned char *ext, size_t extlen,
            const char *request_id, struct store_note *note, char *why, size_t whylen);

/* Removes the upload's parts and entry. */
int s3_upload_abort(struct mkv_store *s, const struct s3_upload *u, char *why, size_t whylen);

/* Calls fn for each stored part of upload id from part number `from` on. */
typedef int (*s3_part_fn)(void *arg, int number, const struct mkv_record *rec);
int s3_upload_parts(struct mkv_index *ix, const char *id, int from, s3_part_fn fn, void *arg);

/* Calls fn for each upload (in id order from `from`, "" the first). */
typedef int (*s3_upload_fn)(void *arg, const struct s3_upload *u);
int s3_upload_list(struct mkv_index *ix, const char *from, s3_upload_fn fn, void *arg);

#endif
