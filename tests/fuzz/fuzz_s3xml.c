/* fuzz_s3xml.c: libFuzzer harness for the S3 request body parser.
 * The first byte picks the body kind and where the rest is cut in two.
 * Properties: the body fed whole and fed in two pieces gives the same
 * result; whatever parses is carried by the writer without needing URL
 * encoding, and a Delete body written from the parsed keys parses back to
 * the same keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3xml.h"

static struct s3xml_parser *parse(enum s3xml_kind kind, const char *buf, size_t n, size_t cut,
                                  int *rc)
{
    struct s3xml_parser *p = s3xml_parser_new(kind);
    char why[128];

    if (!p)
        abort();
    *rc = s3xml_feed(p, buf, cut, 0, why, sizeof(why));
    if (*rc == 0)
        *rc = s3xml_feed(p, buf + cut, n - cut, 1, why, sizeof(why));
    return p;
}

static void same_objects(const struct s3xml_parser *a, const struct s3xml_parser *b)
{
    struct s3xml_object x, y;

    if (s3xml_nobjects(a) != s3xml_nobjects(b) || s3xml_quiet(a) != s3xml_quiet(b))
        abort();
    for (size_t i = 0; i < s3xml_nobjects(a); i++) {
        if (s3xml_object(a, i, &x) != 0 || s3xml_object(b, i, &y) != 0)
            abort();
        if (x.keylen != y.keylen || memcmp(x.key, y.key, x.keylen) != 0)
            abort();
        if (!x.version_id != !y.version_id || (x.version_id && strcmp(x.version_id, y.version_id)))
            abort();
    }
}

static void same_parts(const struct s3xml_parser *a, const struct s3xml_parser *b)
{
    struct s3xml_part x, y;

    if (s3xml_nparts(a) != s3xml_nparts(b))
        abort();
    for (size_t i = 0; i < s3xml_nparts(a); i++) {
        if (s3xml_part(a, i, &x) != 0 || s3xml_part(b, i, &y) != 0)
            abort();
        if (x.number != y.number || x.etag_is_md5 != y.etag_is_md5 || strcmp(x.etag, y.etag))
            abort();
        if (x.number < 1 || x.number > S3XML_PARTS_MAX || (x.etag_is_md5 && strlen(x.etag) != 32))
            abort();
    }
}

/* The keys written out as a Delete body and parsed again. */
static void roundtrip(const struct s3xml_parser *p)
{
    struct s3xml_out o = {0};
    struct s3xml_object x;
    struct s3xml_parser *again;
    int rc;

    s3xml_open(&o, "Delete");
    for (size_t i = 0; i < s3xml_nobjects(p); i++) {
        s3xml_object(p, i, &x);
        if (x.keylen == 0 || x.keylen > S3XML_KEY_MAX || strlen(x.key) != x.keylen)
            abort();
        if (s3xml_needs_url_encoding(x.key, x.keylen))
            abort();
        s3xml_open(&o, "Object");
        s3xml_elem(&o, "Key", x.key, x.keylen);
        if (x.version_id)
            s3xml_elem(&o, "VersionId", x.version_id, strlen(x.version_id));
        s3xml_close(&o, "Object");
    }
    s3xml_elem(&o, "Quiet", s3xml_quiet(p) ? "true" : "false", s3xml_quiet(p) ? 4 : 5);
    s3xml_close(&o, "Delete");
    if (o.oom)
        abort();
    again = parse(S3XML_DELETE, o.buf, o.len, o.len / 2, &rc);
    if (rc != 0)
        abort();
    same_objects(p, again);
    s3xml_parser_free(again);
    s3xml_out_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum s3xml_kind kind;
    const char *body = (const char *)data + 1;
    size_t n, cut;
    int rc1, rc2;
    struct s3xml_parser *whole, *split;

    if (size < 1)
        return 0;
    kind = (enum s3xml_kind)(data[0] % 3);
    n = size - 1;
    cut = n ? (size_t)(data[0] / 3) * n / 85 : 0;
    if (cut > n)
        cut = n;
    whole = parse(kind, body, n, n, &rc1);
    split = parse(kind, body, n, cut, &rc2);
    if (rc1 != rc2)
        abort();
    if (rc1 == 0) {
        same_objects(whole, split);
        same_parts(whole, split);
        if (strcmp(s3xml_location(whole), s3xml_location(split)) != 0)
            abort();
        if (kind == S3XML_DELETE)
            roundtrip(whole);
    }
    s3xml_parser_free(whole);
    s3xml_parser_free(split);
    return 0;
}
