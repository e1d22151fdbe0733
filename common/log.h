/*
 * Structured logging: one line per event, a fixed message plus key=value context.
 *
 *   2026-11-24T08:40:00.123Z notice IKE msg="IKE_SA established" tunnel=hq:br1 peer=192.0.2.1:4500
 *
 * With LOG_FORMAT_JSON the same fields are written as one JSON object per line. The macros test
 * the level before evaluating their arguments, so a disabled debug line costs one comparison.
 *
 * The sink (level, format, stream) is process-wide: it is the one global the style allows,
 * configured once by main() before any thread starts. Writing is safe from any thread (one
 * fwrite per line under stdio's stream lock).
 */
#ifndef SDWAN_COMMON_LOG_H
#define SDWAN_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_subsys {
	LOG_SUB_MAIN,
	LOG_SUB_IKE,
	LOG_SUB_ESP,
	LOG_SUB_DP,
	LOG_SUB_NET,
	LOG_SUB_CTL,
	LOG_SUB_CFG,
	LOG_SUB_CA,
	LOG_SUB_COUNT,
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Configure the process-wide sink. Call from main() before starting threads. stream NULL means
 * stderr. */
void log_configure(enum log_level level, enum log_format format, FILE *stream);

/* Parse "err|warn|notice|info|debug" or "text|json". Return 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out) __attribute__((warn_unused_result));
int log_format_parse(const char *s, enum log_format *out) __attribute__((warn_unused_result));

/* Whether a line at this level would be written. */
bool log_enabled(enum log_level level);

/* Write one line: msg is the fixed message; kv_fmt (may be NULL) formats the key=value context,
 * values containing spaces must be double-quoted by the caller. Use the macros below. */
void log_write(enum log_subsys sub, enum log_level level, const char *msg, const char *kv_fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define LOG_AT(lvl, sub, msg, ...)                                                                 \
	do {                                                                                       \
		if (log_enabled(lvl))                                                              \
			log_write(LOG_SUB_##sub, lvl, msg, __VA_ARGS__);                           \
	} while (0)

#define LOG_ERR(sub, msg, ...)    LOG_AT(LOG_LEVEL_ERR, sub, msg, __VA_ARGS__)
#define LOG_WARN(sub, msg, ...)   LOG_AT(LOG_LEVEL_WARN, sub, msg, __VA_ARGS__)
#define LOG_NOTICE(sub, msg, ...) LOG_AT(LOG_LEVEL_NOTICE, sub, msg, __VA_ARGS__)
#define LOG_INFO(sub, msg, ...)   LOG_AT(LOG_LEVEL_INFO, sub, msg, __VA_ARGS__)
#define LOG_DEBUG(sub, msg, ...)  LOG_AT(LOG_LEVEL_DEBUG, sub, msg, __VA_ARGS__)

/*
 * Rate limit for lines a remote peer can trigger: at most `burst` lines per `interval_ms`; the
 * number suppressed is reported with the next line allowed. Owned by the caller (one per source
 * of lines, e.g. per socket); not thread-safe: keep one per thread.
 */
struct log_ratelimit {
	uint64_t interval_ms;
	uint32_t burst;
	uint64_t window_start_ms;
	uint32_t emitted;
	uint32_t suppressed;
};

/* Return true if a line may be written at now_ms; *suppressed_out receives (and resets) the
 * number of lines dropped since the last allowed one. */
bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms, uint32_t *suppressed_out);

#endif
