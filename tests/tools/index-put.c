/* index-put.c: test helper, writes one record into an mkv index as given,
 * bypassing every check of mkv-import and record_decode: the state a damaged
 * index, or an import by an older mkv, leaves behind.
 *
 *     index-put DB KEY RECORD
 *
 * KEY and RECORD may use %XX escapes for any byte.  RECORD is split as the
 * original splits it ("DELETED", "HASH" and 32 bytes, then ','-separated
 * volume paths), without validating anything, and written with index_put.
 * Built by make as build/tests/tools/index-put. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "keys.h"
#include "record.h"

int main(int argc, char **argv)
{
    static struct mkv_record rec;
    struct mkv_index ix;
    char err[512], *p, *end;
    long klen, vlen;

    if (argc != 4) {
        fprintf(stderr, "usage: index-put DB KEY RECORD\n");
        return 2;
    }
    klen = unescape_nonprint(argv[2], strlen(argv[2]), argv[2], strlen(argv[2]));
    vlen = unescape_nonprint(argv[3], strlen(argv[3]), argv[3], strlen(argv[3]));
    if (klen <= 0 || vlen < 0) {
        fprintf(stderr, "index-put: bad %%XX escape\n");
        return 2;
    }
    p = argv[3];
    end = p + vlen;
    if (end - p >= 7 && !memcmp(p, "DELETED", 7)) {
        rec.deleted = 1;
        p += 7;
    }
    if (end - p >= 36 && !memcmp(p, "HASH", 4)) {
        memcpy(rec.hash, p + 4, 32);
        p += 36;
    }
    for (;;) {
        char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = (size_t)((comma ? comma : end) - p);

        if (rec.nvols == MKV_RECORD_VOLS || n >= MKV_VOLPATH_MAX) {
            fprintf(stderr, "index-put: too many or too long volume paths\n");
            return 2;
        }
        memcpy(rec.vols[rec.nvols++], p, n);
        if (!comma)
            break;
        p = comma + 1;
    }
    if (index_open(&ix, argv[1], 8, err, sizeof(err)) < 0) {
        fprintf(stderr, "index-put: %s\n", err);
        return 1;
    }
    if (index_put(&ix, argv[2], (size_t)klen, &rec) != MKV_OK) {
        fprintf(stderr, "index-put: index_put failed\n");
        index_close(&ix);
        return 1;
    }
    index_close(&ix);
    return 0;
}
