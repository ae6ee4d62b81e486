/* fuzz_sigv4.c: libFuzzer harness for lib/sigv4.c, the parsers of what an
 * S3 client sends: the Authorization header, the presigned query, the
 * x-amz-date / Date / x-amz-content-sha256 headers, and aws-chunked bodies.
 *
 * Input: the first byte picks the target.  Even: a request whose parts are
 * the '\n'-separated rest (Authorization, query, x-amz-date, Date,
 * x-amz-content-sha256, path; an empty part is an absent header).  Odd: an
 * aws-chunked body, bits 1-2 picking the payload form and the rest of the
 * byte the read sizes.  Properties: no crash, a known result code with a
 * one-line reason that never holds the secret, and a decoder that yields at
 * most the body's bytes and keeps its verdict once given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define PARTS  6

static struct sigv4_creds *creds;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[] = "/tmp/fuzz_sigv4.XXXXXX", why[256];
    static const char text[] = "AKIDEXAMPLE " SECRET "\nK2 s2\n";
    int fd = mkstemp(path);

    (void)argc;
    (void)argv;
    if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1))
        abort();
    close(fd);
    if (sigv4_creds_load(path, &creds, why, sizeof(why)) < 0)
        abort();
    unlink(path);
    return 0;
}

struct parts {
    char *v[PARTS];
};

static const char *header(void *arg, const char *lname)
{
    static const char *names[] = {"authorization", NULL, "x-amz-date", "date",
                                  "x-amz-content-sha256"};
    struct parts *p = arg;

    if (strcmp(lname, "host") == 0)
        return "localhost:3000";
    for (int i = 0; i < 5; i++)
        if (names[i] && strcmp(lname, names[i]) == 0)
            return p->v[i] && *p->v[i] ? p->v[i] : NULL;
    return NULL;
}

static void fuzz_request(const char *s)
{
    static char buf[1 << 16];
    struct parts p = {{0}};
    struct sigv4_auth a;
    char why[160];
    size_t n = strlen(s);
    int rc;

    if (n >= sizeof(buf))
        return;
    memcpy(buf, s, n + 1);
    p.v[0] = buf;
    for (int i = 1; i < PARTS; i++) {
        char *nl = strchr(p.v[i - 1], '\n');
        if (!nl)
            break;
        *nl = '\0';
        p.v[i] = nl + 1;
    }
    static struct sigv4_explain ex; /* a mismatch explained, bounded like the rest */
    struct sigv4_req r = {"PUT",        p.v[5] && *p.v[5] ? p.v[5] : "/bucket/key",
                          p.v[1],       header,
                          &p,           1796126400LL,
                          NULL,         NULL,
                          &ex};
    memset(why, 'x', sizeof(why));
    rc = sigv4_verify(creds, &r, &a, why, sizeof(why));
    if (rc > 0 || rc < SIGV4_UNSIGNED || !memchr(why, '\0', sizeof(why)) || strchr(why, '\n') ||
        strstr(why, SECRET) || why[0] == '\0')
        abort();
}

struct body {
    const uint8_t *p;
    size_t len, pos, step;
};

static ssize_t body_read(void *arg, char *buf, size_t cap)
{
    struct body *b = arg;
    size_t n = b->len - b->pos;

    if (n > cap)
        n = cap;
    if (n > b->step)
        n = b->step;
    memcpy(buf, b->p + b->pos, n);
    b->pos += n;
    b->step = b->step * 5 % 61 + 1; /* reads of changing sizes */
    return (ssize_t)n;
}

static void fuzz_body(unsigned sel, const uint8_t *data, size_t size)
{
    static const int modes[] = {SIGV4_PAYLOAD_STREAMING, SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER,
                                SIGV4_PAYLOAD_STREAMING_TRAILER,
                                SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    static struct sigv4_chunked d;
    struct sigv4_auth a;
    struct body b = {data, size, 0, (sel >> 3) + 1};
    char buf[97];
    size_t total = 0, cap = (sel >> 3) % sizeof(buf) + 1;
    ssize_t n;
    int mode = modes[(sel >> 1) & 3];

    memset(&a, 0, sizeof(a));
    a.payload = mode;
    memcpy(a.amz_date, "20261201T120000Z", 17);
    strcpy(a.scope, "20261201/us-east-1/s3/aws4_request");
    memset(a.prev_sig, 'a', 64);
    sigv4_chunked_init(&d, &a, mode, body_read, &b,
                       mode == SIGV4_PAYLOAD_STREAMING ? NULL : "x-amz-checksum-crc32");
    while ((n = sigv4_chunked_read(&d, buf, cap)) > 0) {
        total += (size_t)n;
        if ((size_t)n > cap || total > size)
            abort();
    }
    if (n != 0 && n != -1)
        abort();
    if (sigv4_chunked_read(&d, buf, cap) != n || (n == -1 && d.why[0] == '\0'))
        abort();
    sigv4_chunked_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[1 << 16];

    if (size == 0 || size >= sizeof(s))
        return 0;
    if (data[0] & 1) {
        fuzz_body(data[0], data + 1, size - 1);
        return 0;
    }
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    fuzz_request(s);
    return 0;
}
