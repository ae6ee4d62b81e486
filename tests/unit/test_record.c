/* test_record.c: the index record format of docs/compat.md §3. */
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
    /* every form of volume path the original writes */
    roundtrip("localhost:3003,localhost:3001,localhost:3002");   /* subvolumes = 1 */
    roundtrip("DELETEDlocalhost:3001/sv0F,localhost:3002/sv0A"); /* hex, upper case */
    roundtrip("vol1:80/sv100,vol2:65535/sv1FF");                 /* over 256 subvolumes */
    roundtrip("127.0.0.1:3001/sv00,[::1]:3002/sv09,[2001:db8::a]:80");
    roundtrip("larry/sv00,curly/sv01,moe/sv02"); /* its unit tests: no port, port 80 */
    roundtrip("my_host-1.example.com:3001/sv05");
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

static void refused(const char *text, const char *why)
{
    struct mkv_record r;
    char got[160] = "untouched";

    CHECK(record_decode(text, strlen(text), &r) == -1);
    CHECK(record_decode_why(text, strlen(text), &r, got, sizeof(got)) == -1);
    if (!strstr(got, why)) {
        fprintf(stderr, "  record '%s': reason '%s', want '%s'\n", text, got, why);
        unit_failed_checks++;
    }
}

/* Whatever decodes is copied into Location and Key-Volumes: every field is
 * checked against what the original writes, and nothing else passes. */
static void test_validation(void)
{
    const char *h = "5d41402abc4b2a76b9719d911017c592";
    char t[256];

    /* header injection through a volume path */
    refused("localhost:3001/sv01\r\nX-Evil: 1", "volume path 1 is not host[:port][/svXX]");
    refused("localhost:3001/sv01,localhost:3002\nX-Evil: 1", "volume path 2");
    refused("localhost:3001\r", "volume path 1");
    /* bytes outside host[:port][/svXX] */
    refused("evil.com@localhost:3001", "volume path 1");
    refused("localhost:3001/sv01/../x", "volume path 1");
    refused("localhost:3001/x", "volume path 1");
    refused("localhost:3001/sv0a", "volume path 1"); /* the original writes %02X */
    refused("localhost:3001/sv1", "volume path 1");  /* at least two digits */
    refused("localhost:3001/sv123456789", "volume path 1");
    refused("localhost:3001/", "volume path 1");
    refused("localhost:", "volume path 1");
    refused("localhost:65536", "volume path 1");
    refused("localhost:123456", "volume path 1");
    refused("localhost:30a1", "volume path 1");
    refused(":3001", "volume path 1");
    refused("local host:3001", "volume path 1");
    refused("localhost:3001?x", "volume path 1");
    refused("localhost:3001#x", "volume path 1");
    refused("[::1:3001", "volume path 1");
    refused("[]:3001", "volume path 1");
    refused("[::g]:3001", "volume path 1");
    refused("[::1]x", "volume path 1");
    refused("h\xc3\xa9:3001", "volume path 1");
    /* empty volume paths: the original never writes one */
    refused("", "volume path 1 is empty");
    refused("DELETED", "volume path 1 is empty");
    refused("a,,b", "volume path 2 is empty");
    refused("a,", "volume path 2 is empty");
    /* the hash */
    snprintf(t, sizeof(t), "HASH%.31sXlocalhost:3001", h);
    refused(t, "32 lowercase hex");
    snprintf(t, sizeof(t), "HASH5D41402ABC4B2A76B9719D911017C592localhost:3001");
    refused(t, "32 lowercase hex");
    snprintf(t, sizeof(t), "HASH%.31s\nlocalhost:3001", h);
    refused(t, "32 lowercase hex");
    refused("HASHabc", "32 lowercase hex");
    {
        struct mkv_record r;
        char got[160];
        CHECK(record_decode_why("a\0b", 3, &r, got, sizeof(got)) == -1 && strstr(got, "NUL"));
    }
    CHECK(record_volpath_ok("localhost:3001/sv0F", 19));
    CHECK(!record_volpath_ok("localhost:3001/sv0F", 18)); /* one digit: the length counts */
    CHECK(!record_volpath_ok("localhost:3001/sv0F", 17)); /* "/sv" alone */
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
          T(test_malformed), T(test_validation), T(test_hash_only_when_32), T(test_matches))
