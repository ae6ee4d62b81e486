/* fuzz_recbin.c: libFuzzer harness for the stored record (lib/recbin.h)
 * and the records file's decompression, which read bytes from disk.
 * Properties: nothing reads out of bounds; whatever decodes encodes back
 * to the same bytes; decompression never claims more than it was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recbin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char out[RECBIN_MAX], k[4096], d[4096];
    static const char prev[] = "/photos/2026/11/29/IMG_000001.jpg";
    static unsigned char pdata[] = {1, 4, 1, 0, 0x69, 0x2d, 0x5c, 0x10};
    struct recbin r;
    DBT pk = {0}, pd = {0}, c = {0}, dk = {0}, dd = {0};
    int n;

    if (recbin_decode(data, size, &r) == 0) {
        n = recbin_encode(&r, out, sizeof(out));
        if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
            abort();
    }
    pk.data = (void *)prev;
    pk.size = sizeof(prev) - 1;
    pd.data = pdata;
    pd.size = sizeof(pdata);
    c.data = (void *)data;
    c.size = (u_int32_t)size;
    dk.data = k;
    dk.ulen = sizeof(k);
    dd.data = d;
    dd.ulen = sizeof(d);
    if (recbin_decompress(NULL, &pk, &pd, &c, &dk, &dd) == 0 && c.size > size)
        abort();
    return 0;
}
