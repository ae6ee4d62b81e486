/* dbfault.c: an LD_PRELOAD shim for the fault tests: Berkeley DB failures
 * in the process it is preloaded into, each driven by a flag file named in
 * the environment.  Everything else passes through.
 *
 * MKV_DBFAULT_PANIC: when the file appears, the process marks the shared
 *   environment as needing recovery (DB_PANIC_ENVIRONMENT, as a process
 *   that died inside Berkeley DB leaves it: every process attached then gets
 *   DB_RUNRECOVERY) and removes the file.  Watched every 10 ms by a thread
 *   started with the first environment handle.
 * MKV_DBFAULT_DIE: while the file exists, the first fsync/fdatasync of a log
 *   file removes it and kills the process (SIGKILL): it dies inside a commit,
 *   holding Berkeley DB's log flush.  Not in a child it forks (index_open
 *   probes the environment in one).
 * MKV_DBFAULT_GET: while the file exists, DB->get answers DB_RUNRECOVERY in
 *   this process only (the environment itself stays sound).
 * MKV_DBFAULT_CURL: while the file exists, curl_multi_init fails (NULL). */
#include <db.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logfile.h"

static int flagged(const char *var)
{
    const char *flag = getenv(var);

    return flag != NULL && access(flag, F_OK) == 0;
}

static void *real(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);

    if (fn == NULL) {
        fprintf(stderr, "dbfault: no %s\n", name);
        abort();
    }
    return fn;
}

/* ---- MKV_DBFAULT_PANIC ---------------------------------------------------- */

static _Atomic(DB_ENV *) last_env; /* the newest handle: a rejoin makes another */

static void *watch_panic(void *arg)
{
    const struct timespec tick = {0, 10000000};
    const char *flag = getenv("MKV_DBFAULT_PANIC");

    (void)arg;
    for (;;) {
        DB_ENV *env = atomic_load(&last_env);

        if (env != NULL && access(flag, F_OK) == 0 && unlink(flag) == 0) {
            fprintf(stderr, "dbfault: pid %d panics the environment\n", (int)getpid());
            env->set_flags(env, DB_PANIC_ENVIRONMENT, 1);
        }
        nanosleep(&tick, NULL);
    }
    return NULL;
}

static void start_watch(void)
{
    pthread_t tid;

    if (getenv("MKV_DBFAULT_PANIC") && pthread_create(&tid, NULL, watch_panic, NULL) == 0)
        pthread_detach(tid);
}

int db_env_create(DB_ENV **envp, u_int32_t flags)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int (*fn)(DB_ENV **, u_int32_t) = (int (*)(DB_ENV **, u_int32_t))real("db_env_create");
    int ret = fn(envp, flags);

    if (ret == 0) {
        atomic_store(&last_env, *envp);
        pthread_once(&once, start_watch);
    }
    return ret;
}

/* ---- MKV_DBFAULT_GET ------------------------------------------------------- */

static int (*real_get)(DB *, DB_TXN *, DBT *, DBT *, u_int32_t);

static int failing_get(DB *db, DB_TXN *txn, DBT *key, DBT *data, u_int32_t flags)
{
    if (flagged("MKV_DBFAULT_GET"))
        return DB_RUNRECOVERY;
    return real_get(db, txn, key, data, flags);
}

int db_create(DB **dbp, DB_ENV *env, u_int32_t flags)
{
    int (*fn)(DB **, DB_ENV *, u_int32_t) = (int (*)(DB **, DB_ENV *, u_int32_t))real("db_create");
    int ret = fn(dbp, env, flags);

    if (ret == 0 && getenv("MKV_DBFAULT_GET")) {
        real_get = (*dbp)->get;
        (*dbp)->get = failing_get;
    }
    return ret;
}

/* ---- MKV_DBFAULT_DIE ------------------------------------------------------- */

static pid_t loaded_in;

__attribute__((constructor)) static void loaded(void)
{
    loaded_in = getpid();
}

static void maybe_die(int fd)
{
    const char *flag = getenv("MKV_DBFAULT_DIE");

    if (flag && getpid() == loaded_in && access(flag, F_OK) == 0 && is_db_log_file(fd) &&
        unlink(flag) == 0)
        kill(getpid(), SIGKILL);
}

int fdatasync(int fd)
{
    maybe_die(fd);
    return ((int (*)(int))real("fdatasync"))(fd);
}

int fsync(int fd)
{
    maybe_die(fd);
    return ((int (*)(int))real("fsync"))(fd);
}

/* ---- MKV_DBFAULT_CURL ------------------------------------------------------ */

void *curl_multi_init(void)
{
    if (flagged("MKV_DBFAULT_CURL"))
        return NULL;
    return ((void *(*)(void))real("curl_multi_init"))();
}
