/* index-put.c: test helper, writes one record into an mkv index as given,
 * bypassing every check of mkv-import and record_decode: the state a damaged
 * index, or an import by an older mkv, leaves behind.
 *
 *     index-put DB KEY RECORD
 *
 * KEY and RECORD may use %XX escapes for any byte.  RECORD is stored as
 * those bytes (index_put_stored): the original's text, which readers of the
 * index take as a record of the original's and validate, or any bytes.
 * Built by make as build/tests/tools/index-put. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"
#include "keys.h"

int main(int argc, char **argv)
{
    struct mkv_index ix;
    char err[512];
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
    if (index_open(&ix, argv[1], 8, err, sizeof(err)) < 0) {
        fprintf(stderr, "index-put: %s\n", err);
        return 1;
    }
    if (index_put_stored(&ix, argv[2], (size_t)klen, argv[3], (size_t)vlen) != MKV_OK) {
        fprintf(stderr, "index-put: index_put_stored failed\n");
        index_close(&ix);
        return 1;
    }
    index_close(&ix);
    return 0;
}
