/* record.c: encode and decode index records (see record.h). */
#include "record.h"

#include <stdio.h>
#include <string.h>

int record_decode(const char *buf, size_t len, struct mkv_record *rec)
{
    const char *p = buf, *end = buf + len;

    memset(rec, 0, sizeof(*rec));
    if (memchr(buf, '\0', len))
        return -1; /* the text format has no NUL; C strings below rely on it */
    if (len >= 7 && !memcmp(p, "DELETED", 7)) {
        rec->deleted = 1;
        p += 7;
    }
    if (end - p >= 4 && !memcmp(p, "HASH", 4)) {
        if (end - p < 36)
            return -1;
        memcpy(rec->hash, p + 4, 32);
        rec->hash[32] = '\0';
        p += 36;
    }
    /* The rest split on ','.  An empty rest is one empty volume name in the
     * original; we keep that so a round trip is exact. */
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t n = (size_t)(stop - p);

        if (rec->nvols == MKV_RECORD_VOLS || n >= MKV_VOLPATH_MAX)
            return -1;
        memcpy(rec->vols[rec->nvols], p, n);
        rec->vols[rec->nvols][n] = '\0';
        rec->nvols++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int record_join_vols(const struct mkv_record *rec, char *out, size_t cap)
{
    size_t off = 0;

    if (cap == 0)
        return -1;
    out[0] = '\0';
    for (int i = 0; i < rec->nvols; i++) {
        int n = snprintf(out + off, cap - off, "%s%s", i ? "," : "", rec->vols[i]);
        if (n < 0 || (size_t)n >= cap - off)
            return -1;
        off += (size_t)n;
    }
    return (int)off;
}

int record_encode(const struct mkv_record *rec, char *out, size_t cap)
{
    int n =
        snprintf(out, cap, "%s%s%s", rec->deleted ? "DELETED" : "",
                 strlen(rec->hash) == 32 ? "HASH" : "", strlen(rec->hash) == 32 ? rec->hash : "");
    int m;

    if (n < 0 || (size_t)n >= cap)
        return -1;
    m = record_join_vols(rec, out + n, cap - (size_t)n);
    return m < 0 ? -1 : n + m;
}

void record_set_vols(struct mkv_record *rec, const struct mkv_placement *p)
{
    rec->nvols = p->n;
    for (int i = 0; i < p->n; i++)
        memcpy(rec->vols[i], p->vols[i], MKV_VOLPATH_MAX);
}

int record_lists_first(const struct mkv_record *rec, const struct mkv_placement *p)
{
    if (rec->nvols < p->n)
        return 0;
    for (int i = 0; i < p->n; i++)
        if (strcmp(rec->vols[i], p->vols[i]) != 0)
            return 0;
    return 1;
}

int record_matches(const struct mkv_record *rec, const struct mkv_placement *p)
{
    return rec->nvols == p->n && record_lists_first(rec, p);
}
