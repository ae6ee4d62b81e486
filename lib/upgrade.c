/* upgrade.c: converts an index of mkv 0.1 (text records in index.db) into
 * the current one (records.db, recbin.h), for `mkv-upkeep upgrade` (see
 * index_upgrade in index.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_int.h"
#include "log.h"
#include "recbin.h"

#define TMP_FILE  "records.tmp"
#define OLD_FILE  "index.db"
#define KEPT_FILE "index-v0.db"
#define BATCH     5000 /* records a transaction */

struct copy {
    struct mkv_index *ix;
    DB *old, *tmp;
    index_upgrade_fn report;
    void *arg;
    unsigned long copied, skipped;
    struct mkv_record rec;
    unsigned char enc[RECBIN_MAX];
};

static void init_dbt(DBT *d, const void *data, size_t len)
{
    memset(d, 0, sizeof(*d));
    d->data = (void *)data;
    d->size = (u_int32_t)len;
}

/* One record of the old file into txn; 0, or a Berkeley DB error. */
static int copy_one(struct copy *c, DB_TXN *txn, const DBT *k, const DBT *v)
{
    char why[160];
    DBT nk, nv;
    int n;

    if (record_decode_why(v->data, v->size, &c->rec, why, sizeof(why)) < 0) {
        c->report(c->arg, k->data, k->size, why);
        c->skipped++;
        return 0;
    }
    if ((n = index_encode(c->ix, k->data, k->size, &c->rec, c->enc, sizeof(c->enc))) < 0) {
        c->report(c->arg, k->data, k->size, "cannot be stored in the current format");
        c->skipped++;
        return 0;
    }
    init_dbt(&nk, k->data, k->size);
    init_dbt(&nv, c->enc, (size_t)n);
    c->copied++;
    return c->tmp->put(c->tmp, txn, &nk, &nv, 0);
}

/* Copies every record, in key order, BATCH to a transaction (committed
 * without a flush: the file is renamed into place only after a flush). */
static int copy_all(struct copy *c)
{
    DB_ENV *env = c->ix->env;
    DB_TXN *txn = NULL;
    DBC *cur = NULL;
    DBT k, v;
    int ret, n = 0;

    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.flags = v.flags = DB_DBT_REALLOC;
    if ((ret = c->old->cursor(c->old, NULL, &cur, 0)) != 0)
        goto cleanup;
    while ((ret = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
        if (!txn && (ret = env->txn_begin(env, NULL, &txn, 0)) != 0)
            break;
        if ((ret = copy_one(c, txn, &k, &v)) != 0)
            break;
        if (++n % BATCH == 0) {
            ret = txn->commit(txn, DB_TXN_NOSYNC);
            txn = NULL;
            if (ret != 0)
                break;
        }
    }
    if (ret == DB_NOTFOUND)
        ret = 0;
    if (txn) {
        int r2 = ret == 0 ? txn->commit(txn, DB_TXN_NOSYNC) : txn->abort(txn);
        ret = ret ? ret : r2;
    }
cleanup:
    if (cur)
        cur->close(cur);
    free(k.data);
    free(v.data);
    return ret;
}

/* Removes a records.tmp an interrupted run left. */
static int drop_tmp(DB_ENV *env)
{
    int ret = env->dbremove(env, NULL, TMP_FILE, NULL, DB_AUTO_COMMIT);

    return ret == ENOENT ? 0 : ret;
}

static int compact(DB *db)
{
    int ret = 0;

    for (int pass = 0; pass < 2 && ret == 0; pass++) {
        DB_COMPACT cs;

        memset(&cs, 0, sizeof(cs));
        cs.compact_fillpercent = 100;
        ret = db->compact(db, NULL, NULL, NULL, &cs, DB_FREE_SPACE, NULL);
    }
    return ret;
}

/* Puts the new file in place of the old one, in one transaction. */
static int swap_files(DB_ENV *env)
{
    DB_TXN *txn;
    int ret;

    if ((ret = env->txn_begin(env, NULL, &txn, 0)) != 0)
        return ret;
    if ((ret = env->dbrename(env, txn, OLD_FILE, NULL, KEPT_FILE, 0)) != 0 ||
        (ret = env->dbrename(env, txn, TMP_FILE, NULL, "records.db", 0)) != 0) {
        txn->abort(txn);
        return ret;
    }
    return txn->commit(txn, 0);
}

int index_upgrade(struct mkv_index *ix, unsigned long *copied, unsigned long *skipped,
                  index_upgrade_fn report, void *arg, char *err, size_t errlen)
{
    struct copy *c = calloc(1, sizeof(*c));
    const char *step = "memory";
    unsigned gen;
    int ret = ENOMEM;

    *copied = *skipped = 0;
    if (!c)
        goto fail;
    if (!ix->old_format) {
        free(c);
        snprintf(err, errlen, "the index is in the current format already: nothing to do");
        return MKV_OK;
    }
    if (rj_enter(ix, &gen) < 0) {
        free(c);
        snprintf(err, errlen, "the index handle is unusable (recovery)");
        return MKV_ERR;
    }
    c->ix = ix;
    c->report = report;
    c->arg = arg;
    step = "removing an unfinished records.tmp";
    if ((ret = drop_tmp(ix->env)) != 0)
        goto leave;
    step = "opening index.db";
    if ((ret = db_create(&c->old, ix->env, 0)) != 0 ||
        (ret = c->old->open(c->old, NULL, OLD_FILE, NULL, DB_BTREE, DB_AUTO_COMMIT | DB_THREAD,
                            0600)) != 0)
        goto leave;
    step = "creating records.tmp";
    if ((ret = open_records(ix->env, ix->vdb, TMP_FILE, DB_CREATE | DB_EXCL, &c->tmp)) != 0)
        goto leave;
    step = "copying";
    if ((ret = copy_all(c)) != 0)
        goto leave;
    step = "compacting";
    if ((ret = compact(c->tmp)) != 0)
        goto leave;
    step = "flushing the log";
    if ((ret = ix->env->log_flush(ix->env, NULL)) != 0)
        goto leave;
    c->old->close(c->old, 0);
    c->tmp->close(c->tmp, 0);
    c->old = c->tmp = NULL;
    step = "renaming records.tmp to records.db";
    ret = swap_files(ix->env);

leave:
    if (c->old)
        c->old->close(c->old, 0);
    if (c->tmp)
        c->tmp->close(c->tmp, 0);
    rj_leave(ix);
fail:
    if (c) {
        *copied = c->copied;
        *skipped = c->skipped;
    }
    free(c);
    if (ret != 0) {
        snprintf(err, errlen, "upgrade: %s: %s", step, db_strerror(ret));
        return MKV_ERR;
    }
    /* Served from the new file from now on (this handle, and the workers'
     * index_ready within a second). */
    return index_ready(ix) == 0 ? MKV_OK : MKV_ERR;
}
