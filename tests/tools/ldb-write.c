/* ldb-write.c: test helper, writes records into a LevelDB the way the
 * original minikeyvalue's index holds them (bytewise keys, snappy tables).
 *
 *     ldb-write DIR [compact] < lines
 *
 * Each input line is "<key>\t<value>"; both may use %XX escapes for any byte
 * (so tabs, newlines, '%' and non-UTF-8 bytes can be written).  DIR is
 * created if missing.  With "compact", the database is compacted afterwards,
 * so its records live in .ldb tables rather than only in the write-ahead
 * log.  Built by make as build/tests/tools/ldb-write. */
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

int main(int argc, char **argv)
{
    leveldb_options_t *o;
    leveldb_writeoptions_t *wo;
    leveldb_t *db;
    char *err = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long count = 0, lineno = 0;
    int rc = 0;

    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "compact") != 0)) {
        fprintf(stderr, "usage: ldb-write DIR [compact] < 'key<TAB>value' lines\n");
        return 2;
    }
    o = leveldb_options_create();
    leveldb_options_set_create_if_missing(o, 1);
    leveldb_options_set_compression(o, leveldb_snappy_compression);
    db = leveldb_open(o, argv[1], &err);
    if (err) {
        fprintf(stderr, "ldb-write: %s: %s\n", argv[1], err);
        leveldb_free(err);
        leveldb_options_destroy(o);
        return 1;
    }
    wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(wo, 1);
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        char *tab;
        long kl, vl;

        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        tab = memchr(line, '\t', (size_t)n);
        if (!tab) {
            fprintf(stderr, "ldb-write: line %ld: no tab\n", lineno);
            rc = 1;
            break;
        }
        kl = unescape_nonprint(line, (size_t)(tab - line), line, (size_t)(tab - line));
        vl = unescape_nonprint(tab + 1, (size_t)(n - (tab + 1 - line)), tab + 1,
                               (size_t)(n - (tab + 1 - line)));
        if (kl < 0 || vl < 0) {
            fprintf(stderr, "ldb-write: line %ld: bad %%XX escape\n", lineno);
            rc = 1;
            break;
        }
        leveldb_put(db, wo, line, (size_t)kl, tab + 1, (size_t)vl, &err);
        if (err) {
            fprintf(stderr, "ldb-write: line %ld: %s\n", lineno, err);
            leveldb_free(err);
            rc = 1;
            break;
        }
        count++;
    }
    if (rc == 0 && argc == 3)
        leveldb_compact_range(db, NULL, 0, NULL, 0);
    free(line);
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);
    leveldb_options_destroy(o);
    if (rc == 0)
        printf("%ld records\n", count);
    return rc;
}
