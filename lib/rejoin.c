/* rejoin.c: keeps index_open's handles usable across a panic of the
 * environment (DB_RUNRECOVERY: a process died inside Berkeley DB).  Every
 * call on such a handle runs between enter and leave; a call that meets the
 * panic leaves the environment, waits for its recovery and opens it again
 * (rejoin), and is redone there unless it was part of a unit of work under a
 * key lock (see index_open in index.h).  index.c runs the calls. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index_int.h"
#include "log.h"

/* x 0.5 s: how long a handle that met a panic waits for the supervisor's
 * recovery before it gives up: well above the supervisor's 5 s check plus
 * its recovery (up to 20 s), for when the SIGUSR1 that asks for it now did
 * not arrive. */
#define REJOIN_TRIES 120
#define WATCH_MS     250 /* the background check of a rejoining handle */
/* A thread still inside a Berkeley DB call this long after a panic keeps
 * the old environment in use: no rejoin.  (Blocked on a mutex of a process
 * that died, it never returns: Berkeley DB 5.3 wakes no such waiter.) */
#define HOLD_WAIT_S 10
/* Each rejoin leaves the old handle's memory and descriptors behind. */
#define MAX_REJOINS 16

/* The key locks this thread holds on a rejoining handle, and the generation
 * of the first: a unit of work that a rejoin cut must not go on without its
 * lock.  (One handle per process; a thread holds one key lock at a time.) */
static _Thread_local struct {
    const struct mkv_index *ix;
    unsigned gen;
    int n;
} held;

int rj_enter(struct mkv_index *ix, unsigned *gen)
{
    struct mkv_rejoin *rj = ix->rj;

    *gen = 0;
    if (!rj)
        return 0;
    if (pthread_rwlock_rdlock(&rj->rw) != 0)
        return -1;
    *gen = atomic_load(&rj->gen);
    if (atomic_load(&rj->failed) || (held.n > 0 && held.ix == ix && held.gen != *gen)) {
        pthread_rwlock_unlock(&rj->rw);
        return -1;
    }
    return 0;
}

void rj_leave(struct mkv_index *ix)
{
    if (ix->rj)
        pthread_rwlock_unlock(&ix->rj->rw);
}

void held_lock(struct mkv_index *ix, unsigned gen)
{
    if (ix->rj && held.n++ == 0) {
        held.ix = ix;
        held.gen = gen;
    }
}

void held_unlock(struct mkv_index *ix)
{
    if (ix->rj && held.n > 0)
        held.n--;
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512], *p;
    long ppid = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return 0;
    p = fgets(buf, sizeof(buf), f);
    fclose(f);
    /* "pid (comm) S ppid ...": the fields after the last ')' */
    if (!p || !(p = strrchr(buf, ')')) || sscanf(p + 1, " %*c %ld", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/* An mkv-fcgi supervisor: the process is named so and catches SIGUSR1 (an
 * older one that does not would be killed by it). */
static int is_supervisor(pid_t pid)
{
    char path[64], line[256];
    unsigned long long caught = 0;
    int named = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "Name:", 5))
            named = !strcmp(line + 5 + strspn(line + 5, " \t"), "mkv-fcgi\n");
        else if (!strncmp(line, "SigCgt:", 7))
            caught = strtoull(line + 7, NULL, 16);
    }
    fclose(f);
    return named && (caught & (1ULL << (SIGUSR1 - 1)));
}

/* Asks the supervisors of the processes attached to home (its workers; a
 * supervisor itself never attaches) to check the environment now instead of
 * at their next periodic check: they are the ones that recover it. */
static void ask_supervisors(const char *home)
{
    pid_t pids[256], asked[256];
    int n = index_attached(home, pids, 256), nasked = 0;

    for (int i = 0; i < n; i++) {
        pid_t pp = parent_of(pids[i]);
        int seen = pp <= 1;

        for (int j = 0; j < nasked && !seen; j++)
            seen = asked[j] == pp;
        if (seen)
            continue;
        asked[nasked++] = pp;
        if (is_supervisor(pp) && kill(pp, SIGUSR1) == 0)
            log_info("index: asked the mkv-fcgi supervisor %d to recover the index", (int)pp);
    }
}

/* Leaves the environment of generation gen and joins it again once it is
 * recovered (see index_open).  0 when the handle is of a newer generation,
 * -1 if that cannot be (every call fails from then on). */
static int rejoin(struct mkv_index *ix, unsigned gen)
{
    struct mkv_rejoin *rj = ix->rj;
    struct mkv_index fresh;
    struct timespec until;
    char err[512];
    int ret, rc = -1;

    /* Deadlines on the monotonic clock: a wall clock set back must not
     * stretch the wait. */
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += HOLD_WAIT_S;
    if ((ret = pthread_rwlock_clockwrlock(&rj->rw, CLOCK_MONOTONIC, &until)) != 0) {
        if (!atomic_exchange(&rj->failed, 1))
            log_error("index: cannot rejoin the environment after a panic: a thread stays "
                      "inside Berkeley DB (%s)",
                      strerror(ret));
        atomic_store(&ix->panic, 1);
        return -1;
    }
    if (atomic_load(&rj->gen) != gen || atomic_load(&rj->failed)) {
        rc = atomic_load(&rj->failed) ? -1 : 0; /* another thread did it (or gave up) */
        goto cleanup;
    }
    if (rj->rejoins >= MAX_REJOINS) {
        log_error("index: the environment needed recovery %d times: giving up", rj->rejoins);
        goto failed;
    }
    log_error("index: the environment needs recovery: leaving it, to rejoin it once recovered");
    /* Not closed: closing would flush through mutexes a dead process may
     * hold.  Its regions stay mapped, never touched again. */
    ix->env = NULL;
    ix->db = NULL;
    ix->vdb = NULL;
    /* No thread of ours is inside Berkeley DB (rw): give the registry slot
     * up, so the supervisor's recovery does not wait for us or kill us. */
    registry_release_self(rj->home);
    ask_supervisors(rj->home);
    if (wait_open(&fresh, rj->home, rj->cache_mb, REJOIN_TRIES, 0, err, sizeof(err)) < 0) {
        log_error("index: cannot rejoin the environment: %s", err);
        goto failed;
    }
    index_adopt(ix, &fresh);
    rj->rejoins++;
    /* Commits not flushed may not have reached the log file: the recovery
     * did not see them.  The next index_flush says so. */
    if (atomic_exchange(&rj->unflushed, 0))
        atomic_store(&rj->lost, 1);
    atomic_store(&ix->panic, 0);
    atomic_fetch_add(&rj->gen, 1);
    log_error("index: rejoined the recovered environment");
    rc = 0;
    goto cleanup;

failed:
    atomic_store(&rj->failed, 1);
    atomic_store(&ix->panic, 1);

cleanup:
    pthread_rwlock_unlock(&rj->rw);
    return rc;
}

int rj_redo(struct mkv_index *ix, int *ret, unsigned gen)
{
    if (!ix->rj || *ret != DB_RUNRECOVERY || rejoin(ix, gen) < 0)
        return 0;
    if (held.n > 0 && held.ix == ix) {
        *ret = ERR_STALE;
        return 0;
    }
    return 1;
}

/* A cheap call that fails with DB_RUNRECOVERY once the environment panicked
 * (Berkeley DB checks at every entry).  Returns its result; *gen as enter. */
static int probe(struct mkv_index *ix, unsigned *gen)
{
    u_int32_t id;
    int ret;

    if (rj_enter(ix, gen) < 0)
        return ERR_STALE;
    if ((ret = ix->env->lock_id(ix->env, &id)) == 0)
        ix->env->lock_id_free(ix->env, id);
    rj_leave(ix);
    return ret;
}

/* A process idle in the index (a rebalance's grace, a long copy) learns of a
 * panic from this check, and leaves the environment before the supervisor's
 * recovery would have to kill it. */
static void *watch(void *arg)
{
    struct mkv_index *ix = arg;
    struct mkv_rejoin *rj = ix->rj;

    pthread_mutex_lock(&rj->wmu);
    while (!rj->stop) {
        struct timespec t;
        unsigned gen;

        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += WATCH_MS * 1000000L;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        pthread_cond_clockwait(&rj->wcond, &rj->wmu, CLOCK_MONOTONIC, &t);
        if (rj->stop)
            break;
        pthread_mutex_unlock(&rj->wmu);
        if (probe(ix, &gen) == DB_RUNRECOVERY) {
            atomic_store(&ix->panic, 1);
            rejoin(ix, gen);
        }
        pthread_mutex_lock(&rj->wmu);
    }
    pthread_mutex_unlock(&rj->wmu);
    return NULL;
}

/* Stops the background check and frees the rejoin state. */
void drop_rejoin(struct mkv_index *ix)
{
    struct mkv_rejoin *rj = ix->rj;

    if (!rj)
        return;
    pthread_mutex_lock(&rj->wmu);
    rj->stop = 1;
    pthread_cond_signal(&rj->wcond);
    pthread_mutex_unlock(&rj->wmu);
    pthread_join(rj->watcher, NULL);
    pthread_rwlock_destroy(&rj->rw);
    pthread_mutex_destroy(&rj->wmu);
    pthread_cond_destroy(&rj->wcond);
    free(rj);
    ix->rj = NULL;
}

/* The state's locks.  Writers first on rw: calls that keep coming must not
 * starve a rejoin.  0, or -1 with a reason in err (nothing to destroy). */
static int init_locks(struct mkv_rejoin *rj, const char *home, char *err, size_t errlen)
{
    pthread_rwlockattr_t ra;
    int ret;

    if (pthread_rwlockattr_init(&ra) != 0) {
        snprintf(err, errlen, "index %s: pthread_rwlockattr_init failed", home);
        return -1;
    }
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    ret = pthread_rwlock_init(&rj->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    if (ret != 0 || pthread_mutex_init(&rj->wmu, NULL) != 0 ||
        pthread_cond_init(&rj->wcond, NULL) != 0) {
        snprintf(err, errlen, "index %s: cannot create locks", home);
        return -1;
    }
    return 0;
}

int start_rejoin(struct mkv_index *ix, const char *home, int cache_mb, char *err, size_t errlen)
{
    struct mkv_rejoin *rj;
    int ret;

    if (!(rj = calloc(1, sizeof(*rj)))) {
        snprintf(err, errlen, "index %s: out of memory", home);
        return -1;
    }
    snprintf(rj->home, sizeof(rj->home), "%s", home);
    rj->cache_mb = cache_mb;
    if (init_locks(rj, home, err, errlen) < 0) {
        free(rj);
        return -1;
    }
    ix->rj = rj;
    if ((ret = pthread_create(&rj->watcher, NULL, watch, ix)) != 0) {
        pthread_rwlock_destroy(&rj->rw);
        pthread_mutex_destroy(&rj->wmu);
        pthread_cond_destroy(&rj->wcond);
        free(rj);
        ix->rj = NULL;
        snprintf(err, errlen, "index %s: cannot start a thread: %s", home, strerror(ret));
        return -1;
    }
    return 0;
}

void index_no_rejoin(struct mkv_index *ix)
{
    drop_rejoin(ix);
}

unsigned index_generation(struct mkv_index *ix)
{
    return ix->rj ? atomic_load(&ix->rj->gen) : 0;
}

int index_rejoined(struct mkv_index *ix, unsigned gen)
{
    unsigned now;
    int ret;

    if (!ix->rj)
        return 0;
    /* Waits while a rejoin holds rw; starts one if the handle panicked. */
    ret = probe(ix, &now);
    if (ret == ERR_STALE)
        return 0;
    if (now != gen)
        return 1;
    if (ret == DB_RUNRECOVERY) {
        atomic_store(&ix->panic, 1);
        return rejoin(ix, now) == 0;
    }
    return 0;
}

DB_ENV *index_env_hold(struct mkv_index *ix)
{
    unsigned gen;

    return rj_enter(ix, &gen) == 0 ? ix->env : NULL;
}

void index_env_release(struct mkv_index *ix)
{
    rj_leave(ix);
}
