/* dump.c: mkv-dump, prints the index as text, one record per line:
 *
 *     <key> <record>
 *
 * The key with bytes <= 0x20, >= 0x7f and '%' written as %XX, the record in
 * minikeyvalue's format.  Safe while workers run (a cursor, no transaction). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "index.h"
#include "keys.h"
#include "log.h"

static int print_one(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    char esc[3 * MKV_URI_MAX + 1];
    long *n = arg;

    if (escape_nonprint(key, klen, esc, sizeof(esc)) < 0) {
        fprintf(stderr, "mkv-dump: skipped a key of %zu bytes\n", klen);
        return 0;
    }
    printf("%s %.*s\n", esc, (int)vlen, val);
    (*n)++;
    return 0;
}

int main(int argc, char **argv)
{
    struct mkv_config cfg;
    struct mkv_index ix;
    char err[512];
    long n = 0;
    int rc;

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fprintf(stderr, "mkv-dump: print every index record as '<key> <record>'\n");
            config_usage(argv[0]);
            return 0;
        }
    if (config_load(&cfg, argc, argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-dump: %s\n", err);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (index_open(&ix, cfg.db, cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-dump: %s\n", err);
        return 1;
    }
    rc = index_scan(&ix, "", 0, print_one, &n);
    index_close(&ix);
    if (fflush(stdout) != 0 || rc != MKV_OK) {
        fprintf(stderr, "mkv-dump: failed after %ld records\n", n);
        return 1;
    }
    return 0;
}
