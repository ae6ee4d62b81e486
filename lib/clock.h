/* clock.h: the one clock for durations, timeouts and deadlines.
 *
 * CLOCK_MONOTONIC: it never jumps when the wall clock is set (NTP steps,
 * an operator's `date -s`), so a timeout can neither fire early nor hang.
 * The wall clock (gettimeofday, time()) is for dates only, such as log
 * timestamps. */
#ifndef MKV_CLOCK_H
#define MKV_CLOCK_H

/* Milliseconds (with a fraction) since an arbitrary fixed point: only the
 * difference of two readings means anything. */
double clock_ms(void);

#endif
