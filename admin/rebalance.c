/* rebalance.c: mkv-rebalance, moves every key's replicas to where placement
 * over the configured volumes puts them (after volumes were added or
 * removed), or with --repair re-copies replicas that went missing.
 *
 * The index is read in batches of keys (a cursor is never held while values
 * move); --concurrency threads run rebalance_key() on each.  A key whose
 * write lock is held (a PUT or DELETE in flight) is retried after the pass.
 * Every step leaves the record listing only replicas that exist, so killing
 * it at any point and running it again finishes the job.
 *
 * Old copies are removed --grace milliseconds after the record listed the
 * new ones first (rebalance_key's keep_old, RB_PENDING): a client that got a
 * redirect to an old copy just before has that long to follow it.  Keys wait
 * in a list meanwhile, a few seconds' worth of keys at most. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "exitcodes.h"
#include "index.h"
#include "keys.h"
#include "num.h"
#include "placement.h"
#include "rebalance.h"
#include "volume.h"

#define BATCH        1024
#define RETRY_ROUNDS 20 /* passes over keys that were busy */

struct key {
    char *data;
    size_t len;
    double due; /* pending keys: when their old copies may go */
};

/* A growable list of keys, shared by the worker threads. */
struct keylist {
    struct key *k;
    size_t n, cap;
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
    struct keylist busy;    /* keys to retry: a write held them */
    struct keylist pending; /* keys whose old copies go after the grace */
    double grace;           /* seconds */
    pthread_mutex_t mu;
    atomic_long count[RB_FAILED + 1];
    atomic_long lost;  /* copies on removed volumes that did not answer */
    atomic_long never; /* keys no run can rebalance (reported, not failed) */
};

/* Seconds on the monotonic clock: durations and grace deadlines. */
static double now_s(void)
{
    return clock_ms() / 1e3;
}

static void print_key(const char *what, const struct key *k, const char *why)
{
    char esc[3 * MKV_URI_MAX + 1];

    if (escape_nonprint(k->data, k->len, esc, sizeof(esc)) < 0)
        snprintf(esc, sizeof(esc), "(a key of %zu bytes)", k->len);
    printf("%s %s%s%s\n", what, esc, why && *why ? ": " : "", why ? why : "");
}

/* Appends a copy of k to l (under r->mu).  Returns 0 or -1 out of memory. */
static int remember(struct run *r, struct keylist *l, const struct key *k, double due)
{
    int rc = -1;

    pthread_mutex_lock(&r->mu);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct key *b = realloc(l->k, cap * sizeof(*b));
        if (!b)
            goto cleanup;
        l->k = b;
        l->cap = cap;
    }
    l->k[l->n].data = malloc(k->len ? k->len : 1);
    if (!l->k[l->n].data)
        goto cleanup;
    memcpy(l->k[l->n].data, k->data, k->len);
    l->k[l->n].len = k->len;
    l->k[l->n].due = due;
    l->n++;
    rc = 0;

cleanup:
    pthread_mutex_unlock(&r->mu);
    return rc;
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
        /* A key cut by a recovery of the index (index_rejoined) is redone
         * from its start: each step of rebalance_key can be. */
        for (int redo = 0; redo < 3; redo++) {
            unsigned gen = index_generation(&r->ix);

            o = rebalance_key(&r->cfg, &r->ix, &vc, &r->opts, r->batch[i].data, r->batch[i].len,
                              why, sizeof(why), &notes);
            if (o != RB_FAILED || !index_rejoined(&r->ix, gen))
                break;
        }
        if (o == RB_BUSY && remember(r, &r->busy, &r->batch[i], 0) == 0)
            continue;
        /* Out of memory for the list: the old copies stay listed, and
         * the next run removes them. */
        if (o == RB_PENDING) {
            if (remember(r, &r->pending, &r->batch[i], now_s() + r->grace) == 0)
                continue;
            o = RB_BUSY;
        }
        /* A key no run can rebalance is reported, but is not a failure:
         * otherwise every run would exit 1 for it until it is removed. */
        if (o == RB_FAILED && notes.never)
            atomic_fetch_add(&r->never, 1);
        else
            atomic_fetch_add(&r->count[o], 1);
        atomic_fetch_add(&r->lost, notes.lost);
        pthread_mutex_lock(&r->mu);
        if (o == RB_FAILED && notes.never)
            print_key("cannot be rebalanced:", &r->batch[i], why);
        else if (o == RB_FAILED)
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

/* Runs the keys of l that are due by `until` (all of them: until < 0), a
 * batch at a time; they leave the list.  Keys the threads add to l while
 * this runs (found busy or pending again) wait for the next call. */
static void run_due(struct run *r, struct keylist *l, double until)
{
    struct key *due;
    size_t ndue = 0, keep = 0;

    if (l->n == 0 || !(due = malloc(l->n * sizeof(*due))))
        return;
    for (size_t i = 0; i < l->n; i++) {
        if (until < 0 || l->k[i].due <= until)
            due[ndue++] = l->k[i];
        else
            l->k[keep++] = l->k[i];
    }
    l->n = keep;
    for (size_t i = 0; i < ndue; i += BATCH) {
        r->nbatch = ndue - i < BATCH ? ndue - i : BATCH;
        memcpy(r->batch, due + i, r->nbatch * sizeof(*due));
        run_batch(r);
        free_batch(r);
    }
    free(due);
}

/* Reports the keys left in l as busy (the next run finishes them); frees l. */
static void report_left(struct run *r, struct keylist *l, const char *why)
{
    for (size_t i = 0; i < l->n; i++) {
        print_key("busy", &l->k[i], why);
        atomic_fetch_add(&r->count[RB_BUSY], 1);
        free(l->k[i].data);
    }
    free(l->k);
    l->k = NULL;
    l->n = l->cap = 0;
}

struct collect {
    struct run *r;
    const char *after;
    size_t afterlen;
};

static int collect_key(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                       const char *raw, size_t rawlen)
{
    struct collect *c = arg;
    struct run *r = c->r;

    (void)rec;
    (void)raw;
    (void)rawlen;
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
    fprintf(stderr,
            "usage: mkv-rebalance [-c FILE] [--dry-run] [--repair] [--concurrency=N]\n"
            "                     [--grace=MS] [--tmpdir=DIR] [--verbose] [--name=value ...]\n\n"
            "Moves every live key's replicas to where placement over the configured\n"
            "volumes puts them, keeping its hash.  --repair also HEADs every wanted\n"
            "replica and re-copies missing ones from a live replica.  Safe while workers\n"
            "serve; killed, it is finished by running it again.  Values are staged in\n"
            "--tmpdir (default $TMPDIR or /tmp), never held in memory.\n"
            "A key's old copies are removed --grace ms (default 2000) after its record\n"
            "lists the new ones: a client that got a redirect to an old copy just\n"
            "before has that long to follow it.\n"
            "A listed volume that does not answer stops its keys, unless it is no longer\n"
            "in `volumes`: a volume lost for good is taken out of `volumes`, and its\n"
            "keys get their copies back from the live replicas (counted as lost copies).\n"
            "Run it after changing `volumes`; about 8 minutes per million small keys\n"
            "to move on 2 CPUs.  From cron, a weekly --repair re-copies replicas a\n"
            "lost disk took (conf/crontab.example).\n"
            "Keys no run can rebalance (longer than 189 bytes, left by the original's\n"
            "failed PUTs) are listed as 'cannot be rebalanced' with the reason; they do\n"
            "not count as failures (mkv-delete removes them).\n"
            "Keys that failed or stayed busy are listed (exit status 1).\n\n"
            "%s\n",
            MKV_EXIT_HELP);
    config_usage("mkv-rebalance");
}

static char tmpdir[4096];

/* The tool's own flags (config_split): 1 taken, 0 a setting's, -1 a bad
 * value. */
static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct run *r = ctx;
    long long n;

    if (!strcmp(a, "--dry-run")) {
        r->opts.dry_run = 1;
    } else if (!strcmp(a, "--repair")) {
        r->opts.repair = 1;
    } else if (!strcmp(a, "--verbose")) {
        r->verbose = 1;
    } else if (!strncmp(a, "--tmpdir=", 9)) {
        if (snprintf(tmpdir, sizeof(tmpdir), "%s", a + 9) >= (int)sizeof(tmpdir)) {
            snprintf(err, errlen, "--tmpdir is too long");
            return -1;
        }
    } else if (!strncmp(a, "--concurrency=", 14)) {
        if (num_parse(a + 14, 1, 256, &n) < 0) {
            snprintf(err, errlen, "--concurrency must be 1..256");
            return -1;
        }
        r->concurrency = (int)n;
    } else if (!strncmp(a, "--grace=", 8)) {
        if (num_parse(a + 8, 0, 3600000, &n) < 0) {
            snprintf(err, errlen, "--grace must be 0..3600000 milliseconds");
            return -1;
        }
        r->grace = (double)n / 1000.0;
        r->opts.keep_old = n > 0;
    } else {
        return 0;
    }
    return 1;
}

/* The defaults, before the command line overrides them. */
static void defaults(struct run *r)
{
    const char *t = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
    r->opts.tmpdir = tmpdir;
    r->opts.head_timeout_ms = 60000;
    r->concurrency = 8;
    r->grace = 2.0;
    r->opts.keep_old = 1;
}

/* Settings, libcurl and the index: 0, or -1 with the status to exit with
 * in *status. */
static int start(struct run *r, int argc, char **argv, int *status)
{
    const struct mkv_tool tool = {"mkv-rebalance", own_arg, r, usage, NULL};
    char err[512];

    defaults(r);
    if (admin_start(&tool, argc, argv, &r->cfg, status) < 0)
        return -1;
    pthread_mutex_init(&r->mu, NULL);
    *status = MKV_EXIT_INCOMPLETE;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "mkv-rebalance: cannot initialise libcurl\n");
        return -1;
    }
    *status = MKV_EXIT_INDEX;
    if (index_open(&r->ix, r->cfg.db, r->cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-rebalance: %s\n", err);
        return -1;
    }
    if (index_use_cfg(&r->ix, &r->cfg) != MKV_OK) {
        fprintf(stderr, "mkv-rebalance: cannot record the volume set in the index\n");
        index_close(&r->ix);
        return -1;
    }
    return 0;
}

/* Every key once, in batches in key order; returns how many were seen. */
static long scan_all(struct run *r, double t0)
{
    char *last = NULL;
    size_t lastlen = 0;
    long seen = 0;

    for (;;) {
        struct collect c = {r, last, lastlen};

        if (index_scan(&r->ix, last ? last : "", lastlen, 0, collect_key, &c) != MKV_OK) {
            fprintf(stderr, "mkv-rebalance: index scan failed\n");
            atomic_fetch_add(&r->count[RB_FAILED], 1);
            break;
        }
        if (r->nbatch == 0)
            break;
        free(last);
        last = malloc(r->batch[r->nbatch - 1].len);
        if (!last)
            break;
        lastlen = r->batch[r->nbatch - 1].len;
        memcpy(last, r->batch[r->nbatch - 1].data, lastlen);
        seen += (long)r->nbatch;
        run_batch(r);
        free_batch(r);
        run_due(r, &r->pending, now_s());
        progress(r, t0, seen);
    }
    free(last);
    return seen;
}

/* Keys a writer held: tried again every 0.1 s, a few times, then reported.
 * Keys pending: their old copies go once their grace is over, those due
 * within 50 ms of each other together; one found pending again (a writer
 * changed it meanwhile) waits anew.  The cap on rounds only guards against a
 * writer that changes a key forever. */
static void finish_left(struct run *r)
{
    for (int round = 0; round < 100000; round++) {
        int retry_busy = r->busy.n > 0 && round < RETRY_ROUNDS;
        double due = retry_busy ? now_s() + 0.1 : -1, wait;

        if (!retry_busy && r->pending.n == 0)
            break;
        for (size_t i = 0; i < r->pending.n; i++)
            if (due < 0 || r->pending.k[i].due + 0.05 < due)
                due = r->pending.k[i].due + 0.05;
        wait = due - now_s(); /* read the clock once: a second read may pass due */
        if (wait > 0)
            usleep((useconds_t)(wait * 1e6));
        if (retry_busy)
            run_due(r, &r->busy, -1);
        run_due(r, &r->pending, now_s());
    }
    report_left(r, &r->busy, "a write of this key kept it locked; run again");
    report_left(r, &r->pending, "its old copies are still listed; run again");
}

static void summary(struct run *r, double t0, long seen)
{
    printf("rebalance%s: %.1fs, %ld keys: %ld %s, %ld already in place, %ld unlinked (left "
           "alone), %ld gone meanwhile, %ld busy, %ld failed, %ld cannot be rebalanced; %ld "
           "copies lost with removed volumes\n",
           r->opts.dry_run ? " (dry run)" : "", now_s() - t0, seen,
           atomic_load(&r->count[r->opts.dry_run ? RB_PLANNED : RB_MOVED]),
           r->opts.dry_run ? "to move" : "moved", atomic_load(&r->count[RB_INPLACE]),
           atomic_load(&r->count[RB_UNLINKED]), atomic_load(&r->count[RB_ABSENT]),
           atomic_load(&r->count[RB_BUSY]), atomic_load(&r->count[RB_FAILED]),
           atomic_load(&r->never), atomic_load(&r->lost));
}

int main(int argc, char **argv)
{
    static struct run r;
    double t0 = now_s();
    long seen;
    int rc;

    if (start(&r, argc, argv, &rc) < 0)
        return rc;
    seen = scan_all(&r, t0);
    finish_left(&r);
    progress(&r, t0, seen);
    fprintf(stderr, "\n");
    index_close(&r.ix);
    summary(&r, t0, seen);
    return atomic_load(&r.count[RB_FAILED]) || atomic_load(&r.count[RB_BUSY]) ? MKV_EXIT_INCOMPLETE
                                                                              : MKV_EXIT_OK;
}
