/* logfile.h: shared by the LD_PRELOAD shims: whether a descriptor is one of
 * Berkeley DB's log files (".../log.NNNNNNNNNN"), found through /proc. */
#ifndef MKV_SHIM_LOGFILE_H
#define MKV_SHIM_LOGFILE_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int is_db_log_file(int fd)
{
    char link[64], path[PATH_MAX];
    const char *base;
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "log.", 4) == 0;
}

#endif
