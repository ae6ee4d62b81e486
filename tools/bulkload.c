/* bulkload.c: fills an index with synthetic live records, fast, for the
 * cost-growth benchmark (make bench).
 *
 *     bulkload [--count=N] [--from=A] [--batch=B] [config flags, e.g. --db=DIR]
 *
 * Writes keys /bench-<A> ... /bench-<A+N-1>, each record in minikeyvalue's
 * format ("HASH<md5 of value-<i>>" + the key's placement over the configured
 * volumes), B puts per transaction, commits not flushed until the end.  No
 * value files are written: the records only make the index big.  Run it
 * while no worker has the environment open (it may run recovery). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "index.h"
#include "log.h"
#include "md5.h"
#include "num.h"
#include "placement.h"
#include "record.h"

#define KEY_CAP   32
#define BATCH_MAX 100000

struct options {
    long count; /* records to write */
    long from;  /* first key number */
    int batch;  /* puts per transaction */
};

struct batch {
    char (*keybuf)[KEY_CAP];
    const char **keys;
    size_t *klens;
    struct mkv_record *recs;
};

static void usage(void)
{
    fprintf(stderr, "usage: bulkload [--count=N] [--from=A] [--batch=B] [config flags]\n"
                    "  writes live records for /bench-A .. /bench-(A+N-1) into the index\n"
                    "  (defaults: N=1000000, A=0, B=5000; --db=DIR, --volumes=... as mkv-fcgi)\n");
}

/* Our own flags (config_split): 1 taken, 0 a setting's, -1 a bad value. */
static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct options *o = ctx;
    long long v;

    if (!strncmp(a, "--count=", 8)) {
        if (num_parse(a + 8, 0, 1000000000L, &v) < 0)
            goto bad;
        o->count = (long)v;
    } else if (!strncmp(a, "--from=", 7)) {
        if (num_parse(a + 7, 0, 1000000000L, &v) < 0)
            goto bad;
        o->from = (long)v;
    } else if (!strncmp(a, "--batch=", 8)) {
        if (num_parse(a + 8, 1, BATCH_MAX, &v) < 0)
            goto bad;
        o->batch = (int)v;
    } else {
        return 0;
    }
    return 1;
bad:
    snprintf(err, errlen, "bad value in %.64s", a);
    return -1;
}

static void batch_free(struct batch *b)
{
    free(b->keybuf);
    free(b->keys);
    free(b->klens);
    free(b->recs);
}

static int batch_alloc(struct batch *b, int n)
{
    b->keybuf = calloc((size_t)n, KEY_CAP);
    b->keys = calloc((size_t)n, sizeof(*b->keys));
    b->klens = calloc((size_t)n, sizeof(*b->klens));
    b->recs = calloc((size_t)n, sizeof(*b->recs));
    if (!b->keybuf || !b->keys || !b->klens || !b->recs) {
        batch_free(b);
        return -1;
    }
    for (int i = 0; i < n; i++)
        b->keys[i] = b->keybuf[i];
    return 0;
}

/* Fills slot j of the batch with key number i and its record. */
static int make_record(const struct mkv_config *cfg, struct batch *b, int j, long i)
{
    struct mkv_placement p;
    unsigned char d[16];
    char val[32];
    int klen = snprintf(b->keybuf[j], KEY_CAP, "/bench-%ld", i);
    int vlen = snprintf(val, sizeof(val), "value-%ld", i);

    if (klen < 0 || klen >= KEY_CAP || vlen < 0 || vlen >= (int)sizeof(val))
        return -1;
    b->klens[j] = (size_t)klen;
    if (key2volumes(cfg, b->keybuf[j], (size_t)klen, &p) < 0 ||
        md5_digest(val, (size_t)vlen, d) < 0)
        return -1;
    b->recs[j].deleted = 0;
    md5_hex(d, b->recs[j].hash);
    record_set_vols(&b->recs[j], &p);
    return 0;
}

static double now(void)
{
    return clock_ms() / 1e3;
}

static int load(const struct mkv_config *cfg, struct mkv_index *ix, const struct options *o)
{
    struct batch b;
    long done = 0;

    if (batch_alloc(&b, o->batch) < 0) {
        fprintf(stderr, "bulkload: out of memory\n");
        return -1;
    }
    while (done < o->count) {
        int n = (int)(o->count - done < o->batch ? o->count - done : o->batch);

        for (int j = 0; j < n; j++)
            if (make_record(cfg, &b, j, o->from + done + j) < 0) {
                fprintf(stderr, "bulkload: cannot build record %ld\n", o->from + done + j);
                goto fail;
            }
        if (index_put_batch(ix, b.keys, b.klens, b.recs, n) != MKV_OK) {
            fprintf(stderr, "bulkload: write failed after %ld records\n", done);
            goto fail;
        }
        done += n;
    }
    batch_free(&b);
    return 0;

fail:
    batch_free(&b);
    return -1;
}

int main(int argc, char **argv)
{
    struct mkv_config cfg;
    struct mkv_index ix;
    struct options o;
    struct mkv_args ca;
    char err[512];
    int rc;
    double t0, dt;

    o.count = 1000000;
    o.from = 0;
    o.batch = 5000;
    if (config_split(argc, argv, own_arg, &o, &ca, err, sizeof(err)) < 0) {
        fprintf(stderr, "bulkload: %s\n", err);
        usage();
        return 2;
    }
    if (ca.help) {
        usage();
        return 0;
    }
    rc = config_load(&cfg, ca.argc, ca.argv, err, sizeof(err));
    config_args_free(&ca);
    if (rc < 0) {
        fprintf(stderr, "bulkload: %s\n", err);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (index_open(&ix, cfg.db, cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "bulkload: %s\n", err);
        return 1;
    }
    ix.nosync = 1;
    t0 = now();
    rc = load(&cfg, &ix, &o);
    if (rc == 0 && index_flush(&ix) != MKV_OK)
        rc = -1;
    if (rc == 0 && index_checkpoint(&ix, 0, 0) != MKV_OK)
        rc = -1;
    index_close(&ix);
    dt = now() - t0;
    if (rc < 0)
        return 1;
    printf("bulkload: %ld records (/bench-%ld..) in %.1fs, %.0f records/s\n", o.count, o.from, dt,
           dt > 0 ? (double)o.count / dt : 0.0);
    return 0;
}
