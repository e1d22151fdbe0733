#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

/* The process-wide sink: the one global this codebase allows (see log.h). Written by main()
 * before any thread starts, read-only afterwards. */
static struct {
	enum log_level level;
	enum log_format format;
	FILE *stream;
} sink = {LOG_LEVEL_NOTICE, LOG_FORMAT_TEXT, NULL};

static const char *const level_names[] = {"err", "warn", "notice", "info", "debug"};
static const char *const format_names[] = {"text", "json"};
static const char *const subsys_names[LOG_SUB_COUNT] = {"MAIN", "IKE", "ESP", "DP",
							"NET",  "CTL", "CFG", "CA"};

void log_configure(enum log_level level, enum log_format format, FILE *stream)
{
	sink.level = level;
	sink.format = format;
	sink.stream = stream;
}

static int parse_name(const char *s, const char *const *names, size_t n, int *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_level_parse(const char *s, enum log_level *out)
{
	int v;
	int rc = parse_name(s, level_names, sizeof(level_names) / sizeof(level_names[0]), &v);
	if (rc == 0)
		*out = (enum log_level)v;
	return rc;
}

int log_format_parse(const char *s, enum log_format *out)
{
	int v;
	int rc = parse_name(s, format_names, sizeof(format_names) / sizeof(format_names[0]), &v);
	if (rc == 0)
		*out = (enum log_format)v;
	return rc;
}

bool log_enabled(enum log_level level)
{
	return level <= sink.level;
}

/* Append to a fixed line buffer; truncates silently (a log line is never worth failing for). */
struct line {
	char buf[2048];
	size_t len;
};

static void line_putc(struct line *l, char c)
{
	if (l->len + 1 < sizeof(l->buf))
		l->buf[l->len++] = c;
}

static void line_puts(struct line *l, const char *s)
{
	while (*s)
		line_putc(l, *s++);
}

/* JSON string body escaping for the characters that can appear in log values. */
static void line_put_json_escaped(struct line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			line_putc(l, '\\');
			line_putc(l, (char)c);
		} else if (c < 0x20) {
			line_puts(l, "\\u00");
			line_putc(l, hex[c >> 4]);
			line_putc(l, hex[c & 15]);
		} else {
			line_putc(l, (char)c);
		}
	}
}

static void line_timestamp(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char tbuf[40];
	size_t n = strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tbuf + n, sizeof(tbuf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	line_puts(l, tbuf);
}

/* Convert "k=v k2=\"v w\"" into JSON members. Values keep their text; quotes are removed. */
static void line_put_kv_json(struct line *l, const char *kv)
{
	const char *p = kv;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *key = p;
		while (*p && *p != '=' && *p != ' ')
			p++;
		size_t klen = (size_t)(p - key);
		if (klen == 0 || *p != '=') {
			while (*p && *p != ' ')
				p++;
			continue;
		}
		p++;
		const char *val;
		size_t vlen;
		if (*p == '"') {
			val = ++p;
			while (*p && *p != '"')
				p++;
			vlen = (size_t)(p - val);
			if (*p == '"')
				p++;
		} else {
			val = p;
			while (*p && *p != ' ')
				p++;
			vlen = (size_t)(p - val);
		}
		line_puts(l, ",\"");
		line_put_json_escaped(l, key, klen);
		line_puts(l, "\":\"");
		line_put_json_escaped(l, val, vlen);
		line_putc(l, '"');
	}
}

void log_write(enum log_subsys sub, enum log_level level, const char *msg, const char *kv_fmt, ...)
{
	char kv[1536] = "";
	if (kv_fmt) {
		va_list ap;
		va_start(ap, kv_fmt);
		vsnprintf(kv, sizeof(kv), kv_fmt, ap);
		va_end(ap);
	}
	const char *subname = (unsigned)sub < LOG_SUB_COUNT ? subsys_names[sub] : "?";
	struct line l = {.len = 0};
	if (sink.format == LOG_FORMAT_JSON) {
		line_puts(&l, "{\"ts\":\"");
		line_timestamp(&l);
		line_puts(&l, "\",\"level\":\"");
		line_puts(&l, level_names[level]);
		line_puts(&l, "\",\"subsys\":\"");
		line_puts(&l, subname);
		line_puts(&l, "\",\"msg\":\"");
		line_put_json_escaped(&l, msg, strlen(msg));
		line_putc(&l, '"');
		line_put_kv_json(&l, kv);
		line_putc(&l, '}');
	} else {
		line_timestamp(&l);
		line_putc(&l, ' ');
		line_puts(&l, level_names[level]);
		line_putc(&l, ' ');
		line_puts(&l, subname);
		line_puts(&l, " msg=\"");
		line_puts(&l, msg);
		line_putc(&l, '"');
		if (kv[0]) {
			line_putc(&l, ' ');
			line_puts(&l, kv);
		}
	}
	l.buf[l.len < sizeof(l.buf) - 1 ? l.len : sizeof(l.buf) - 2] = '\n';
	size_t total = (l.len < sizeof(l.buf) - 1 ? l.len : sizeof(l.buf) - 2) + 1;
	FILE *out = sink.stream ? sink.stream : stderr;
	fwrite(l.buf, 1, total, out);
	fflush(out);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ms, uint32_t *suppressed_out)
{
	if (now_ms - rl->window_start_ms >= rl->interval_ms || now_ms < rl->window_start_ms) {
		rl->window_start_ms = now_ms;
		rl->emitted = 0;
	}
	if (rl->emitted >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->emitted++;
	if (suppressed_out)
		*suppressed_out = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
