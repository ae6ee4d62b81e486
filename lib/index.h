/* index.h: the key index in a shared, transactional Berkeley DB environment.
 *
 * Many processes (workers, admin tools) open the same environment at once.
 * Every write is a short transaction, durable (its commit written to the
 * log, then the log flushed) before it returns.  A process that dies at any instant is handled by
 * DB_REGISTER + DB_FAILCHK: the next opener (or the supervisor's periodic
 * index_failchk) aborts its transactions and frees its locks. */
#ifndef MKV_INDEX_H
#define MKV_INDEX_H

#include <db.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "record.h"

/* The one convention of lib/: 0 on success, a negative code otherwise.
 * MKV_UNSURE: a durable write was committed but the log flush failed: the
 * change is visible and may or may not survive a machine crash.  Like
 * MKV_ERR it is a failure to report, but what it wrote must not be undone
 * as if it never happened (PUT must not delete the replicas a live record
 * may name).  MKV_NOTFOUND: no record (index_get, index_del).  MKV_BUSY: the
 * key lock is held elsewhere.  MKV_BADREC: the stored record does not
 * decode or fails validation (only an imported or damaged index holds one):
 * its bytes are never copied anywhere, the caller reports the key. */
enum {
    MKV_OK = 0,
    MKV_ERR = -1,
    MKV_UNSURE = -2,
    MKV_NOTFOUND = -3,
    MKV_BUSY = -4,
    MKV_BADREC = -5,
    MKV_OLDFORMAT = -6,
    MKV_EXISTS = -7,
};

struct mkv_rejoin; /* rejoin.c: the state of a handle that rejoins after a recovery */

struct mkv_index {
    DB_ENV *env;
    DB *db;
    atomic_int panic;      /* DB_RUNRECOVERY seen: stop using this handle, reopen or exit */
    int error;             /* the Berkeley DB error of a failed open */
    int nosync;            /* commit without flushing the log (bulk tools that can rerun);
                            * index_flush makes everything before it durable */
    struct mkv_rejoin *rj; /* index_open's handles only (see there); NULL otherwise */
    DB *vdb;               /* volumes.db: the volume table (voltab.h) */
    struct voltab *vt;
    atomic_int old_format; /* only index.db, records of mkv 0.1: mkv-upkeep upgrade */
    unsigned set;          /* index_use_placement's volume set, 0 before */
};

/* A per-key write lock: a no-wait DB_LOCK_WRITE owned by a transaction that
 * does nothing else.  A lock-only transaction pins no pages and no log, and
 * failchk aborts it (freeing the lock) if its process dies. */
struct mkv_keylock {
    DB_TXN *txn;
    unsigned gen; /* the handle's generation it was taken in (index_generation) */
};

/* Opens (creating if needed) the environment in home: for the admin tools.
 * Returns 0 or -1 with a reason in err.  failchk runs for processes that
 * died.  If the environment needs recovery, or an open fails for a passing
 * reason (a recovery under way elsewhere), it retries for up to 20 s: a
 * running mkv-fcgi supervisor recovers it.  After that it recovers itself,
 * but only if no other process is attached: recovery under live processes
 * would pull the regions from under them.  Otherwise it fails saying so.
 *
 * The handle rejoins the environment after a panic (DB_RUNRECOVERY: a
 * process died inside Berkeley DB), met by any call or by a background check
 * every 250 ms: once no thread is inside a Berkeley DB call it leaves the
 * environment (gives its registry slot up, so the supervisor's recovery need
 * not kill this process), asks the mkv-fcgi supervisors of the attached
 * workers to check it now (SIGUSR1), waits up to 60 s for the recovery (and
 * recovers itself as above when nobody else is attached), and opens it
 * again: the generation (index_generation) goes up.  A call made outside a
 * key lock is then redone on the new handle; a call made while this thread
 * holds a key lock taken in an older generation fails (MKV_ERR): the lock
 * went with the old environment, and the caller redoes the whole unit
 * (index_rejoined).  Scan callbacks must not call index functions. */
int index_open(struct mkv_index *ix, const char *home, int cache_mb, char *err, size_t errlen);

/* The handle's generation: 0 at open, one more after each rejoin. */
unsigned index_generation(struct mkv_index *ix);

/* For a unit of work (lock, read, write, unlock) that failed: 1 if the
 * handle was rejoined since generation gen (waiting for a rejoin under way,
 * or starting it if the handle met a panic), so the unit should be redone
 * from its start; 0 if the failure stands.  Always 0 for handles that do not
 * rejoin. */
int index_rejoined(struct mkv_index *ix, unsigned gen);

/* Brackets a direct use of ix->env (mkv-upkeep): no rejoin swaps the handle
 * or leaves the environment while a thread is inside such a call. */
DB_ENV *index_env_hold(struct mkv_index *ix);
void index_env_release(struct mkv_index *ix);

/* A handle of index_open that must not rejoin (a serving process exits on a
 * panic instead, and is restarted).  Before any other thread uses it. */
void index_no_rejoin(struct mkv_index *ix);

/* Opens without ever running recovery: when the environment needs it the open
 * fails with ix->panic set.  For workers whose supervisor recovers. */
int index_open_norecover(struct mkv_index *ix, const char *home, int cache_mb, char *err,
                         size_t errlen);

/* Opens with recovery if needed (DB_RECOVER): only while no other process
 * uses the environment (the supervisor's monitor, with every worker gone). */
int index_recover(struct mkv_index *ix, const char *home, int cache_mb, char *err, size_t errlen);

/* Holds off every new opener of the environment (Berkeley DB's registration
 * lock) until the returned descriptor is closed, or until Berkeley DB's own
 * registration in this process releases it at the end of a recovery.  For
 * the supervisor's forced recovery: nobody may attach to the regions between
 * their removal and the recovery.  Returns -1 if there is no registry. */
int index_hold_registrations(const char *home);

/* The pids of the processes attached to the environment (other than this
 * one), at most max of them.  Returns how many, 0 without a registry. */
int index_attached(const char *home, pid_t *pids, int max);

void index_close(struct mkv_index *ix);

/* The records live in records.db, in the compact form of lib/recbin.h; an
 * index written by mkv 0.1 holds text records in index.db instead.  Such an
 * index opens (ix->old_format) but serves nothing until `mkv-upkeep upgrade`
 * converts it: every call fails with MKV_OLDFORMAT, and index_open refuses it
 * unless index_allow_old_format was called (mkv-upkeep). */
void index_allow_old_format(void);

/* Whether a records file this process creates is compressed (the setting
 * index_compress; default no): a compressed B-tree (recbin_compress) takes
 * about half the disk and makes each lookup decode part of a page.  Fixed
 * when the file is created (volumes.db remembers it); an existing file is
 * opened as it was made.  Before index_open. */
void index_set_compress(int on);

/* 0 when ix serves records; MKV_OLDFORMAT while the index waits for its
 * upgrade (checking, at most once a second, whether it is done: a worker
 * serves again without a restart). */
int index_ready(struct mkv_index *ix);

/* The placement this process writes with: a record whose volumes are the
 * key's placement over these volumes is stored without them (recbin.h).
 * Adds the set to the volume table if new.  MKV_OK or MKV_ERR. */
int index_use_placement(struct mkv_index *ix, char *const *volumes, int n, int replicas,
                        int subvolumes);

/* 1 when rec (as index_get read it) lists exactly the key's placement over
 * the volume set this process writes with: the placement need not be
 * computed again (GET's Key-Balance). */
int index_placed(const struct mkv_index *ix, const struct mkv_record *rec);

/* index_use_placement with a configuration's volumes. */
struct mkv_config;
int index_use_cfg(struct mkv_index *ix, const struct mkv_config *cfg);

int index_get(struct mkv_index *ix, const char *key, size_t klen, struct mkv_record *rec);
/* Durable writes: MKV_OK once on disk; MKV_ERR (nothing changed) or
 * MKV_UNSURE (changed, flush failed); index_del also MKV_NOTFOUND. */
int index_put(struct mkv_index *ix, const char *key, size_t klen, const struct mkv_record *rec);
int index_del(struct mkv_index *ix, const char *key, size_t klen);

/* index_put without waiting for the disk: the commit is written to the log
 * file (it survives the crash of any process) but flushed only by the next
 * durable commit (a crash of the machine may lose it).  For a record nothing
 * is acknowledged on: PUT's SOFT record while the replicas are written. */
int index_put_written(struct mkv_index *ix, const char *key, size_t klen,
                      const struct mkv_record *rec);

/* Writes len bytes as key's stored record, unchecked: for test tools that
 * make the state of a damaged index.  Durable; returns as index_put. */
int index_put_stored(struct mkv_index *ix, const char *key, size_t klen, const char *val,
                     size_t len);

/* MKV_OK with the lock held, MKV_BUSY if another thread or process holds it. */
int index_lock(struct mkv_index *ix, const char *key, size_t klen, struct mkv_keylock *kl);
void index_unlock(struct mkv_index *ix, struct mkv_keylock *kl);

/* index_lock for admin tools: the lock also carries the key's admin marker,
 * so that a worker's write that meets it waits for the tool
 * (index_lock_behind_admin) instead of failing.  Released by index_unlock. */
int index_lock_admin(struct mkv_index *ix, const char *key, size_t klen, struct mkv_keylock *kl);

/* For a key index_lock found busy: while an admin tool holds it (a
 * rebalance moving the key, say), retries every 10 ms for up to wait_ms.  A
 * client's write of the key during a rebalance is then answered as without
 * one.  Returns as index_lock; MKV_BUSY at once when the holder is not an
 * admin tool. */
int index_lock_behind_admin(struct mkv_index *ix, const char *key, size_t klen,
                            struct mkv_keylock *kl, int wait_ms);

/* index_lock_admin, retried every 10 ms for up to wait_ms while the key is
 * busy: for admin tools, which wait for a worker's write to end instead of
 * failing the key.  Returns as index_lock. */
int index_lock_wait(struct mkv_index *ix, const char *key, size_t klen, struct mkv_keylock *kl,
                    int wait_ms);

/* For a key index_lock found busy: if a process that died still has an
 * active transaction (its lock may be the one in the way), waits up to
 * wait_ms for failchk to abort it, retrying the lock.  Returns as index_lock;
 * MKV_BUSY at once when no dead process holds anything.  A front that
 * retries a request whose worker died (nginx does, for PUT and DELETE)
 * meets the dead worker's lock: this lets the retry through. */
int index_lock_after_dead(struct mkv_index *ix, const char *key, size_t klen,
                          struct mkv_keylock *kl, int wait_ms);

/* Flushes the log: every commit made so far becomes durable. */
int index_flush(struct mkv_index *ix);

/* Aborts transactions and frees locks of dead processes.  MKV_OK, or MKV_ERR
 * with ix->panic set when the environment needs full recovery. */
int index_failchk(struct mkv_index *ix);

/* Checkpoints if kbytes of log were written or minutes passed since the last. */
int index_checkpoint(struct mkv_index *ix, unsigned kbytes, unsigned minutes);

/* Calls fn for every record with key >= from, in byte order, until fn
 * returns non-zero.  rec is NULL for a record that does not decode
 * (MKV_BADREC; raw holds its stored bytes, for a tool that shows them); its volumes are filled in
 * only with INDEX_SCAN_VOLS (the volumes of most records are computed from the key, and a listing
 * needs none).  Returns MKV_OK or MKV_ERR. */
enum { INDEX_SCAN_VOLS = 1 };
typedef int (*index_scan_fn)(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                             const char *raw, size_t rawlen);
int index_scan(struct mkv_index *ix, const char *from, size_t fromlen, unsigned flags,
               index_scan_fn fn, void *arg);

/* MKV_OK when key has a record (sound or not), MKV_NOTFOUND, or MKV_ERR. */
int index_exists(struct mkv_index *ix, const char *key, size_t klen);

/* Opens the records of an environment that env has open by itself (no
 * index handle: mkv-upkeep's check of a backup copy), with the settings the
 * file was made with; index.db for an index of mkv 0.1.  0 or a Berkeley DB
 * error. */
int index_records_open(DB_ENV *env, DB **out);

/* Compacts the records file: pages filled, free pages given back to the file
 * system.  Online: many short transactions.  *freed gets the pages given
 * back.  MKV_OK or MKV_ERR. */
int index_compact(struct mkv_index *ix, unsigned long *freed);

/* Converts an index of mkv 0.1 (text records in index.db) into records.db,
 * built beside it under another name and renamed once complete, so an
 * interrupted run leaves the old index serving nothing and whole; the old
 * file is kept as index-v0.db.  Records that do not decode are reported
 * (report(arg, key, klen, why)) and left out.  Run while nothing writes the
 * old file (mkv 0.1's workers stopped: the new ones refuse until it is
 * done).  MKV_OK with the counts, or MKV_ERR with a reason in err. */
typedef void (*index_upgrade_fn)(void *arg, const char *key, size_t klen, const char *why);
int index_upgrade(struct mkv_index *ix, unsigned long *copied, unsigned long *skipped,
                  index_upgrade_fn report, void *arg, char *err, size_t errlen);

/* Writes n records (keys[i], klens[i] bytes -> recs[i]) in one transaction,
 * committed as ix->nosync says; retried whole on a deadlock.  For bulk
 * loaders (tools/bulkload): a few thousand puts per commit.  MKV_OK or
 * MKV_ERR (nothing written). */
int index_put_batch(struct mkv_index *ix, const char *const *keys, const size_t *klens,
                    const struct mkv_record *recs, int n);

/* Counters of the environment since it was created, for /?stats. */
struct mkv_index_stats {
    unsigned long cache_hits, cache_misses; /* page requests found / not found in the cache */
    unsigned long lock_waits;               /* lock requests that had to wait */
    unsigned long lock_refused;             /* no-wait requests refused (key locks: 409) */
    unsigned long deadlocks;                /* broken by the detector (retried) */
};

/* Fills st.  MKV_OK, or MKV_ERR (st zeroed) when Berkeley DB cannot say. */
int index_stats(struct mkv_index *ix, struct mkv_index_stats *st);

/* Named entries kept in volumes.db beside the volume table, for the S3
 * routes: kind 'b' a bucket (its creation time), 'u' a multipart upload.
 * A name of up to INDEX_META_NAME_MAX bytes, a value of up to
 * INDEX_META_VALUE_MAX.  add: MKV_OK, MKV_EXISTS; del, get: MKV_OK,
 * MKV_NOTFOUND (get: MKV_ERR also when the value passes cap); each MKV_ERR
 * on an index failure.  list calls fn for the entries of kind from name
 * `from` on, in name order, until it returns non-zero. */
#define INDEX_META_NAME_MAX  1100
#define INDEX_META_VALUE_MAX 2048
int index_meta_add(struct mkv_index *ix, char kind, const char *name, size_t len, const void *val,
                   size_t vlen);
int index_meta_del(struct mkv_index *ix, char kind, const char *name, size_t len);
int index_meta_get(struct mkv_index *ix, char kind, const char *name, size_t len, void *val,
                   size_t cap, size_t *vlen);
typedef int (*index_meta_fn)(void *arg, const char *name, size_t len, const void *val, size_t vlen);
int index_meta_list(struct mkv_index *ix, char kind, const char *from, size_t fromlen,
                    index_meta_fn fn, void *arg);

#endif
