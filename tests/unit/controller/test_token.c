/*
 * One-time enrollment tokens: the line format, create/redeem with each refusal, expiry on an
 * injected clock, two processes racing with one token, and secrets kept out of the database
 * and the logs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "controller/token.h"

/*
 * NOLINTBEGIN(readability-function-size): Criterion's assertion macros expand into more nested
 * blocks than the nesting threshold, so every helper that asserts is flagged although it is
 * flat; the check is off for this file only for that reason.
 */

#define HOUR_MS (3600ll * 1000)
#define T0      1700000000000ll /* the injected "now" */

static char tmp[64];
static char dir[128];
static struct store *st;
static uint8_t ctl_key[TOKEN_KEY_LEN];

static void setup(void)
{
	(void)snprintf(tmp, sizeof(tmp), "/tmp/sdwan-token-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	(void)snprintf(dir, sizeof(dir), "%s/state", tmp);
	for (size_t i = 0; i < sizeof(ctl_key); i++)
		ctl_key[i] = (uint8_t)(0xc0 + i);
	cr_assert_eq(store_new(dir, NULL, &st), 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	store_free(st);
	st = NULL;
	if (tmp[0])
		/* The test process is single-threaded. */
		/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
		(void)nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(token, .init = setup, .fini = teardown);

/* Create a token for site valid 24h from T0 and parse it back. */
static void make(const char *site, char line[static TOKEN_LINE_MAX], struct token_line *tl)
{
	cr_assert_eq(token_create(st, site, 24 * HOUR_MS, T0, ctl_key, line), 0);
	cr_assert_eq(token_line_parse(line, strlen(line), tl), 0, "%s", line);
}

static enum store_token_status redeem(const struct token_line *tl, int64_t now)
{
	enum store_token_status s = STORE_TOKEN_OK;
	cr_assert_eq(token_redeem(st, tl, now, &s), 0);
	return s;
}

/* --- The line ------------------------------------------------------------------------------- */

Test(token, create_prints_a_line_pinning_the_controller_key)
{
	char line[TOKEN_LINE_MAX];
	struct token_line tl;
	make("branch-1", line, &tl);
	cr_expect_eq(strncmp(line, "sdwan1.branch-1.", 16), 0, "%s", line);
	cr_expect_eq(strlen(line), 16 + 43 + 1 + 64);
	cr_expect_str_eq(line + 16 + 43,
			 ".c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf");
	cr_expect_str_eq(tl.site, "branch-1");
	cr_expect_eq(memcmp(tl.controller_key, ctl_key, sizeof(ctl_key)), 0);
	token_line_clear(&tl);
	/* Two tokens never share a secret. */
	char line2[TOKEN_LINE_MAX];
	struct token_line tl2;
	make("branch-1", line2, &tl2);
	cr_expect_str_neq(line, line2);
	token_line_clear(&tl2);
}

Test(token, format_known_vectors_and_round_trip)
{
	struct token_line tl = {.site = "a"}, back;
	char line[TOKEN_LINE_MAX];
	memset(tl.secret, 0xff, sizeof(tl.secret));
	cr_assert_eq(token_line_format(&tl, line), 0);
	cr_expect_str_eq(line, "sdwan1.a.__________________________________________8."
			       "0000000000000000000000000000000000000000000000000000000000000000");
	for (size_t i = 0; i < sizeof(tl.secret); i++)
		tl.secret[i] = (uint8_t)i;
	cr_assert_eq(token_line_format(&tl, line), 0);
	cr_expect_eq(strncmp(line, "sdwan1.a.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8.", 52), 0,
		     "%s", line);

	for (int i = 0; i < 500; i++) {
		cr_assert_eq(getrandom(tl.secret, sizeof(tl.secret), 0),
			     (ssize_t)sizeof(tl.secret));
		cr_assert_eq(getrandom(tl.controller_key, sizeof(tl.controller_key), 0),
			     (ssize_t)sizeof(tl.controller_key));
		cr_assert_eq(token_line_format(&tl, line), 0);
		cr_assert_eq(token_line_parse(line, strlen(line), &back), 0, "%s", line);
		cr_assert_eq(memcmp(&back, &tl, sizeof(tl)), 0, "%s", line);
	}
	token_line_clear(&tl);
	token_line_clear(&back);
	struct token_line bad = {.site = "Bad"};
	cr_expect_eq(token_line_format(&bad, line), -EINVAL);
}

#define SECRET_OK "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define KEY_OK    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

Test(token, parse_accepts_a_pasted_line)
{
	struct token_line tl;
	const char *in = "  sdwan1.hq." SECRET_OK "." KEY_OK "\r\n";
	cr_assert_eq(token_line_parse(in, strlen(in), &tl), 0);
	cr_expect_str_eq(tl.site, "hq");
	cr_expect_eq(tl.secret[31], 31);
	cr_expect_eq(tl.controller_key[1], 0x11);
	token_line_clear(&tl);
}

Test(token, parse_refuses_everything_else)
{
	static const char *const bad[] = {
		"",
		"sdwan1.",
		"sdwan2.hq." SECRET_OK "." KEY_OK,
		"SDWAN1.hq." SECRET_OK "." KEY_OK,
		"sdwan1.HQ." SECRET_OK "." KEY_OK, /* site rules */
		"sdwan1.hq-." SECRET_OK "." KEY_OK,
		"sdwan1.9hq." SECRET_OK "." KEY_OK,
		"sdwan1.." SECRET_OK "." KEY_OK,
		"sdwan1.abcdefghijabcdefghijabcdefghijab." SECRET_OK "." KEY_OK, /* 32 chars */
		"sdwan1.hq.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh." KEY_OK,  /* 42 chars */
		"sdwan1.hq.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A." KEY_OK,
		"sdwan1.hq.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9." KEY_OK, /* unused bits set
										  */
		"sdwan1.hq.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+." KEY_OK, /* base64, not url
										  */
		"sdwan1.hq.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=Hh8." KEY_OK,
		"sdwan1.hq." SECRET_OK
		".00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
		"sdwan1.hq." SECRET_OK
		".00112233445566778899aabbccddeeff00112233445566778899aabbccddeef",
		"sdwan1.hq." SECRET_OK
		".00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
		"sdwan1.hq." SECRET_OK
		".0g112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"sdwan1.hq." SECRET_OK "." KEY_OK ".extra",
		"sdwan1.hq." SECRET_OK ":" KEY_OK,
		"sdwan1.hq " SECRET_OK "." KEY_OK,
		"sdwan1.hq." SECRET_OK "." KEY_OK " x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct token_line tl;
		memset(&tl, 0x55, sizeof(tl));
		cr_expect_eq(token_line_parse(bad[i], strlen(bad[i]), &tl), -EINVAL, "accepted %s",
			     bad[i]);
		static const struct token_line zero;
		cr_expect_eq(memcmp(&tl, &zero, sizeof(tl)), 0, "not wiped after %s", bad[i]);
	}
	/* A NUL inside the site must not shorten it into a valid name. */
	static const char nul[] = "sdwan1.h\0." SECRET_OK "." KEY_OK;
	struct token_line tl;
	cr_expect_eq(token_line_parse(nul, sizeof(nul) - 1, &tl), -EINVAL);
	/* Length is what the caller says, not strlen: a truncated view is refused. */
	const char *good = "sdwan1.hq." SECRET_OK "." KEY_OK;
	cr_expect_eq(token_line_parse(good, strlen(good) - 1, &tl), -EINVAL);
	cr_expect_eq(token_line_parse(good, strlen(good), &tl), 0);
	token_line_clear(&tl);
}

/* --- Create and redeem ---------------------------------------------------------------------- */

Test(token, create_refuses_bad_arguments)
{
	char line[TOKEN_LINE_MAX] = "x";
	cr_expect_eq(token_create(st, "Bad", HOUR_MS, T0, ctl_key, line), -EINVAL);
	cr_expect_str_eq(line, "");
	cr_expect_eq(token_create(st, "hq", 0, T0, ctl_key, line), -EINVAL);
	cr_expect_eq(token_create(st, "hq", TOKEN_TTL_MAX_MS + 1, T0, ctl_key, line), -EINVAL);
	cr_expect_eq(token_create(st, "hq", TOKEN_TTL_MAX_MS, T0, ctl_key, line), 0);
	OPENSSL_cleanse(line, sizeof(line));
}

Test(token, redeem_once_then_used)
{
	char line[TOKEN_LINE_MAX];
	struct token_line tl;
	make("hq", line, &tl);
	cr_expect_eq(redeem(&tl, T0 + 1), STORE_TOKEN_OK);
	cr_expect_eq(redeem(&tl, T0 + 2), STORE_TOKEN_USED);
	/* Used wins over expired: the operator learns it was taken. */
	cr_expect_eq(redeem(&tl, T0 + 48 * HOUR_MS), STORE_TOKEN_USED);
	token_line_clear(&tl);
}

Test(token, expiry_on_the_injected_clock)
{
	char line[TOKEN_LINE_MAX];
	struct token_line a, b;
	make("hq", line, &a);
	make("hq", line, &b);
	cr_expect_eq(redeem(&a, T0 + 24 * HOUR_MS), STORE_TOKEN_EXPIRED); /* expiry is exclusive */
	cr_expect_eq(redeem(&a, T0 + 24 * HOUR_MS - 1), STORE_TOKEN_OK);  /* never consumed above */
	cr_expect_eq(redeem(&b, T0 + 25 * HOUR_MS), STORE_TOKEN_EXPIRED);
	token_line_clear(&a);
	token_line_clear(&b);
}

Test(token, forged_tokens_are_unknown)
{
	char line[TOKEN_LINE_MAX];
	struct token_line tl, forged;
	make("hq", line, &tl);
	/* Same site, random secret. */
	forged = tl;
	cr_assert_eq(getrandom(forged.secret, sizeof(forged.secret), 0),
		     (ssize_t)sizeof(forged.secret));
	cr_expect_eq(redeem(&forged, T0 + 1), STORE_TOKEN_UNKNOWN);
	/* One character of the real line changed: still a well-formed line, but unknown. */
	line[20] = line[20] == 'A' ? 'B' : 'A';
	cr_assert_eq(token_line_parse(line, strlen(line), &forged), 0);
	cr_expect_eq(redeem(&forged, T0 + 1), STORE_TOKEN_UNKNOWN);
	/* The genuine one was not disturbed. */
	cr_expect_eq(redeem(&tl, T0 + 1), STORE_TOKEN_OK);
	token_line_clear(&tl);
	token_line_clear(&forged);
}

Test(token, a_token_for_another_site_is_refused_and_not_burned)
{
	char line[TOKEN_LINE_MAX];
	struct token_line tl;
	make("branch-a", line, &tl);
	struct token_line other = tl;
	memcpy(other.site, "branch-b", sizeof("branch-b"));
	cr_expect_eq(redeem(&other, T0 + 1), STORE_TOKEN_WRONG_SITE);
	cr_expect_eq(redeem(&tl, T0 + 1), STORE_TOKEN_OK);
	cr_expect_eq(redeem(&other, T0 + 2), STORE_TOKEN_WRONG_SITE); /* site checked first */
	token_line_clear(&tl);
	token_line_clear(&other);
}

/* Enrollment in one commit: the token is consumed only if the edge is recorded too. */
Test(token, consume_and_enroll_commit_together)
{
	char line[TOKEN_LINE_MAX];
	struct token_line tl;
	uint8_t k1[STORE_KEY_LEN] = {1}, k2[STORE_KEY_LEN] = {2};
	enum store_token_status s;
	cr_assert_eq(store_edge_add(st, "other", k1, "CERT", T0), 0);
	make("hq", line, &tl);

	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(token_redeem(st, &tl, T0 + 1, &s), 0);
	cr_assert_eq(s, STORE_TOKEN_OK);
	cr_assert_eq(store_edge_add(st, "hq", k1, "CERT", T0 + 1), -EEXIST); /* key in use */
	store_tx_rollback(st);

	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(token_redeem(st, &tl, T0 + 2, &s), 0);
	cr_assert_eq(s, STORE_TOKEN_OK); /* the failed enrollment did not use it */
	cr_assert_eq(store_edge_add(st, "hq", k2, "CERT", T0 + 2), 0);
	cr_assert_eq(store_tx_commit(st), 0);
	cr_expect_eq(redeem(&tl, T0 + 3), STORE_TOKEN_USED);
	token_line_clear(&tl);
}

Test(token, purge_forgets_expired_and_used)
{
	char line[TOKEN_LINE_MAX];
	struct token_line used, expired, live;
	size_t n = 0;
	make("hq", line, &used);
	make("hq", line, &expired);
	cr_assert_eq(token_create(st, "hq", 48 * HOUR_MS, T0, ctl_key, line), 0);
	cr_assert_eq(token_line_parse(line, strlen(line), &live), 0);
	cr_expect_eq(redeem(&used, T0 + 1), STORE_TOKEN_OK);
	cr_assert_eq(store_token_purge(st, T0 + 30 * HOUR_MS, &n), 0);
	cr_expect_eq(n, 2);
	cr_expect_eq(redeem(&used, T0 + 31 * HOUR_MS), STORE_TOKEN_UNKNOWN);
	cr_expect_eq(redeem(&expired, T0 + 31 * HOUR_MS), STORE_TOKEN_UNKNOWN);
	cr_expect_eq(redeem(&live, T0 + 31 * HOUR_MS), STORE_TOKEN_OK);
	token_line_clear(&used);
	token_line_clear(&expired);
	token_line_clear(&live);
}

/* --- Races ---------------------------------------------------------------------------------- */

/* Two processes, each with its own connection, released at once on one token: exactly one
 * enrollment. Several rounds, each with a fresh token. */
Test(token, two_processes_racing_one_token_one_wins)
{
	for (int round = 0; round < 5; round++) {
		char line[TOKEN_LINE_MAX];
		struct token_line tl;
		make("hq", line, &tl);
		int go[2];
		cr_assert_eq(pipe(go), 0);
		pid_t pid[2];
		for (int i = 0; i < 2; i++) {
			pid[i] = fork();
			cr_assert_geq(pid[i], 0);
			if (pid[i] != 0)
				continue;
			char c;
			struct store *mine = NULL;
			enum store_token_status s = STORE_TOKEN_UNKNOWN;
			close(go[1]);
			if (store_new(dir, NULL, &mine) != 0)
				_exit(10);
			if (read(go[0], &c, 1) < 0) /* returns 0 when the parent closes */
				_exit(12);
			int rc = token_redeem(mine, &tl, T0 + 1, &s);
			store_free(mine);
			_exit(rc != 0 ? 11 : (int)s);
		}
		close(go[0]);
		usleep(20000); /* let both open their store */
		close(go[1]);
		int ok = 0, used = 0;
		for (int i = 0; i < 2; i++) {
			int status = 0;
			cr_assert_eq(waitpid(pid[i], &status, 0), pid[i]);
			cr_assert(WIFEXITED(status), "child %d died", i);
			ok += WEXITSTATUS(status) == STORE_TOKEN_OK;
			used += WEXITSTATUS(status) == STORE_TOKEN_USED;
		}
		cr_expect_eq(ok, 1, "round %d: %d winners", round, ok);
		cr_expect_eq(used, 1, "round %d: loser not told 'used'", round);
		token_line_clear(&tl);
	}
}

/* --- Secrets stay secret -------------------------------------------------------------------- */

static bool file_contains(const char *path, const void *needle, size_t n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	static char buf[4 << 20];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return len >= n && memmem(buf, len, needle, n) != NULL;
}

Test(token, the_database_holds_no_secret)
{
	char line[TOKEN_LINE_MAX], path[256];
	struct token_line tl;
	make("hq", line, &tl);
	cr_expect_eq(redeem(&tl, T0 + 1), STORE_TOKEN_OK);
	const char *secret_text = line + strlen("sdwan1.hq.");
	static const char *const files[] = {STORE_DB_NAME, STORE_DB_NAME "-wal"};
	for (size_t i = 0; i < 2; i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		cr_expect_not(file_contains(path, tl.secret, sizeof(tl.secret)), "raw secret in %s",
			      files[i]);
		cr_expect_not(file_contains(path, secret_text, 43), "encoded secret in %s",
			      files[i]);
	}
	/* The file does hold the token (its hash): check the search itself works. */
	(void)snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_NAME "-wal");
	cr_expect(file_contains(path, "hq", 2));
	token_line_clear(&tl);
}

Test(token, logs_never_carry_the_secret)
{
	char path[256], line[TOKEN_LINE_MAX];
	struct token_line tl, forged;
	(void)snprintf(path, sizeof(path), "%s/log.txt", tmp);
	FILE *log = fopen(path, "w");
	cr_assert_not_null(log);
	log_configure(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, log);
	make("hq", line, &tl);
	forged = tl;
	memcpy(forged.site, "hq2", 4);
	cr_expect_eq(redeem(&forged, T0 + 1), STORE_TOKEN_WRONG_SITE);
	cr_expect_eq(redeem(&tl, T0 + 1), STORE_TOKEN_OK);
	cr_expect_eq(redeem(&tl, T0 + 2), STORE_TOKEN_USED);
	log_configure(LOG_LEVEL_ERR, LOG_FORMAT_TEXT, NULL);
	fclose(log);
	cr_expect(file_contains(path, "token consumed", 14)); /* the log was written */
	cr_expect_not(file_contains(path, line + strlen("sdwan1.hq."), 43));
	cr_expect_not(file_contains(path, line + strlen("sdwan1.hq."), 8));
	cr_expect_not(file_contains(path, tl.secret, sizeof(tl.secret)));
	token_line_clear(&tl);
	token_line_clear(&forged);
}

/* NOLINTEND(readability-function-size) */
