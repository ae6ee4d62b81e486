/* index.c: Berkeley DB environment, records, key locks and scans.  The
 * rejoining of index_open's handles after a panic, and the enter/leave
 * bracket every call here runs in, are lib/rejoin.c's (lib/index_int.h). */
#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "hex.h"
#include "index_int.h"
#include "log.h"
#include "md5.h"
#include "placement.h"
#include "recbin.h"
#include "voltab.h"

#define OPEN_TRIES 40 /* x 0.5 s: how long index_open waits for a recovery */
/* Deadlocks are retried.  In the compressed B-tree a put reads a page
 * before it writes it, so two puts into one leaf meet often under load:
 * each retry waits a little longer, at random, so they stop meeting. */
#define RETRIES  20
#define REDO_MAX 3 /* a call redone on rejoined handles at most this often */
/* Threads of control tracked for failchk: worker processes x threads plus
 * admin tools.  Entries of dead processes are reclaimed by failchk. */
#define THREAD_COUNT 1024

static const char lock_prefix[] = "mkv-key:";
static const char admin_prefix[] = "mkv-admin:"; /* marks an admin tool's key lock */

static void note(struct mkv_index *ix, int ret, const char *what)
{
    if (ret == ERR_STALE) {
        log_error("index: %s: the handle rejoined the environment after a recovery (the key "
                  "lock held went with the old one), or could not",
                  what);
        return;
    }
    if (ret == DB_RUNRECOVERY)
        atomic_store(&ix->panic, 1);
    log_error("index: %s: %s", what, db_strerror(ret));
}

/* failchk asks whether the thread of control (pid, tid) still exists.  Our
 * threads live as long as their process, so the process is what counts. */
static int is_alive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
    (void)env;
    (void)tid;
    (void)flags;
    if (pid == getpid())
        return 1;
    return kill(pid, 0) == 0 || errno == EPERM;
}

static void db_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    log_error("bdb: %s", msg);
}

static void db_msgcall(const DB_ENV *env, const char *msg)
{
    (void)env;
    log_info("bdb: %s", msg);
}

static void close_handles(struct mkv_index *ix)
{
    if (ix->db)
        ix->db->close(ix->db, 0);
    if (ix->vdb)
        ix->vdb->close(ix->vdb, 0);
    if (ix->env)
        ix->env->close(ix->env, 0);
    ix->db = NULL;
    ix->vdb = NULL;
    ix->env = NULL;
    if (ix->vt) {
        voltab_free(ix->vt);
        free(ix->vt);
        ix->vt = NULL;
    }
}

void index_adopt(struct mkv_index *ix, struct mkv_index *fresh)
{
    ix->env = fresh->env;
    ix->db = fresh->db;
    ix->vdb = fresh->vdb;
    ix->old_format = fresh->old_format;
    /* Entries are only ever added: the old table stays right. */
    if (fresh->vt) {
        voltab_free(fresh->vt);
        free(fresh->vt);
    }
}

/* index_compress's default (lib/config.c), for programs that set none. */
static int create_compressed = 1;

void index_set_compress(int on)
{
    create_compressed = on;
}

/* volumes.db's note of how the records file was made. */
static const char form_key[] = "f";

/* Reads the note, writing the wanted one first if there is none (a new
 * index): 1 compressed, 0 plain, or a Berkeley DB error (negated). */
static int records_form(DB_ENV *env, DB *vdb)
{
    char want = create_compressed ? 'c' : 'p', buf[8];
    DBT k, v;
    int ret;

    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = (void *)form_key;
    k.size = 1;
    v.data = &want;
    v.size = 1;
    ret = vdb->put(vdb, NULL, &k, &v, DB_NOOVERWRITE | DB_AUTO_COMMIT);
    if (ret != 0 && ret != DB_KEYEXIST)
        return -ret;
    v.data = buf;
    v.ulen = sizeof(buf);
    v.flags = DB_DBT_USERMEM;
    if ((ret = vdb->get(vdb, NULL, &k, &v, 0)) != 0)
        return -ret;
    (void)env;
    return v.size == 1 && buf[0] == 'c';
}

int open_records(DB_ENV *env, DB *vdb, const char *file, u_int32_t flags, DB **out)
{
    u_int32_t envflags = 0;
    DB *db = NULL;
    int ret, compressed = vdb ? records_form(env, vdb) : 0;

    *out = NULL;
    if (compressed < 0)
        return -compressed;
    if ((ret = db_create(&db, env, 0)) != 0)
        return ret;
    /* Compressed: 8 KiB pages (4 KiB pages hold runs too short to share
     * much, 16 KiB ones make each lookup decode twice the bytes). */
    if ((compressed &&
         ((ret = db->set_pagesize(db, 8192)) != 0 ||
          (ret = db->set_bt_compress(db, recbin_compress, recbin_decompress)) != 0)) ||
        (ret = env->get_open_flags(env, &envflags)) != 0 ||
        (ret = db->open(db, NULL, file, NULL, DB_BTREE,
                        flags | DB_AUTO_COMMIT | (envflags & DB_THREAD), 0600)) != 0) {
        db->close(db, 0);
        return ret;
    }
    *out = db;
    return 0;
}

static int allow_old;

void index_allow_old_format(void)
{
    allow_old = 1;
}

static int file_exists(const char *home, const char *name)
{
    char path[PATH_MAX];

    return snprintf(path, sizeof(path), "%s/%s", home, name) < (int)sizeof(path) &&
           access(path, F_OK) == 0;
}

/* The volume table and the records (or, for an index of mkv 0.1, neither
 * records nor an error: old_format). */
static int open_files(struct mkv_index *ix, const char *home, const char **step)
{
    int ret;

    *step = "DB->open volumes.db";
    if ((ret = db_create(&ix->vdb, ix->env, 0)) != 0 ||
        (ret = ix->vdb->open(ix->vdb, NULL, "volumes.db", NULL, DB_BTREE,
                             DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0600)) != 0)
        return ret;
    *step = "reading volumes.db";
    if (!(ix->vt = malloc(sizeof(*ix->vt))) || voltab_init(ix->vt) < 0) {
        free(ix->vt);
        ix->vt = NULL;
        return ENOMEM;
    }
    if ((ret = voltab_load(ix->vt, ix->vdb)) != 0)
        return ret;
    *step = "DB->open records.db";
    if (!file_exists(home, "records.db") && file_exists(home, "index.db")) {
        ix->old_format = 1;
        return 0;
    }
    return open_records(ix->env, ix->vdb, "records.db", DB_CREATE, &ix->db);
}

/* The DB_REGISTER registry, __db.register, holds one 25-byte slot per process
 * that has the environment open: its pid as "%24lu\n", or "X...0\n" once it
 * closed.  Each live process holds a one-byte fcntl lock on the first byte of
 * its slot; byte 1 serializes registrations.  (Berkeley DB 5.3,
 * env/env_register.c: a frozen format.)  We read it for two things Berkeley
 * DB has no call for: to clear our own slot after a failed open, and to ask
 * whether anyone else is attached before recovering. */
#define SLOT_LEN 25

static int registry_open(const char *home)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/__db.register", home) >= (int)sizeof(path))
        return -1;
    return open(path, O_RDWR | O_CLOEXEC);
}

static int range_lock(int fd, int cmd, short type, off_t start, struct flock *out)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = 1};
    int ret;

    while ((ret = fcntl(fd, cmd, &fl)) < 0 && errno == EINTR)
        ;
    if (out)
        *out = fl;
    return ret;
}

/* An open that fails after registering leaves our pid in the registry (the
 * handle's close does not clear it), and any later open in this process is
 * refused with "DB_REGISTER limits processes to one open DB_ENV handle".
 * The slot must not simply be emptied: the failed open may have taken over
 * the slot of a dead process, and that slot is what tells the next opener to
 * recover.  So our pid becomes pid 0: never anyone's, never locked, read by
 * Berkeley DB as a process that died.  Only called while this process has
 * no handle open: closing fd drops every fcntl lock we hold on the file. */
void registry_release_self(const char *home)
{
    char mine[SLOT_LEN + 1], dead[SLOT_LEN + 1], slot[SLOT_LEN];
    int fd = registry_open(home);

    if (fd < 0)
        return;
    snprintf(mine, sizeof(mine), "%24lu\n", (unsigned long)getpid());
    snprintf(dead, sizeof(dead), "%24lu\n", 0UL);
    if (range_lock(fd, F_SETLKW, F_WRLCK, 1, NULL) == 0) {
        for (off_t off = 0; pread(fd, slot, SLOT_LEN, off) == SLOT_LEN; off += SLOT_LEN)
            if (memcmp(slot, mine, SLOT_LEN) == 0 && pwrite(fd, dead, SLOT_LEN, off) != SLOT_LEN)
                log_error("index: cannot release our registry slot: %s", strerror(errno));
    }
    close(fd);
}

int index_hold_registrations(const char *home)
{
    int fd = registry_open(home);

    if (fd >= 0 && range_lock(fd, F_SETLKW, F_WRLCK, 1, NULL) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The other processes attached to the environment: slots whose lock is held.
 * By the lock, not the slot's text: an opener that finds recovery needed
 * empties every slot, live processes' too, and they keep their lock.  And
 * a process inside its registration (byte 1): one that attaches to regions
 * a dead process left can spin there for good on that process's mutex, and
 * would hold every recovery off. */
int index_attached(const char *home, pid_t *pids, int max)
{
    struct flock fl;
    struct stat st;
    int fd = registry_open(home), n = 0;

    if (fd < 0)
        return 0;
    if (max > 0 && range_lock(fd, F_GETLK, F_WRLCK, 1, &fl) == 0 && fl.l_type != F_UNLCK &&
        fl.l_pid != getpid())
        pids[n++] = fl.l_pid;
    if (fstat(fd, &st) == 0)
        for (off_t off = 0; off < st.st_size && n < max; off += SLOT_LEN) {
            struct flock fl;
            if (range_lock(fd, F_GETLK, F_WRLCK, off, &fl) == 0 && fl.l_type != F_UNLCK &&
                fl.l_pid != getpid() && (n == 0 || pids[0] != fl.l_pid))
                pids[n++] = fl.l_pid;
        }
    close(fd);
    return n;
}

static int registry_others(const char *home)
{
    pid_t pids[64];
    return index_attached(home, pids, 64);
}

static int open_env(struct mkv_index *ix, const char *home, int cache_mb, int recover, char *err,
                    size_t errlen)
{
    const u_int32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
                            DB_THREAD | DB_REGISTER | DB_FAILCHK | (recover ? DB_RECOVER : 0);
    const char *step = "db_env_create";
    int ret;

    memset(ix, 0, sizeof(*ix));
    if (mkdir(home, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create index directory %s: %s", home, strerror(errno));
        return -1;
    }
    if ((ret = db_env_create(&ix->env, 0)) != 0)
        goto fail;
    ix->env->set_errcall(ix->env, db_errcall);
    ix->env->set_msgcall(ix->env, db_msgcall);
    step = "environment settings";
    if ((ret = ix->env->set_cachesize(ix->env, (u_int32_t)(cache_mb / 1024),
                                      (u_int32_t)(cache_mb % 1024) * 1024u * 1024u, 1)) != 0 ||
        (ret = ix->env->set_thread_count(ix->env, THREAD_COUNT)) != 0 ||
        (ret = ix->env->set_isalive(ix->env, is_alive)) != 0 ||
        (ret = ix->env->set_lk_detect(ix->env, DB_LOCK_DEFAULT)) != 0 ||
        (ret = ix->env->set_lk_max_lockers(ix->env, 8192)) != 0 ||
        (ret = ix->env->set_lk_max_locks(ix->env, 65536)) != 0 ||
        (ret = ix->env->set_lk_max_objects(ix->env, 65536)) != 0)
        goto fail;
    step = "DB_ENV->open";
    if ((ret = ix->env->open(ix->env, home, flags, 0600)) != 0)
        goto fail;
    if ((ret = open_files(ix, home, &step)) != 0)
        goto fail;
    return 0;

fail:
    snprintf(err, errlen, "index %s: %s: %s", home, step, db_strerror(ret));
    /* A handle whose open failed must still be closed: DB_REGISTER allows
     * one open handle per process, and a retry would be refused. */
    close_handles(ix);
    registry_release_self(home);
    if (ret == DB_RUNRECOVERY)
        ix->panic = 1;
    ix->error = ret;
    return -1;
}

/* Errors no wait can cure: the directory is missing or not ours. */
static int permanent(int ret)
{
    return ret == ENOENT || ret == EACCES || ret == EPERM || ret == ENOSPC || ret == EROFS;
}

#define PROBE_TIMEOUT_MS 5000 /* an open takes milliseconds (recovery aside) */

/* Opens and closes the environment in a child, which is killed if it does
 * not finish in time: attaching to regions a process killed inside Berkeley
 * DB left can spin for good on its mutex, and a process stuck there cannot
 * be freed.  0: opened, -1: failed (*panic set if recovery is needed), -2:
 * stuck.  Only where no other thread runs (fork). */
static int probe_open(const char *home, int cache_mb, int *panic)
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        struct mkv_index t;
        char e[512];

        if (open_env(&t, home, cache_mb, 0, e, sizeof(e)) < 0)
            _exit(t.panic ? 3 : 1);
        close_handles(&t);
        _exit(0);
    }
    if (pid < 0)
        return 0; /* no probe: the open itself is tried */
    for (int waited = 0; waited < PROBE_TIMEOUT_MS; waited += 10) {
        pid_t got;

        while ((got = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR)
            ;
        if (got == pid) {
            *panic = WIFEXITED(st) && WEXITSTATUS(st) == 3;
            return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    log_error("index: opening %s got stuck in Berkeley DB (a process died inside it): waiting "
              "for its recovery",
              home);
    *panic = 1;
    return -2;
}

/* index_open's waits: tries x 0.5 s for a recovery by someone else. */
int wait_open(struct mkv_index *ix, const char *home, int cache_mb, int tries, int probe, char *err,
              size_t errlen)
{
    char reg[PATH_MAX];
    int others;

    /* No registry yet: nobody else has the environment open (it is new, or a
     * copied backup), and its first opener must be allowed to recover. */
    snprintf(reg, sizeof(reg), "%s/__db.register", home);
    if (access(reg, F_OK) != 0)
        return open_env(ix, home, cache_mb, 1, err, errlen);
    for (int i = 0; i < tries; i++) {
        int panic = 0, p = probe ? probe_open(home, cache_mb, &panic) : 0;

        if (p == -2) {
            /* Someone must recover it; with no one else attached, we do. */
            memset(ix, 0, sizeof(*ix));
            ix->panic = 1;
            ix->error = DB_RUNRECOVERY;
            snprintf(err, errlen, "index %s: DB_ENV->open: stuck on a dead process's mutex", home);
        }
        if (p != -2 && open_env(ix, home, cache_mb, 0, err, errlen) == 0)
            return 0;
        if (permanent(ix->error))
            return -1;
        /* Nobody else attached: no supervisor will recover it, and recovery
         * cannot hurt anyone (recoveries serialize on the registry). */
        if (registry_others(home) == 0)
            break;
        usleep(500000); /* a supervisor's monitor may be recovering it */
    }
    if ((others = registry_others(home)) > 0) {
        size_t len = strlen(err);
        snprintf(err + len, errlen - len,
                 " (the index needs recovery and %d other process%s attached: stop "
                 "them, or let the mkv-fcgi supervisor recover it, then retry)",
                 others, others == 1 ? " is" : "es are");
        return -1;
    }
    return open_env(ix, home, cache_mb, 1, err, errlen);
}

int index_open(struct mkv_index *ix, const char *home, int cache_mb, char *err, size_t errlen)
{
    /* Probed in a child: the tools open before they start threads. */
    if (wait_open(ix, home, cache_mb, OPEN_TRIES, 1, err, errlen) < 0)
        return -1;
    if (ix->old_format && !allow_old) {
        snprintf(err, errlen,
                 "index %s holds records of mkv 0.1 (index.db): run `mkv-upkeep upgrade` once to "
                 "convert it (README: Upgrading)",
                 home);
        close_handles(ix);
        return -1;
    }
    if (start_rejoin(ix, home, cache_mb, err, errlen) < 0) {
        close_handles(ix);
        return -1;
    }
    return 0;
}

int index_recover(struct mkv_index *ix, const char *home, int cache_mb, char *err, size_t errlen)
{
    return open_env(ix, home, cache_mb, 1, err, errlen);
}

int index_open_norecover(struct mkv_index *ix, const char *home, int cache_mb, char *err,
                         size_t errlen)
{
    return open_env(ix, home, cache_mb, 0, err, errlen);
}

void index_close(struct mkv_index *ix)
{
    drop_rejoin(ix);
    if (ix->panic || !ix->env) {
        /* Closing would flush through mutexes a dead process may hold and
         * hang: leave the handles, the process is about to exit. */
        ix->db = NULL;
        ix->vdb = NULL;
        ix->env = NULL;
        return;
    }
    close_handles(ix);
}

static void init_dbt(DBT *d, const void *data, size_t len)
{
    memset(d, 0, sizeof(*d));
    d->data = (void *)data;
    d->size = (u_int32_t)len;
}

static void backoff(int attempt)
{
    unsigned max_us = 200u << (attempt < 6 ? attempt : 6); /* up to 12.8 ms */

    usleep(100 + (unsigned)random() % max_us);
}

/* ---- records: the stored form (recbin.h) and the code's (record.h) ---- */

static int get_stored(struct mkv_index *ix, const char *key, size_t klen, char *buf, size_t cap,
                      size_t *len);

/* Re-reads the volume table, for an id another process added.  Inside the
 * call bracket already (a scan) or in one of its own. */
static int reload_table(struct mkv_index *ix, int inside)
{
    unsigned gen;
    int ret;

    if (!inside && rj_enter(ix, &gen) < 0)
        return -1;
    ret = voltab_load(ix->vt, ix->vdb);
    if (!inside)
        rj_leave(ix);
    if (ret != 0)
        note(ix, ret, "volume table");
    return ret == 0 ? 0 : -1;
}

static int set_of(struct mkv_index *ix, uint32_t id, struct voltab_set *vs, int inside)
{
    if (voltab_set(ix->vt, id, vs) == 0)
        return 0;
    return reload_table(ix, inside) == 0 ? voltab_set(ix->vt, id, vs) : -1;
}

static const char *name_of(struct mkv_index *ix, uint32_t id, int inside)
{
    const char *n = voltab_name(ix->vt, id);

    if (n || reload_table(ix, inside) < 0)
        return n;
    return voltab_name(ix->vt, id);
}

/* rec's volumes from b's references: MKV_OK, or MKV_BADREC for an id that
 * is not in the table. */
static int resolve_vols(struct mkv_index *ix, const char *key, size_t klen, const struct recbin *b,
                        struct mkv_record *rec, int inside)
{
    struct mkv_placement p;
    struct voltab_set vs;

    if (b->flags & RECBIN_IMPLIED) {
        if (set_of(ix, b->set, &vs, inside) < 0 ||
            key2volumes_list(vs.names, vs.n, vs.replicas, vs.subvolumes, key, klen, &p) < 0)
            return MKV_BADREC;
        record_set_vols(rec, &p);
        rec->set = b->set;
        return MKV_OK;
    }
    for (int i = 0; i < b->nvols; i++) {
        const char *n = name_of(ix, b->vols[i].name, inside);

        if (!n || recbin_join_volpath(n, strlen(n), b->vols[i].sub, rec->vols[i]) < 0 ||
            !record_volpath_ok(rec->vols[i], strlen(rec->vols[i])))
            return MKV_BADREC;
    }
    rec->nvols = b->nvols;
    return MKV_OK;
}

int decode_stored(struct mkv_index *ix, const char *key, size_t klen, const void *val, size_t vlen,
                  struct mkv_record *rec, int want_vols, int inside)
{
    struct recbin b;

    /* A text record (written by a test tool, or copied in by hand): read
     * as the original's, validated the same way. */
    if (!recbin_is(val, vlen))
        return record_decode(val, vlen, rec) == 0 ? MKV_OK : MKV_BADREC;
    if (recbin_decode(val, vlen, &b) < 0)
        return MKV_BADREC;
    memset(rec, 0, offsetof(struct mkv_record, vols));
    rec->deleted = !!(b.flags & RECBIN_SOFT);
    if (b.flags & RECBIN_MD5)
        md5_hex(b.md5, rec->hash);
    rec->has_size = !!(b.flags & RECBIN_SIZE);
    rec->size = b.size;
    rec->mtime = b.mtime;
    rec->extlen = b.extlen;
    rec->set = 0;
    if (b.extlen)
        memcpy(rec->ext, b.ext, b.extlen);
    return want_vols ? resolve_vols(ix, key, klen, &b, rec, inside) : MKV_OK;
}

/* Whether every volume name of rec has an id in this process's table. */
static int names_known(struct mkv_index *ix, const struct mkv_record *rec)
{
    for (int i = 0; i < rec->nvols; i++) {
        size_t nl;
        uint32_t sub, id;

        recbin_split_volpath(rec->vols[i], strlen(rec->vols[i]), &nl, &sub);
        if (voltab_find_name(ix->vt, rec->vols[i], nl, &id) < 0)
            return 0;
    }
    return 1;
}

static int add_names(struct mkv_index *ix, DB_TXN *txn, void *arg)
{
    const struct mkv_record *rec = arg;
    int ret = 0;

    for (int i = 0; i < rec->nvols && ret == 0; i++) {
        size_t nl;
        uint32_t sub, id;

        recbin_split_volpath(rec->vols[i], strlen(rec->vols[i]), &nl, &sub);
        ret = voltab_name_id(ix->vt, ix->vdb, txn, rec->vols[i], nl, &id);
    }
    return ret;
}

static int run_txn(struct mkv_index *ix, int how, int (*fn)(struct mkv_index *, DB_TXN *, void *),
                   void *arg, int *unsure);

/* Gives rec's volume names ids, in a transaction of their own (a name is
 * new only when a volume is): MKV_OK or MKV_ERR. */
static int ensure_names(struct mkv_index *ix, const struct mkv_record *rec)
{
    int unsure = 0, ret;

    if (names_known(ix, rec))
        return MKV_OK;
    if ((ret = run_txn(ix, 0, add_names, (void *)rec, &unsure)) != 0) {
        note(ix, ret, "adding a volume name");
        return MKV_ERR;
    }
    return reload_table(ix, 0) == 0 && names_known(ix, rec) ? MKV_OK : MKV_ERR;
}

/* 1 when rec's volumes are key's placement over the set this process
 * writes with: stored as the set's number alone. */
static int implied(struct mkv_index *ix, const char *key, size_t klen, const struct mkv_record *rec)
{
    struct mkv_placement p;
    struct voltab_set vs;

    return ix->set && voltab_set(ix->vt, ix->set, &vs) == 0 &&
           key2volumes_list(vs.names, vs.n, vs.replicas, vs.subvolumes, key, klen, &p) == 0 &&
           record_matches(rec, &p);
}

#define NO_NAME (-2) /* encode_stored: a volume name has no id yet */

/* The stored form of rec into out: its length, NO_NAME (ensure_names, then
 * again), or -1 (a field out of range). */
static int encode_stored(struct mkv_index *ix, const char *key, size_t klen,
                         const struct mkv_record *rec, unsigned char *out, size_t cap)
{
    static struct recbin zero;
    struct recbin b = zero;

    b.flags = (rec->deleted ? RECBIN_SOFT : 0) | (rec->has_size ? RECBIN_SIZE : 0) |
              (rec->mtime > 0 ? RECBIN_MTIME : 0) | (rec->extlen ? RECBIN_EXT : 0);
    if (strlen(rec->hash) == 32) {
        b.flags |= RECBIN_MD5;
        for (int i = 0; i < 16; i++)
            b.md5[i] = (unsigned char)((unsigned)hex_value(rec->hash[2 * i]) << 4 |
                                       (unsigned)hex_value(rec->hash[2 * i + 1]));
    }
    b.size = rec->size;
    b.mtime = rec->mtime;
    b.ext = rec->ext;
    b.extlen = rec->extlen;
    if (implied(ix, key, klen, rec)) {
        b.flags |= RECBIN_IMPLIED;
        b.set = ix->set;
    } else {
        b.nvols = rec->nvols;
        for (int i = 0; i < rec->nvols; i++) {
            size_t nl;

            recbin_split_volpath(rec->vols[i], strlen(rec->vols[i]), &nl, &b.vols[i].sub);
            if (voltab_find_name(ix->vt, rec->vols[i], nl, &b.vols[i].name) < 0)
                return NO_NAME;
        }
    }
    return recbin_encode(&b, out, cap);
}

int index_get(struct mkv_index *ix, const char *key, size_t klen, struct mkv_record *rec)
{
    char buf[RECBIN_MAX > MKV_RECORD_MAX ? RECBIN_MAX : MKV_RECORD_MAX];
    size_t len;
    int rc = get_stored(ix, key, klen, buf, sizeof(buf), &len);

    if (rc != MKV_OK)
        return rc;
    /* MKV_BADREC: the caller names the key, it knows how to show it. */
    return decode_stored(ix, key, klen, buf, len, rec, 1, 0);
}

struct set_args {
    char *const *volumes;
    int n, replicas, subvolumes;
    uint32_t id;
};

static int add_set(struct mkv_index *ix, DB_TXN *txn, void *arg)
{
    struct set_args *a = arg;

    return voltab_set_id(ix->vt, ix->vdb, txn, a->volumes, a->n, a->replicas, a->subvolumes,
                         &a->id);
}

int index_use_placement(struct mkv_index *ix, char *const *volumes, int n, int replicas,
                        int subvolumes)
{
    struct set_args a = {volumes, n, replicas, subvolumes, 0};
    int unsure = 0, ret;

    ret = run_txn(ix, 0, add_set, &a, &unsure);
    if (ret == 0 && reload_table(ix, 0) == 0) {
        ix->set = a.id;
        return MKV_OK;
    }
    note(ix, ret, "adding the volume set");
    return MKV_ERR;
}

/* How a write is committed: durable (on disk before the call returns), or
 * written to the log file without waiting for the disk: that survives a
 * crash of any process, not a crash of the machine; the next durable commit
 * flushes it too.  ix->nosync (bulk tools) keeps the log in memory until
 * index_flush. */
enum { DURABLE = 0, WRITTEN = 1 };

/* A durable commit is written first and flushed after: the transaction's
 * page locks are released when its commit record is in the log file, not
 * after the fsync, so the threads waiting on those pages (every operation on
 * a key of the same B-tree leaf) run during the fsync instead of after it,
 * and their commits share the next one (Berkeley DB's log flush serves every
 * waiter up to the end of the log).  The caller still gets 0 only once the
 * record is on disk: a 201/204 is answered after the flush, as before.
 * Another thread may read the record in the fsync's window; its own durable
 * commit comes later in the log, so nothing it writes can outlive this one
 * in a crash. */
static int commit(struct mkv_index *ix, DB_TXN *txn, int how, int *unsure)
{
    int ret;

    if (ix->nosync) {
        if ((ret = txn->commit(txn, DB_TXN_NOSYNC)) == 0 && ix->rj)
            atomic_store(&ix->rj->unflushed, 1);
        return ret;
    }
    /* A failed commit has aborted the transaction: nothing changed. */
    if ((ret = txn->commit(txn, DB_TXN_WRITE_NOSYNC)) != 0 || how == WRITTEN)
        return ret;
    if ((ret = ix->env->log_flush(ix->env, NULL)) != 0)
        *unsure = 1; /* committed, visible, not known to be on disk */
    return ret;
}

/* One writer at a time, across processes: a put or delete in the
 * compressed B-tree reads its leaf before it writes it, so two writers in
 * one leaf deadlock nearly every time (the detector kills one, it retries,
 * and under load runs out of retries).  A write lock on one named object,
 * owned by the transaction, makes them queue instead; it goes with the
 * commit, which is written but not yet flushed, so writers still share
 * their fsyncs.  Readers take no part.  Locking only the leaf up front (a
 * DB_RMW lookup of the key before the put) was tried and measured: against
 * 10M compressed keys, 16 writers still deadlocked (on pages besides the
 * leaf, splits presumably) often enough that some exhausted their retries
 * (6-34 failed writes in 30,000 requests), and ran no faster than they do
 * queued here (2026-12-02). */
static int writer_lock(struct mkv_index *ix, DB_TXN *txn)
{
    static const char name[] = "mkv-records-writer";
    DB_LOCK lock;
    DBT o;

    init_dbt(&o, name, sizeof(name) - 1);
    return ix->env->lock_get(ix->env, txn->id(txn), 0, &o, DB_LOCK_WRITE, &lock);
}

/* Runs fn(txn, arg) in its own transaction, retried on deadlock, committed
 * as `how` says.  Returns 0 or the Berkeley DB error; *unsure is set when
 * the error came after the commit (see MKV_UNSURE). */
static int txn_tries(struct mkv_index *ix, int how, int (*fn)(struct mkv_index *, DB_TXN *, void *),
                     void *arg, int *unsure)
{
    int ret = 0;

    for (int i = 0; i < RETRIES; i++) {
        DB_TXN *txn = NULL;

        if ((ret = ix->env->txn_begin(ix->env, NULL, &txn, 0)) != 0)
            break;
        ret = writer_lock(ix, txn);
        if (ret == 0)
            ret = fn(ix, txn, arg);
        if (ret == 0) {
            ret = commit(ix, txn, how, unsure);
            break;
        }
        txn->abort(txn);
        if (ret != DB_LOCK_DEADLOCK)
            break;
        backoff(i);
    }
    return ret;
}

/* txn_tries on the handle, redone on a rejoined one unless it committed. */
static int run_txn(struct mkv_index *ix, int how, int (*fn)(struct mkv_index *, DB_TXN *, void *),
                   void *arg, int *unsure)
{
    unsigned gen;
    int ret;

    for (int again = 0;; again++) {
        if (rj_enter(ix, &gen) < 0)
            return ERR_STALE;
        ret = txn_tries(ix, how, fn, arg, unsure);
        rj_leave(ix);
        if (*unsure || again >= REDO_MAX || !rj_redo(ix, &ret, gen))
            return ret;
    }
}

struct one_write {
    DBT k, v;
    int del;
};

static int do_write(struct mkv_index *ix, DB_TXN *txn, void *arg)
{
    struct one_write *w = arg;

    return w->del ? ix->db->del(ix->db, txn, &w->k, 0) : ix->db->put(ix->db, txn, &w->k, &w->v, 0);
}

/* Runs one put or delete in its own transaction, committed as `how` says. */
static int write_txn(struct mkv_index *ix, int how, const char *key, size_t klen, const char *val,
                     size_t vlen)
{
    struct one_write w;
    int ret, unsure = 0;

    init_dbt(&w.k, key, klen);
    init_dbt(&w.v, val, vlen);
    w.del = val == NULL;
    ret = run_txn(ix, how, do_write, &w, &unsure);
    if (ret == DB_NOTFOUND)
        return MKV_NOTFOUND;
    if (ret != 0) {
        note(ix, ret, unsure ? "log flush after commit" : val ? "put" : "del");
        return unsure ? MKV_UNSURE : MKV_ERR;
    }
    return MKV_OK;
}

static int put_record(struct mkv_index *ix, int how, const char *key, size_t klen,
                      const struct mkv_record *rec)
{
    unsigned char buf[RECBIN_MAX];
    int n;

    if (ix->old_format)
        return MKV_OLDFORMAT;
    if ((n = index_encode(ix, key, klen, rec, buf, sizeof(buf))) < 0) {
        log_error("index: a record that the stored form cannot hold");
        return MKV_ERR;
    }
    return write_txn(ix, how, key, klen, (const char *)buf, (size_t)n);
}

int index_put(struct mkv_index *ix, const char *key, size_t klen, const struct mkv_record *rec)
{
    return put_record(ix, DURABLE, key, klen, rec);
}

int index_put_written(struct mkv_index *ix, const char *key, size_t klen,
                      const struct mkv_record *rec)
{
    return put_record(ix, WRITTEN, key, klen, rec);
}

int index_put_stored(struct mkv_index *ix, const char *key, size_t klen, const char *val,
                     size_t len)
{
    if (ix->old_format)
        return MKV_OLDFORMAT;
    return write_txn(ix, DURABLE, key, klen, val, len);
}

int index_del(struct mkv_index *ix, const char *key, size_t klen)
{
    if (ix->old_format)
        return MKV_OLDFORMAT;
    return write_txn(ix, DURABLE, key, klen, NULL, 0);
}

/* Fills obj with prefix + key: a lock object.  Returns its length. */
static size_t lock_object(char *obj, const char *prefix, size_t plen, const char *key, size_t klen)
{
    memcpy(obj, prefix, plen);
    memcpy(obj + plen, key, klen);
    return plen + klen;
}

/* One try at the n lock objects, in order, in mode, in a new lock-only
 * transaction, no waiting: MKV_OK with all held (until index_unlock aborts
 * the transaction), MKV_BUSY if one is held elsewhere (none is then kept). */
static int take_locks(struct mkv_index *ix, DBT *objs, int n, db_lockmode_t mode,
                      struct mkv_keylock *kl)
{
    DB_LOCK lock;
    int ret;

    for (int again = 0;; again++) {
        const char *what = "txn_begin for key lock";
        unsigned gen;

        if (rj_enter(ix, &gen) < 0) {
            note(ix, ERR_STALE, "key lock");
            return MKV_ERR;
        }
        if ((ret = ix->env->txn_begin(ix->env, NULL, &kl->txn, 0)) == 0) {
            u_int32_t id = kl->txn->id(kl->txn);

            what = "lock_get";
            for (int i = 0; i < n && ret == 0; i++)
                ret = ix->env->lock_get(ix->env, id, DB_LOCK_NOWAIT, &objs[i], mode, &lock);
            if (ret != 0) {
                kl->txn->abort(kl->txn);
                kl->txn = NULL;
            }
        } else {
            kl->txn = NULL;
        }
        rj_leave(ix);
        if (ret == 0) {
            kl->gen = gen;
            held_lock(ix, gen);
            return MKV_OK;
        }
        if (ret == DB_LOCK_NOTGRANTED)
            return MKV_BUSY;
        if (again >= REDO_MAX || !rj_redo(ix, &ret, gen)) {
            note(ix, ret, what);
            return MKV_ERR;
        }
    }
}

int index_lock(struct mkv_index *ix, const char *key, size_t klen, struct mkv_keylock *kl)
{
    char kobj[sizeof(lock_prefix) + MKV_KEY_MAX];
    DBT ko;

    kl->txn = NULL;
    if (klen > MKV_KEY_MAX)
        return MKV_ERR;
    init_dbt(&ko, kobj, lock_object(kobj, lock_prefix, sizeof(lock_prefix) - 1, key, klen));
    return take_locks(ix, &ko, 1, DB_LOCK_WRITE, kl);
}

/* The key's admin marker is taken first, in the same transaction as its
 * lock, so that a worker that finds the key busy can tell an admin tool's
 * hold (worth waiting for) from another client's write (a 409 at once, as
 * the original answers). */
int index_lock_admin(struct mkv_index *ix, const char *key, size_t klen, struct mkv_keylock *kl)
{
    char kobj[sizeof(lock_prefix) + MKV_KEY_MAX], aobj[sizeof(admin_prefix) + MKV_KEY_MAX];
    DBT objs[2];

    kl->txn = NULL;
    if (klen > MKV_KEY_MAX)
        return MKV_ERR;
    init_dbt(&objs[0], aobj, lock_object(aobj, admin_prefix, sizeof(admin_prefix) - 1, key, klen));
    init_dbt(&objs[1], kobj, lock_object(kobj, lock_prefix, sizeof(lock_prefix) - 1, key, klen));
    return take_locks(ix, objs, 2, DB_LOCK_WRITE, kl);
}

/* Whether an admin tool holds key: a no-wait read lock on its marker,
 * let go at once.  0 on any error: the caller then answers as for a
 * client's hold. */
static int admin_holds(struct mkv_index *ix, const char *key, size_t klen)
{
    char aobj[sizeof(admin_prefix) + MKV_KEY_MAX];
    struct mkv_keylock probe;
    DBT ao;
    int rc;

    if (klen > MKV_KEY_MAX)
        return 0;
    init_dbt(&ao, aobj, lock_object(aobj, admin_prefix, sizeof(admin_prefix) - 1, key, klen));
    if ((rc = take_locks(ix, &ao, 1, DB_LOCK_READ, &probe)) == MKV_OK)
        index_unlock(ix, &probe);
    return rc == MKV_BUSY;
}

/* For a key index_lock found busy: retries it every 10 ms for up to
 * wait_ms while holding(ix, key, klen) says the holder is one worth
 * waiting for; once it says not, one last try (the holder may have let go
 * since).  MKV_BUSY at once when it says not from the start. */
static int lock_while(struct mkv_index *ix, const char *key, size_t klen, struct mkv_keylock *kl,
                      int wait_ms, int (*holding)(struct mkv_index *, const char *, size_t))
{
    const struct timespec pause = {0, 10 * 1000 * 1000};
    int rc = MKV_BUSY, waited = 0;

    for (; waited < wait_ms && holding(ix, key, klen); waited += 10) {
        nanosleep(&pause, NULL);
        if ((rc = index_lock(ix, key, klen, kl)) != MKV_BUSY)
            return rc;
    }
    return waited > 0 ? index_lock(ix, key, klen, kl) : rc;
}

int index_lock_behind_admin(struct mkv_index *ix, const char *key, size_t klen,
                            struct mkv_keylock *kl, int wait_ms)
{
    return lock_while(ix, key, klen, kl, wait_ms, admin_holds);
}

/* A process that is gone, or dead but not yet reaped (a zombie still passes
 * kill(pid, 0), and its transactions stay active until its parent reaps it
 * and failchk runs). */
static int process_gone(pid_t pid)
{
    char path[64], buf[256], *p;
    FILE *f;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 1;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return errno == ENOENT;
    p = fgets(buf, sizeof(buf), f);
    fclose(f);
    /* "pid (comm) S ...": the state follows the last ')' */
    if (!p || !(p = strrchr(buf, ')')))
        return 0;
    return p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Whether a transaction of a dead process is still active: its locks are
 * held until failchk (run by the supervisor once it reaps the process, or
 * by any supervisor's periodic check) aborts it. */
static int dead_txn_active(struct mkv_index *ix)
{
    DB_TXN_STAT *st = NULL;
    unsigned gen;
    int dead = 0, ret;

    if (rj_enter(ix, &gen) < 0)
        return 0;
    ret = ix->env->txn_stat(ix->env, &st, 0);
    rj_leave(ix);
    if (ret != 0 || !st)
        return 0;
    for (u_int32_t i = 0; i < st->st_nactive && !dead; i++)
        dead = process_gone(st->st_txnarray[i].pid);
    free(st);
    return dead;
}

/* lock_while's holding for index_lock_after_dead: the key does not
 * matter, any dead process's transaction may hold its lock.  Once none is
 * left, the holder is alive (a plain 409, one refused lock), or failchk
 * freed it since the last try. */
static int dead_holder(struct mkv_index *ix, const char *key, size_t klen)
{
    (void)key;
    (void)klen;
    return dead_txn_active(ix);
}

int index_lock_after_dead(struct mkv_index *ix, const char *key, size_t klen,
                          struct mkv_keylock *kl, int wait_ms)
{
    return lock_while(ix, key, klen, kl, wait_ms, dead_holder);
}

void index_unlock(struct mkv_index *ix, struct mkv_keylock *kl)
{
    unsigned gen;
    int ret;

    if (!kl->txn)
        return;
    held_unlock(ix);
    if (rj_enter(ix, &gen) == 0) {
        /* Aborting a transaction that wrote nothing releases its locks.  A
         * lock of an older generation went with the environment it was
         * taken in (and its transaction with it). */
        if (kl->gen == gen && (ret = kl->txn->abort(kl->txn)) != 0)
            note(ix, ret, "key unlock");
        rj_leave(ix);
    }
    kl->txn = NULL;
}

/* Runs one environment-wide call (op below) on the handle, redone on a
 * rejoined one.  Returns its result or ERR_STALE. */
enum env_op { OP_FLUSH, OP_FAILCHK, OP_CHECKPOINT };

static int env_call(struct mkv_index *ix, enum env_op op, unsigned kbytes, unsigned minutes)
{
    unsigned gen;
    int ret;

    for (int again = 0;; again++) {
        if (rj_enter(ix, &gen) < 0)
            return ERR_STALE;
        if (op == OP_FLUSH) {
            /* Commits after this point set it again. */
            if (ix->rj)
                atomic_store(&ix->rj->unflushed, 0);
            ret = ix->env->log_flush(ix->env, NULL);
        } else if (op == OP_FAILCHK) {
            ret = ix->env->failchk(ix->env, 0);
        } else {
            ret = ix->env->txn_checkpoint(ix->env, kbytes, minutes, 0);
        }
        rj_leave(ix);
        if (again >= REDO_MAX || !rj_redo(ix, &ret, gen))
            return ret;
    }
}

int index_flush(struct mkv_index *ix)
{
    int ret = env_call(ix, OP_FLUSH, 0, 0);

    if (ret != 0) {
        note(ix, ret, "log flush");
        return MKV_ERR;
    }
    if (ix->rj && atomic_exchange(&ix->rj->lost, 0)) {
        log_error("index: commits made without a flush before the environment was recovered "
                  "may be lost: run again");
        return MKV_ERR;
    }
    return MKV_OK;
}

int index_failchk(struct mkv_index *ix)
{
    int ret = env_call(ix, OP_FAILCHK, 0, 0);

    if (ret != 0) {
        note(ix, ret, "failchk");
        return MKV_ERR;
    }
    return MKV_OK;
}

int index_checkpoint(struct mkv_index *ix, unsigned kbytes, unsigned minutes)
{
    int ret = env_call(ix, OP_CHECKPOINT, kbytes, minutes);

    if (ret != 0) {
        note(ix, ret, "checkpoint");
        return MKV_ERR;
    }
    return MKV_OK;
}

/* Berkeley DB's default order: bytes, then the shorter first. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    return c ? c : (alen > blen) - (alen < blen);
}

/* One cursor pass from `from` (after it, if `after`).  It keeps the last key
 * given to fn in *last (*lastlen bytes): a pass on a rejoined handle goes on
 * after it.  *stopped: fn said so.  Returns 0 or the Berkeley DB error
 * (ENOMEM). */
static int scan_pass(struct mkv_index *ix, const char *from, size_t fromlen, int after,
                     unsigned flags, index_scan_fn fn, void *arg, char **last, size_t *lastlen,
                     int *stopped)
{
    struct mkv_record *rec = malloc(sizeof(*rec));

    DBC *c = NULL;
    DBT k, v;
    int ret;
    u_int32_t op = DB_SET_RANGE;

    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.flags = v.flags = DB_DBT_REALLOC;
    if (!rec)
        return ENOMEM;
    if (fromlen > 0) {
        k.data = malloc(fromlen);
        if (!k.data) {
            free(rec);
            return ENOMEM;
        }
        memcpy(k.data, from, fromlen);
        k.size = (u_int32_t)fromlen;
    } else {
        op = DB_FIRST;
    }
    /* No transaction: a plain cursor keeps a read lock only on the page it
     * stands on, so a long listing never blocks writers for long. */
    if ((ret = ix->db->cursor(ix->db, NULL, &c, 0)) != 0)
        goto cleanup;
    for (;;) {
        ret = c->get(c, &k, &v, op);
        op = DB_NEXT;
        if (ret == DB_NOTFOUND) {
            ret = 0;
            break;
        }
        if (ret != 0)
            break;
        /* Only forward: the key given to fn before a rejoin (after), and
         * any key a cursor of the compressed B-tree meets again when an
         * insert rewrites the run it stands in, are not given twice. */
        if ((after || *last) &&
            key_cmp(k.data, k.size, *last ? *last : from, *last ? *lastlen : fromlen) <= 0)
            continue;
        {
            char *b = realloc(*last, k.size ? k.size : 1);
            if (!b) {
                ret = ENOMEM;
                break;
            }
            memcpy(b, k.data, k.size);
            *last = b;
            *lastlen = k.size;
        }
        if (decode_stored(ix, k.data, k.size, v.data, v.size, rec, flags & INDEX_SCAN_VOLS, 1) ==
                    MKV_OK
                ? fn(arg, k.data, k.size, rec, v.data, v.size) != 0
                : fn(arg, k.data, k.size, NULL, v.data, v.size) != 0) {
            *stopped = 1;
            break;
        }
    }

cleanup:
    if (c)
        c->close(c);
    free(k.data);
    free(v.data);
    free(rec);
    return ret;
}

int index_scan(struct mkv_index *ix, const char *from, size_t fromlen, unsigned flags,
               index_scan_fn fn, void *arg)
{
    char *last = NULL;
    size_t lastlen = 0;
    unsigned gen;
    int ret, stopped = 0;

    if (ix->old_format)
        return MKV_OLDFORMAT;
    for (int again = 0;; again++) {
        if (rj_enter(ix, &gen) < 0) {
            ret = ERR_STALE;
            break;
        }
        ret = last ? scan_pass(ix, last, lastlen, 1, flags, fn, arg, &last, &lastlen, &stopped)
                   : scan_pass(ix, from, fromlen, 0, flags, fn, arg, &last, &lastlen, &stopped);
        rj_leave(ix);
        /* Redone from after the last key given to fn: none twice, none left out. */
        if (ret == 0 || stopped || again >= REDO_MAX || !rj_redo(ix, &ret, gen))
            break;
    }
    free(last);
    if (ret != 0) {
        note(ix, ret, "cursor");
        return MKV_ERR;
    }
    return MKV_OK;
}

/* Reads key (klen bytes) of records.db, or of volumes.db when meta, into
 * buf (cap bytes), deadlocks retried and the call redone on a rejoined
 * handle: MKV_OK with *len, MKV_NOTFOUND, or MKV_ERR (also when longer than
 * cap; the failure noted as `what`). */
static int get_retrying(struct mkv_index *ix, int meta, const void *key, size_t klen, void *buf,
                        size_t cap, size_t *len, const char *what)
{
    DBT k, v;
    int ret;

    if (cap > (u_int32_t)-1)
        cap = (u_int32_t)-1;
    init_dbt(&k, key, klen);
    memset(&v, 0, sizeof(v));
    v.data = buf;
    v.ulen = (u_int32_t)cap;
    v.flags = DB_DBT_USERMEM;
    for (int again = 0;; again++) {
        unsigned gen;

        if (rj_enter(ix, &gen) < 0) {
            ret = ERR_STALE;
            break;
        }
        for (int i = 0; i < RETRIES; i++) {
            DB *db = meta ? ix->vdb : ix->db; /* a rejoin swaps the handles */

            if ((ret = db->get(db, NULL, &k, &v, 0)) != DB_LOCK_DEADLOCK)
                break;
            backoff(i);
        }
        rj_leave(ix);
        if (again >= REDO_MAX || !rj_redo(ix, &ret, gen))
            break;
    }
    if (ret == DB_NOTFOUND)
        return MKV_NOTFOUND;
    if (ret != 0) {
        note(ix, ret, what);
        return MKV_ERR;
    }
    if (len)
        *len = v.size;
    return MKV_OK;
}

/* Reads key's stored bytes into buf (cap bytes): MKV_OK with *len,
 * MKV_NOTFOUND, or MKV_ERR (also when longer than cap). */
static int get_stored(struct mkv_index *ix, const char *key, size_t klen, char *buf, size_t cap,
                      size_t *len)
{
    if (ix->old_format)
        return MKV_OLDFORMAT;
    return get_retrying(ix, 0, key, klen, buf, cap, len, "get");
}

/* Encodes and puts recs[0..n) inside txn; returns the DB error or 0. */
struct batch {
    const char *const *keys;
    const size_t *klens;
    const struct mkv_record *recs;
    int n;
};

static int put_all(struct mkv_index *ix, DB_TXN *txn, void *arg)
{
    const struct batch *b = arg;
    unsigned char buf[RECBIN_MAX];
    DBT k, v;
    int ret;

    for (int i = 0; i < b->n; i++) {
        int len = encode_stored(ix, b->keys[i], b->klens[i], &b->recs[i], buf, sizeof(buf));

        if (len < 0) {
            log_error("index: a record that the stored form cannot hold");
            return EINVAL;
        }
        init_dbt(&k, b->keys[i], b->klens[i]);
        init_dbt(&v, buf, (size_t)len);
        if ((ret = ix->db->put(ix->db, txn, &k, &v, 0)) != 0)
            return ret;
    }
    return 0;
}

int index_put_batch(struct mkv_index *ix, const char *const *keys, const size_t *klens,
                    const struct mkv_record *recs, int n)
{
    struct batch b = {keys, klens, recs, n};
    int unsure = 0, ret;

    if (ix->old_format)
        return MKV_OLDFORMAT;
    for (int i = 0; i < n; i++)
        if (ensure_names(ix, &recs[i]) != MKV_OK)
            return MKV_ERR;
    ret = run_txn(ix, DURABLE, put_all, &b, &unsure);

    if (ret != 0) {
        note(ix, ret, unsure ? "log flush after batch commit" : "batch put");
        return unsure ? MKV_UNSURE : MKV_ERR;
    }
    return MKV_OK;
}

int index_exists(struct mkv_index *ix, const char *key, size_t klen)
{
    char buf[RECBIN_MAX > MKV_RECORD_MAX ? RECBIN_MAX : MKV_RECORD_MAX];
    size_t len;

    return get_stored(ix, key, klen, buf, sizeof(buf), &len);
}

int index_compact(struct mkv_index *ix, unsigned long *freed)
{
    unsigned gen;
    int ret = 0;

    *freed = 0;
    if (ix->old_format)
        return MKV_OLDFORMAT;
    /* Two passes: the first fills pages, the second moves the free ones to
     * the end of the file, where they can be given back. */
    for (int pass = 0; pass < 2 && ret == 0; pass++) {
        DB_COMPACT c;

        memset(&c, 0, sizeof(c));
        c.compact_fillpercent = 100;
        if (rj_enter(ix, &gen) < 0)
            return MKV_ERR;
        ret = ix->db->compact(ix->db, NULL, NULL, NULL, &c, DB_FREE_SPACE, NULL);
        rj_leave(ix);
        *freed += c.compact_pages_truncated;
    }
    if (ret != 0) {
        note(ix, ret, "compact");
        return MKV_ERR;
    }
    return MKV_OK;
}

int index_stats(struct mkv_index *ix, struct mkv_index_stats *st)
{
    DB_MPOOL_STAT *mp = NULL;
    DB_LOCK_STAT *lk = NULL;
    int ret;

    memset(st, 0, sizeof(*st));
    if ((ret = ix->env->memp_stat(ix->env, &mp, NULL, 0)) != 0 ||
        (ret = ix->env->lock_stat(ix->env, &lk, 0)) != 0) {
        free(mp);
        note(ix, ret, "statistics");
        return MKV_ERR;
    }
    st->cache_hits = (unsigned long)mp->st_cache_hit;
    st->cache_misses = (unsigned long)mp->st_cache_miss;
    st->lock_waits = (unsigned long)lk->st_lock_wait;
    st->lock_refused = (unsigned long)lk->st_lock_nowait;
    st->deadlocks = (unsigned long)lk->st_ndeadlocks;
    free(mp);
    free(lk);
    return MKV_OK;
}

int index_lock_wait(struct mkv_index *ix, const char *key, size_t klen, struct mkv_keylock *kl,
                    int wait_ms)
{
    const struct timespec pause = {0, 10 * 1000 * 1000};
    int rc = index_lock_admin(ix, key, klen, kl);

    for (int waited = 0; rc == MKV_BUSY && waited < wait_ms; waited += 10) {
        nanosleep(&pause, NULL);
        rc = index_lock_admin(ix, key, klen, kl);
    }
    return rc;
}

int index_encode(struct mkv_index *ix, const char *key, size_t klen, const struct mkv_record *rec,
                 unsigned char *out, size_t cap)
{
    int n = encode_stored(ix, key, klen, rec, out, cap);

    /* Names are new only when volumes are: the table is written then. */
    if (n == NO_NAME &&
        (ensure_names(ix, rec) != MKV_OK || (n = encode_stored(ix, key, klen, rec, out, cap)) < 0))
        return -1;
    return n;
}

/* How often index_ready looks for a finished upgrade. */
#define READY_CHECK_MS 1000

int index_ready(struct mkv_index *ix)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static long long last;
    long long now = clock_ms();
    unsigned gen;
    DB *db = NULL;

    if (!ix->old_format)
        return 0;
    pthread_mutex_lock(&mu);
    if (ix->old_format && now - last >= READY_CHECK_MS) {
        last = now;
        if (rj_enter(ix, &gen) == 0) {
            /* Renamed into place by index_upgrade once complete. */
            if (open_records(ix->env, ix->vdb, "records.db", 0, &db) == 0) {
                ix->db = db;
                atomic_thread_fence(memory_order_release);
                ix->old_format = 0;
                log_error("index: upgraded to the current record format: serving");
            }
            rj_leave(ix);
        }
    }
    pthread_mutex_unlock(&mu);
    return ix->old_format ? MKV_OLDFORMAT : 0;
}

int index_records_open(DB_ENV *env, DB **out)
{
    const char *home = NULL;
    DB *db;
    int ret;

    if ((ret = env->get_home(env, &home)) != 0)
        return ret;
    if (file_exists(home, "records.db") || !file_exists(home, "index.db")) {
        DB *vdb = NULL;

        /* How the records file was made is in volumes.db. */
        if ((ret = db_create(&vdb, env, 0)) != 0)
            return ret;
        if ((ret = vdb->open(vdb, NULL, "volumes.db", NULL, DB_BTREE, DB_AUTO_COMMIT, 0)) == 0)
            ret = open_records(env, vdb, "records.db", 0, out);
        vdb->close(vdb, 0);
        return ret;
    }
    if ((ret = db_create(&db, env, 0)) != 0)
        return ret;
    if ((ret = db->open(db, NULL, "index.db", NULL, DB_BTREE, DB_AUTO_COMMIT, 0)) != 0) {
        db->close(db, 0);
        return ret;
    }
    *out = db;
    return 0;
}

int index_use_cfg(struct mkv_index *ix, const struct mkv_config *cfg)
{
    if (cfg->nvolumes == 0)
        return MKV_OK; /* a tool that places nothing */
    return index_use_placement(ix, (char *const *)cfg->volumes, cfg->nvolumes, cfg->replicas,
                               cfg->subvolumes);
}

int index_placed(const struct mkv_index *ix, const struct mkv_record *rec)
{
    return ix->set != 0 && rec->set == ix->set;
}

/* ---- named entries beside the volume table (volumes.db) ---- */

struct meta_write {
    DBT k, v;
    int del;
};

static int do_meta(struct mkv_index *ix, DB_TXN *txn, void *arg)
{
    struct meta_write *w = arg;

    return w->del ? ix->vdb->del(ix->vdb, txn, &w->k, 0)
                  : ix->vdb->put(ix->vdb, txn, &w->k, &w->v, DB_NOOVERWRITE);
}

/* kind + name: the entry's key.  Kinds are letters the volume table does
 * not use ('n', 's', 'f'): voltab_load skips the others. */
static int meta_key(char *buf, char kind, const char *name, size_t len)
{
    if (len == 0 || len > INDEX_META_NAME_MAX || kind == 'n' || kind == 's' || kind == 'f')
        return -1;
    buf[0] = kind;
    memcpy(buf + 1, name, len);
    return 0;
}

static int meta_write(struct mkv_index *ix, char kind, const char *name, size_t len,
                      const void *val, size_t vlen, int del)
{
    char kb[1 + INDEX_META_NAME_MAX];
    struct meta_write w;
    int unsure = 0, ret;

    if (meta_key(kb, kind, name, len) < 0 || vlen > INDEX_META_VALUE_MAX)
        return MKV_ERR;
    init_dbt(&w.k, kb, len + 1);
    init_dbt(&w.v, val, vlen);
    w.del = del;
    ret = run_txn(ix, 0, do_meta, &w, &unsure);
    if (ret == DB_KEYEXIST)
        return MKV_EXISTS;
    if (ret == DB_NOTFOUND)
        return MKV_NOTFOUND;
    if (ret != 0) {
        note(ix, ret, del ? "deleting an entry of volumes.db" : "adding an entry to volumes.db");
        return unsure ? MKV_UNSURE : MKV_ERR;
    }
    return MKV_OK;
}

int index_meta_add(struct mkv_index *ix, char kind, const char *name, size_t len, const void *val,
                   size_t vlen)
{
    return meta_write(ix, kind, name, len, val, vlen, 0);
}

int index_meta_del(struct mkv_index *ix, char kind, const char *name, size_t len)
{
    return meta_write(ix, kind, name, len, "", 0, 1);
}

int index_meta_get(struct mkv_index *ix, char kind, const char *name, size_t len, void *val,
                   size_t cap, size_t *vlen)
{
    char kb[1 + INDEX_META_NAME_MAX];

    if (meta_key(kb, kind, name, len) < 0)
        return MKV_NOTFOUND;
    return get_retrying(ix, 1, kb, len + 1, val, cap, vlen, "reading an entry of volumes.db");
}

int index_meta_list(struct mkv_index *ix, char kind, const char *from, size_t fromlen,
                    index_meta_fn fn, void *arg)
{
    unsigned char kb[1 + INDEX_META_NAME_MAX], vb[INDEX_META_VALUE_MAX];
    DBC *c = NULL;
    unsigned gen;
    DBT k, v;
    int ret;

    if (fromlen > INDEX_META_NAME_MAX || rj_enter(ix, &gen) < 0)
        return MKV_ERR;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    kb[0] = (unsigned char)kind;
    if (fromlen)
        memcpy(kb + 1, from, fromlen);
    k.data = kb;
    k.size = (u_int32_t)(1 + fromlen);
    k.ulen = sizeof(kb);
    k.flags = DB_DBT_USERMEM;
    v.data = vb;
    v.ulen = sizeof(vb);
    v.flags = DB_DBT_USERMEM;
    if ((ret = ix->vdb->cursor(ix->vdb, NULL, &c, 0)) != 0)
        goto cleanup;
    for (ret = c->get(c, &k, &v, DB_SET_RANGE); ret == 0; ret = c->get(c, &k, &v, DB_NEXT)) {
        if (k.size < 2 || kb[0] != (unsigned char)kind)
            break;
        if (fn(arg, (const char *)kb + 1, k.size - 1, vb, v.size))
            break;
    }
    if (ret == DB_NOTFOUND)
        ret = 0;
cleanup:
    if (c)
        c->close(c);
    rj_leave(ix);
    if (ret != 0) {
        note(ix, ret, "listing entries of volumes.db");
        return MKV_ERR;
    }
    return MKV_OK;
}
