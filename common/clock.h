/*
 * clock.h - wall and monotonic time in the units the project uses.
 * Thread-safe.
 */
#ifndef HAINK_CLOCK_H
#define HAINK_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock; stored in Redis and tasks). */
int64_t clock_wall_ms(void);
/* Monotonic milliseconds / nanoseconds from an arbitrary origin, for durations and deadlines. */
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);
/* Sleeps ms milliseconds (resumes after signals). */
void clock_sleep_ms(int64_t ms);
/* Writes the UTC date of wall-clock ms as YYYY-MM-DD into out (11 bytes). */
void clock_utc_date(int64_t wall_ms, char out[11]);
/* Writes an RFC 3339 UTC timestamp with milliseconds into out (25 bytes). */
void clock_utc_iso(int64_t wall_ms, char out[25]);

#endif
