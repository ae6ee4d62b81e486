/* test_placement.c: key2path and key2volumes against docs/compat.md §2.1-§2.3, the
 * vectors produced by the Go original. */
#include <stdlib.h>

#include "placement.h"
#include "unit.h"

static char *vols3[] = {"localhost:3001", "localhost:3002", "localhost:3003"};

/* Expands "3003/sv04,3001/sv06" to full volume paths and compares. */
static void check_place(const char *key, size_t klen, int replicas, int sv, const char *want)
{
    struct mkv_placement p;
    char expect[1024] = "", got[1024] = "";
    char copy[256];
    char *tok, *save;

    snprintf(copy, sizeof(copy), "%s", want);
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        strcat(expect, *expect ? ",localhost:" : "localhost:");
        strcat(expect, tok);
    }
    CHECK(key2volumes_list(vols3, 3, replicas, sv, key, klen, &p) == 0);
    for (int i = 0; i < p.n; i++) {
        if (i)
            strcat(got, ",");
        strcat(got, p.vols[i]);
    }
    CHECK_STR(got, expect);
}

static void check_path(const char *key, size_t klen, const char *want)
{
    char path[MKV_PATH_MAX];

    CHECK(key2path(key, klen, path) == (int)strlen(want));
    CHECK_STR(path, want);
}

static void test_key2path_go_vectors(void)
{
    check_path("hello", 5, "/5d/41/aGVsbG8=");
    check_path("helloworld", 10, "/fc/5e/aGVsbG93b3JsZA==");
}

static void test_server_form(void)
{
    check_place("/hello", 6, 3, 10, "3003/sv04,3001/sv06,3002/sv04");
    check_place("/hello", 6, 3, 1, "3003,3001,3002");
    check_place("/hello", 6, 1, 10, "3003/sv04");
    check_path("/hello", 6, "/3e/d1/L2hlbGxv");
    check_place("/wehave", 7, 3, 10, "3001/sv07,3002/sv04,3003/sv07");
    check_place("/wehave", 7, 3, 1, "3001,3002,3003");
    check_place("/wehave", 7, 1, 10, "3001/sv07");
    check_path("/wehave", 7, "/60/08/L3dlaGF2ZQ==");
    check_place("/a/b/c", 6, 3, 10, "3001/sv02,3002/sv01,3003/sv09");
    check_place("/a/b/c", 6, 3, 1, "3001,3002,3003");
    check_place("/a/b/c", 6, 1, 10, "3001/sv02");
    check_path("/a/b/c", 6, "/77/e3/L2EvYi9j");
}

/* "/hh/hh/" + prefix + n copies of rep + suffix */
static void check_long_path(const char *key, size_t klen, const char *dirs, const char *prefix,
                            const char *rep, int n, const char *suffix)
{
    char want[MKV_PATH_MAX];

    snprintf(want, sizeof(want), "%s%s", dirs, prefix);
    for (int i = 0; i < n; i++)
        strcat(want, rep);
    strcat(want, suffix);
    check_path(key, klen, want);
}

static void test_k200(void)
{
    char key[200];

    key[0] = '/';
    memset(key + 1, 'x', 199);
    check_place(key, 200, 3, 10, "3003/sv05,3002/sv03,3001/sv03");
    check_place(key, 200, 3, 1, "3003,3002,3001");
    check_place(key, 200, 1, 10, "3003/sv05");
    check_long_path(key, 200, "/9f/f5/", "L3h4", "eHh4", 65, "eHg=");
    {
        char path[MKV_PATH_MAX];
        CHECK(key2path(key, 200, path) ==
              7 + 268); /* a 268-char name, as docs/compat.md §2.3 says */
    }
}

static void test_bare_form(void)
{
    check_place("hello", 5, 3, 10, "3002/sv06,3003/sv08,3001/sv08");
    check_place("hello", 5, 3, 1, "3002,3003,3001");
    check_place("hello", 5, 1, 10, "3002/sv06");
    check_place("wehave", 6, 3, 10, "3001/sv08,3002/sv07,3003/sv05");
    check_place("wehave", 6, 3, 1, "3001,3002,3003");
    check_place("wehave", 6, 1, 10, "3001/sv08");
    check_path("wehave", 6, "/e6/89/d2VoYXZl");
    check_place("a/b/c", 5, 3, 10, "3001/sv08,3003/sv01,3002/sv08");
    check_place("a/b/c", 5, 3, 1, "3001,3003,3002");
    check_place("a/b/c", 5, 1, 10, "3001/sv08");
    check_path("a/b/c", 5, "/cf/f4/YS9iL2M=");
}

static void test_r200_bare(void)
{
    char key[200];

    memset(key, 'x', 200);
    check_place(key, 200, 3, 10, "3001/sv06,3003/sv01,3002/sv04");
    check_place(key, 200, 3, 1, "3001,3003,3002");
    check_place(key, 200, 1, 10, "3001/sv06");
    check_long_path(key, 200, "/30/a8/", "", "eHh4", 66, "eHg=");
}

static void test_go_unit_vectors(void)
{
    char *stooges[] = {"larry", "moe", "curly"};
    struct mkv_placement p;
    static const struct {
        const char *key, *vol;
    } v[] = {{"hello", "larry"}, {"helloworld", "curly"}, {"world", "moe"}, {"blah", "curly"}};

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        CHECK(key2volumes_list(stooges, 3, 1, 3, v[i].key, strlen(v[i].key), &p) == 0);
        CHECK(strncmp(p.vols[0], v[i].vol, strlen(v[i].vol)) == 0);
        CHECK(p.vols[0][strlen(v[i].vol)] == '/');
    }
    CHECK(key2volumes_list(stooges, 3, 3, 3, "hello", 5, &p) == 0);
    CHECK_STR(p.vols[0], "larry/sv00");
    CHECK_STR(p.vols[1], "curly/sv01");
    CHECK_STR(p.vols[2], "moe/sv02");
}

static void test_order_independent(void)
{
    /* Placement depends on volume names, not their order in the config. */
    char *a[] = {"localhost:3003", "localhost:3001", "localhost:3002"};
    struct mkv_placement p;

    CHECK(key2volumes_list(a, 3, 3, 10, "/hello", 6, &p) == 0);
    CHECK_STR(p.vols[0], "localhost:3003/sv04");
    CHECK_STR(p.vols[1], "localhost:3001/sv06");
    CHECK_STR(p.vols[2], "localhost:3002/sv04");
}

static void test_subvolume_hex_upper(void)
{
    /* With 16 subvolumes names run sv00..sv0F: uppercase hex, two digits. */
    struct mkv_placement p;
    int seen_letter = 0;
    char key[32];

    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "/k%d", i);
        CHECK(key2volumes_list(vols3, 3, 3, 16, key, strlen(key), &p) == 0);
        for (int j = 0; j < 3; j++) {
            const char *sv = strstr(p.vols[j], "/sv");
            CHECK(sv && strlen(sv) == 5);
            if (sv && sv[4] >= 'A' && sv[4] <= 'F')
                seen_letter = 1;
            CHECK(!(sv && sv[4] >= 'a' && sv[4] <= 'f'));
        }
    }
    CHECK(seen_letter);
}

UNIT_MAIN("placement", T(test_key2path_go_vectors), T(test_server_form), T(test_k200),
          T(test_bare_form), T(test_r200_bare), T(test_go_unit_vectors), T(test_order_independent),
          T(test_subvolume_hex_upper))
