/* voltab.c: the volume table of an index (see voltab.h). */
#include "voltab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "record.h"

#define SET_MAX (1 + 4 + 4 * MKV_MAX_VOLUMES)

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int voltab_init(struct voltab *t)
{
    memset(t, 0, sizeof(*t));
    return pthread_rwlock_init(&t->rw, NULL) == 0 ? 0 : -1;
}

void voltab_free(struct voltab *t)
{
    for (int i = 0; i < t->nnames; i++)
        free(t->names[i]);
    for (int i = 0; i < t->nsets; i++) {
        free(t->sets[i].ids);
        free(t->sets[i].names);
    }
    free(t->names);
    free(t->sets);
    pthread_rwlock_destroy(&t->rw);
    memset(t, 0, sizeof(*t));
}

/* ---- loading (t->rw held for writing) ---- */

static int add_name(struct voltab *t, const unsigned char *v, size_t len)
{
    char *s;

    if (len == 0 || len >= MKV_VOLPATH_MAX || !record_volpath_ok((const char *)v, len))
        return -1; /* not a name any record could use */
    if (t->nnames == t->capnames) {
        int cap = t->capnames ? 2 * t->capnames : 16;
        char **n = realloc(t->names, (size_t)cap * sizeof(*n));

        if (!n)
            return -1;
        t->names = n;
        t->capnames = cap;
    }
    if (!(s = malloc(len + 1)))
        return -1;
    memcpy(s, v, len);
    s[len] = '\0';
    t->names[t->nnames++] = s;
    return 0;
}

static int add_set(struct voltab *t, const unsigned char *v, size_t len)
{
    struct voltab_set s;
    size_t n = (len - 5) / 4;

    if (len < 9 || (len - 5) % 4 || n > MKV_MAX_VOLUMES || v[0] == 0)
        return -1;
    s.replicas = v[0];
    s.subvolumes = (int)get_be32(v + 1);
    s.n = (int)n;
    if (s.subvolumes < 1 || s.replicas > s.n)
        return -1;
    if (t->nsets == t->capsets) {
        int cap = t->capsets ? 2 * t->capsets : 4;
        struct voltab_set *a = realloc(t->sets, (size_t)cap * sizeof(*a));

        if (!a)
            return -1;
        t->sets = a;
        t->capsets = cap;
    }
    s.ids = malloc(n * sizeof(*s.ids));
    s.names = malloc(n * sizeof(*s.names));
    if (!s.ids || !s.names)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        s.ids[i] = get_be32(v + 5 + 4 * i);
        if (s.ids[i] == 0 || s.ids[i] > (uint32_t)t->nnames)
            goto fail;
        s.names[i] = t->names[s.ids[i] - 1];
    }
    t->sets[t->nsets++] = s;
    return 0;
fail:
    free(s.ids);
    free(s.names);
    return -1;
}

/* A key and a value for a cursor that reads into memory it grows. */
static void cursor_dbts(DBT *k, DBT *v)
{
    memset(k, 0, sizeof(*k));
    memset(v, 0, sizeof(*v));
    k->flags = v->flags = DB_DBT_REALLOC;
}

/* One entry read by voltab_load: taken if it is the next id of its kind. */
static void take(struct voltab *t, const DBT *k, const DBT *v)
{
    const unsigned char *key = k->data;
    uint32_t id;

    if (k->size != 5)
        return;
    id = get_be32(key + 1);
    if (key[0] == 'n' && id == (uint32_t)t->nnames + 1 && t->nnames < VOLTAB_MAX)
        add_name(t, v->data, v->size);
    else if (key[0] == 's' && id == (uint32_t)t->nsets + 1 && t->nsets < VOLTAB_MAX)
        add_set(t, v->data, v->size);
}

int voltab_load(struct voltab *t, DB *db)
{
    DBC *c = NULL;
    DBT k, v;
    int ret;

    cursor_dbts(&k, &v);
    pthread_rwlock_wrlock(&t->rw);
    if ((ret = db->cursor(db, NULL, &c, 0)) != 0)
        goto cleanup;
    while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0)
        take(t, &k, &v);
    if (ret == DB_NOTFOUND)
        ret = 0;
cleanup:
    if (c)
        c->close(c);
    pthread_rwlock_unlock(&t->rw);
    free(k.data);
    free(v.data);
    return ret;
}

/* ---- lookups ---- */

const char *voltab_name(struct voltab *t, uint32_t id)
{
    const char *s = NULL;

    pthread_rwlock_rdlock(&t->rw);
    if (id >= 1 && id <= (uint32_t)t->nnames)
        s = t->names[id - 1];
    pthread_rwlock_unlock(&t->rw);
    return s;
}

int voltab_set(struct voltab *t, uint32_t id, struct voltab_set *out)
{
    int rc = -1;

    pthread_rwlock_rdlock(&t->rw);
    if (id >= 1 && id <= (uint32_t)t->nsets) {
        *out = t->sets[id - 1];
        rc = 0;
    }
    pthread_rwlock_unlock(&t->rw);
    return rc;
}

int voltab_find_name(struct voltab *t, const char *name, size_t len, uint32_t *id)
{
    int rc = -1;

    pthread_rwlock_rdlock(&t->rw);
    for (int i = 0; i < t->nnames && rc < 0; i++)
        if (strlen(t->names[i]) == len && !memcmp(t->names[i], name, len)) {
            *id = (uint32_t)i + 1;
            rc = 0;
        }
    pthread_rwlock_unlock(&t->rw);
    return rc;
}

/* ---- adding ---- */

/* Looks for an entry of kind (its value, len bytes) in db under txn, or
 * adds it as the next id.  0 with *id, or a Berkeley DB error. */
static int find_or_add(DB *db, DB_TXN *txn, char kind, const void *val, size_t len, uint32_t *id)
{
    unsigned char kb[5] = {(unsigned char)kind, 0, 0, 0, 0};
    uint32_t last = 0;
    DBC *c = NULL;
    DBT k, v;
    int ret;

    cursor_dbts(&k, &v);
    if ((ret = db->cursor(db, txn, &c, 0)) != 0)
        goto cleanup;
    k.data = malloc(5);
    if (!k.data) {
        ret = ENOMEM;
        goto cleanup;
    }
    memcpy(k.data, kb, 5);
    k.size = 5;
    /* Entries of one kind are contiguous, in id order (big-endian ids). */
    for (ret = c->get(c, &k, &v, DB_SET_RANGE | DB_RMW); ret == 0;
         ret = c->get(c, &k, &v, DB_NEXT | DB_RMW)) {
        if (k.size != 5 || ((unsigned char *)k.data)[0] != (unsigned char)kind)
            break;
        last = get_be32((unsigned char *)k.data + 1);
        if (v.size == len && !memcmp(v.data, val, len)) {
            *id = last;
            goto cleanup;
        }
    }
    if (ret != 0 && ret != DB_NOTFOUND)
        goto cleanup;
    if (last >= VOLTAB_MAX) {
        ret = ENOSPC;
        goto cleanup;
    }
    c->close(c);
    c = NULL;
    be32(kb + 1, last + 1);
    free(k.data);
    memset(&k, 0, sizeof(k));
    k.data = kb;
    k.size = 5;
    free(v.data);
    memset(&v, 0, sizeof(v));
    v.data = (void *)val;
    v.size = (u_int32_t)len;
    if ((ret = db->put(db, txn, &k, &v, DB_NOOVERWRITE)) == 0)
        *id = last + 1;
    return ret == DB_KEYEXIST ? DB_LOCK_DEADLOCK : ret; /* raced: the caller retries */

cleanup:
    if (c)
        c->close(c);
    free(k.data);
    free(v.data);
    return ret;
}

int voltab_name_id(struct voltab *t, DB *db, DB_TXN *txn, const char *name, size_t len,
                   uint32_t *id)
{
    if (voltab_find_name(t, name, len, id) == 0)
        return 0;
    if (len == 0 || len >= MKV_VOLPATH_MAX || !record_volpath_ok(name, len))
        return EINVAL;
    return find_or_add(db, txn, 'n', name, len, id);
}

int voltab_set_id(struct voltab *t, DB *db, DB_TXN *txn, char *const *names, int n, int replicas,
                  int subvolumes, uint32_t *id)
{
    unsigned char val[SET_MAX];
    int ret;

    if (n < 1 || n > MKV_MAX_VOLUMES || replicas < 1 || replicas > 255 || replicas > n ||
        subvolumes < 1)
        return EINVAL;
    val[0] = (unsigned char)replicas;
    be32(val + 1, (uint32_t)subvolumes);
    for (int i = 0; i < n; i++) {
        uint32_t nid;

        if ((ret = voltab_name_id(t, db, txn, names[i], strlen(names[i]), &nid)) != 0)
            return ret;
        be32(val + 5 + 4 * i, nid);
    }
    /* A set already in memory needs no transaction's look. */
    pthread_rwlock_rdlock(&t->rw);
    for (int i = 0; i < t->nsets; i++) {
        const struct voltab_set *s = &t->sets[i];

        if (s->n == n && s->replicas == replicas && s->subvolumes == subvolumes) {
            int same = 1;

            for (int j = 0; j < n && same; j++)
                same = s->ids[j] == get_be32(val + 5 + 4 * j);
            if (same) {
                *id = (uint32_t)i + 1;
                pthread_rwlock_unlock(&t->rw);
                return 0;
            }
        }
    }
    pthread_rwlock_unlock(&t->rw);
    return find_or_add(db, txn, 's', val, 5 + 4 * (size_t)n, id);
}
