/* test_threads.c: what the worker threads share, hammered from many threads
 * at once: the request table (lib/seen.c), the statistics (lib/stats.c) and
 * the method table.  Meant for `make tsan-test`, where a plain read or write
 * racing another thread's fails the run; the checks here hold either way. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "method.h"
#include "seen.h"
#include "stats.h"
#include "unit.h"

#define THREADS 8
#define ROUNDS  2000

static struct mkv_seen table;
static struct mkv_stats *stats;

/* Ids that all start with the same 4 bytes share one bucket: every thread
 * writes the same slot. */
static void *mark_same_bucket(void *arg)
{
    long t = (long)arg;
    char id[33];

    for (int i = 0; i < ROUNDS; i++) {
        snprintf(id, sizeof(id), "00000000%08lx%016x", t, (unsigned)i);
        seen_mark(&table, id);
        stats_request(stats, i % 2 ? "PUT" : "GET", 201, 10, 1);
        method_allow();
    }
    return NULL;
}

static void test_concurrent_marks(void)
{
    char dir[] = "/tmp/mkv-unit-threads-XXXXXX", path[64];
    pthread_t tid[THREADS];
    const char *id = "0123456789abcdef0123456789abcdef";

    CHECK(mkdtemp(dir) != NULL);
    CHECK(seen_open(&table, dir) == 0);
    CHECK((stats = stats_create()) != NULL);
    for (long t = 0; t < THREADS; t++)
        CHECK(pthread_create(&tid[t], NULL, mark_same_bucket, (void *)t) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(tid[t], NULL);
    /* The table still works, and no count was lost. */
    CHECK(seen_mark(&table, id) == 0);
    CHECK(seen_mark(&table, id) == 1);
    CHECK(atomic_load(&stats->requests[MKV_M_GET][2]) == THREADS * ROUNDS / 2);
    CHECK(atomic_load(&stats->requests[MKV_M_PUT][2]) == THREADS * ROUNDS / 2);
    CHECK(atomic_load(&stats->bytes_in) == 10UL * THREADS * ROUNDS);
    seen_close(&table);
    snprintf(path, sizeof(path), "%s/%s", dir, MKV_SEEN_FILE);
    unlink(path);
    rmdir(dir);
}

UNIT_MAIN("threads", T(test_concurrent_marks))
