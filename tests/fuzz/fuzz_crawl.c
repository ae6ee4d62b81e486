/* fuzz_crawl.c: libFuzzer harness for autoindex JSON listings and file
 * names.  Properties: a name that decodes to a key is exactly the base64 of
 * that key, so rebuild never invents a key; and the incremental parser
 * gives the same entries and verdict however the text is cut into reads. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crawl.h"
#include "placement.h"

static void check_name(const char *name)
{
    static char key[MKV_HASHKEY_MAX + 1];
    static unsigned char b64[2 * MKV_HASHKEY_MAX + 8];
    int n = name_to_key(name, key, sizeof(key));

    if (n < 0)
        return;
    if (EVP_EncodeBlock(b64, (const unsigned char *)key, n) != (int)strlen(name) ||
        strcmp((const char *)b64, name) != 0 || memchr(key, '\0', (size_t)n))
        abort();
}

struct tally {
    unsigned long n;
    uint64_t hash; /* of every name and type, in order */
};

static int on_entry(void *arg, const struct mkv_dirent *e)
{
    struct tally *t = arg;

    if (!e->name)
        abort();
    check_name(e->name);
    is_hex2(e->name);
    is_subvolume(e->name);
    t->n++;
    for (const char *p = e->name; *p; p++)
        t->hash = (t->hash ^ (unsigned char)*p) * 1099511628211ULL;
    t->hash = (t->hash ^ (uint64_t)(e->is_dir + 256)) * 1099511628211ULL;
    return 0;
}

/* The same text in reads of 1 to 17 bytes (a pattern set by its size). */
static int parse_in_pieces(const uint8_t *data, size_t size, struct tally *t)
{
    static struct crawl_parser p;
    size_t off = 0, step = size % 17;

    crawl_parser_init(&p, on_entry, t);
    while (off < size) {
        size_t n = step % 17 + 1;
        if (n > size - off)
            n = size - off;
        if (crawl_feed(&p, (const char *)data + off, n) < 0)
            return -1;
        off += n;
        step = step * 5 + 3;
    }
    return crawl_finish(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char name[4096];
    struct tally whole = {0, 14695981039346656037ULL}, pieces = whole;
    int rc = crawl_parse((const char *)data, size, on_entry, &whole);

    if (parse_in_pieces(data, size, &pieces) != rc || pieces.n != whole.n ||
        pieces.hash != whole.hash)
        abort();
    if (size < sizeof(name)) {
        memcpy(name, data, size);
        name[size] = '\0';
        if (strlen(name) == size)
            check_name(name);
    }
    return 0;
}
