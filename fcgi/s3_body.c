/* s3_body.c: the body of an S3 request as it was sent (plain, or
 * aws-chunked with its chunk and trailer signatures), its signed SHA-256
 * and checksum header checked as the last byte passes, so a mismatch fails
 * the read before anything acts on it: the value of a PutObject or
 * UploadPart, and the XML bodies (DeleteObjects, CompleteMultipartUpload,
 * CreateBucket), whose Content-MD5 is checked here too. */
#include "s3_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "keys.h"
#include "md5.h"
#include "num.h"
#include "sigv4.h"

/* S3's code for a failed aws-chunked body: a chunk or trailer signature
 * (403), a trailer checksum, or its framing. */
static const char *chunked_code(const struct sigv4_chunked *d, const char *framing)
{
    if (d->failed_check == SIGV4_CHUNK_BADSIG)
        return "SignatureDoesNotMatch";
    if (d->failed_check == SIGV4_CHUNK_BADSUM)
        return "BadDigest";
    return framing;
}

int s3body_final(struct s3body *b)
{
    unsigned int dl = 0;
    char tail[1];

    if (b->chunked && sigv4_chunked_read(b->chunked, tail, sizeof(tail)) != 0) {
        b->bad = chunked_code(b->chunked, "IncompleteBody");
        snprintf(b->why, sizeof(b->why), "%s", b->chunked->why);
        return -1;
    }
    if (b->sha &&
        (EVP_DigestFinal_ex(b->sha, b->got_sha, &dl) != 1 || memcmp(b->got_sha, b->want_sha, 32))) {
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

void s3body_error(struct s3req *q, const struct s3body *b, const char *why)
{
    char client[65], computed[65];

    if (!b->bad) {
        s3_error(q, "IncompleteBody", why);
        return;
    }
    if (strcmp(b->bad, "XAmzContentSHA256Mismatch") != 0) {
        s3_error(q, b->bad, b->why);
        return;
    }
    hex_encode(b->want_sha, 32, client);
    hex_encode(b->got_sha, 32, computed);
    s3_error_with(q, b->bad, b->why,
                  (const struct s3xml_field[]){{"ClientComputedContentSHA256", client, 64},
                                               {"S3ComputedContentSHA256", computed, 64}},
                  2, NULL);
}

ssize_t s3body_read(void *arg, char *buf, size_t cap)
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
            b->bad = chunked_code(b->chunked, "IncompleteBody");
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
    if (b->got == b->length && s3body_final(b) < 0)
        return -1;
    return n;
}

void s3body_free(struct s3body *b)
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

int s3body_checksum(const struct s3body *b, char *alg, size_t cap, const char **value)
{
    static const char prefix[] = "x-amz-checksum-";
    const char *name = b->want_sum ? b->sum_header : NULL;

    *value = b->want_sum;
    if (!name && b->chunked && sigv4_chunked_had_checksum(b->chunked)) {
        name = b->chunked->sum_name;
        *value = b->chunked->sum_value;
    }
    if (!name || strncmp(name, prefix, sizeof(prefix) - 1) != 0 ||
        (size_t)snprintf(alg, cap, "%s", name + sizeof(prefix) - 1) >= cap)
        return 0;
    return 1;
}

int s3body_has_checksum(struct s3req *q)
{
    if (s3_header(q->r, "x-amz-trailer"))
        return 1;
    for (size_t i = 0; i < sizeof(sum_headers) / sizeof(sum_headers[0]); i++)
        if (s3_header(q->r, sum_headers[i]))
            return 1;
    return 0;
}

int s3body_open(struct s3req *q, struct s3body *b, int xml)
{
    const char *cl = s3_hdr(q, "content-length");
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
        if (!xml) {
            s3_error(q, "MissingContentLength", "You must provide the Content-Length HTTP header.");
            return -1;
        }
        /* An XML body (or none: CreateBucket) needs no length: without
         * one it is what a chunked transfer brings, else nothing. */
        b->length = *s3_hdr(q, "transfer-encoding") ? -1 : 0;
    }
    if (pm == SIGV4_PAYLOAD_SHA256) {
        memcpy(b->want_sha, q->auth.payload_sha256, 32);
        if (!(b->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
            s3_error(q, "InternalError", "no SHA-256");
            return -1;
        }
    } else if (pm != SIGV4_PAYLOAD_UNSIGNED) {
        const char *dl = s3_hdr(q, "x-amz-decoded-content-length");
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
                           s3_header(q->r, "x-amz-trailer"));
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
        const char *v = s3_header(q->r, sum_headers[i]);

        if (!v)
            continue;
        if (sigv4_sum_init(&b->sum, sum_headers[i]) < 0) {
            s3_error(q, "InvalidRequest", "unsupported checksum algorithm");
            return -1;
        }
        if (!sigv4_sum_form_ok(&b->sum, v)) {
            char why[80];

            snprintf(why, sizeof(why), "Value for %s header is invalid.", sum_headers[i]);
            s3_error(q, "InvalidRequest", why);
            return -1; /* s3body_free frees the sum */
        }
        b->want_sum = v;
        b->sum_header = sum_headers[i];
        break;
    }
    return 0;
}

/* Reads a small XML body whole into the parser, through the same checks as
 * a value, and its Content-MD5 (DeleteObjects sends one): the caller acts
 * only on a body that passed them all. */
int s3_read_xml(struct s3req *q, struct s3xml_parser *p, size_t max, int need)
{
    const char *cmd5 = s3_header(q->r, "content-md5");
    unsigned char want[16], got[16];
    char buf[16384], why[256];
    struct s3body b;
    struct mkv_md5 m = {0};
    ssize_t n = 0;
    int rc = -1;

    if (cmd5 && parse_content_md5(cmd5, want) < 0) {
        s3_error(q, "InvalidDigest", NULL);
        return -1;
    }
    if (s3body_open(q, &b, 1) < 0)
        goto cleanup;
    if (b.length > (long long)max) {
        s3_error(q, "MalformedXML", "the XML body is too long");
        goto cleanup;
    }
    if (md5_init(&m) < 0) {
        s3_error(q, "InternalError", "no MD5");
        goto cleanup;
    }
    while ((b.length < 0 || b.got < b.length) && (n = s3body_read(&b, buf, sizeof(buf))) > 0) {
        if (b.got > (long long)max) {
            s3_error(q, "MalformedXML", "the XML body is too long");
            goto cleanup;
        }
        if (md5_update(&m, buf, (size_t)n) < 0) {
            s3_error(q, "InternalError", "no MD5");
            goto cleanup;
        }
        if (s3xml_feed(p, buf, (size_t)n, 0, why, sizeof(why)) < 0) {
            s3_error(q, "MalformedXML", why);
            goto cleanup;
        }
    }
    /* (the checks ran with the last byte of a known length; an empty body
     * and one of unknown length are checked here) */
    if (n < 0 || b.got < b.length || (b.length <= 0 && s3body_final(&b) < 0)) {
        s3body_error(q, &b, "the request body ended early");
        goto cleanup;
    }
    if (md5_final(&m, got) < 0 || (cmd5 && memcmp(got, want, 16) != 0)) {
        s3_error(q, "BadDigest", NULL);
        goto cleanup;
    }
    if (b.got == 0 && !need) {
        rc = 1;
        goto cleanup;
    }
    if (s3xml_feed(p, "", 0, 1, why, sizeof(why)) < 0) {
        s3_error(q, "MalformedXML", why);
        goto cleanup;
    }
    rc = 0;
cleanup:
    md5_free(&m);
    s3body_free(&b);
    return rc;
}
