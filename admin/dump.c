/* dump.c: mkv-dump, prints the index as text, one record per line:
 *
 *     <key> <record>                            (default)
 *     <key>\t<live|unlinked>\t<md5|->\t<volumes>  (--columns)
 *
 * The key with bytes <= 0x20, >= 0x7f and '%' written as %XX; the record in
 * minikeyvalue's format (what the original's index holds, for diffing), or
 * decoded into columns.  Safe while workers run (a cursor, no transaction). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "index.h"
#include "keys.h"
#include "log.h"
#include "record.h"

struct dump {
    long n;
    int columns;
};

static int print_one(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    char esc[3 * MKV_URI_MAX + 1];
    struct dump *d = arg;
    struct mkv_record rec;

    if (escape_nonprint(key, klen, esc, sizeof(esc)) < 0) {
        fprintf(stderr, "mkv-dump: skipped a key of %zu bytes\n", klen);
        return 0;
    }
    if (!d->columns) {
        printf("%s %.*s\n", esc, (int)vlen, val);
    } else if (record_decode(val, vlen, &rec) == 0) {
        printf("%s\t%s\t%s\t", esc, rec.deleted ? "unlinked" : "live",
               rec.hash[0] ? rec.hash : "-");
        for (int i = 0; i < rec.nvols; i++)
            printf("%s%s", i ? "," : "", rec.vols[i]);
        printf("\n");
    } else {
        printf("%s\tmalformed\t-\t%.*s\n", esc, (int)vlen, val);
    }
    d->n++;
    return 0;
}

int main(int argc, char **argv)
{
    struct mkv_config cfg;
    struct mkv_index ix;
    struct dump d = {0, 0};
    char err[512], *cargv[256];
    int rc, cargc = 0;

    for (int i = 0; i < argc && cargc < 255; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fprintf(
                stderr,
                "usage: mkv-dump [-c FILE] [--columns] [--name=value ...]\n\n"
                "Prints every index record, in key order, as '<key> <record>' (the\n"
                "original's record text: compare with an original index's dump), or with\n"
                "--columns as '<key> TAB live|unlinked TAB md5|- TAB volumes'.  Keys show\n"
                "bytes outside printable ASCII and '%%' as %%XX.  Safe while workers serve.\n\n");
            config_usage("mkv-dump");
            return 0;
        }
        if (!strcmp(argv[i], "--columns"))
            d.columns = 1;
        else
            cargv[cargc++] = argv[i];
    }
    if (config_load(&cfg, cargc, cargv, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-dump: %s\n", err);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (index_open(&ix, cfg.db, cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-dump: %s\n", err);
        return 1;
    }
    rc = index_scan(&ix, "", 0, print_one, &d);
    index_close(&ix);
    if (fflush(stdout) != 0 || rc != MKV_OK) {
        fprintf(stderr, "mkv-dump: failed after %ld records\n", d.n);
        return 1;
    }
    return 0;
}
