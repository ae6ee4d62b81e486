/* main.c: mkv-fcgi, the FastCGI key server.
 *
 * Process model: spawn-fcgi (or lighttpd) starts one mkv-fcgi on a listening
 * socket (fd 0).  With workers = N > 0 it becomes a supervisor: it forks N
 * worker processes that accept on the inherited socket and respawns any that
 * die.  The supervisor never holds a Berkeley DB handle itself, so nothing a
 * dead worker left behind can hang it: it forks a short-lived monitor that
 * opens the environment, runs failchk (aborting a dead worker's transactions,
 * freeing its key locks) and checkpoints, after every worker death and every
 * few seconds.  When failchk finds damage it cannot undo (a worker killed
 * inside a Berkeley DB call), the supervisor kills every worker, lets a
 * monitor run recovery alone, and starts fresh workers.  Workers never run
 * recovery themselves.  With workers = 0 the process serves by itself and
 * opens with recovery (lighttpd bin-path spawning supervises it instead).
 *
 * Each worker runs cfg.threads threads, each looping on FCGX_Accept_r. */
#include <curl/curl.h>
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "handlers.h"
#include "index.h"
#include "log.h"
#include "stats.h"

/* In-flight requests get this long after SIGTERM. */
#define GRACE_SECONDS 30
/* Seconds between failchk runs when no worker died. */
#define MONITOR_EVERY 5
/* failchk takes milliseconds; a monitor still busy after this is stuck on a
 * mutex a dead worker held, which means recovery. */
#define MONITOR_TIMEOUT 2
/* Recovery replays the log since the last checkpoint (one a minute). */
#define RECOVER_TIMEOUT 20
/* Seconds between checkpoints. */
#define CHECKPOINT_EVERY 60
/* Seconds an admin tool gets to leave a broken environment by itself before
 * the recovery kills it: its index handle notices within 250 ms, leaves,
 * and rejoins once the environment is recovered (index_open). */
#define DETACH_GRACE 2

/* Set by the signal handler and by any serving thread, read by all: an
 * atomic (lock-free, so async-signal-safe), not a plain flag, which threads
 * would race on. */
static atomic_int stopping;
static volatile sig_atomic_t child_died;
/* SIGUSR1: an admin tool met a broken environment and asks for a check now. */
static volatile sig_atomic_t check_now;
static atomic_int active; /* requests being handled in this process */
/* Worker: threads still serving, and whether one failed to start. */
static atomic_int serving;
static atomic_int failed;

struct server {
    struct mkv_config cfg;
    struct mkv_index ix;
    struct mkv_stats *stats;     /* shared with every worker (created before fork) */
    struct mkv_seen seen;        /* write requests seen lately, shared through the index dir */
    struct sigv4_creds *s3creds; /* setting s3_credentials, read at start; NULL: none */
    int listen_fd;
};

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_chld(int sig)
{
    (void)sig;
    child_died = 1;
}

static void on_check(int sig)
{
    (void)sig;
    check_now = 1;
}

/* SIGUSR2 only wakes a worker's main thread from sigsuspend. */
static void on_wake(int sig)
{
    (void)sig;
}

static void set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* ---- worker process --------------------------------------------------- */

/* Escapes at most max bytes of s (escape_nonprint: the fields stay one
 * word each, and a CR/LF can never start a forged line of the log). */
static const char *log_field(const char *s, size_t len, size_t max, char *out, size_t cap)
{
    if (!s || escape_nonprint(s, len < max ? len : max, out, cap) < 0)
        out[0] = '\0';
    return out;
}

static void log_request(const struct req *r, double ms)
{
    /* Every field comes from the request (or, vol, from the index). */
    char method[3 * 32 + 1], key[3 * 200 + 1], query[3 * 200 + 1], vol[3 * 255 + 1];

    if (log_level() < 1)
        return;
    log_info("%s %s%s%s %d in=%lldB out=%lldB %.1fms%s%s",
             log_field(r->method, r->method ? strlen(r->method) : 0, 32, method, sizeof(method)),
             log_field(r->key, r->klen, 200, key, sizeof(key)), r->query ? "?" : "",
             log_field(r->query, r->query ? strlen(r->query) : 0, 200, query, sizeof(query)),
             r->status, r->bytes_in, r->bytes_out, ms, r->volume[0] ? " vol=" : "",
             log_field(r->volume, strlen(r->volume), 255, vol, sizeof(vol)));
}

/* Any thread: makes the worker stop, waking its main thread (which waits in
 * sigsuspend for exactly this signal, blocked everywhere else). */
static void stop_worker(void)
{
    stopping = 1;
    kill(getpid(), SIGUSR2);
}

static void *serve_thread(void *arg)
{
    struct server *s = arg;
    struct worker w;
    FCGX_Request fr;

    memset(&w, 0, sizeof(w));
    w.cfg = &s->cfg;
    w.ix = &s->ix;
    w.seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&w;
    w.st = s->stats;
    w.seen = &s->seen;
    w.s3creds = s->s3creds;
    if (vclient_init(&w.vc, &s->cfg) < 0) {
        log_error("cannot create a curl client: worker exits");
        atomic_store(&failed, 1);
        stop_worker();
        return NULL;
    }
    w.vc.stats = s->stats;
    if (FCGX_InitRequest(&fr, s->listen_fd, 0) != 0) {
        log_error("FCGX_InitRequest failed: worker exits");
        atomic_store(&failed, 1);
        stop_worker();
        goto done;
    }
    while (!stopping) {
        struct req r;
        double t0;

        if (FCGX_Accept_r(&fr) < 0)
            break;
        atomic_fetch_add(&active, 1);
        t0 = clock_ms();
        memset(&r, 0, sizeof(r));
        r.fr = &fr;
        r.method = param(&r, "REQUEST_METHOD");
        r.uri = param(&r, "REQUEST_URI");
        handle(&w, &r);
        stats_request(s->stats, r.method, r.status, r.bytes_in, r.bytes_out);
        log_request(&r, clock_ms() - t0); /* before Finish: it frees the params */
        FCGX_Finish_r(&fr);
        atomic_fetch_sub(&active, 1);
        if (s->ix.panic) {
            /* The environment needs recovery: exit, the supervisor recovers
             * it and starts a fresh worker. */
            log_error("index needs recovery: worker exits");
            stop_worker();
        }
    }
    /* The last thread to stop serving (accept failed for all) ends the
     * worker too: a process that serves nothing must not linger. */
    if (atomic_fetch_sub(&serving, 1) == 1 && !stopping) {
        log_error("no thread left serving: worker exits");
        atomic_store(&failed, 1);
        stop_worker();
    }
done:
    vclient_free(&w.vc);
    return NULL;
}

/* Serves until SIGTERM, then lets in-flight requests finish. */
static int run_worker(struct server *s)
{
    sigset_t wake, waiting;
    pthread_t tid;
    char err[512];
    int code = 0;

    /* Under a supervisor, recovery is its monitor's job, done while no
     * worker runs; alone, we recover for ourselves. */
    if ((s->cfg.workers > 0
             ? index_open_norecover(&s->ix, s->cfg.db, s->cfg.cache_mb, err, sizeof(err))
             : index_open(&s->ix, s->cfg.db, s->cfg.cache_mb, err, sizeof(err))) < 0) {
        log_error("%s", err);
        return s->ix.panic ? 3 : 1;
    }
    /* A serving process exits on a panic (and is restarted) instead of
     * waiting for a recovery as an admin tool's handle does. */
    index_no_rejoin(&s->ix);
    /* Records placed as this configuration places them are stored without
     * their volumes; without the set they are stored in full. */
    if (index_use_cfg(&s->ix, &s->cfg) != MKV_OK)
        log_error("index: cannot record the volume set: records keep their volumes in full");
    if (s->cfg.s3_credentials[0] &&
        sigv4_creds_load(s->cfg.s3_credentials, &s->s3creds, err, sizeof(err)) < 0) {
        log_error("s3_credentials: %s", err);
        return 1;
    }
    if (seen_open(&s->seen, s->cfg.db) < 0)
        log_error("cannot map %s/%s (%s): a retried write gets 403/404 if its first try "
                  "succeeded",
                  s->cfg.db, MKV_SEEN_FILE, strerror(errno));
    /* SIGTERM, SIGINT and the threads' SIGUSR2 reach the main thread only,
     * in sigsuspend: blocked in every thread (the threads inherit the mask)
     * and outside the wait, so none can arrive between the test of
     * `stopping` and the wait, where pause() would sleep through it. */
    set_handler(SIGUSR2, on_wake);
    signal(SIGUSR1, SIG_IGN); /* the supervisor's, inherited */
    sigemptyset(&wake);
    sigaddset(&wake, SIGTERM);
    sigaddset(&wake, SIGINT);
    sigaddset(&wake, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &wake, &waiting);
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGUSR2);
    atomic_store(&serving, s->cfg.threads);
    for (int i = 0; i < s->cfg.threads; i++) {
        if (pthread_create(&tid, NULL, serve_thread, s) != 0) {
            log_error("pthread_create failed: worker exits");
            atomic_store(&failed, 1);
            stopping = 1;
            break;
        }
        pthread_detach(tid);
    }
    while (!stopping)
        sigsuspend(&waiting);
    for (int i = 0; i < GRACE_SECONDS * 20 && atomic_load(&active) > 0; i++)
        usleep(50000);
    if (s->ix.panic)
        code = 3; /* the supervisor recovers the environment next */
    else if (atomic_load(&failed))
        code = 1; /* respawned (not in a tight loop) by the supervisor */
    index_close(&s->ix);
    /* Threads may still block in accept(): leave without joining them. */
    _exit(code);
}

/* ---- supervisor ------------------------------------------------------ */

static pid_t spawn(struct server *s)
{
    pid_t pid = fork();

    if (pid == 0) {
        set_handler(SIGCHLD, SIG_DFL);
        _exit(run_worker(s));
    }
    if (pid > 0 && s->stats)
        atomic_fetch_add(&s->stats->worker_starts, 1);
    if (pid < 0)
        log_error("fork failed: %s", strerror(errno));
    return pid;
}

static void signal_all(pid_t *pids, int n, int sig)
{
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], sig);
}

/* Reaps one dead worker, if any.  Returns 1 if it did, with *code set to 3
 * when the worker found the environment needing recovery. */
static int reap(pid_t *pids, int n, int *code)
{
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);

    if (pid <= 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            pids[i] = 0;
    *code = 0;
    if (WIFSIGNALED(st)) {
        log_error("worker %d killed by signal %d", (int)pid, WTERMSIG(st));
    } else if (WEXITSTATUS(st) != 0) {
        *code = WEXITSTATUS(st);
        log_error("worker %d exited with status %d", (int)pid, *code);
    }
    return 1;
}

/* A helper child (monitor, checkpointer) must not keep the listening socket
 * open: if its pool is killed while it runs (or hangs on a dead worker's
 * mutex), the front's connections would queue on a socket nobody accepts on,
 * instead of being refused at once and passed to another pool. */
static void drop_listener(struct server *s)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd >= 0 && fd != s->listen_fd) {
        dup2(fd, s->listen_fd);
        close(fd);
    }
}

enum { FAILCHK, RECOVER, RECOVER_FORCED };

/* Runs failchk (or recovery) in a child with its own environment handle,
 * which is killed if it hangs.  Returns 0, or -1 when the environment needs
 * recovery.  RECOVER_FORCED first removes the regions without taking any
 * lock (DB_ENV->remove with DB_FORCE): when a process died holding a region
 * mutex, recovery itself would block attaching to the old regions.  Only
 * for when every worker is gone. */
static int monitor(struct server *s, int mode)
{
    int recover = mode != FAILCHK;
    pid_t pid = fork();
    int st = 0, limit = (recover ? RECOVER_TIMEOUT : MONITOR_TIMEOUT) * 100;

    if (pid == 0) {
        struct mkv_index ix;
        char err[512];
        int rc;

        set_handler(SIGCHLD, SIG_DFL);
        drop_listener(s);
        if (mode == RECOVER_FORCED) {
            DB_ENV *env;
            /* An admin tool retrying its open must not attach to fresh,
             * unrecovered regions between the removal and the recovery:
             * hold registrations off (the recovery's own registration, in
             * this process, passes and ends the hold). */
            index_hold_registrations(s->cfg.db);
            if (db_env_create(&env, 0) == 0)
                env->remove(env, s->cfg.db, DB_FORCE);
        }
        rc = recover ? index_recover(&ix, s->cfg.db, s->cfg.cache_mb, err, sizeof(err))
                     : index_open_norecover(&ix, s->cfg.db, s->cfg.cache_mb, err, sizeof(err));
        if (rc < 0) {
            log_error("monitor: %s", err);
            _exit(3);
        }
        if (index_failchk(&ix) != MKV_OK)
            _exit(3);
        index_close(&ix);
        _exit(0);
    }
    if (pid < 0) {
        log_error("fork failed: %s", strerror(errno));
        return 0;
    }
    for (int i = 0; i < limit; i++) {
        pid_t got = waitpid(pid, &st, WNOHANG);
        if (got == pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
        usleep(10000);
    }
    log_error("monitor %d stuck in Berkeley DB: killed", (int)pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Starts a checkpoint in the background (it may take a while to write the
 * cache out; nothing waits for it).  Returns its pid. */
static pid_t checkpoint(struct server *s)
{
    pid_t pid = fork();

    if (pid == 0) {
        struct mkv_index ix;
        char err[512];

        set_handler(SIGCHLD, SIG_DFL);
        drop_listener(s);
        if (index_open_norecover(&ix, s->cfg.db, s->cfg.cache_mb, err, sizeof(err)) < 0)
            _exit(ix.panic ? 3 : 1);
        index_checkpoint(&ix, 0, 0);
        index_close(&ix);
        _exit(ix.panic ? 3 : 0);
    }
    return pid > 0 ? pid : 0;
}

/* Whether pid is an mkv-fcgi process (a worker of another pool). */
static int is_mkv_fcgi(pid_t pid)
{
    char path[64], name[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if (!(f = fopen(path, "r")))
        return 0;
    if (!fgets(name, sizeof(name), f))
        name[0] = '\0';
    fclose(f);
    return !strcmp(name, "mkv-fcgi\n");
}

static void detach_others(struct server *s)
{
    pid_t pids[256];
    int n;

    /* Admin tools leave by themselves and come back after the recovery
     * (DETACH_GRACE); workers of other pools cannot (they exit on a panic
     * only once a request meets it), and are killed at once. */
    for (int t = 0; t < DETACH_GRACE * 10; t++) {
        int tools = 0;

        n = index_attached(s->cfg.db, pids, 256);
        for (int i = 0; i < n; i++) {
            if (!is_mkv_fcgi(pids[i])) {
                tools++;
                continue;
            }
            log_error("recovery: killing pid %d, still attached to the index", (int)pids[i]);
            kill(pids[i], SIGKILL);
        }
        if (tools == 0)
            break;
        usleep(100000);
    }
    n = index_attached(s->cfg.db, pids, 256);
    for (int i = 0; i < n; i++) {
        log_error("recovery: killing pid %d, still attached to the index", (int)pids[i]);
        kill(pids[i], SIGKILL);
    }
    for (int i = 0; i < 50 && n > 0; i++) {
        usleep(100000);
        n = index_attached(s->cfg.db, pids, 256);
    }
    if (n > 0)
        log_error("recovery: %d process(es) still attached after SIGKILL", n);
}

/* Stops every worker and recovers the environment with none attached. */
static void recover(struct server *s, pid_t *pids, int n)
{
    log_error("index needs recovery: stopping all workers");
    signal_all(pids, n, SIGKILL);
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            waitpid(pids[i], NULL, 0);
    memset(pids, 0, (size_t)n * sizeof(*pids));
    /* Recovery removes the regions: every process still attached (another
     * worker pool on the same index, an admin tool) would go on in regions
     * nobody else sees.  They cannot go on anyway, the environment is
     * broken: make them go.  Pools' supervisors respawn their workers, and
     * the admin tools can be rerun (they are idempotent). */
    detach_others(s);
    /* Every worker is gone: recovery may remove the regions without the
     * mutexes a dead worker may hold (DB_RECOVER removes them anyway). */
    for (int tries = 0; monitor(s, RECOVER_FORCED) < 0 && !stopping; tries++) {
        log_error("recovery failed (attempt %d); retrying", tries + 1);
        sleep(1);
    }
    log_error("index recovered");
}

/* Seconds on the monotonic clock: the supervisor's periods must not
 * stretch or shrink when the wall clock is set. */
static double now_s(void)
{
    return clock_ms() / 1000.0;
}

static int run_supervisor(struct server *s)
{
    pid_t pids[257] = {0}; /* the workers, then the checkpointer */
    double started[256] = {0}, checked = 0, ckpt_at = now_s();
    int n = s->cfg.workers;
    pid_t *ckpt = &pids[n];

    set_handler(SIGCHLD, on_chld);
    set_handler(SIGUSR1, on_check);
    /* Recover (if a previous run died badly) before any worker attaches. */
    if (monitor(s, RECOVER) < 0 && monitor(s, RECOVER_FORCED) < 0) {
        log_error("cannot open or recover the index in %s", s->cfg.db);
        return 1;
    }
    checked = now_s();
    while (!stopping) {
        int died = 0, code = 0, needs = 0;

        while (reap(pids, n + 1, &code)) {
            died = 1;
            needs |= code == 3;
        }
        child_died = 0;
        if (check_now) {
            check_now = 0;
            needs = 1;
        }
        /* Reaped first: a zombie would still pass kill(pid, 0). */
        if (died || needs || now_s() - checked >= MONITOR_EVERY) {
            /* A worker that saw a broken environment (needs) may have seen
             * it before another pool's supervisor recovered it: check. */
            if (monitor(s, FAILCHK) < 0) {
                recover(s, pids, n + 1);
                memset(started, 0, sizeof(started));
            }
            checked = now_s();
        }
        if (*ckpt == 0 && now_s() - ckpt_at >= CHECKPOINT_EVERY) {
            *ckpt = checkpoint(s);
            ckpt_at = now_s();
        } else if (*ckpt > 0 && now_s() - ckpt_at > RECOVER_TIMEOUT) {
            kill(*ckpt, SIGKILL); /* stuck: reaped (and counted) above */
        }
        for (int i = 0; i < n && !stopping; i++) {
            if (pids[i] > 0)
                continue;
            /* A worker that dies at once is not restarted in a tight loop. */
            if (now_s() - started[i] < 1)
                continue;
            started[i] = now_s();
            pids[i] = spawn(s);
        }
        if (!child_died && !stopping)
            usleep(200000);
    }
    signal_all(pids, n + 1, SIGTERM);
    for (int i = 0; i < (GRACE_SECONDS + 2) * 10; i++) {
        int alive = 0, code;
        while (reap(pids, n + 1, &code))
            ;
        for (int j = 0; j < n + 1; j++)
            alive += pids[j] > 0;
        if (!alive)
            break;
        usleep(100000);
    }
    signal_all(pids, n + 1, SIGKILL);
    while (reap(pids, n + 1, &(int){0}))
        ;
    monitor(s, FAILCHK); /* leave no dead worker's locks behind */
    return 0;
}

int main(int argc, char **argv)
{
    static struct server s;
    char err[512];

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            config_usage(argv[0]);
            return 0;
        }
    if (config_load(&s.cfg, argc, argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-fcgi: %s\n", err);
        return 2;
    }
    log_set_level(s.cfg.log_level);
    index_set_compress(s.cfg.index_compress);
    if (s.cfg.log_file[0] && log_to_file(s.cfg.log_file) < 0) {
        fprintf(stderr, "mkv-fcgi: cannot open log file %s: %s\n", s.cfg.log_file, strerror(errno));
        return 1;
    }
    /* libfcgi installs its own SIGTERM handler (which only sets a flag) when
     * it finds SIG_DFL: install ours first so SIGTERM stops an idle worker. */
    set_handler(SIGTERM, on_term);
    set_handler(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || FCGX_Init() != 0) {
        fprintf(stderr, "mkv-fcgi: library initialisation failed\n");
        return 1;
    }
    s.listen_fd = 0;
    if (s.cfg.listen[0]) {
        s.listen_fd = FCGX_OpenSocket(s.cfg.listen, 1024);
        if (s.listen_fd < 0) {
            fprintf(stderr, "mkv-fcgi: cannot listen on %s\n", s.cfg.listen);
            return 1;
        }
    }
    s.stats = stats_create();
    if (!s.stats)
        log_error("cannot map shared statistics: /?stats disabled");
    if (s.cfg.workers == 0)
        return run_worker(&s);
    return run_supervisor(&s);
}
