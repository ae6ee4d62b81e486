/* s3store.h: what the S3 routes keep besides objects, over the index: the
 * buckets, and (to come) multipart uploads.  Objects themselves go through
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
    S3STORE_NOBUCKET = -1, /* no such bucket */
    S3STORE_EXISTS = -2,   /* the bucket exists */
    S3STORE_NOTEMPTY = -3, /* DeleteBucket: live objects remain */
    S3STORE_INDEX = -4,    /* the index failed */
};

/* S3's bucket names: 3 to 63 of a-z 0-9 '.' '-', a letter or digit at each
 * end.  1 or 0. */
int s3_bucket_name_ok(const char *name, size_t len);

int s3_bucket_create(struct mkv_index *ix, const char *name, size_t len, long long now);
int s3_bucket_get(struct mkv_index *ix, const char *name, size_t len, long long *ctime);
/* S3STORE_NOTEMPTY while a live key is under "/NAME/". */
int s3_bucket_delete(struct mkv_index *ix, const char *name, size_t len);

typedef int (*s3_bucket_fn)(void *arg, const char *name, size_t len, long long ctime);
int s3_bucket_list(struct mkv_index *ix, s3_bucket_fn fn, void *arg);

#endif
