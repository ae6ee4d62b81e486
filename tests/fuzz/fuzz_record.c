/* fuzz_record.c: libFuzzer harness for index record decoding.
 * Property: whatever decodes encodes back to exactly the same bytes, so a
 * record read from an original index is written back unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mkv_record rec, again;
    static char out[MKV_RECORD_MAX];
    int n;

    if (record_decode((const char *)data, size, &rec) != 0)
        return 0;
    n = record_encode(&rec, out, sizeof(out));
    if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
        abort();
    if (record_decode(out, (size_t)n, &again) != 0 || memcmp(&rec, &again, sizeof(rec)) != 0)
        abort();
    return 0;
}
