/* index_int.h: internal to the index module (lib/index.c, lib/rejoin.c);
 * nothing outside those two files includes it.  index.c opens the
 * environment and runs the calls on it; rejoin.c keeps index_open's handles
 * usable across a panic (see index_open in index.h).  What they share is
 * here: the rejoin state the calls update, the bracket every call runs in,
 * and the two steps of opening that a rejoin repeats. */
#ifndef MKV_INDEX_INT_H
#define MKV_INDEX_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "index.h"

/* Not a Berkeley DB error: a call made while this thread holds a key lock of
 * an older generation, or after a rejoin gave up. */
#define ERR_STALE (-1)

/* The state of a handle of index_open, which rejoins the environment after
 * a panic (see index.h).  rw is held for reading by every call on the
 * handle, for writing by a rejoin: the handles are swapped, and the
 * environment left, only while no thread is inside Berkeley DB.  index.c
 * updates unflushed and reads lost; the rest is rejoin.c's. */
struct mkv_rejoin {
    pthread_rwlock_t rw;
    atomic_uint gen;
    atomic_int unflushed; /* ix->nosync commits since the last index_flush */
    atomic_int lost;      /* some of them went with an environment left since */
    atomic_int failed;    /* a rejoin gave up: every call fails */
    int rejoins;
    int cache_mb;
    char home[PATH_MAX];
    pthread_t watcher;
    pthread_mutex_t wmu;
    pthread_cond_t wcond;
    int stop; /* under wmu */
};

/* ---- rejoin.c: the bracket of every call on a handle ---- */

/* Enters a call on ix: *gen gets the handle's generation.  -1 (nothing to
 * do) when this thread holds a key lock of an older generation (a rejoin cut
 * its unit of work), or after a rejoin gave up. */
int rj_enter(struct mkv_index *ix, unsigned *gen);
void rj_leave(struct mkv_index *ix);

/* After a call that returned *ret in generation gen: whether to run it
 * again, on the rejoined handle.  Not inside a unit of work: its lock is
 * gone, and *ret becomes ERR_STALE (the new handle is sound: no panic). */
int rj_redo(struct mkv_index *ix, int *ret, unsigned gen);

/* The key locks this thread holds on ix, counted for enter and redo:
 * held_lock after index_lock took one in generation gen, held_unlock when
 * index_unlock lets it go.  Nothing for handles that do not rejoin. */
void held_lock(struct mkv_index *ix, unsigned gen);
void held_unlock(struct mkv_index *ix);

/* Makes ix, just opened on home, one that rejoins: its state and its
 * background check.  0, or -1 with a reason in err (ix is left as it was,
 * still open: the caller closes it). */
int start_rejoin(struct mkv_index *ix, const char *home, int cache_mb, char *err, size_t errlen);

/* Stops the background check and frees the rejoin state (none: nothing). */
void drop_rejoin(struct mkv_index *ix);

/* ---- index.c: opening, repeated by a rejoin ---- */

/* Opens home's environment into ix, waiting tries x 0.5 s for a recovery by
 * someone else (probing in a child first if probe: only where no other
 * thread runs), and recovering it itself when nobody else is attached.
 * 0, or -1 with a reason in err. */
int wait_open(struct mkv_index *ix, const char *home, int cache_mb, int tries, int probe, char *err,
              size_t errlen);

/* Gives this process's registry slot up (see index.c): only while it has no
 * handle open on home, or none it will use again. */
void registry_release_self(const char *home);

/* Moves the handles of fresh, just opened, into ix (a rejoin). */
void index_adopt(struct mkv_index *ix, struct mkv_index *fresh);

/* ---- index.c: the records file, for index_upgrade (upgrade.c) ---- */

/* Opens (flags: DB_CREATE or 0) a records file of env, compressed or not as
 * vdb's note says (written first, as index_set_compress wants, for a new
 * index).  0 or a Berkeley DB error. */
int open_records(DB_ENV *env, DB *vdb, const char *file, u_int32_t flags, DB **out);

/* Decodes a stored record (format 1, or text) of key into rec, with its
 * volumes if want_vols; inside: in the call bracket already.  MKV_OK or
 * MKV_BADREC. */
int decode_stored(struct mkv_index *ix, const char *key, size_t klen, const void *val, size_t vlen,
                  struct mkv_record *rec, int want_vols, int inside);

/* The stored form of rec into out (cap bytes), giving new volume names ids
 * first if it names any: its length, or -1. */
int index_encode(struct mkv_index *ix, const char *key, size_t klen, const struct mkv_record *rec,
                 unsigned char *out, size_t cap);

#endif
