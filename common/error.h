/*
 * Error codes: functions return 0 or a negative errno. sdw_strerror() names either sign, is
 * thread-safe (no static buffer), and is where project-specific codes get their text.
 */
#ifndef SDWAN_COMMON_ERROR_H
#define SDWAN_COMMON_ERROR_H

/* A static description of err (negative or positive errno); never NULL. */
const char *sdw_strerror(int err);

#endif
