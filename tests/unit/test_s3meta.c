/* test_s3meta.c: an object's S3 fields in its record (lib/s3meta.c), the
 * record's optional fields (recbin_ext_add/next), and bucket names
 * (lib/s3store.c s3_bucket_name_ok). */
#include <stdio.h>
#include <string.h>

#include "recbin.h"
#include "s3meta.h"
#include "s3store.h"
#include "unit.h"

/* The fields of ext as "type=value;" text. */
static void fields(const unsigned char *ext, size_t len, char *out, size_t cap)
{
    size_t pos = 0, n, o = 0;
    unsigned type;
    const unsigned char *v;

    out[0] = '\0';
    while (recbin_ext_next(ext, len, &pos, &type, &v, &n) == 1 && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "%u=%.*s;", type, (int)n, (const char *)v);
}

static void test_from_request(void)
{
    char *envp[] = {"CONTENT_TYPE=text/plain; charset=utf-8",
                    "HTTP_CACHE_CONTROL=max-age=60",
                    "HTTP_X_AMZ_META_COLOR=blue",
                    "HTTP_X_AMZ_META_MY_KEY=a value",
                    "HTTP_X_AMZ_DATE=20261201T000000Z",
                    "CONTENT_LENGTH=5",
                    NULL};
    unsigned char ext[MKV_RECORD_EXT_MAX];
    size_t len = 0;
    char why[256], got[2048];

    CHECK(s3meta_from_request(envp, ext, sizeof(ext), &len, why, sizeof(why)) == 0);
    fields(ext, len, got, sizeof(got));
    /* Standard headers first (in s3meta's order), then user metadata with
     * its name lowercase and '_' as '-'; nothing else. */
    CHECK_STR(got, "1=text/plain; charset=utf-8;6=max-age=60;2=color: blue;2=my-key: a value;");
    CHECK_STR(s3meta_header(S3META_CONTENT_TYPE), "Content-Type");
    CHECK_STR(s3meta_header(S3META_USER), "x-amz-meta-");
    CHECK(s3meta_header(99) == NULL);
}

static void test_from_request_refused(void)
{
    char big[S3META_USER_MAX + 64];
    char *ctl[] = {"HTTP_X_AMZ_META_A=x\001y", NULL};
    char *ctl2[] = {"CONTENT_TYPE=a\rb", NULL};
    char *huge[] = {big, NULL};
    unsigned char ext[MKV_RECORD_EXT_MAX];
    size_t len = 0;
    char why[256];

    CHECK(s3meta_from_request(ctl, ext, sizeof(ext), &len, why, sizeof(why)) == -1);
    CHECK(strstr(why, "control character") != NULL);
    CHECK(s3meta_from_request(ctl2, ext, sizeof(ext), &len, why, sizeof(why)) == -1);
    snprintf(big, sizeof(big), "HTTP_X_AMZ_META_BIG=");
    memset(big + strlen(big), 'v', S3META_USER_MAX);
    big[sizeof(big) - 1] = '\0';
    CHECK(s3meta_from_request(huge, ext, sizeof(ext), &len, why, sizeof(why)) == -1);
    CHECK(strstr(why, "metadata") != NULL);
}

static void test_ext_fields(void)
{
    unsigned char ext[16], bad[] = {0x01, 0x05, 'a'};
    size_t len = 0, pos = 0, n;
    unsigned type;
    const unsigned char *v;

    CHECK(recbin_ext_add(ext, sizeof(ext), &len, 3, "abc", 3) == 0);
    CHECK(recbin_ext_add(ext, sizeof(ext), &len, 300, "", 0) == 0);
    CHECK(len == 5 + 3);
    /* Does not fit: nothing changes. */
    CHECK(recbin_ext_add(ext, sizeof(ext), &len, 1, "0123456789", 10) == -1 && len == 8);
    CHECK(recbin_ext_next(ext, len, &pos, &type, &v, &n) == 1 && type == 3 && n == 3 &&
          !memcmp(v, "abc", 3));
    CHECK(recbin_ext_next(ext, len, &pos, &type, &v, &n) == 1 && type == 300 && n == 0);
    CHECK(recbin_ext_next(ext, len, &pos, &type, &v, &n) == 0);
    /* A length past the end is refused, not read. */
    pos = 0;
    CHECK(recbin_ext_next(bad, sizeof(bad), &pos, &type, &v, &n) == -1);
}

static void test_ext_without(void)
{
    static const unsigned drop[] = {3, 7};
    unsigned char ext[32], out[32], tiny[4];
    size_t len = 0, olen = 0, tlen = 0, pos = 0, n;
    unsigned type;
    const unsigned char *v;

    CHECK(recbin_ext_add(ext, sizeof(ext), &len, 3, "abc", 3) == 0);
    CHECK(recbin_ext_add(ext, sizeof(ext), &len, 5, "xy", 2) == 0);
    CHECK(recbin_ext_add(ext, sizeof(ext), &len, 7, "q", 1) == 0);
    CHECK(recbin_ext_add(ext, sizeof(ext), &len, 3, "d", 1) == 0);
    CHECK(recbin_ext_without(ext, len, drop, 2, out, sizeof(out), &olen) == 0);
    /* only type 5 is left, with its bytes */
    CHECK(recbin_ext_next(out, olen, &pos, &type, &v, &n) == 1 && type == 5 && n == 2 &&
          !memcmp(v, "xy", 2));
    CHECK(recbin_ext_next(out, olen, &pos, &type, &v, &n) == 0);
    /* nothing dropped: the same bytes */
    olen = 0;
    CHECK(recbin_ext_without(ext, len, drop, 0, out, sizeof(out), &olen) == 0 && olen == len &&
          !memcmp(out, ext, len));
    /* what does not fit is refused */
    CHECK(recbin_ext_without(ext, len, drop, 0, tiny, sizeof(tiny), &tlen) == -1);
}

static void test_bucket_names(void)
{
    const char *good[] = {
        "abc", "photos", "my.bucket-1",
        "a1b", "123",    "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0"};
    const char *bad[] = {
        "",     "ab",       "Abc",
        "abc-", "-abc",     ".abc",
        "abc.", "a_b",      "a b",
        "ab/c", ".mkv-mpu", "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(s3_bucket_name_ok(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!s3_bucket_name_ok(bad[i], strlen(bad[i])));
}

static void test_part_keys(void)
{
    char key[64];
    int n = s3_part_key("0123456789abcdef0123456789abcdef", 7, key);

    CHECK(n == (int)strlen(key));
    CHECK_STR(key, "/.mkv-mpu/0123456789abcdef0123456789abcdef/00007");
    /* Part numbers sort in key order: a listing of the parts is in order. */
    s3_part_key("0123456789abcdef0123456789abcdef", 10000, key);
    CHECK_STR(key, "/.mkv-mpu/0123456789abcdef0123456789abcdef/10000");
}

UNIT_MAIN("s3meta", T(test_from_request), T(test_from_request_refused), T(test_ext_fields),
          T(test_ext_without), T(test_bucket_names), T(test_part_keys))
