/* s3meta.h: the S3 fields a record keeps among its optional fields
 * (recbin.h's EXT, type-length-value): what PutObject was sent and GET and
 * HEAD give back.
 *
 *     1  Content-Type          the header's value
 *     2  x-amz-meta-NAME       "name: value" (name lowercase, as FastCGI
 *                              passes it: '_' and '-' both arrive as '_',
 *                              and come back as '-')
 *     3  ETag                  a multipart upload's "md5-N" (else the MD5)
 *     4  Content-Encoding      5  Content-Disposition  6  Cache-Control
 *     7  Content-Language      8  Expires
 *     9  x-amz-storage-class   the class named at PutObject, when it is not
 *                              STANDARD (S3 names STANDARD nowhere in HEAD)
 *    10  parts                 a multipart object whose parts but the last
 *                              are of one size: that size (8 bytes, big
 *                              endian) and the count (4): GetObject's
 *                              partNumber
 *
 * Types a version does not know are kept and ignored (recbin.h). */
#ifndef MKV_S3META_H
#define MKV_S3META_H

#include <stddef.h>

enum {
    S3META_CONTENT_TYPE = 1,
    S3META_USER = 2,
    S3META_ETAG = 3,
    S3META_CONTENT_ENCODING = 4,
    S3META_CONTENT_DISPOSITION = 5,
    S3META_CACHE_CONTROL = 6,
    S3META_CONTENT_LANGUAGE = 7,
    S3META_EXPIRES = 8,
    S3META_STORAGE_CLASS = 9,
    S3META_PARTS = 10,
    /* The checksum PutObject was given and verified, "ALG: BASE64" (ALG as
     * in x-amz-checksum-ALG), answered when a request asks for it
     * (x-amz-checksum-mode: ENABLED). */
    S3META_CHECKSUM = 11,
};

#define S3META_USER_MAX 2048 /* S3's limit on the user metadata of an object */

/* S3META_PARTS: a part size and count, as the field's 12 bytes, and back
 * from a record's fields (1, or 0 when it has none). */
#define S3META_PARTS_LEN 12
void s3meta_parts_put(unsigned char out[S3META_PARTS_LEN], long long size, int count);
int s3meta_parts_get(const unsigned char *ext, size_t len, long long *size, int *count);

/* The response header of a type ("Content-Type"; "x-amz-meta-" for user
 * metadata), or NULL for a type this version does not show. */
const char *s3meta_header(unsigned type);

/* The fields of a PutObject from its FastCGI parameters (envp) into ext (cap
 * bytes, *len set): 0, or -1 with a reason when the user metadata passes
 * S3's 2 KB or a value holds a control character (MetadataTooLarge), or
 * S3META_BAD_CLASS for a storage class S3 does not have. */
#define S3META_BAD_CLASS (-2)
int s3meta_from_request(char **envp, unsigned char *ext, size_t cap, size_t *len, char *why,
                        size_t whylen);

#endif
