/* clock.c: the monotonic clock (see clock.h). */
#include "clock.h"

#include <time.h>

double clock_ms(void)
{
    struct timespec ts;

    /* Cannot fail with a valid clock id and pointer (POSIX). */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
