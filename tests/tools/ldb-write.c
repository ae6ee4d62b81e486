/* ldb-write.c: test helper, writes records into a LevelDB the way the
 * original minikeyvalue's index holds them (bytewise keys, snappy tables).
 *
 *     ldb-write DIR [compact] < lines
 *
 * Each input line is "<key>\t<value>"; both may use %XX escapes for any byte
 * (so tabs, newlines, '%' and non-UTF-8 bytes can be written).  DIR is
 * created if missing.  With "compact", the database is compacted afterwards,
 * so its records live in .ldb tables rather than only in the write-ahead
 * log.  Records are written in batches of BATCH puts, not synced, and the
 * last batch synced: the log is then on disk as with a sync per put, and a
 * million records (the index-density bench, tools/bench) take seconds
 * instead of a million fsyncs.  The tables LevelDB builds are the same
 * either way.  Built by make as build/tests/tools/ldb-write. */
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define BATCH 1000

struct writer {
    leveldb_t *db;
    leveldb_writeoptions_t *nosync, *sync;
    leveldb_writebatch_t *batch;
    int pending; /* puts in batch */
};

/* Writes the pending batch (synced if last) and empties it.  0 or -1. */
static int flush_batch(struct writer *w, int last)
{
    char *err = NULL;

    if (w->pending == 0 && !last)
        return 0;
    leveldb_write(w->db, last ? w->sync : w->nosync, w->batch, &err);
    leveldb_writebatch_clear(w->batch);
    w->pending = 0;
    if (err) {
        fprintf(stderr, "ldb-write: %s\n", err);
        leveldb_free(err);
        return -1;
    }
    return 0;
}

/* One input line (n bytes, no newline): decoded into the batch.  0 or -1. */
static int put_line(struct writer *w, char *line, size_t n, long lineno)
{
    char *tab = memchr(line, '\t', n);
    size_t vn;
    long kl, vl;

    if (!tab) {
        fprintf(stderr, "ldb-write: line %ld: no tab\n", lineno);
        return -1;
    }
    vn = n - (size_t)(tab + 1 - line);
    kl = unescape_nonprint(line, (size_t)(tab - line), line, (size_t)(tab - line));
    vl = unescape_nonprint(tab + 1, vn, tab + 1, vn);
    if (kl < 0 || vl < 0) {
        fprintf(stderr, "ldb-write: line %ld: bad %%XX escape\n", lineno);
        return -1;
    }
    leveldb_writebatch_put(w->batch, line, (size_t)kl, tab + 1, (size_t)vl);
    if (++w->pending >= BATCH)
        return flush_batch(w, 0);
    return 0;
}

/* Every line of stdin into the database; the count in *count.  0 or -1. */
static int put_all(struct writer *w, long *count)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;

    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        rc = put_line(w, line, (size_t)n, lineno);
        if (rc == 0)
            (*count)++;
    }
    free(line);
    if (rc == 0 && ferror(stdin)) {
        perror("ldb-write: stdin");
        rc = -1;
    }
    if (rc == 0)
        rc = flush_batch(w, 1);
    return rc;
}

int main(int argc, char **argv)
{
    leveldb_options_t *o;
    struct writer w = {0};
    char *err = NULL;
    long count = 0;
    int rc;

    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "compact") != 0)) {
        fprintf(stderr, "usage: ldb-write DIR [compact] < 'key<TAB>value' lines\n");
        return 2;
    }
    o = leveldb_options_create();
    leveldb_options_set_create_if_missing(o, 1);
    leveldb_options_set_compression(o, leveldb_snappy_compression);
    w.db = leveldb_open(o, argv[1], &err);
    if (err) {
        fprintf(stderr, "ldb-write: %s: %s\n", argv[1], err);
        leveldb_free(err);
        leveldb_options_destroy(o);
        return 1;
    }
    w.nosync = leveldb_writeoptions_create();
    w.sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(w.sync, 1);
    w.batch = leveldb_writebatch_create();
    rc = put_all(&w, &count);
    if (rc == 0 && argc == 3)
        leveldb_compact_range(w.db, NULL, 0, NULL, 0);
    leveldb_writebatch_destroy(w.batch);
    leveldb_writeoptions_destroy(w.nosync);
    leveldb_writeoptions_destroy(w.sync);
    leveldb_close(w.db);
    leveldb_options_destroy(o);
    if (rc == 0)
        printf("%ld records\n", count);
    return rc == 0 ? 0 : 1;
}
