/* voltab.h: the volume table of an index (volumes.db in the environment).
 *
 * Stored records (recbin.h) name volumes by number, and most name none at
 * all: their volumes are the key's placement over a volume set, the
 * volumes, replicas and subvolumes a writer was configured with.  The
 * table gives each volume name and each volume set a number, once, for
 * good: entries are only ever added, so a number read once stays right.
 *
 *     "n" + 4-byte big-endian id  ->  the name ("host:port", as configured)
 *     "s" + 4-byte big-endian id  ->  replicas (1 byte), subvolumes (4 bytes
 *                                     big-endian), the volumes' name ids
 *                                     (4 bytes each), in configured order
 *
 * Each process keeps a copy in memory, read at open and again when a
 * record names an id it has not seen (another process added it).  Internal
 * to the index module: index.c calls these inside its call bracket. */
#ifndef MKV_VOLTAB_H
#define MKV_VOLTAB_H

#include <db.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define VOLTAB_MAX 65536 /* names or sets a table may hold */

struct voltab_set {
    int replicas, subvolumes, n;
    uint32_t *ids;
    char **names; /* the volumes, for key2volumes_list */
};

struct voltab {
    pthread_rwlock_t rw;
    int nnames, capnames;
    char **names; /* id i is names[i - 1]; never freed before voltab_free */
    int nsets, capsets;
    struct voltab_set *sets;
};

int voltab_init(struct voltab *t);
void voltab_free(struct voltab *t);

/* Reads the entries of db that t does not hold yet.  0 or a Berkeley DB
 * error. */
int voltab_load(struct voltab *t, DB *db);

/* The name of id, or NULL if t does not know it (voltab_load, then ask
 * again).  The string stays valid until voltab_free. */
const char *voltab_name(struct voltab *t, uint32_t id);

/* Copies set id into *out (its arrays stay valid until voltab_free); 0, or
 * -1 if t does not know it. */
int voltab_set(struct voltab *t, uint32_t id, struct voltab_set *out);

/* The id of a name or of a set, adding it to db (in txn) when it has none.
 * 0 or a Berkeley DB error (DB_LOCK_DEADLOCK: the caller retries the
 * transaction; t is unchanged until voltab_load reads the committed entry). */
int voltab_name_id(struct voltab *t, DB *db, DB_TXN *txn, const char *name, size_t len,
                   uint32_t *id);
int voltab_set_id(struct voltab *t, DB *db, DB_TXN *txn, char *const *names, int n, int replicas,
                  int subvolumes, uint32_t *id);

/* Looks up without adding: 0 if t holds it, -1 otherwise. */
int voltab_find_name(struct voltab *t, const char *name, size_t len, uint32_t *id);

#endif
