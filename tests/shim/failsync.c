/* failsync.c: an LD_PRELOAD shim for the fault tests.  While the file named
 * by MKV_FAILSYNC_FLAG exists, fsync and fdatasync of a Berkeley DB log file
 * (".../log.NNNNNNNNNN") fail with EIO, as a failing disk would: the commit
 * record was written (it is in the page cache) but is not known to be on
 * disk.  Everything else passes through to libc. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logfile.h"

static int failing(int fd)
{
    const char *flag = getenv("MKV_FAILSYNC_FLAG");

    return flag != NULL && access(flag, F_OK) == 0 && is_db_log_file(fd);
}

static int call_real(const char *name, int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);

    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd)
{
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return call_real("fdatasync", fd);
}

int fsync(int fd)
{
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return call_real("fsync", fd);
}
