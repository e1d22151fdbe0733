/*
 * clockshift: an LD_PRELOAD library for tests that moves a process's wall clock without touching
 * the machine's. clock_gettime(CLOCK_REALTIME*) returns the real time plus the whole seconds
 * written in the file $CLOCKSHIFT_FILE (read again at most every 100 ms of monotonic time; a
 * missing or unreadable file is 0). Other clocks pass through, so what a process measures on
 * the monotonic clock does not move: what an NTP step does to a running daemon.
 *
 *   echo 10800 > shift; CLOCKSHIFT_FILE=shift LD_PRELOAD=build/tests/libclockshift.so prog
 *
 * A test tool: no other caller; the state below is this library's, shared by the threads of the
 * process it is loaded into (atomics, no locks).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT, clockid_t */
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int clock_gettime_fn(clockid_t, struct timespec *);

static _Atomic(clock_gettime_fn *) real_clock_gettime;
static _Atomic long shift_seconds;
static _Atomic long long shift_read_at_ms = -1000000;

static long read_shift(void)
{
	const char *path = getenv("CLOCKSHIFT_FILE"); // NOLINT(concurrency-mt-unsafe)
	long v = 0;
	FILE *f = path ? fopen(path, "r") : NULL;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 0;
		(void)fclose(f);
	}
	return v;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	clock_gettime_fn *real = atomic_load(&real_clock_gettime);
	if (!real) {
		real = (clock_gettime_fn *)dlsym(RTLD_NEXT, "clock_gettime");
		atomic_store(&real_clock_gettime, real);
	}
	int rc = real(id, ts);
	if (rc != 0 || (id != CLOCK_REALTIME && id != CLOCK_REALTIME_COARSE))
		return rc;
	struct timespec mono;
	if (real(CLOCK_MONOTONIC, &mono) == 0) {
		long long now_ms = (long long)mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
		if (now_ms - atomic_load(&shift_read_at_ms) >= 100) {
			atomic_store(&shift_read_at_ms, now_ms);
			atomic_store(&shift_seconds, read_shift());
		}
	}
	ts->tv_sec += atomic_load(&shift_seconds);
	return 0;
}
