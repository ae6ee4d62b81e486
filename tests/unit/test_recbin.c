/* test_recbin.c: the stored record, format 1 (lib/recbin.h), and the
 * records file's compression. */
#include <errno.h>

#include "recbin.h"
#include "unit.h"

static void test_roundtrip(void)
{
    struct recbin a = {0}, b;
    unsigned char buf[RECBIN_MAX], ext[] = {1, 3, 'a', 'b', 'c'};
    int n;

    a.flags = RECBIN_MD5 | RECBIN_SIZE | RECBIN_MTIME | RECBIN_EXT;
    a.nvols = 3;
    for (int i = 0; i < 3; i++) {
        a.vols[i].name = (uint32_t)(i + 1);
        a.vols[i].sub = (uint32_t)(i * 300);
    }
    for (int i = 0; i < 16; i++)
        a.md5[i] = (unsigned char)(i * 17);
    a.size = 1073741823ull;
    a.mtime = 1764590000;
    a.ext = ext;
    a.extlen = sizeof(ext);
    n = recbin_encode(&a, buf, sizeof(buf));
    CHECK(n > 0 && recbin_is(buf, (size_t)n));
    CHECK(recbin_decode(buf, (size_t)n, &b) == 0);
    CHECK(b.flags == a.flags && b.nvols == 3 && b.vols[2].name == 3 && b.vols[2].sub == 600);
    CHECK(b.size == a.size && b.mtime == a.mtime && !memcmp(b.md5, a.md5, 16));
    CHECK(b.extlen == sizeof(ext) && !memcmp(b.ext, ext, sizeof(ext)));
    CHECK(recbin_encode(&a, buf, (size_t)n - 1) == -1); /* does not fit */

    memset(&a, 0, sizeof(a));
    a.flags = RECBIN_SOFT | RECBIN_IMPLIED;
    a.set = 2;
    n = recbin_encode(&a, buf, sizeof(buf));
    CHECK(n == 3); /* format, flags, set: a failed PUT's leftover */
    CHECK(recbin_decode(buf, (size_t)n, &b) == 0 && b.set == 2 && b.flags == a.flags);
}

static void test_malformed(void)
{
    struct recbin r;
    const unsigned char unknown_flag[] = {1, 0x40, 0};
    const unsigned char set_zero[] = {1, RECBIN_IMPLIED, 0};
    const unsigned char cut_md5[] = {1, RECBIN_MD5 | RECBIN_IMPLIED, 1, 0xaa};
    const unsigned char long_varint[] = {1, RECBIN_IMPLIED, 0xff, 0xff, 0xff, 0xff, 0x7f};
    const unsigned char trailing[] = {1, RECBIN_IMPLIED, 1, 0};
    const unsigned char bad_ext[] = {1, RECBIN_IMPLIED | RECBIN_EXT, 1, 5, 9, 'x'};
    const unsigned char too_many[] = {1, 0, 33};

    CHECK(recbin_decode(unknown_flag, sizeof(unknown_flag), &r) == -1);
    CHECK(recbin_decode(set_zero, sizeof(set_zero), &r) == -1);
    CHECK(recbin_decode(cut_md5, sizeof(cut_md5), &r) == -1);
    CHECK(recbin_decode(long_varint, sizeof(long_varint), &r) == -1); /* past 32 bits */
    CHECK(recbin_decode(trailing, sizeof(trailing), &r) == -1);
    CHECK(recbin_decode(bad_ext, sizeof(bad_ext), &r) == -1);
    CHECK(recbin_decode(too_many, sizeof(too_many), &r) == -1);
    /* varints only in their shortest form, and within 64 bits (the fuzzer's finds) */
    {
        const unsigned char overlong[] = {1, RECBIN_IMPLIED, 0x81, 0x00};
        const unsigned char past64[] = {1,    RECBIN_IMPLIED | RECBIN_SIZE,
                                        1,    0x80,
                                        0x80, 0x80,
                                        0x80, 0x80,
                                        0x80, 0x80,
                                        0x80, 0x80,
                                        0x02};

        CHECK(recbin_decode(overlong, sizeof(overlong), &r) == -1);
        CHECK(recbin_decode(past64, sizeof(past64), &r) == -1);
    }
    CHECK(!recbin_is("HASHabc", 7) && !recbin_is("\x01", 1));
}

static void split(const char *path, const char *name, uint32_t sub)
{
    size_t nl;
    uint32_t s;
    char back[MKV_VOLPATH_MAX];

    recbin_split_volpath(path, strlen(path), &nl, &s);
    CHECK(nl == strlen(name) && !memcmp(path, name, nl) && s == sub);
    CHECK(recbin_join_volpath(path, nl, s, back) == 0);
    CHECK_STR(back, path); /* byte for byte */
}

static void test_volpaths(void)
{
    split("localhost:3001/sv03", "localhost:3001", 4);
    split("localhost:3001/sv0A", "localhost:3001", 11);
    split("h:1/sv1F4", "h:1", 501);
    split("h:1", "h:1", 0);
    split("h:1/sv001", "h:1/sv001", 0); /* not "%02X": stays in the name */
    split("h:1/sv0a", "h:1/sv0a", 0);   /* lowercase: not the original's */
    split("[::1]:80/sv00", "[::1]:80", 1);
}

/* Compression: each pair comes back from the one before it. */
static void test_compress(void)
{
    static const char *keys[] = {"/photos/2026/11/29/IMG_000001.jpg",
                                 "/photos/2026/11/29/IMG_000102.jpg", "/photos/2026/12/01/a.jpg",
                                 "/x", "/x/"};
    unsigned char data[3][8] = {{1, 4, 1, 9, 9, 9}, {1, 4, 1, 9, 8, 7}, {1, 0, 2}};
    unsigned char out[256], k[256], d[256];

    for (int i = 1; i < 5; i++) {
        DBT pk = {0}, pd = {0}, key = {0}, dat = {0}, dest = {0}, c = {0}, dk = {0}, dd = {0};

        pk.data = (void *)keys[i - 1];
        pk.size = (u_int32_t)strlen(keys[i - 1]);
        pd.data = data[(i - 1) % 3];
        pd.size = 6;
        key.data = (void *)keys[i];
        key.size = (u_int32_t)strlen(keys[i]);
        dat.data = data[i % 3];
        dat.size = i % 3 == 2 ? 3 : 6;
        dest.data = out;
        dest.ulen = sizeof(out);
        CHECK(recbin_compress(NULL, &pk, &pd, &key, &dat, &dest) == 0);
        if (i < 3) /* keys of one directory: the shared parts are gone */
            CHECK(dest.size < key.size + dat.size);
        dest.ulen = 2;
        CHECK(recbin_compress(NULL, &pk, &pd, &key, &dat, &dest) == DB_BUFFER_SMALL);
        c.data = out;
        c.size = sizeof(out); /* decompress says how much it used */
        dk.data = k;
        dk.ulen = sizeof(k);
        dd.data = d;
        dd.ulen = sizeof(d);
        CHECK(recbin_decompress(NULL, &pk, &pd, &c, &dk, &dd) == 0);
        CHECK(dk.size == key.size && !memcmp(k, key.data, key.size));
        CHECK(dd.size == dat.size && !memcmp(d, dat.data, dat.size));
        out[0] = 0xff; /* packed: a prefix of 63, longer than the previous key */
        c.size = sizeof(out);
        CHECK(recbin_decompress(NULL, &pk, &pd, &c, &dk, &dd) == EINVAL);
    }
}

UNIT_MAIN("recbin", T(test_roundtrip), T(test_malformed), T(test_volpaths), T(test_compress))
