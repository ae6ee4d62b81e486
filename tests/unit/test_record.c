/* test_record.c: the index record format of SPEC.md section 4. */
#include "record.h"
#include "unit.h"

static void roundtrip(const char *text)
{
    struct mkv_record r;
    char out[MKV_RECORD_MAX];

    CHECK(record_decode(text, strlen(text), &r) == 0);
    CHECK(record_encode(&r, out, sizeof(out)) == (int)strlen(text));
    CHECK_STR(out, text);
}

static void test_examples(void)
{
    struct mkv_record r;
    const char *t;

    t = "localhost:3001/sv03,localhost:3002/sv07";
    CHECK(record_decode(t, strlen(t), &r) == 0);
    CHECK(!r.deleted && r.hash[0] == '\0' && r.nvols == 2);
    CHECK_STR(r.vols[1], "localhost:3002/sv07");

    t = "DELETEDhello,world";
    CHECK(record_decode(t, strlen(t), &r) == 0);
    CHECK(r.deleted && r.nvols == 2);
    CHECK_STR(r.vols[0], "hello");

    t = "HASH5d41402abc4b2a76b9719d911017c592hello";
    CHECK(record_decode(t, strlen(t), &r) == 0);
    CHECK(!r.deleted && r.nvols == 1);
    CHECK_STR(r.hash, "5d41402abc4b2a76b9719d911017c592");
    CHECK_STR(r.vols[0], "hello");

    t = "DELETEDHASH5d41402abc4b2a76b9719d911017c592hello";
    CHECK(record_decode(t, strlen(t), &r) == 0);
    CHECK(r.deleted && r.nvols == 1);
    CHECK_STR(r.hash, "5d41402abc4b2a76b9719d911017c592");
}

static void test_roundtrips(void)
{
    roundtrip("localhost:3001/sv03,localhost:3002/sv07");
    roundtrip("DELETEDhello,world");
    roundtrip("HASH5d41402abc4b2a76b9719d911017c592hello");
    roundtrip("DELETEDHASH5d41402abc4b2a76b9719d911017c592a,b,c");
    roundtrip(""); /* one empty volume name, as in the original */
}

static void test_not_nul_terminated(void)
{
    struct mkv_record r;
    const char buf[] = {'a', ',', 'b', 'X'};

    CHECK(record_decode(buf, 3, &r) == 0);
    CHECK(r.nvols == 2);
    CHECK_STR(r.vols[1], "b");
}

static void test_malformed(void)
{
    struct mkv_record r;
    char many[MKV_RECORD_VOLS * 3 + 8] = "";

    CHECK(record_decode("HASHabc", 7, &r) == -1); /* hash cut short */
    for (int i = 0; i <= MKV_RECORD_VOLS; i++)
        strcat(many, i ? ",v" : "v");
    CHECK(record_decode(many, strlen(many), &r) == -1); /* too many volumes */
    CHECK(record_decode("a\0b", 3, &r) == -1);          /* NUL inside */
}

static void test_hash_only_when_32(void)
{
    struct mkv_record r;
    char out[MKV_RECORD_MAX];

    memset(&r, 0, sizeof(r));
    r.nvols = 1;
    strcpy(r.vols[0], "v");
    strcpy(r.hash, "abc"); /* not 32 chars: not written, as the original */
    CHECK(record_encode(&r, out, sizeof(out)) == 1);
    CHECK_STR(out, "v");
    CHECK(record_encode(&r, out, 1) == -1); /* does not fit */
}

static void test_matches(void)
{
    struct mkv_record r;
    struct mkv_placement p = {2, {"a/sv01", "b/sv02"}};

    record_decode("a/sv01,b/sv02", 13, &r);
    CHECK(record_matches(&r, &p));
    record_decode("b/sv02,a/sv01", 13, &r);
    CHECK(!record_matches(&r, &p)); /* order matters (Key-Balance) */
    record_decode("a/sv01", 6, &r);
    CHECK(!record_matches(&r, &p));
}

UNIT_MAIN("record", T(test_examples), T(test_roundtrips), T(test_not_nul_terminated),
          T(test_malformed), T(test_hash_only_when_32), T(test_matches))
