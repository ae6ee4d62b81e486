/* fuzz_crawl.c: libFuzzer harness for autoindex JSON listings and file
 * names.  Property: a name that decodes to a key is exactly the base64 of
 * that key, so rebuild never invents a key. */
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

static int on_entry(void *arg, const struct mkv_dirent *e)
{
    (void)arg;
    if (!e->name)
        abort();
    check_name(e->name);
    is_hex2(e->name);
    is_subvolume(e->name);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char name[4096];

    crawl_parse((const char *)data, size, on_entry, NULL);
    if (size < sizeof(name)) {
        memcpy(name, data, size);
        name[size] = '\0';
        if (strlen(name) == size)
            check_name(name);
    }
    return 0;
}
