/* log.c: timestamped one-line messages on stderr.  One fprintf per line, so
 * lines of concurrent threads and processes do not interleave. */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int level;

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
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        return -1;
    if (dup2(fd, 2) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void emit(const char *tag, const char *fmt, va_list ap)
{
    char msg[2048], stamp[32];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "%s.%06ldZ %d %s %s\n", stamp, (long)tv.tv_usec, (int)getpid(), tag, msg);
}

#define LOG_FN(name, min, tag)                                                                     \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        if (level < (min))                                                                         \
            return;                                                                                \
        va_start(ap, fmt);                                                                         \
        emit(tag, fmt, ap);                                                                        \
        va_end(ap);                                                                                \
    }

LOG_FN(log_error, 0, "error")
LOG_FN(log_info, 1, "info")
LOG_FN(log_debug, 2, "debug")
