/* test_keys.c: decoding and validation of untrusted request text. */
#include "keys.h"
#include "placement.h"
#include "unit.h"

static int decode(const char *in, char *out, struct mkv_reject *r)
{
    size_t n;
    return url_decode(in, strlen(in), 0, out, MKV_URI_MAX, &n, r);
}

static void test_decode(void)
{
    char out[MKV_URI_MAX];
    struct mkv_reject r;
    size_t n;

    CHECK(decode("/a%20b%2Fc", out, &r) == 0);
    CHECK_STR(out, "/a b/c");
    CHECK(decode("/%C3%A9", out, &r) == 0);
    CHECK_STR(out, "/\xc3\xa9");
    CHECK(decode("/a+b", out, &r) == 0);
    CHECK_STR(out, "/a+b"); /* '+' is literal in a path */
    CHECK(url_decode("a+b%2B", 6, 1, out, sizeof(out), &n, &r) == 0);
    CHECK_STR(out, "a b+"); /* ... and a space in a query */
    CHECK(n == 4);
    /* an empty value ("?list&start="): curl would take length 0 as strlen() */
    memset(out, 'x', sizeof(out));
    CHECK(url_decode("", 0, 1, out, sizeof(out), &n, &r) == 0);
    CHECK(n == 0 && out[0] == '\0');
    CHECK(url_decode("/abc", 0, 0, out, sizeof(out), &n, &r) == 0 && n == 0);
}

static void test_decode_rejects(void)
{
    char out[MKV_URI_MAX], big[MKV_URI_MAX + 10];
    struct mkv_reject r;
    size_t n;

    CHECK(decode("/a%zz", out, &r) == -1 && r.status == 400);
    CHECK(decode("/a%4", out, &r) == -1 && r.status == 400);
    CHECK(decode("/a%", out, &r) == -1 && r.status == 400);
    CHECK(decode("/a%00b", out, &r) == -1 && r.status == 400);
    CHECK(url_decode("/a\0b", 4, 0, out, sizeof(out), &n, &r) == -1 && r.status == 400);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(decode(big, out, &r) == -1 && r.status == 414);
    CHECK(url_decode("/abcdef", 7, 0, out, 4, &n, &r) == -1 && r.status == 414);
}

static int check(const char *key, int want)
{
    struct mkv_reject r;
    int rc = key_check(key, strlen(key), &r);
    if (want == 0)
        return rc == 0 && r.status == 0;
    return rc == -1 && r.status == want && r.why && *r.why;
}

static void test_key_check(void)
{
    char k[MKV_KEY_MAX + 2];

    CHECK(check("/hello", 0));
    CHECK(check("//x", 0));
    CHECK(check("/a/b/c", 0));
    CHECK(check("/a..b", 0));
    CHECK(check("/...", 0));
    CHECK(check("/", 400));
    CHECK(check("", 400));
    CHECK(check("hello", 400));
    CHECK(check("/a/../b", 400));
    CHECK(check("/..", 400));
    CHECK(check("/a/..", 400));
    CHECK(check("/./a", 400));
    CHECK(check("/a?", 400));  /* base64 "L2E/" ends in '/' */
    CHECK(check("/a?bcd", 0)); /* '/' inside the name is fine */
    k[0] = '/';
    memset(k + 1, 'x', MKV_KEY_MAX);
    k[MKV_KEY_MAX] = '\0';
    CHECK(check(k, 0)); /* 189 bytes */
    k[MKV_KEY_MAX] = 'x';
    k[MKV_KEY_MAX + 1] = '\0';
    CHECK(check(k, 414)); /* 190 bytes */
}

/* Keys the original stored that new writes may not use: reads and deletes
 * of them pass key_check_stored; those no request can name do not. */
static void test_key_check_stored(void)
{
    struct mkv_reject r;
    char k[MKV_KEY_MAX + 2];

    CHECK(key_check_stored("/", 1, &r) == 0);
    CHECK(key_check_stored("/a/../b", 7, &r) == 0);
    CHECK(key_check_stored("/..", 3, &r) == 0);
    CHECK(key_check_stored("/./a", 4, &r) == 0);
    CHECK(key_check_stored("/hello", 6, &r) == 0);
    CHECK(key_check_stored("/a?", 3, &r) == -1 && r.status == 400); /* a directory's URL */
    CHECK(key_check_stored("", 0, &r) == -1 && r.status == 400);
    CHECK(key_check_stored("x", 1, &r) == -1 && r.status == 400);
    k[0] = '/';
    memset(k + 1, 'x', MKV_KEY_MAX);
    CHECK(key_check_stored(k, MKV_KEY_MAX, &r) == 0);
    CHECK(key_check_stored(k, MKV_KEY_MAX + 1, &r) == -1 && r.status == 414);
    /* new writes of them stay refused, with the reasons as before */
    CHECK(key_check("/", 1, &r) == -1 && r.status == 400 && strstr(r.why, "empty key"));
    CHECK(key_check("/a/../b", 7, &r) == -1 && strstr(r.why, "'.' and '..'"));
}

static void test_key_unreachable(void)
{
    char k[MKV_KEY_MAX + 2];

    CHECK(key_unreachable("/hello", 6) == NULL);
    CHECK(key_unreachable("/", 1) == NULL);
    CHECK(key_unreachable("/a/../b", 7) == NULL); /* sent as /a/%2E%2E/b */
    CHECK(key_unreachable("/a/..", 5) == NULL);
    CHECK(key_unreachable("/./a", 4) == NULL);
    CHECK(key_unreachable("/a%00", 5) == NULL); /* the bytes '%', '0', '0' */
    CHECK(key_unreachable("/a\0b", 4) && strstr(key_unreachable("/a\0b", 4), "NUL"));
    CHECK(key_unreachable("/a?", 3) && strstr(key_unreachable("/a?", 3), "base64"));
    CHECK(key_unreachable("/..", 3) && strstr(key_unreachable("/..", 3), "above the root"));
    CHECK(key_unreachable("/../x", 5) != NULL);
    CHECK(key_unreachable("/./../x", 7) != NULL);
    CHECK(key_unreachable("/a/../..", 8) != NULL);
    CHECK(key_unreachable("//..", 4) != NULL); /* nginx merges the slashes */
    CHECK(key_unreachable("/a//..", 6) == NULL);
    k[0] = '/';
    memset(k + 1, 'x', MKV_KEY_MAX);
    CHECK(key_unreachable(k, MKV_KEY_MAX) == NULL);
    CHECK(key_unreachable(k, MKV_KEY_MAX + 1) &&
          strstr(key_unreachable(k, MKV_KEY_MAX + 1), "189"));
    CHECK(key_unreachable("x", 1) != NULL);
}

static void test_key_from_uri(void)
{
    char key[MKV_URI_MAX];
    const char *q;
    size_t n;
    struct mkv_reject r;

    CHECK(key_from_uri("/a%20b?list&limit=3", key, sizeof(key), &n, &q, &r) == 0);
    CHECK_STR(key, "/a b");
    CHECK(n == 4);
    CHECK(q && !strcmp(q, "list&limit=3"));
    CHECK(key_from_uri("/x", key, sizeof(key), &n, &q, &r) == 0 && q == NULL);
}

static void test_query(void)
{
    char v[64];
    size_t n;
    struct mkv_reject r;
    int f;

    CHECK(query_op_len("list&limit=3") == 4);
    CHECK(query_op_len("unlinked") == 8);
    CHECK(query_op_len("list=1") == 6);
    CHECK(query_param("list&limit=10&start=%2Fa+b", "start", v, sizeof(v), &n, &f, &r) == 0 && f);
    CHECK_STR(v, "/a b");
    CHECK(query_param("list&limit=10", "limit", v, sizeof(v), &n, &f, &r) == 0 && f);
    CHECK_STR(v, "10");
    CHECK(query_param("list&xlimit=10", "limit", v, sizeof(v), &n, &f, &r) == 0 && !f);
    CHECK(query_param("list&limit=%zz", "limit", v, sizeof(v), &n, &f, &r) == -1 &&
          r.status == 400);
}

static void test_limit(void)
{
    long long v;
    struct mkv_reject r;

    CHECK(parse_limit("10", &v, &r) == 0 && v == 10);
    CHECK(parse_limit("-5", &v, &r) == 0 && v == -5);
    CHECK(parse_limit("0", &v, &r) == 0 && v == 0);
    CHECK(parse_limit("abc", &v, &r) == -1 && r.status == 400);
    CHECK(parse_limit("", &v, &r) == -1);
    CHECK(parse_limit("-", &v, &r) == -1);
    CHECK(parse_limit("1e3", &v, &r) == -1);
    CHECK(parse_limit(" 1", &v, &r) == -1);
    CHECK(parse_limit("999999999999999999", &v, &r) == 0);
    CHECK(parse_limit("9999999999999999999", &v, &r) == -1); /* 19 digits */
}

static void test_escape(void)
{
    char out[64];

    CHECK(url_escape_path("/a b/\xc3\xa9", 7, out, sizeof(out)) > 0);
    CHECK_STR(out, "/a%20b/%C3%A9");
    CHECK(url_escape_path("/a//b/", 6, out, sizeof(out)) == 6);
    CHECK_STR(out, "/a//b/");
    CHECK(url_escape_path("/abc", 4, out, 3) == -1);
    CHECK(escape_nonprint("/a b%\n", 6, out, sizeof(out)) > 0);
    CHECK_STR(out, "/a%20b%25%0A");
}

/* The MD5 of the empty string, in both accepted forms. */
static void test_content_md5(void)
{
    static const unsigned char empty[16] = {0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
                                            0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e};
    unsigned char d[16];

    CHECK(parse_content_md5("d41d8cd98f00b204e9800998ecf8427e", d) == 0 && !memcmp(d, empty, 16));
    CHECK(parse_content_md5("D41D8CD98F00B204E9800998ECF8427E", d) == 0 && !memcmp(d, empty, 16));
    CHECK(parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfg==", d) == 0 && !memcmp(d, empty, 16));
    CHECK(parse_content_md5("d41d8cd98f00b204e9800998ecf8427", d) == -1);   /* 31 */
    CHECK(parse_content_md5("d41d8cd98f00b204e9800998ecf8427g", d) == -1);  /* not hex */
    CHECK(parse_content_md5("d41d8cd98f00b204e9800998ecf8427e0", d) == -1); /* 33 */
    CHECK(parse_content_md5("d41d8cd9:f00b204e9800998ecf8427e", d) == -1);
    CHECK(parse_content_md5("========================", d) == -1);
    CHECK(parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfg=", d) == -1);
    CHECK(parse_content_md5("1B2M2Y8Asg-pgAmY7PhCfg==", d) == -1); /* URL-safe alphabet */
    CHECK(parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfh==", d) == -1); /* unused bits set */
    CHECK(parse_content_md5("1B2M2Y8AsgTpgAm2Y8AsgT==", d) == -1); /* found by fuzz_keys */
    CHECK(parse_content_md5("", d) == -1);
}

/* unescape_nonprint undoes escape_nonprint for every byte, in place too,
 * and refuses a cut or non-hex escape. */
static void test_unescape(void)
{
    char in[256], esc[3 * 256 + 1], back[256];
    long n;

    for (int i = 0; i < 256; i++)
        in[i] = (char)i;
    CHECK(escape_nonprint(in, sizeof(in), esc, sizeof(esc)) > 0);
    n = unescape_nonprint(esc, strlen(esc), back, sizeof(back));
    CHECK(n == 256 && memcmp(in, back, 256) == 0);
    n = unescape_nonprint(esc, strlen(esc), esc, strlen(esc));
    CHECK(n == 256 && memcmp(in, esc, 256) == 0);
    CHECK(unescape_nonprint("a%4", 3, back, sizeof(back)) == -1);
    CHECK(unescape_nonprint("a%zz", 4, back, sizeof(back)) == -1);
    CHECK(unescape_nonprint("%41%6a", 6, back, sizeof(back)) == 2 && !memcmp(back, "Aj", 2));
    CHECK(unescape_nonprint("abc", 3, back, 2) == -1);
}

/* Transfer-Encoding is chunked only as the whole token. */
static void test_te_chunked(void)
{
    CHECK(te_is_chunked("chunked") && te_is_chunked(" Chunked\t") && te_is_chunked("CHUNKED"));
    CHECK(!te_is_chunked("notchunked") && !te_is_chunked("chunked, gzip") &&
          !te_is_chunked("gzip, chunked") && !te_is_chunked("") && !te_is_chunked("chunk"));
}

UNIT_MAIN("keys", T(test_decode), T(test_decode_rejects), T(test_key_check),
          T(test_key_check_stored), T(test_key_unreachable), T(test_key_from_uri), T(test_query),
          T(test_limit), T(test_escape), T(test_content_md5), T(test_unescape), T(test_te_chunked))
