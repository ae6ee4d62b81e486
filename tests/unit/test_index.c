/* test_index.c: opening the shared environment after a process died in it,
 * on a real Berkeley DB environment in a temporary directory. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "index.h"
#include "placement.h"
#include "seen.h"
#include "unit.h"

static char home[64];

static void make_home(void)
{
    snprintf(home, sizeof(home), "/tmp/mkv-unit-index-XXXXXX");
    if (!mkdtemp(home)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_home(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", home);
}

static int put_one(struct mkv_index *ix, const char *key)
{
    struct mkv_record r = {.deleted = 0, .hash = "", .nvols = 1, .vols = {"localhost:3001/sv01"}};
    return index_put(ix, key, strlen(key), &r);
}

/* A child opens the environment, writes, marks the environment as needing
 * recovery (as a process killed while holding a region mutex leaves it) and
 * is killed without closing. */
static void child_breaks_env(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        struct mkv_index ix;
        char err[256];
        if (index_open_norecover(&ix, home, 8, err, sizeof(err)) < 0 || put_one(&ix, "/b") != 0)
            _exit(1);
        ix.env->set_flags(ix.env, DB_PANIC_ENVIRONMENT, 1);
        kill(getpid(), SIGKILL);
    }
    CHECK(pid > 0);
    waitpid(pid, NULL, 0);
}

static void test_reopen_after_failed_open(void)
{
    struct mkv_index ix;
    struct mkv_record r;
    char err[512];

    make_home();
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) == 0);
    CHECK(put_one(&ix, "/a") == 0);
    index_close(&ix);
    child_breaks_env();

    /* Without recovery the open fails and says recovery is needed ... */
    CHECK(index_open_norecover(&ix, home, 8, err, sizeof(err)) < 0);
    CHECK(ix.panic);
    /* ... and the same process may try again: the failed open left no slot
     * of ours behind (Berkeley DB would refuse a second registration). */
    CHECK(index_open_norecover(&ix, home, 8, err, sizeof(err)) < 0);
    CHECK(ix.panic && strstr(err, "Invalid argument") == NULL);
    /* index_open sees nobody else attached and recovers at once. */
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) == 0);
    CHECK(index_get(&ix, "/a", 2, &r) == MKV_OK);
    CHECK(index_get(&ix, "/b", 2, &r) == MKV_OK);
    CHECK(put_one(&ix, "/c") == 0);
    index_close(&ix);
    remove_home();
}

/* While another live process is attached, index_open does not recover under
 * it; it waits, then fails with a reason naming the others. */
static void test_no_recovery_under_live_process(void)
{
    struct mkv_index ix;
    char err[512];
    int ready[2];
    pid_t holder;

    make_home();
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) == 0);
    index_close(&ix);
    CHECK(pipe(ready) == 0);
    holder = fork();
    if (holder == 0) {
        struct mkv_index h;
        char e[256];
        int ok = index_open_norecover(&h, home, 8, e, sizeof(e)) == 0;
        if (write(ready[1], &ok, sizeof(ok)) != sizeof(ok))
            _exit(1);
        pause();
        _exit(0);
    }
    int ok = 0;
    CHECK(read(ready[0], &ok, sizeof(ok)) == sizeof(ok) && ok);
    child_breaks_env();
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) < 0);
    CHECK(strstr(err, "1 other process is attached") != NULL);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    /* Everyone gone: the next open recovers. */
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) == 0);
    index_close(&ix);
    close(ready[0]);
    close(ready[1]);
    remove_home();
}

/* A key lock held by a live process is refused at once; held by a process
 * that died (a zombie, not yet reaped), index_lock_after_dead waits until
 * failchk frees it, and then takes it. */
static void test_lock_after_dead_holder(void)
{
    struct mkv_index ix;
    struct mkv_keylock kl;
    char err[512];
    int ready[2], ok = 0;
    pid_t holder;

    make_home();
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) == 0);
    CHECK(pipe(ready) == 0);
    holder = fork();
    if (holder == 0) {
        struct mkv_index h;
        struct mkv_keylock hl;
        char e[256];
        int got = index_open_norecover(&h, home, 8, e, sizeof(e)) == 0 &&
                  index_lock(&h, "/k", 2, &hl) == MKV_OK;
        if (write(ready[1], &got, sizeof(got)) != sizeof(got))
            _exit(1);
        pause();
        _exit(0);
    }
    CHECK(read(ready[0], &ok, sizeof(ok)) == sizeof(ok) && ok);
    /* alive: busy, and no waiting */
    CHECK(index_lock(&ix, "/k", 2, &kl) == MKV_BUSY);
    CHECK(index_lock_after_dead(&ix, "/k", 2, &kl, 2000) == MKV_BUSY);
    /* dead but not reaped: still busy until failchk runs (here: a child
     * that reaps it and runs failchk after 300 ms, as a supervisor would) */
    kill(holder, SIGKILL);
    pid_t checker = fork();
    if (checker == 0) {
        struct mkv_index c;
        char e[256];
        usleep(300000);
        waitpid(holder, NULL, 0); /* not our child: fails, the parent reaps */
        if (index_open_norecover(&c, home, 8, e, sizeof(e)) < 0)
            _exit(1);
        _exit(index_failchk(&c) == MKV_OK ? 0 : 1);
    }
    usleep(100000);
    CHECK(index_lock(&ix, "/k", 2, &kl) == MKV_BUSY);
    /* reap the holder so that is_alive sees it gone, as the supervisor does */
    waitpid(holder, NULL, 0);
    CHECK(index_lock_after_dead(&ix, "/k", 2, &kl, 5000) == MKV_OK);
    index_unlock(&ix, &kl);
    int st = 0;
    waitpid(checker, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    index_close(&ix);
    close(ready[0]);
    close(ready[1]);
    remove_home();
}

/* An admin tool in another thread: takes the key, holds it 300 ms.  (Key
 * locks are a thread's own: index_unlock from the thread that took it.) */
struct admin_thread {
    struct mkv_index *ix;
    int taken[2];
};

static void *hold_300ms(void *arg)
{
    struct admin_thread *a = arg;
    struct mkv_keylock kl;
    int ok = index_lock_admin(a->ix, "/k", 2, &kl) == MKV_OK;

    if (write(a->taken[1], &ok, sizeof(ok)) != sizeof(ok))
        ok = 0;
    usleep(300000);
    if (ok)
        index_unlock(a->ix, &kl);
    return NULL;
}

/* A key held by an admin tool (index_lock_admin) is waited for by a client's
 * write (index_lock_behind_admin) until the tool lets go; a key held by a
 * client is refused at once, to the tool too, which then leaves no marker. */
static void test_lock_behind_admin(void)
{
    struct mkv_index ix;
    struct mkv_keylock admin, client, other;
    struct admin_thread a = {&ix, {-1, -1}};
    char err[512];
    pthread_t t;
    double t0;
    int ok = 0;

    make_home();
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) == 0);
    /* a client's hold: busy at once, for the tool too */
    CHECK(index_lock(&ix, "/k", 2, &other) == MKV_OK);
    t0 = clock_ms();
    CHECK(index_lock_behind_admin(&ix, "/k", 2, &client, 5000) == MKV_BUSY);
    CHECK(index_lock_admin(&ix, "/k", 2, &admin) == MKV_BUSY);
    CHECK(index_lock_behind_admin(&ix, "/k", 2, &client, 5000) == MKV_BUSY);
    CHECK(clock_ms() - t0 < 1000);
    index_unlock(&ix, &other);
    /* the tool's hold: waited for, then taken */
    CHECK(pipe(a.taken) == 0);
    CHECK(pthread_create(&t, NULL, hold_300ms, &a) == 0);
    CHECK(read(a.taken[0], &ok, sizeof(ok)) == sizeof(ok) && ok);
    CHECK(index_lock(&ix, "/k", 2, &client) == MKV_BUSY);
    CHECK(index_lock_behind_admin(&ix, "/k", 2, &client, 50) == MKV_BUSY);
    t0 = clock_ms();
    CHECK(index_lock_behind_admin(&ix, "/k", 2, &client, 5000) == MKV_OK);
    CHECK(clock_ms() - t0 >= 150);
    CHECK(pthread_join(t, NULL) == 0);
    index_unlock(&ix, &client);
    close(a.taken[0]);
    close(a.taken[1]);
    index_close(&ix);
    remove_home();
}

static void test_seen_marks_retries(void)
{
    struct mkv_seen a, b;
    const char *id = "0123456789abcdef0123456789ABCDEF";

    make_home();
    CHECK(seen_open(&a, home) == 0);
    CHECK(seen_open(&b, home) == 0); /* another process's mapping */
    CHECK(seen_mark(&a, id) == 0);
    CHECK(seen_mark(&b, id) == 1);
    CHECK(seen_mark(&a, "fedcba9876543210fedcba9876543210") == 0);
    /* not 32 hex digits: never a retry */
    CHECK(seen_mark(&a, "") == 0 && seen_mark(&a, "") == 0);
    CHECK(seen_mark(&a, "0123456789abcdef0123456789abcdeg") == 0);
    CHECK(seen_mark(&a, "0123456789abcdef0123456789abcdeg") == 0);
    CHECK(seen_mark(&a, NULL) == 0);
    seen_close(&a);
    seen_close(&b);
    CHECK(seen_mark(&a, id) == 0); /* closed: unavailable */
    remove_home();
}

/* A handle of index_open that meets a panic rejoins the environment once it
 * is recovered (here by itself: nobody else is attached).  A unit of work
 * holding a key lock across the rejoin fails and is to be redone
 * (index_rejoined); calls outside one go on, on the new handle. */
static void test_rejoin_after_panic(void)
{
    struct mkv_index ix;
    struct mkv_keylock kl;
    struct mkv_record r;
    char err[512];
    unsigned gen;

    make_home();
    CHECK(index_open(&ix, home, 8, err, sizeof(err)) == 0);
    CHECK(put_one(&ix, "/a") == 0);
    gen = index_generation(&ix);
    CHECK(index_lock(&ix, "/k", 2, &kl) == MKV_OK);
    child_breaks_env();
    CHECK(put_one(&ix, "/k") == MKV_ERR); /* its lock went with the old environment */
    index_unlock(&ix, &kl);
    CHECK(index_rejoined(&ix, gen) == 1);
    CHECK(index_generation(&ix) == gen + 1 && !ix.panic);
    CHECK(index_get(&ix, "/a", 2, &r) == MKV_OK);
    CHECK(index_get(&ix, "/b", 2, &r) == MKV_OK); /* the child's durable write */
    CHECK(index_get(&ix, "/k", 2, &r) == MKV_NOTFOUND);
    CHECK(index_lock(&ix, "/k", 2, &kl) == MKV_OK);
    CHECK(put_one(&ix, "/k") == 0);
    index_unlock(&ix, &kl);
    CHECK(index_rejoined(&ix, gen + 1) == 0); /* nothing to redo */
    /* Outside a unit, a call that meets the panic is redone at once. */
    child_breaks_env();
    CHECK(index_get(&ix, "/k", 2, &r) == MKV_OK);
    CHECK(index_generation(&ix) == gen + 2);
    index_close(&ix);
    remove_home();
}

/* Records keep every field through the stored form: implied volumes (the
 * placement over the set in use), explicit ones, a name another handle
 * added after this one read the table, size, time and optional fields. */
static void stored_form(void)
{
    static char *vols[] = {"localhost:3001", "localhost:3002", "localhost:3003"};
    static struct mkv_record r, got;
    struct mkv_placement p;
    struct mkv_index a, b;
    char err[256];

    make_home();
    CHECK(index_open(&a, home, 8, err, sizeof(err)) == 0);
    CHECK(index_open(&b, home, 8, err, sizeof(err)) == 0);
    CHECK(index_use_placement(&a, vols, 3, 2, 10) == MKV_OK);
    CHECK(key2volumes_list(vols, 3, 2, 10, "/k", 2, &p) == 0);
    memset(&r, 0, sizeof(r));
    strcpy(r.hash, "5d41402abc4b2a76b9719d911017c592");
    record_set_vols(&r, &p);
    r.has_size = 1;
    r.size = 5;
    r.mtime = 1764590000;
    r.extlen = 3;
    memcpy(r.ext, "\x07\x01z", 3);
    CHECK(index_put(&a, "/k", 2, &r) == MKV_OK);
    CHECK(index_get(&b, "/k", 2, &got) == MKV_OK); /* b learns the set from the table */
    CHECK(got.nvols == 2 && !strcmp(got.vols[0], p.vols[0]) && !strcmp(got.vols[1], p.vols[1]));
    CHECK(got.has_size && got.size == 5 && got.mtime == r.mtime && got.extlen == 3 &&
          !memcmp(got.ext, r.ext, 3) && !strcmp(got.hash, r.hash));
    CHECK(!index_placed(&b, &got)); /* b writes with no set */
    CHECK(index_get(&a, "/k", 2, &got) == MKV_OK && index_placed(&a, &got));
    /* explicit: a volume no set names, written by b, read by a */
    memset(&r, 0, sizeof(r));
    r.deleted = 1;
    r.nvols = 2;
    strcpy(r.vols[0], "newhost:4000/sv0B");
    strcpy(r.vols[1], "localhost:3001/sv001"); /* not the original's form: kept as is */
    CHECK(index_put(&b, "/e", 2, &r) == MKV_OK);
    CHECK(index_get(&a, "/e", 2, &got) == MKV_OK);
    CHECK(got.deleted && got.nvols == 2 && !strcmp(got.vols[0], "newhost:4000/sv0B") &&
          !strcmp(got.vols[1], "localhost:3001/sv001") && !got.has_size && got.hash[0] == '\0');
    CHECK(!index_placed(&a, &got));
    CHECK(index_exists(&a, "/e", 2) == MKV_OK && index_exists(&a, "/none", 5) == MKV_NOTFOUND);
    index_close(&b);
    index_close(&a);
    remove_home();
}

static void test_stored_form(void)
{
    index_set_compress(0);
    stored_form();
}

/* The same through a compressed records file (recbin_compress). */
static void test_stored_form_compressed(void)
{
    index_set_compress(1);
    stored_form();
    index_set_compress(0);
}

UNIT_MAIN("index", T(test_stored_form), T(test_stored_form_compressed),
          T(test_reopen_after_failed_open), T(test_no_recovery_under_live_process),
          T(test_lock_after_dead_holder), T(test_lock_behind_admin), T(test_seen_marks_retries),
          T(test_rejoin_after_panic))
