/* thrasher.c: load generator reproducing minikeyvalue's tools/thrasher.go
 * and the Rust fork's thrasher-read.go (docs/compat.md §8.2) on libcurl multi.
 *
 *     thrasher [--url=http://localhost:3000] [--keys=N] [--concurrency=C]
 *     thrasher --read-heavy [--keys=N] [--rounds=R] ...
 *
 * Default mode: N jobs (10000), C at a time (16); each job PUTs
 * benchmark-<random> = value-<random> (201/204), GETs it following the 302
 * (200 and the exact body), DELETEs it (204).  --read-heavy: PUTs N keys
 * (1000), then R rounds (1000) of GETs of every key following the redirect
 * (status 200 only).  One easy handle per slot, connections kept in the
 * multi handle's pool.  Prints the original's lines, then one
 * "RESULT ops_per_sec=X errors=E requests=Q seconds=S" line; exits 1 on
 * any error. */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "num.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URL_CAP      512
#define NAME_CAP     40
#define BODY_CAP     64
#define MAX_SLOTS    1024
#define ERRORS_SHOWN 10

enum mode { THRASH, READ_HEAVY };
enum step { PUT, GET, DEL, IDLE };

struct options {
    const char *url;
    enum mode mode;
    long keys;
    long rounds;
    int conc;
};

struct slot {
    CURL *h;
    enum step step;
    long job;
    char key[NAME_CAP];
    char val[NAME_CAP];
    char url[URL_CAP];
    char body[BODY_CAP];
    size_t blen;
    int overflow;
};

struct run {
    const struct options *o;
    CURLM *m;
    struct slot *slots;
    char (*names)[NAME_CAP]; /* read-heavy: the keys put in phase one */
    enum step first;         /* step each job starts with in this phase */
    long njobs, next, done;
    long requests, errors;
    uint64_t rng;
};

static uint64_t rnd(struct run *r)
{
    /* xorshift64*: enough for key names, no locking, no syscalls. */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (r->rng * 2685821657736338717ULL) >> 1; /* non-negative 63 bits */
}

static void usage(void)
{
    fprintf(stderr,
            "usage: thrasher [--url=URL] [--keys=N] [--concurrency=C]\n"
            "       thrasher --read-heavy [--url=URL] [--keys=N] [--rounds=R] [--concurrency=C]\n"
            "  default: N=10000 PUT/GET/DELETE jobs; --read-heavy: N=1000 PUTs then R=1000\n"
            "  rounds of GETs of every key; C=16; URL=http://localhost:3000\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
    long long v;
    int keys_set = 0;

    o->url = "http://localhost:3000";
    o->mode = THRASH;
    o->keys = 10000;
    o->rounds = 1000;
    o->conc = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strncmp(a, "--url=", 6) && strlen(a + 6) < URL_CAP - NAME_CAP - 2) {
            o->url = a + 6;
        } else if (!strcmp(a, "--read-heavy")) {
            o->mode = READ_HEAVY;
        } else if (!strncmp(a, "--keys=", 7) && num_parse(a + 7, 1, 100000000L, &v) == 0) {
            o->keys = v;
            keys_set = 1;
        } else if (!strncmp(a, "--rounds=", 9) && num_parse(a + 9, 1, 1000000L, &v) == 0) {
            o->rounds = v;
        } else if (!strncmp(a, "--concurrency=", 14) && num_parse(a + 14, 1, MAX_SLOTS, &v) == 0) {
            o->conc = (int)v;
        } else {
            usage();
            return -1;
        }
    }
    if (o->mode == READ_HEAVY && !keys_set)
        o->keys = 1000;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct slot *s = arg;
    size_t len = size * n;

    if (s->blen + len > sizeof(s->body)) {
        s->overflow = 1;
        return len;
    }
    memcpy(s->body + s->blen, p, len);
    s->blen += len;
    return len;
}

/* Sets the handle up for the slot's current step and hands it to multi. */
static int start_step(struct run *r, struct slot *s)
{
    CURL *h = s->h;

    curl_easy_reset(h);
    s->blen = 0;
    s->overflow = 0;
    snprintf(s->url, sizeof(s->url), "%s/%s", r->o->url, s->key);
    curl_easy_setopt(h, CURLOPT_URL, s->url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (s->step == PUT) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->val);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(s->val));
    } else if (s->step == GET) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    if (curl_multi_add_handle(r->m, h) != CURLM_OK) {
        fprintf(stderr, "thrasher: curl_multi_add_handle failed\n");
        return -1;
    }
    r->requests++;
    return 0;
}

/* Takes the next job into slot s; returns 1 if started, 0 if none left. */
static int next_job(struct run *r, struct slot *s)
{
    if (r->next >= r->njobs) {
        s->step = IDLE;
        return 0;
    }
    s->job = r->next++;
    s->step = r->first;
    if (r->o->mode == THRASH) {
        snprintf(s->key, sizeof(s->key), "benchmark-%llu", (unsigned long long)rnd(r));
        snprintf(s->val, sizeof(s->val), "value-%llu", (unsigned long long)rnd(r));
    } else {
        long k = s->job % r->o->keys;

        if (r->first == PUT) {
            snprintf(r->names[k], NAME_CAP, "benchmark-%llu", (unsigned long long)rnd(r));
            snprintf(s->val, sizeof(s->val), "value-%llu", (unsigned long long)rnd(r));
        }
        memcpy(s->key, r->names[k], NAME_CAP);
    }
    return start_step(r, s) < 0 ? -1 : 1;
}

static void report_error(struct run *r, const struct slot *s, CURLcode cc, long status)
{
    static const char *names[] = {"PUT", "GET", "DELETE", "?"};

    if (r->errors++ >= ERRORS_SHOWN)
        return;
    fprintf(stderr, "ERROR on %ld: %s %s: %s, status %ld%s\n", s->job, names[s->step], s->key,
            cc == CURLE_OK ? "ok" : curl_easy_strerror(cc), status,
            s->step == GET && cc == CURLE_OK && status == 200 ? ", wrong body" : "");
}

/* Checks a finished transfer; returns 1 when the step met its expectation. */
static int step_ok(const struct run *r, const struct slot *s, CURLcode cc, long status)
{
    if (cc != CURLE_OK)
        return 0;
    if (s->step == PUT)
        return status == 201 || status == 204;
    if (s->step == DEL)
        return status == 204;
    if (status != 200)
        return 0;
    if (r->o->mode == READ_HEAVY)
        return 1;
    return !s->overflow && s->blen == strlen(s->val) && !memcmp(s->body, s->val, s->blen);
}

/* A transfer finished: move its job on, or start the next job. */
static int on_done(struct run *r, CURL *h, CURLcode cc)
{
    struct slot *s;
    long status = 0;
    int last;

    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&s);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(r->m, h);
    if (!step_ok(r, s, cc, status)) {
        report_error(r, s, cc, status);
        last = 1;
    } else {
        last = r->o->mode == READ_HEAVY || s->step == DEL;
    }
    if (!last) {
        s->step = s->step == PUT ? GET : DEL;
        return start_step(r, s);
    }
    r->done++;
    if (r->o->mode == READ_HEAVY && r->first == GET && r->done % (100 * r->o->keys) == 0)
        fprintf(stderr, "Starting GET round %ld of %ld\n", r->done / r->o->keys + 1, r->o->rounds);
    return next_job(r, s) < 0 ? -1 : 0;
}

/* Runs njobs jobs starting with step first, o->conc at a time. */
static int run_phase(struct run *r, enum step first, long njobs)
{
    int running = 1;

    r->first = first;
    r->njobs = njobs;
    r->next = r->done = 0;
    for (int i = 0; i < r->o->conc; i++)
        if (next_job(r, &r->slots[i]) < 0)
            return -1;
    while (r->done < r->njobs) {
        CURLMsg *msg;
        int left;

        if (curl_multi_perform(r->m, &running) != CURLM_OK) {
            fprintf(stderr, "thrasher: curl multi failed\n");
            return -1;
        }
        /* Finished transfers first: waiting before taking them (and starting
         * their next step) would idle until the poll's timeout whenever the
         * last transfer in flight completed inside curl_multi_perform. */
        while ((msg = curl_multi_info_read(r->m, &left)))
            if (msg->msg == CURLMSG_DONE && on_done(r, msg->easy_handle, msg->data.result) < 0)
                return -1;
        if (r->done >= r->njobs)
            break;
        /* A handle just added makes curl's own timeout 0: no wait then. */
        if (curl_multi_poll(r->m, NULL, 0, 1000, NULL) != CURLM_OK) {
            fprintf(stderr, "thrasher: curl multi failed\n");
            return -1;
        }
    }
    return 0;
}

static double now(void)
{
    return clock_ms() / 1e3;
}

static int setup(struct run *r, const struct options *o)
{
    memset(r, 0, sizeof(*r));
    r->o = o;
    r->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)clock() ^ (uint64_t)(uintptr_t)r;
    r->rng |= 1;
    r->m = curl_multi_init();
    r->slots = calloc((size_t)o->conc, sizeof(*r->slots));
    if (o->mode == READ_HEAVY)
        r->names = calloc((size_t)o->keys, NAME_CAP);
    if (!r->m || !r->slots || (o->mode == READ_HEAVY && !r->names))
        return -1;
    /* The front plus every volume a redirect may lead to, per slot. */
    curl_multi_setopt(r->m, CURLMOPT_MAXCONNECTS, (long)o->conc * 8);
    for (int i = 0; i < o->conc; i++)
        if (!(r->slots[i].h = curl_easy_init()))
            return -1;
    return 0;
}

static void teardown(struct run *r)
{
    if (r->slots)
        for (int i = 0; i < r->o->conc; i++)
            if (r->slots[i].h)
                curl_easy_cleanup(r->slots[i].h);
    if (r->m)
        curl_multi_cleanup(r->m);
    free(r->slots);
    free(r->names);
}

static int run(struct run *r, const struct options *o, double *secs)
{
    double t0 = now();

    if (o->mode == THRASH) {
        if (run_phase(r, PUT, o->keys) < 0)
            return -1;
    } else {
        if (run_phase(r, PUT, o->keys) < 0)
            return -1;
        if (run_phase(r, GET, o->keys * o->rounds) < 0)
            return -1;
    }
    *secs = now() - t0;
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    struct run r;
    double secs = 0, rate;
    int rc = 1;

    if (parse_args(argc, argv, &o) < 0)
        return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "thrasher: curl_global_init failed\n");
        return 1;
    }
    if (setup(&r, &o) < 0) {
        fprintf(stderr, "thrasher: out of memory\n");
        goto cleanup;
    }
    if (run(&r, &o, &secs) < 0)
        goto cleanup;
    if (o.mode == THRASH) {
        rate = secs > 0 ? (double)o.keys / secs : 0;
        printf("%ld write/read/delete in %.3fs\nthats %.1f/sec\n", o.keys, secs, rate);
    } else {
        rate = secs > 0 ? (double)r.requests / secs : 0;
        printf("%ld ops (%ld PUT + %ld rounds of %ld GET) in %.3fs\nthats %.1f ops/sec\n",
               r.requests, o.keys, o.rounds, o.keys, secs, rate);
    }
    printf("RESULT ops_per_sec=%.1f errors=%ld requests=%ld seconds=%.3f\n", rate, r.errors,
           r.requests, secs);
    rc = r.errors == 0 ? 0 : 1;

cleanup:
    teardown(&r);
    curl_global_cleanup();
    return rc;
}
