/* test_crawl.c: autoindex JSON parsing and file name -> key decoding. */
#include "crawl.h"
#include "placement.h"
#include "unit.h"

struct seen {
    int n, dirs;
    char names[8][64];
};

static int collect(void *arg, const struct mkv_dirent *e)
{
    struct seen *s = arg;

    if (s->n < 8)
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
    s->n++;
    s->dirs += e->is_dir;
    return 0;
}

static void test_parse_listing(void)
{
    /* What nginx 1.22 sends (SPEC.md 3). */
    const char *j =
        "[\n{ \"name\":\"5d\", \"type\":\"directory\", \"mtime\":\"Wed, 25 Nov 2026 "
        "02:01:16 GMT\" },\n{ \"name\":\"aGVsbG8=\", \"type\":\"file\", \"mtime\":\"Wed, "
        "25 Nov 2026 02:01:16 GMT\", \"size\":5 }\n]";
    struct seen s = {0};

    CHECK(crawl_parse(j, strlen(j), collect, &s) == 0);
    CHECK(s.n == 2 && s.dirs == 1);
    CHECK_STR(s.names[1], "aGVsbG8=");
    memset(&s, 0, sizeof(s));
    CHECK(crawl_parse("[]", 2, collect, &s) == 0 && s.n == 0);
}

static void test_parse_rejects(void)
{
    struct seen s = {0};

    CHECK(crawl_parse("", 0, collect, &s) == -1);
    CHECK(crawl_parse("{}", 2, collect, &s) == -1);
    CHECK(crawl_parse("[{\"type\":\"file\"}]", 17, collect, &s) == -1);
    CHECK(crawl_parse("[{\"name\":1,\"type\":\"file\"}]", 26, collect, &s) == -1);
    CHECK(crawl_parse("<html>", 6, collect, &s) == -1);
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

UNIT_MAIN("crawl", T(test_parse_listing), T(test_parse_rejects), T(test_names), T(test_dir_names))
