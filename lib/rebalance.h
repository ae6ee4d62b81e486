/* rebalance.h: moving one key's replicas to where placement puts them now,
 * and repairing missing replicas.  Shared by mkv-rebalance and the worker's
 * REBALANCE method. */
#ifndef MKV_REBALANCE_H
#define MKV_REBALANCE_H

#include <stddef.h>

#include "config.h"
#include "index.h"
#include "volume.h"

enum rb_outcome {
    RB_INPLACE,  /* already where placement wants it (and, with repair, present) */
    RB_MOVED,    /* copies made and/or stray copies removed, record updated */
    RB_PLANNED,  /* dry run: would be moved */
    RB_UNLINKED, /* not live: left alone */
    RB_ABSENT,   /* no record */
    RB_BUSY,     /* a write of the key is in flight: try again later */
    RB_PENDING,  /* keep_old: targets listed first, old copies still listed and
                  * present; call again after a grace period to remove them */
    RB_FAILED    /* see why */
};

struct rb_opts {
    int repair;  /* HEAD every wanted replica even when the record matches */
    int dry_run; /* decide from the record only; change nothing */
    long head_timeout_ms;
    const char *tmpdir; /* where a value is staged between GET and PUT */
    int keep_old;       /* do not remove old copies in the call that listed the
                         * targets before them: a client may hold a redirect to an
                         * old copy, issued just before.  RB_PENDING says so. */
};

/* What rebalance_key found besides its outcome. */
struct rb_notes {
    int lost;  /* copies on volumes no longer configured that did not answer:
                * dropped from the record (a volume lost for good) */
    int never; /* RB_FAILED for a reason no later run changes (a key longer
                * than MKV_KEY_MAX cannot be locked): report it, not a failure */
};

/* Rebalances one key under its write lock (never waits for it).  The record
 * goes through states that each leave every listed replica present, so a kill
 * at any point is finished by running again:
 *   copy to missing targets (each checked: same MD5 sent as staged, a HEAD
 *   that finds the file at its size) -> record = targets + old -> delete
 *   old -> record = targets.  The hash is kept.
 * With o->keep_old it stops after "record = targets + old" (RB_PENDING); the
 * next call, once redirects issued from the old record have been followed,
 * finds the targets listed first and deletes the old copies.  Workers
 * redirect only to the first placement-many copies listed (handle_get), so
 * no new redirect points at an old copy meanwhile.
 * A listed volume that cannot be asked stops the key (a copy is never
 * guessed missing), unless it is no longer in cfg->volumes: then it was taken
 * out for good, and its copy counts as lost (notes->lost, may be NULL). */
enum rb_outcome rebalance_key(const struct mkv_config *cfg, struct mkv_index *ix,
                              struct mkv_vclient *vc, const struct rb_opts *o, const char *key,
                              size_t klen, char *why, size_t whylen, struct rb_notes *notes);

const char *rb_outcome_name(enum rb_outcome r);

#endif
