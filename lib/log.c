/* log.c: timestamped one-line messages on stderr (or a file in its place),
 * or to syslog.  One fprintf per line, so lines of concurrent threads and
 * processes do not interleave. */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int level;
static int to_syslog;

void log_set_level(int l)
{
    level = l;
}

int log_level(void)
{
    return level;
}

int log_to_file(const char *path)
{
    int fd;

    if (!strcmp(path, "syslog")) {
        /* syslog stamps and tags the lines itself */
        openlog("mkv", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        to_syslog = 1;
        return 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        return -1;
    if (dup2(fd, 2) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void emit(int prio, const char *tag, const char *fmt, va_list ap)
{
    char msg[2048], stamp[32];
    struct timeval tv;
    struct tm tm;

    if (to_syslog) {
        vsnprintf(msg, sizeof(msg), fmt, ap);
        syslog(prio, "%s %s", tag, msg);
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "%s.%06ldZ %d %s %s\n", stamp, (long)tv.tv_usec, (int)getpid(), tag, msg);
}

#define LOG_FN(name, min, prio, tag)                                                               \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        if (level < (min))                                                                         \
            return;                                                                                \
        va_start(ap, fmt);                                                                         \
        emit(prio, tag, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    }

LOG_FN(log_error, 0, LOG_ERR, "error")
LOG_FN(log_info, 1, LOG_INFO, "info")
LOG_FN(log_debug, 2, LOG_DEBUG, "debug")
