/* dump.c: mkv-dump, prints the index as text, one record per line:
 *
 *     <key> <record>                            (default)
 *     <key>\t<live|unlinked>\t<md5|->\t<volumes>  (--columns)
 *
 * The key and the record with bytes <= 0x20, >= 0x7f and '%' written as
 * %XX (one line per record, whatever bytes they hold); the record in
 * minikeyvalue's format (what the original's index holds, for diffing), or
 * decoded into columns.  Safe while workers run (a cursor, no transaction). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exitcodes.h"
#include "index.h"
#include "keys.h"
#include "record.h"

struct dump {
    long n;
    int columns;
    char *esc; /* a record escaped: 3 bytes a byte */
    size_t cap;
    int failed;
};

static int print_one(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                     const char *raw, size_t rawlen)
{
    /* Every byte from the index is escaped, the record's as well as the
     * key's: a record may hold any bytes (an imported one, a damaged one),
     * and a newline in it must not make a line of its own. */
    static char esc[3 * MKV_URI_MAX + 1];
    static char text[MKV_RECORD_MAX];
    struct dump *d = arg;
    const char *val = raw;
    size_t vlen = rawlen;
    char *rec_esc;
    int n;

    /* The original's text of the record: what its index would hold. */
    if (rec && (n = record_encode(rec, text, sizeof(text))) >= 0) {
        val = text;
        vlen = (size_t)n;
    }
    if (3 * vlen + 1 > d->cap) {
        char *p = realloc(d->esc, 3 * vlen + 1);
        if (!p) {
            fprintf(stderr, "mkv-dump: out of memory\n");
            d->failed = 1;
            return -1;
        }
        d->esc = p;
        d->cap = 3 * vlen + 1;
    }
    rec_esc = d->esc;
    if (escape_nonprint(key, klen, esc, sizeof(esc)) < 0 ||
        escape_nonprint(val, vlen, rec_esc, d->cap) < 0) {
        fprintf(stderr, "mkv-dump: skipped a key of %zu bytes\n", klen);
        return 0;
    }
    if (!d->columns) {
        printf("%s %s\n", esc, rec_esc);
    } else if (rec) {
        /* the decoded parts are no longer than the record */
        escape_nonprint(rec->hash, strlen(rec->hash), rec_esc, d->cap);
        printf("%s\t%s\t%s\t", esc, rec->deleted ? "unlinked" : "live",
               rec->hash[0] ? rec_esc : "-");
        for (int i = 0; i < rec->nvols; i++) {
            escape_nonprint(rec->vols[i], strlen(rec->vols[i]), rec_esc, d->cap);
            printf("%s%s", i ? "," : "", rec_esc);
        }
        printf("\n");
    } else {
        printf("%s\tmalformed\t-\t%s\n", esc, rec_esc);
    }
    d->n++;
    return 0;
}

/* Our one flag (config_split): 1 taken, 0 a setting's. */
static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct dump *d = ctx;

    (void)err;
    (void)errlen;
    if (strcmp(a, "--columns") != 0)
        return 0;
    d->columns = 1;
    return 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: mkv-dump [-c FILE] [--columns] [--name=value ...]\n\n"
            "Prints every index record, in key order, as '<key> <record>' (the\n"
            "original's record text: compare with an original index's dump), or with\n"
            "--columns as '<key> TAB live|unlinked TAB md5|- TAB volumes'.  Keys and\n"
            "records show bytes outside printable ASCII and '%%' as %%XX.  Safe while\n"
            "workers serve.\n"
            "%s\n",
            MKV_EXIT_HELP);
    config_usage("mkv-dump");
}

int main(int argc, char **argv)
{
    struct mkv_config cfg;
    struct mkv_index ix;
    struct dump d = {0};
    const struct mkv_tool tool = {"mkv-dump", own_arg, &d, usage, NULL};
    char err[512];
    int rc;

    if (admin_start(&tool, argc, argv, &cfg, &rc) < 0)
        return rc;
    if (index_open(&ix, cfg.db, cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-dump: %s\n", err);
        return MKV_EXIT_INDEX;
    }
    rc = index_scan(&ix, "", 0, INDEX_SCAN_VOLS, print_one, &d);
    index_close(&ix);
    free(d.esc);
    if (fflush(stdout) != 0 || rc != MKV_OK || d.failed) {
        fprintf(stderr, "mkv-dump: failed after %ld records\n", d.n);
        return MKV_EXIT_INCOMPLETE;
    }
    return MKV_EXIT_OK;
}
