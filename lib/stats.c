/* stats.c: the shared request counters (see stats.h). */
#include "stats.h"

#include <string.h>
#include <sys/mman.h>

struct mkv_stats *stats_create(void)
{
    void *p = mmap(NULL, sizeof(struct mkv_stats), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0, sizeof(struct mkv_stats));
    return p;
}

void stats_request(struct mkv_stats *st, const char *method, int status, long long bytes_in,
                   long long bytes_out)
{
    int cls = status >= 100 && status < 600 ? status / 100 : 0;

    if (!st)
        return;
    atomic_fetch_add(&st->requests[method_id(method)][cls], 1);
    if (bytes_in > 0)
        atomic_fetch_add(&st->bytes_in, (unsigned long)bytes_in);
    if (bytes_out > 0)
        atomic_fetch_add(&st->bytes_out, (unsigned long)bytes_out);
}

void stats_volume_error(struct mkv_stats *st, const struct mkv_config *cfg, const char *url)
{
    const char *host = strstr(url, "://");

    if (!st || !host)
        return;
    host += 3;
    for (int i = 0; i < cfg->nvolumes; i++) {
        size_t n = strlen(cfg->volumes[i]);
        if (!strncmp(host, cfg->volumes[i], n) && (host[n] == '/' || host[n] == '\0')) {
            atomic_fetch_add(&st->volume_errors[i], 1);
            return;
        }
    }
}
