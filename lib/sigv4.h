/* sigv4.h: AWS Signature Version 4 verification for an S3 endpoint.
 *
 * Checks the Authorization header form and the presigned (query) form of
 * AWS4-HMAC-SHA256 against a file of access keys and secrets, decodes the
 * aws-chunked bodies of streaming uploads (checking each chunk's signature
 * and the trailer's checksum as the bytes pass), and computes the
 * x-amz-checksum-* values (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256).
 *
 * Only what the client sent is trusted after a successful check: the
 * request's method, raw path, raw query and the signed headers.  Headers a
 * client did not sign are not covered, and the caller must not act on them
 * as if they were. */
#ifndef MKV_SIGV4_H
#define MKV_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Credentials: a file of lines "ACCESS_KEY SECRET" ('#' comments, blank
 * lines ok).  Keys are 1..128 bytes of [A-Za-z0-9._~-] (they must read the
 * same raw and percent-encoded), secrets 1..128 printable ASCII bytes
 * without blanks; a duplicate access key is an error.  Errors name the file
 * and line, never the line's text. */
struct sigv4_creds; /* opaque */
int sigv4_creds_load(const char *path, struct sigv4_creds **out, char *why, size_t whylen);
void sigv4_creds_free(struct sigv4_creds *c);

/* A request as FastCGI presents it.  header(harg, "x-amz-date") returns the
 * value of a request header by its lowercase name, or NULL when absent.
 * (The caller maps names to FastCGI params: host->HTTP_HOST,
 * content-type->CONTENT_TYPE, content-length->CONTENT_LENGTH, others
 * HTTP_ + upper-case with '-'->'_'.) */
struct sigv4_req {
    const char *method; /* "PUT" */
    const char *path;   /* the raw request path as sent, percent-encoded, no query */
    const char *query;  /* raw query string after '?', or NULL */
    const char *(*header)(void *arg, const char *lname);
    void *harg;
    long long now;      /* seconds since the epoch */
    const char *region; /* the region a signature must name (setting s3_region), NULL: any */
    /* The request's next x-amz-* header name, lowercase, into name: 1, or 0
     * past the last.  *pos is the caller's cursor (0 at first), moved past
     * the one named.  With it, the header form refuses any not signed. */
    int (*amz_header)(void *arg, size_t *pos, char *name, size_t cap);
    /* Set: filled when the answer is SIGV4_MISMATCH (else untouched). */
    struct sigv4_explain *explain;
};

enum {
    SIGV4_PAYLOAD_UNSIGNED = 1,               /* UNSIGNED-PAYLOAD */
    SIGV4_PAYLOAD_SHA256,                     /* x-amz-content-sha256: <64 hex> */
    SIGV4_PAYLOAD_STREAMING,                  /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
    SIGV4_PAYLOAD_STREAMING_TRAILER,          /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
};

#define SIGV4_KEY_MAX       128  /* bytes of an access key or a secret */
#define SIGV4_STS_MAX       512  /* bytes of a string to sign */
#define SIGV4_CANONICAL_MAX 8192 /* bytes of a canonical request explained */

/* A signature that does not match, explained as S3's SignatureDoesNotMatch
 * does: what the server signed, for the client to find where its own
 * signing went another way.  Nothing secret: the canonical request is made
 * of what the client sent, and the signature is the one it provided. */
struct sigv4_explain {
    char access_key[SIGV4_KEY_MAX + 1];
    char signature[65];                  /* the one provided */
    char string_to_sign[SIGV4_STS_MAX];  /* "" if it could not be made */
    char canonical[SIGV4_CANONICAL_MAX]; /* cut at the end if longer; "" on failure */
};

struct sigv4_auth { /* filled by sigv4_verify on success */
    char access_key[SIGV4_KEY_MAX + 1];
    int payload;                      /* SIGV4_PAYLOAD_* */
    unsigned char payload_sha256[32]; /* SIGV4_PAYLOAD_SHA256: what the body must hash to */
    int presigned;                    /* 1 for the query form */
    /* for chunk signatures (SIGV4_PAYLOAD_STREAMING, _STREAMING_TRAILER): */
    unsigned char signing_key[32];
    char amz_date[17]; /* 20261201T120000Z */
    char scope[160];   /* 20261201/us-east-1/s3/aws4_request */
    char prev_sig[65]; /* the seed signature, then each chunk's */
};

/* Error codes: 0 ok, or negative; why gets a one-line reason suitable for
 * S3's <Message> (never a secret, never a computed signature). */
enum {
    SIGV4_MISSING = -1,     /* no Authorization header and no X-Amz-Algorithm query: anonymous */
    SIGV4_MALFORMED = -2,   /* AuthorizationHeaderMalformed / AuthorizationQueryParametersError */
    SIGV4_UNKNOWN_KEY = -3, /* InvalidAccessKeyId */
    SIGV4_MISMATCH = -4,    /* SignatureDoesNotMatch */
    SIGV4_SKEW = -5,        /* RequestTimeTooSkewed: |now - date| > 15 minutes */
    SIGV4_EXPIRED = -6,     /* presigned URL past X-Amz-Date + X-Amz-Expires */
    SIGV4_UNSUPPORTED = -7, /* signature version 2, another algorithm or payload form */
    SIGV4_BADDATE = -8,     /* AccessDenied: no date, or one that does not parse */
    SIGV4_BADHASH = -9,     /* InvalidArgument: x-amz-content-sha256 neither a hash nor a form */
    SIGV4_REGION = -10,     /* AuthorizationHeaderMalformed / ...QueryParametersError: another
                               region than req->region (S3 names its own in the error) */
    SIGV4_UNSIGNED = -11,   /* AccessDenied: x-amz-* headers not signed (why: their names) */
    /* (the last: tests/fuzz/fuzz_sigv4.c checks every answer is one of these) */
};

#define SIGV4_MAX_SKEW 900 /* seconds: S3's 15 minutes */

int sigv4_verify(const struct sigv4_creds *c, const struct sigv4_req *r, struct sigv4_auth *a,
                 char *why, size_t whylen);

/* STREAMING-AWS4-HMAC-SHA256-PAYLOAD: checks one chunk's signature (64
 * lowercase hex) given the SHA-256 of its data; on success a->prev_sig
 * becomes sig_hex.  0 or SIGV4_MISMATCH. */
int sigv4_chunk_check(struct sigv4_auth *a, const char *sig_hex, const unsigned char sha256[32]);

/* The trailer of the signed trailer form: hash is the SHA-256 of the
 * canonical trailer ("name:value\n" for each trailer header). */
int sigv4_trailer_check(struct sigv4_auth *a, const char *sig_hex, const unsigned char sha256[32]);

/* Checksums of x-amz-checksum-* headers and trailers. */
enum {
    SIGV4_SUM_CRC32 = 1,
    SIGV4_SUM_CRC32C,
    SIGV4_SUM_CRC64NVME,
    SIGV4_SUM_SHA1,
    SIGV4_SUM_SHA256,
};

struct evp_md_ctx_st;

struct sigv4_sum {
    int alg;                  /* SIGV4_SUM_*, 0 before init */
    uint64_t crc;             /* CRC32 / CRC32C / CRC64NVME register */
    struct evp_md_ctx_st *md; /* SHA-1 / SHA-256 */
};

/* algorithm_header_name: "x-amz-checksum-crc32", "-crc32c", "-crc64nvme",
 * "-sha1" or "-sha256" (case-insensitive).  0, or -1 unknown (or out of
 * memory).  Every initialised sum must end in sigv4_sum_matches,
 * sigv4_sum_final or sigv4_sum_free. */
int sigv4_sum_init(struct sigv4_sum *s, const char *algorithm_header_name);
void sigv4_sum_update(struct sigv4_sum *s, const void *p, size_t n);
/* The base64 of the checksum, as the header carries it; 0 or -1.  Frees. */
int sigv4_sum_final(struct sigv4_sum *s, char *b64, size_t cap);
/* 1 when b64 has the form of the algorithm's checksum (the base64 of its
 * digest's bytes, padded), else 0: a value of another form is no checksum
 * at all (S3's InvalidRequest, not BadDigest). */
int sigv4_sum_form_ok(const struct sigv4_sum *s, const char *b64);
/* 1 when b64_value is the checksum of the bytes so far, else 0.  Frees. */
int sigv4_sum_matches(struct sigv4_sum *s, const char *b64_value);
void sigv4_sum_free(struct sigv4_sum *s);

/* A body decoder for aws-chunked uploads (Content-Encoding: aws-chunked),
 * for the three streaming payload forms:
 *   signed:           <hex>;chunk-signature=<64hex>\r\n<data>\r\n ...
 *                     0;chunk-signature=<64hex>\r\n\r\n
 *   signed, trailer:  ... 0;chunk-signature=<64hex>\r\n<name>:<value>\r\n
 *                     x-amz-trailer-signature:<64hex>\r\n\r\n
 *   unsigned trailer: <hex>\r\n<data>\r\n ... 0\r\n<name>:<value>\r\n\r\n
 * It reads the raw body through rd (the project's body_read_fn: returns
 * bytes, 0 at the end, -1 on error) and yields only the payload bytes.
 * sigv4_chunked_read returns bytes > 0, 0 at the clean end of the last
 * chunk (after checking the final chunk's signature, the trailer and that
 * nothing follows), -1 on malformed framing, a bad signature or checksum,
 * or a read error (reason in d->why).
 *
 * Memory is bounded: chunk data is hashed as it passes and never held, so
 * the bytes of a chunk reach the caller BEFORE that chunk's signature is
 * checked: nothing is authentic until the read that returns 0.  A chunk
 * is at most SIGV4_CHUNK_MAX bytes (16 hex digits at most). */
#define SIGV4_CHUNK_MAX  (1LL << 30) /* 1 GiB, the largest value mkv stores */
#define SIGV4_CHUNK_LINE 256         /* a chunk header or trailer line, CRLF included */
#define SIGV4_CHUNK_IBUF 4096

struct sigv4_chunked {
    struct sigv4_auth *a;
    int mode; /* SIGV4_PAYLOAD_STREAMING* */
    ssize_t (*rd)(void *, char *, size_t);
    void *rdarg;
    int state;
    long long left;                 /* data bytes left in this chunk */
    long long total;                /* payload bytes yielded so far */
    long long want_total;           /* x-amz-decoded-content-length, or -1 */
    char sig[65];                   /* this chunk's signature */
    struct evp_md_ctx_st *chunk_md; /* SHA-256 of this chunk's data */
    struct sigv4_sum sum;           /* the trailer's checksum, when one is declared */
    int has_sum, had_checksum, trailer_lines;
    char sum_name[40];                /* its lowercase header name */
    char sum_value[96];               /* and its value, once it matched */
    struct evp_md_ctx_st *trailer_md; /* SHA-256 of the canonical trailer */
    char line[SIGV4_CHUNK_LINE];
    size_t linelen;
    char ibuf[SIGV4_CHUNK_IBUF]; /* raw bytes read ahead */
    size_t ipos, ilen;
    char why[160];
    int failed_check; /* after a failure: SIGV4_CHUNK_BADSIG, _BADSUM, or 0 (framing) */
};

/* What a failed sigv4_chunked_read found, for the caller's error code. */
enum { SIGV4_CHUNK_BADSIG = 1, SIGV4_CHUNK_BADSUM = 2 };

/* payload_mode: a->payload (SIGV4_PAYLOAD_STREAMING*); trailer_names: the
 * x-amz-trailer header or NULL (one checksum name is supported).  a is
 * updated as chunks are checked. */
void sigv4_chunked_init(struct sigv4_chunked *d, struct sigv4_auth *a, int payload_mode,
                        ssize_t (*rd)(void *, char *, size_t), void *rdarg,
                        const char *trailer_names);
/* The x-amz-decoded-content-length the payload must add up to (checked at
 * the end); without a call the total is not checked. */
void sigv4_chunked_set_length(struct sigv4_chunked *d, long long decoded_length);
ssize_t sigv4_chunked_read(void *d /* struct sigv4_chunked * */, char *buf, size_t cap);
/* 1 when the trailer carried a checksum, which was verified. */
int sigv4_chunked_had_checksum(const struct sigv4_chunked *d);
/* Frees the hash contexts (harmless twice, and after any return). */
void sigv4_chunked_free(struct sigv4_chunked *d);

#endif
