/* rebalance.c: mkv-rebalance, moves every key's replicas to where placement
 * over the configured volumes puts them (after volumes were added or
 * removed), or with --repair re-copies replicas that went missing.
 *
 * The index is read in batches of keys (a cursor is never held while values
 * move); --concurrency threads run rebalance_key() on each.  A key whose
 * write lock is held (a PUT or DELETE in flight) is retried after the pass.
 * Every step leaves the record listing only replicas that exist, so killing
 * it at any point and running it again finishes the job. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "index.h"
#include "keys.h"
#include "log.h"
#include "placement.h"
#include "rebalance.h"
#include "volume.h"

#define BATCH        1024
#define RETRY_ROUNDS 20 /* passes over keys that were busy */

struct key {
    char *data;
    size_t len;
};

struct run {
    struct mkv_config cfg;
    struct mkv_index ix;
    struct rb_opts opts;
    int concurrency;
    int verbose;
    struct key batch[BATCH];
    size_t nbatch;
    atomic_size_t next;
    struct key *busy; /* keys to retry */
    size_t nbusy, capbusy;
    pthread_mutex_t mu;
    atomic_long count[RB_FAILED + 1];
    atomic_long lost; /* copies on removed volumes that did not answer */
};

static double now_s(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static void print_key(const char *what, const struct key *k, const char *why)
{
    char esc[3 * MKV_URI_MAX + 1];

    if (escape_nonprint(k->data, k->len, esc, sizeof(esc)) < 0)
        snprintf(esc, sizeof(esc), "(a key of %zu bytes)", k->len);
    printf("%s %s%s%s\n", what, esc, why && *why ? ": " : "", why ? why : "");
}

static void remember_busy(struct run *r, const struct key *k)
{
    pthread_mutex_lock(&r->mu);
    if (r->nbusy == r->capbusy) {
        size_t cap = r->capbusy ? r->capbusy * 2 : 64;
        struct key *b = realloc(r->busy, cap * sizeof(*b));
        if (!b) {
            pthread_mutex_unlock(&r->mu);
            return;
        }
        r->busy = b;
        r->capbusy = cap;
    }
    r->busy[r->nbusy].data = malloc(k->len);
    if (r->busy[r->nbusy].data) {
        memcpy(r->busy[r->nbusy].data, k->data, k->len);
        r->busy[r->nbusy].len = k->len;
        r->nbusy++;
    }
    pthread_mutex_unlock(&r->mu);
}

static void *worker(void *arg)
{
    struct run *r = arg;
    struct mkv_vclient vc;
    struct rb_notes notes;
    char why[512];

    if (vclient_init(&vc, &r->cfg) < 0)
        return NULL;
    for (;;) {
        size_t i = atomic_fetch_add(&r->next, 1);
        enum rb_outcome o;

        if (i >= r->nbatch)
            break;
        o = rebalance_key(&r->cfg, &r->ix, &vc, &r->opts, r->batch[i].data, r->batch[i].len, why,
                          sizeof(why), &notes);
        if (o == RB_BUSY) {
            remember_busy(r, &r->batch[i]);
            continue;
        }
        atomic_fetch_add(&r->count[o], 1);
        atomic_fetch_add(&r->lost, notes.lost);
        pthread_mutex_lock(&r->mu);
        if (o == RB_FAILED)
            print_key("failed", &r->batch[i], why);
        else if (o == RB_PLANNED || (o == RB_MOVED && r->verbose))
            print_key(rb_outcome_name(o), &r->batch[i], NULL);
        pthread_mutex_unlock(&r->mu);
    }
    vclient_free(&vc);
    return NULL;
}

/* Runs the current batch on the worker threads. */
static void run_batch(struct run *r)
{
    pthread_t tids[256];
    int n = 0;

    atomic_store(&r->next, 0);
    for (int i = 0; i < r->concurrency; i++, n++)
        if (pthread_create(&tids[i], NULL, worker, r) != 0)
            break;
    if (n == 0)
        worker(r);
    for (int i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
}

static void free_batch(struct run *r)
{
    for (size_t i = 0; i < r->nbatch; i++)
        free(r->batch[i].data);
    r->nbatch = 0;
}

struct collect {
    struct run *r;
    const char *after;
    size_t afterlen;
};

static int collect_key(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct collect *c = arg;
    struct run *r = c->r;

    (void)val;
    (void)vlen;
    if (c->after && klen == c->afterlen && !memcmp(key, c->after, klen))
        return 0; /* the scan starts at the last key of the previous batch */
    if (r->nbatch == BATCH)
        return 1;
    r->batch[r->nbatch].data = malloc(klen ? klen : 1);
    if (!r->batch[r->nbatch].data)
        return 1;
    memcpy(r->batch[r->nbatch].data, key, klen);
    r->batch[r->nbatch].len = klen;
    r->nbatch++;
    return 0;
}

static void progress(struct run *r, double t0, long seen)
{
    double dt = now_s() - t0;

    fprintf(stderr, "\r%ld keys: %ld moved, %ld in place, %ld failed, %.0f keys/s   ", seen,
            atomic_load(&r->count[RB_MOVED]) + atomic_load(&r->count[RB_PLANNED]),
            atomic_load(&r->count[RB_INPLACE]), atomic_load(&r->count[RB_FAILED]),
            dt > 0 ? seen / dt : 0.0);
}

static void usage(void)
{
    fprintf(stderr, "usage: mkv-rebalance [-c FILE] [--dry-run] [--repair] [--concurrency=N]\n"
                    "                     [--tmpdir=DIR] [--verbose] [--name=value ...]\n\n"
                    "Moves every live key's replicas to where placement over the configured\n"
                    "volumes puts them, keeping its hash.  --repair also HEADs every wanted\n"
                    "replica and re-copies missing ones from a live replica.  Safe while workers\n"
                    "serve; killed, it is finished by running it again.  Values are staged in\n"
                    "--tmpdir (default $TMPDIR or /tmp), never held in memory.\n"
                    "A listed volume that does not answer stops its keys, unless it is no longer\n"
                    "in `volumes`: a volume lost for good is taken out of `volumes`, and its\n"
                    "keys get their copies back from the live replicas (counted as lost copies).\n"
                    "Run it after changing `volumes`; about 8 minutes per million small keys\n"
                    "to move on 2 CPUs.  From cron, a weekly --repair re-copies replicas a\n"
                    "lost disk took (conf/crontab.example).\n"
                    "Exit status: 0 done, 1 some keys failed (listed), 2 bad usage.\n\n");
    config_usage("mkv-rebalance");
}

static int parse_args(struct run *r, int argc, char **argv, int *cargc, char **cargv)
{
    static char tmpdir[4096];
    const char *t = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
    r->opts.tmpdir = tmpdir;
    r->opts.head_timeout_ms = 60000;
    r->concurrency = 8;
    for (int i = 0; i < argc && *cargc < 255; i++) {
        char *end;
        long n;

        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            exit(0);
        } else if (!strcmp(argv[i], "--dry-run")) {
            r->opts.dry_run = 1;
        } else if (!strcmp(argv[i], "--repair")) {
            r->opts.repair = 1;
        } else if (!strcmp(argv[i], "--verbose")) {
            r->verbose = 1;
        } else if (!strncmp(argv[i], "--tmpdir=", 9)) {
            snprintf(tmpdir, sizeof(tmpdir), "%s", argv[i] + 9);
        } else if (!strncmp(argv[i], "--concurrency=", 14)) {
            n = strtol(argv[i] + 14, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "mkv-rebalance: --concurrency must be 1..256\n");
                return -1;
            }
            r->concurrency = (int)n;
        } else {
            cargv[(*cargc)++] = argv[i];
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct run r;
    char *cargv[256], err[512], *last = NULL;
    size_t lastlen = 0;
    int cargc = 0;
    long seen = 0;
    double t0 = now_s();

    if (parse_args(&r, argc, argv, &cargc, cargv) < 0)
        return 2;
    if (config_load(&r.cfg, cargc, cargv, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-rebalance: %s\n", err);
        return 2;
    }
    log_set_level(r.cfg.log_level);
    pthread_mutex_init(&r.mu, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "mkv-rebalance: cannot initialise libcurl\n");
        return 1;
    }
    if (index_open(&r.ix, r.cfg.db, r.cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-rebalance: %s\n", err);
        return 1;
    }
    for (;;) {
        struct collect c = {&r, last, lastlen};

        if (index_scan(&r.ix, last ? last : "", lastlen, collect_key, &c) != MKV_OK) {
            fprintf(stderr, "mkv-rebalance: index scan failed\n");
            atomic_fetch_add(&r.count[RB_FAILED], 1);
            break;
        }
        if (r.nbatch == 0)
            break;
        free(last);
        last = malloc(r.batch[r.nbatch - 1].len);
        if (!last)
            break;
        lastlen = r.batch[r.nbatch - 1].len;
        memcpy(last, r.batch[r.nbatch - 1].data, lastlen);
        seen += (long)r.nbatch;
        run_batch(&r);
        free_batch(&r);
        progress(&r, t0, seen);
    }
    free(last);
    /* Keys a writer held: try again a few times, then report them. */
    for (int round = 0; round < RETRY_ROUNDS && r.nbusy > 0; round++) {
        size_t n = r.nbusy < BATCH ? r.nbusy : BATCH;

        usleep(100000);
        memcpy(r.batch, r.busy + r.nbusy - n, n * sizeof(struct key));
        r.nbusy -= n;
        r.nbatch = n;
        run_batch(&r);
        free_batch(&r);
    }
    for (size_t i = 0; i < r.nbusy; i++) {
        print_key("busy", &r.busy[i], "a write of this key kept it locked; run again");
        atomic_fetch_add(&r.count[RB_BUSY], 1);
        free(r.busy[i].data);
    }
    free(r.busy);
    progress(&r, t0, seen);
    fprintf(stderr, "\n");
    index_close(&r.ix);
    printf("rebalance%s: %.1fs, %ld keys: %ld %s, %ld already in place, %ld unlinked (left "
           "alone), %ld gone meanwhile, %ld busy, %ld failed; %ld copies lost with removed "
           "volumes\n",
           r.opts.dry_run ? " (dry run)" : "", now_s() - t0, seen,
           atomic_load(&r.count[r.opts.dry_run ? RB_PLANNED : RB_MOVED]),
           r.opts.dry_run ? "to move" : "moved", atomic_load(&r.count[RB_INPLACE]),
           atomic_load(&r.count[RB_UNLINKED]), atomic_load(&r.count[RB_ABSENT]),
           atomic_load(&r.count[RB_BUSY]), atomic_load(&r.count[RB_FAILED]), atomic_load(&r.lost));
    return atomic_load(&r.count[RB_FAILED]) || atomic_load(&r.count[RB_BUSY]) ? 1 : 0;
}
