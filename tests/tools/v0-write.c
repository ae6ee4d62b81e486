/* v0-write.c: test helper, writes an index as mkv 0.1 did: a transactional
 * Berkeley DB environment in DIR holding one plain btree, index.db, whose
 * values are the original's record text.  For the upgrade test (mkv-upkeep
 * upgrade converts such an index).
 *
 *     v0-write DIR < lines
 *
 * Each line is "<key>\t<value>", both with %XX escapes allowed
 * (unescape_nonprint).  Built by make as build/tests/tools/v0-write. */
#include <db.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"

#define BATCH 5000

static int put_line(DB *db, DB_TXN *txn, char *line, size_t n)
{
    char *tab = memchr(line, '\t', n);
    long kl, vl;
    DBT k, v;

    if (!tab)
        return -1;
    kl = unescape_nonprint(line, (size_t)(tab - line), line, (size_t)(tab - line));
    vl = unescape_nonprint(tab + 1, n - (size_t)(tab - line) - 1, tab + 1,
                           n - (size_t)(tab - line) - 1);
    if (kl <= 0 || vl < 0)
        return -1;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = line;
    k.size = (u_int32_t)kl;
    v.data = tab + 1;
    v.size = (u_int32_t)vl;
    return db->put(db, txn, &k, &v, 0) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    DB_ENV *env = NULL;
    DB *db = NULL;
    DB_TXN *txn = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long count = 0;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: v0-write DIR < 'key<TAB>value' lines\n");
        return 2;
    }
    mkdir(argv[1], 0700);
    if (db_env_create(&env, 0) != 0 ||
        env->open(env, argv[1],
                  DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL,
                  0600) != 0 ||
        db_create(&db, env, 0) != 0 ||
        db->open(db, NULL, "index.db", NULL, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0600) != 0) {
        fprintf(stderr, "v0-write: cannot create the index in %s\n", argv[1]);
        goto cleanup;
    }
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (!txn && env->txn_begin(env, NULL, &txn, 0) != 0)
            goto cleanup;
        if (put_line(db, txn, line, (size_t)n) < 0) {
            fprintf(stderr, "v0-write: bad line %ld\n", count + 1);
            goto cleanup;
        }
        if (++count % BATCH == 0) {
            if (txn->commit(txn, 0) != 0)
                goto cleanup;
            txn = NULL;
        }
    }
    if (txn && txn->commit(txn, 0) != 0)
        goto cleanup;
    txn = NULL;
    printf("%ld records\n", count);
    rc = 0;

cleanup:
    if (txn)
        txn->abort(txn);
    if (db)
        db->close(db, 0);
    if (env)
        env->close(env, 0);
    free(line);
    return rc;
}
