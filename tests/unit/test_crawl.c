/* test_crawl.c: autoindex JSON parsing and file name -> key decoding. */
#include <stdlib.h>

#include "crawl.h"
#include "placement.h"
#include "unit.h"

struct seen {
    int n, dirs, stop_after; /* stop_after: fn returns 1 at that entry (1-based) */
    char names[8][64];
};

static int collect(void *arg, const struct mkv_dirent *e)
{
    struct seen *s = arg;

    if (s->n < 8)
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
    s->n++;
    s->dirs += e->is_dir;
    return s->n == s->stop_after;
}

/* What nginx 1.22 sends (docs/compat.md §7.3), with a two-byte UTF-8 name and an
 * escaped one. */
static const char nginx_listing[] =
    "[\n{ \"name\":\"5d\", \"type\":\"directory\", \"mtime\":\"Wed, 25 Nov 2026 "
    "02:01:16 GMT\" },\n{ \"name\":\"aGVsbG8=\", \"type\":\"file\", \"mtime\":\"Wed, "
    "25 Nov 2026 02:01:16 GMT\", \"size\":5 },\n{ \"name\":\"caf\xc3\xa9\", \"type\":\"file\", "
    "\"size\":1 },\n{ \"name\":\"a\\\"b\\u0001\", \"type\":\"file\", \"size\":1 }\n]\n";

static void check_nginx_listing(const struct seen *s)
{
    CHECK(s->n == 4 && s->dirs == 1);
    CHECK_STR(s->names[0], "5d");
    CHECK_STR(s->names[1], "aGVsbG8=");
    CHECK_STR(s->names[2], "caf\xc3\xa9");
    CHECK_STR(s->names[3], "a\"b\x01");
}

static void test_parse_listing(void)
{
    /* What nginx 1.22 sends (docs/compat.md §7.3). */
    struct seen s = {0};

    CHECK(crawl_parse(nginx_listing, sizeof(nginx_listing) - 1, collect, &s) == 0);
    check_nginx_listing(&s);
    memset(&s, 0, sizeof(s));
    CHECK(crawl_parse("[]", sizeof("[]") - 1, collect, &s) == 0 && s.n == 0);
}

/* Entries split across reads at every byte (inside strings, escapes and the
 * UTF-8 sequence), and fed one byte at a time. */
static void test_parse_split(void)
{
    size_t n = sizeof(nginx_listing) - 1;
    struct crawl_parser *p = malloc(sizeof(*p));

    for (size_t cut = 0; cut <= n; cut++) {
        struct seen s = {0};
        crawl_parser_init(p, collect, &s);
        CHECK(crawl_feed(p, nginx_listing, cut) == 0);
        CHECK(crawl_feed(p, nginx_listing + cut, n - cut) == 0);
        CHECK(crawl_finish(p) == 0);
        check_nginx_listing(&s);
    }
    {
        struct seen s = {0};
        crawl_parser_init(p, collect, &s);
        for (size_t i = 0; i < n; i++)
            CHECK(crawl_feed(p, nginx_listing + i, 1) == 0);
        CHECK(crawl_finish(p) == 0);
        check_nginx_listing(&s);
    }
    /* a cut listing is not a listing, wherever it is cut */
    for (size_t cut = 0; cut < n - 2; cut++) {
        struct seen s = {0};
        crawl_parser_init(p, collect, &s);
        CHECK(crawl_feed(p, nginx_listing, cut) == 0);
        CHECK(crawl_finish(p) == -1 && p->error != NULL);
    }
    free(p);
}

/* Memory does not grow with the listing: 200,000 entries in 1000-byte
 * reads through the same fixed window. */
static void test_parse_long_listing(void)
{
    struct crawl_parser *p = malloc(sizeof(*p));
    size_t cap = 200000 * 64 + 16, len = 0;
    char *j = malloc(cap);
    struct seen s = {0};

    j[len++] = '[';
    for (int i = 0; i < 200000; i++)
        len += (size_t)snprintf(j + len, cap - len, "%s{\"name\":\"f%06d\",\"type\":\"file\"}\n",
                                i ? "," : "", i);
    j[len++] = ']';
    crawl_parser_init(p, collect, &s);
    for (size_t off = 0; off < len; off += 1000)
        CHECK(crawl_feed(p, j + off, len - off < 1000 ? len - off : 1000) == 0);
    CHECK(crawl_finish(p) == 0);
    CHECK(s.n == 200000 && s.dirs == 0);
    CHECK_STR(s.names[7], "f000007");
    free(j);
    free(p);
}

/* fn stops at an entry; a second parser resumes just after it. */
static void test_parse_stop_resume(void)
{
    size_t n = sizeof(nginx_listing) - 1, at;
    struct crawl_parser *p = malloc(sizeof(*p));
    struct seen s = {0};

    s.stop_after = 1;
    crawl_parser_init(p, collect, &s);
    CHECK(crawl_feed(p, nginx_listing, 10) == 0);
    CHECK(crawl_feed(p, nginx_listing + 10, n - 10) == 1);
    CHECK(crawl_feed(p, "garbage", 7) == 1); /* ignored once stopped */
    CHECK(crawl_finish(p) == 0);
    CHECK(s.n == 1 && p->stop_at > 10 && p->stop_at < n && nginx_listing[p->stop_at - 1] == '}');
    at = (size_t)p->stop_at;
    crawl_parser_resume(p, collect, &s);
    CHECK(crawl_feed(p, nginx_listing + at, n - at) == 0);
    CHECK(crawl_finish(p) == 0);
    CHECK(s.n == 4 && s.dirs == 1);
    CHECK_STR(s.names[3], "a\"b\x01");
    free(p);
}

static void test_parse_rejects(void)
{
    struct seen s = {0};

    CHECK(crawl_parse("", sizeof("") - 1, collect, &s) == -1);
    CHECK(crawl_parse("{}", sizeof("{}") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[{\"type\":\"file\"}]", sizeof("[{\"type\":\"file\"}]") - 1, collect, &s) ==
          -1);
    CHECK(crawl_parse("[{\"name\":1,\"type\":\"file\"}]",
                      sizeof("[{\"name\":1,\"type\":\"file\"}]") - 1, collect, &s) == -1);
    CHECK(crawl_parse("<html>", sizeof("<html>") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[", sizeof("[") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[{\"name\":\"a\",\"type\":\"file\"}",
                      sizeof("[{\"name\":\"a\",\"type\":\"file\"}") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[{\"name\":\"a\",\"type\":\"file\"},]",
                      sizeof("[{\"name\":\"a\",\"type\":\"file\"},]") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[{\"name\":\"a\",\"type\":\"file\"}]x",
                      sizeof("[{\"name\":\"a\",\"type\":\"file\"}]x") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[{\"name\":\"a\",\"type\":\"file\"}{}]",
                      sizeof("[{\"name\":\"a\",\"type\":\"file\"}{}]") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[1]", sizeof("[1]") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[[]]", sizeof("[[]]") - 1, collect, &s) == -1);
    CHECK(crawl_parse("[{\"name\":\"\xff\",\"type\":\"file\"}]",
                      sizeof("[{\"name\":\"\xff\",\"type\":\"file\"}]") - 1, collect, &s) == -1);
    {
        /* an entry over the window fails, however it is fed */
        size_t big = MKV_CRAWL_ENTRY_MAX + 100;
        char *j = malloc(big + 64);
        int n = snprintf(j, 64, "[{\"name\":\"");
        memset(j + n, 'a', big);
        strcpy(j + n + big, "\",\"type\":\"file\"}]");
        memset(&s, 0, sizeof(s));
        CHECK(crawl_parse(j, strlen(j), collect, &s) == -1 && s.n == 0);
        free(j);
    }
}

static void test_names(void)
{
    char key[MKV_HASHKEY_MAX + 1];

    CHECK(name_to_key("aGVsbG8=", key, sizeof(key)) == 5);
    CHECK_STR(key, "hello");
    CHECK(name_to_key("L2hlbGxv", key, sizeof(key)) == 6);
    CHECK_STR(key, "/hello");
    CHECK(name_to_key("L2E/YmNk", key, sizeof(key)) == 6); /* nested: '/' in the name */
    CHECK_STR(key, "/a?bcd");
    CHECK(name_to_key("aGVsbG93b3JsZA==", key, sizeof(key)) == 10);
    CHECK(name_to_key("", key, sizeof(key)) == -1);
    CHECK(name_to_key("abc", key, sizeof(key)) == -1);       /* not a multiple of 4 */
    CHECK(name_to_key("aGVsbG9=", key, sizeof(key)) == -1);  /* non-canonical padding bits */
    CHECK(name_to_key("aGV sbG8", key, sizeof(key)) == -1);  /* blank inside */
    CHECK(name_to_key("body_temp", key, sizeof(key)) == -1); /* nginx's own directory */
    CHECK(name_to_key("AA==", key, sizeof(key)) == -1);      /* decodes to a NUL byte */
    CHECK(name_to_key("aGVsbG8=", key, 5) == -1);            /* does not fit */
}

static void test_dir_names(void)
{
    CHECK(is_hex2("5d") && is_hex2("A0") && !is_hex2("5") && !is_hex2("5dd") && !is_hex2("zz"));
    CHECK(is_subvolume("sv00") && is_subvolume("sv0A") && is_subvolume("sv100"));
    CHECK(!is_subvolume("sv") && !is_subvolume("sv0") && !is_subvolume("svzz") &&
          !is_subvolume("body_temp"));
}

UNIT_MAIN("crawl", T(test_parse_listing), T(test_parse_split), T(test_parse_long_listing),
          T(test_parse_stop_resume), T(test_parse_rejects), T(test_names), T(test_dir_names))
