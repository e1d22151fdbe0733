/*
 * The controller's state store: files and modes, schema and migrations, every API round trip,
 * transactions that compose, and survival of kill -9 at random moments.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "controller/store.h"

/*
 * NOLINTBEGIN(readability-function-size): Criterion's assertion macros expand into more nested
 * blocks than the nesting threshold, so every helper that asserts is flagged although it is
 * flat; the check is off for this file only for that reason.
 */

/* Per-test scratch: tmp is removed after the test, dir (the state directory) is inside it. */
static char tmp[64];
static char dir[128];
static char db_path[192];

static void setup(void)
{
	(void)snprintf(tmp, sizeof(tmp), "/tmp/sdwan-store-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	(void)snprintf(dir, sizeof(dir), "%s/state", tmp);
	(void)snprintf(db_path, sizeof(db_path), "%s/%s", dir, STORE_DB_NAME);
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
	if (tmp[0])
		/* The test process is single-threaded. */
		/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
		(void)nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown);

static struct store *open_store(const struct store_options *opts)
{
	struct store *st = NULL;
	cr_assert_eq(store_new(dir, opts, &st), 0);
	cr_assert_not_null(st);
	return st;
}

static void key_of(uint8_t key[static STORE_KEY_LEN], uint8_t seed)
{
	for (size_t i = 0; i < STORE_KEY_LEN; i++)
		key[i] = (uint8_t)(seed * 31u + (unsigned)i);
}

static mode_t mode_of(const char *path)
{
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0, "stat %s", path);
	return sb.st_mode & 07777;
}

/* One integer from the database through a connection of our own. */
static long long raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;
	cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

static char *path_in(const char *name)
{
	static char p[256];
	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* --- Files, schema, migrations -------------------------------------------------------------- */

Test(store, creates_directory_0700_and_files_0600)
{
	struct store *st = open_store(NULL);
	cr_expect_eq(mode_of(dir), 0700);
	cr_expect_eq(mode_of(path_in(STORE_DB_NAME)), 0600);
	/* WAL: the -wal and -shm files exist while open and carry the database's mode. */
	cr_expect_eq(mode_of(path_in(STORE_DB_NAME "-wal")), 0600);
	cr_expect_eq(mode_of(path_in(STORE_DB_NAME "-shm")), 0600);
	store_free(st);
	cr_expect_eq(raw_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
		     1);
}

Test(store, tightens_modes_that_are_too_open)
{
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	int fd = open(path_in(STORE_DB_NAME), O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0644), 0);
	close(fd);
	struct store *st = open_store(NULL);
	cr_expect_eq(mode_of(dir), 0700);
	cr_expect_eq(mode_of(path_in(STORE_DB_NAME)), 0600);
	store_free(st);
}

Test(store, refuses_bad_state_directories)
{
	struct store *st = (struct store *)1;
	int fd = open(dir, O_CREAT | O_WRONLY, 0600); /* a file where the directory should be */
	cr_assert_geq(fd, 0);
	close(fd);
	cr_expect_eq(store_new(dir, NULL, &st), -ENOTDIR);
	cr_expect_null(st);
	char deep[256];
	(void)snprintf(deep, sizeof(deep), "%s/missing/state", tmp);
	cr_expect_eq(store_new(deep, NULL, &st), -ENOENT);
	cr_expect_eq(store_new("", NULL, &st), -EINVAL);
	cr_expect_eq(store_new(NULL, NULL, &st), -EINVAL);
	struct store_options future = {.schema_version = STORE_SCHEMA_VERSION + 1};
	cr_expect_eq(store_new(tmp, &future, &st), -EINVAL);
}

Test(store, schema_created_and_data_kept_across_reopen)
{
	uint8_t key[STORE_KEY_LEN];
	uint32_t v = 0;
	key_of(key, 1);
	struct store *st = open_store(NULL);
	cr_assert_eq(store_schema_version(st, &v), 0);
	cr_expect_eq(v, STORE_SCHEMA_VERSION);
	cr_assert_eq(store_edge_add(st, "hq", key, "CERT", 1000), 0);
	store_free(st);

	st = open_store(NULL);
	struct store_edge e;
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_str_eq(e.cert_pem, "CERT");
	store_edge_clear(&e);
	cr_expect_eq(store_integrity_check(st), 0);
	store_free(st);
}

Test(store, migrations_run_once)
{
	for (int i = 0; i < 3; i++)
		store_free(open_store(NULL));
	cr_expect_eq(raw_int("SELECT count(*) FROM schema_version"), STORE_SCHEMA_VERSION);
	cr_expect_eq(raw_int("SELECT max(version) FROM schema_version"), STORE_SCHEMA_VERSION);
	cr_expect_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE name = 'event'"), 1);
}

Test(store, migrates_forward_keeping_data)
{
	uint8_t key[STORE_KEY_LEN], digest[STORE_DIGEST_LEN] = {7};
	uint64_t gen = 0;
	uint32_t v = 0;
	key_of(key, 2);
	struct store_options v1 = {.schema_version = 1};
	struct store *st = open_store(&v1);
	cr_assert_eq(store_schema_version(st, &v), 0);
	cr_expect_eq(v, 1);
	/* The config table does not exist yet at version 1. */
	cr_expect_neq(store_config_push(st, "branch1", digest, 6, 0, &gen), 0);
	store_free(st);
	/* An edge as a version-1 controller wrote it. */
	raw_exec(
		"INSERT INTO edge(site, curve_key, cert_pem, enrolled_at)"
		" VALUES('branch1', x'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',"
		" 'CERT', 5)");
	cr_expect_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE name = 'config_state'"), 0);

	st = open_store(NULL);
	cr_assert_eq(store_schema_version(st, &v), 0);
	cr_expect_eq(v, STORE_SCHEMA_VERSION);
	struct store_edge e;
	cr_assert_eq(store_edge_get(st, "branch1", &e), 0);
	cr_expect_eq(e.features, 0, "an edge enrolled before schema 4 announced nothing");
	cr_expect_not(e.has_prev_key, "no rotation in progress before schema 5");
	cr_expect_eq(e.curve_key[1], 0x11);
	store_edge_clear(&e);
	cr_expect_eq(store_config_push(st, "branch1", digest, 6, 0, &gen), 0);
	cr_expect_eq(gen, 1);
	store_free(st);
	cr_expect_eq(raw_int("SELECT count(*) FROM schema_version"), STORE_SCHEMA_VERSION);
}

Test(store, refuses_a_database_from_a_newer_controller)
{
	store_free(open_store(NULL));
	raw_exec("INSERT INTO schema_version(version, applied_at) VALUES(99, 0)");
	struct store *st = NULL;
	cr_expect_eq(store_new(dir, NULL, &st), -ENOTSUP);
	cr_expect_null(st);
}

/* Processes opening a new state directory at once: one migrates, none fails. Several rounds,
 * each on a fresh directory. */
Test(store, concurrent_first_open_migrates_once)
{
	enum {
		ROUNDS = 6,
		PROCS = 3
	};
	for (int round = 0; round < ROUNDS; round++) {
		(void)snprintf(dir, sizeof(dir), "%s/state-%d", tmp, round);
		(void)snprintf(db_path, sizeof(db_path), "%s/%s", dir, STORE_DB_NAME);
		pid_t pid[PROCS];
		for (int i = 0; i < PROCS; i++) {
			pid[i] = fork();
			cr_assert_geq(pid[i], 0);
			if (pid[i] == 0) {
				struct store *st = NULL;
				int rc = store_new(dir, NULL, &st);
				store_free(st);
				_exit(rc == 0 ? 0 : 1);
			}
		}
		for (int i = 0; i < PROCS; i++) {
			int status = 0;
			cr_assert_eq(waitpid(pid[i], &status, 0), pid[i]);
			cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				  "round %d: child %d failed", round, i);
		}
		cr_expect_eq(raw_int("SELECT count(*) FROM schema_version"), STORE_SCHEMA_VERSION);
	}
}

Test(store, integrity_check_detects_corruption)
{
	struct store *st = open_store(NULL);
	char detail[512];
	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	for (int i = 0; i < 200; i++)
		cr_assert_eq(store_event_append(st, i, "hq", NULL, "filler", detail, NULL), 0);
	cr_expect_eq(store_integrity_check(st), 0);
	store_free(st); /* last connection: checkpoints and removes the WAL */

	/* Scribble over the middle of the file, past the schema page. */
	int fd = open(path_in(STORE_DB_NAME), O_WRONLY);
	cr_assert_geq(fd, 0);
	uint8_t junk[4096];
	memset(junk, 0xa5, sizeof(junk));
	cr_assert_eq(pwrite(fd, junk, sizeof(junk), 4096 * 4 + 100), (ssize_t)sizeof(junk));
	close(fd);

	int rc = store_new(dir, NULL, &st);
	if (rc == 0) {
		rc = store_integrity_check(st);
		store_free(st);
	}
	cr_expect_eq(rc, -EUCLEAN);
}

/* --- CA ------------------------------------------------------------------------------------- */

Test(store, ca_round_trip_once)
{
	struct store *st = open_store(NULL);
	struct store_ca ca;
	cr_expect_eq(store_ca_get(st, &ca), -ENOENT);
	cr_expect_eq(store_ca_put(st, "", "CERT", 1), -EINVAL);
	cr_assert_eq(store_ca_put(st, "-----BEGIN PRIVATE KEY-----\nk\n", "CERT", 42), 0);
	cr_expect_eq(store_ca_put(st, "KEY2", "CERT2", 43), -EEXIST);
	cr_assert_eq(store_ca_get(st, &ca), 0);
	cr_expect_str_eq(ca.key_pem, "-----BEGIN PRIVATE KEY-----\nk\n");
	cr_expect_str_eq(ca.cert_pem, "CERT");
	cr_expect_eq(ca.created_ms, 42);
	store_ca_clear(&ca);
	cr_expect_null(ca.key_pem);
	store_ca_clear(NULL);
	store_free(st);
}

/* --- Edges ---------------------------------------------------------------------------------- */

Test(store, edge_add_find_list_round_trip)
{
	uint8_t k1[STORE_KEY_LEN], k2[STORE_KEY_LEN], k3[STORE_KEY_LEN];
	key_of(k1, 1);
	key_of(k2, 2);
	key_of(k3, 3);
	struct store *st = open_store(NULL);
	cr_assert_eq(store_edge_add(st, "spoke-b", k2, "CERT-B", 200), 0);
	cr_assert_eq(store_edge_add(st, "hub-a", k1, "CERT-A", 100), 0);

	struct store_edge e;
	cr_assert_eq(store_edge_find_by_key(st, k2, &e), 0);
	cr_expect_str_eq(e.site, "spoke-b");
	cr_expect_str_eq(e.cert_pem, "CERT-B");
	cr_expect_eq(e.enrolled_ms, 200);
	cr_expect_eq(e.last_seen_ms, 0);
	cr_expect_not(e.revoked);
	cr_expect_eq(memcmp(e.curve_key, k2, STORE_KEY_LEN), 0);
	store_edge_clear(&e);
	cr_expect_eq(store_edge_find_by_key(st, k3, &e), -ENOENT);
	cr_expect_eq(store_edge_get(st, "nobody", &e), -ENOENT);
	cr_expect_eq(store_edge_get(st, "Bad Name", &e), -ENOENT);

	struct store_edge *v = NULL;
	size_t n = 0;
	cr_assert_eq(store_edge_list(st, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(v[0].site, "hub-a"); /* by name */
	cr_expect_str_eq(v[1].site, "spoke-b");
	cr_expect_str_eq(v[0].cert_pem, "CERT-A");
	store_edge_list_free(v, n);
	store_free(st);
}

Test(store, edge_duplicates_and_bad_input_refused)
{
	uint8_t k1[STORE_KEY_LEN], k2[STORE_KEY_LEN];
	key_of(k1, 1);
	key_of(k2, 2);
	struct store *st = open_store(NULL);
	cr_assert_eq(store_edge_add(st, "hq", k1, "CERT", 1), 0);
	cr_expect_eq(store_edge_add(st, "hq", k2, "CERT", 2), -EEXIST);     /* site enrolled */
	cr_expect_eq(store_edge_add(st, "branch", k1, "CERT", 2), -EEXIST); /* key taken */
	cr_expect_eq(store_edge_add(st, "Branch", k2, "CERT", 2), -EINVAL);
	cr_expect_eq(store_edge_add(st, "branch-", k2, "CERT", 2), -EINVAL);
	cr_expect_eq(store_edge_add(st, "1branch", k2, "CERT", 2), -EINVAL);
	cr_expect_eq(store_edge_add(st, "abcdefghijabcdefghijabcdefghijab", k2, "CERT", 2),
		     -EINVAL);
	cr_expect_eq(store_edge_add(st, "branch", k2, "", 2), -EINVAL);
	cr_expect_eq(store_edge_add(st, "abcdefghijabcdefghijabcdefghija", k2, "CERT", 2), 0);
	store_free(st);
}

Test(store, edge_features_recorded_and_kept)
{
	uint8_t k1[STORE_KEY_LEN];
	key_of(k1, 1);
	struct store *st = open_store(NULL);
	struct store_edge e;
	cr_assert_eq(store_edge_add(st, "hq", k1, "CERT1", 10), 0);
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_eq(e.features, 0, "nothing announced yet");
	store_edge_clear(&e);
	cr_expect_eq(store_edge_features_set(st, "hq", 0x5), 0);
	cr_expect_eq(store_edge_features_set(st, "ghost", 0x1), -ENOENT);
	store_free(st);
	st = open_store(NULL); /* a restarted controller knows them */
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_eq(e.features, 0x5);
	store_edge_clear(&e);
	struct store_edge *v = NULL;
	size_t n = 0;
	cr_assert_eq(store_edge_list(st, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_eq(v[0].features, 0x5);
	store_edge_list_free(v, n);
	store_free(st);
}

Test(store, edge_revoke_reenroll_renew_seen)
{
	uint8_t k1[STORE_KEY_LEN], k2[STORE_KEY_LEN], k3[STORE_KEY_LEN];
	key_of(k1, 1);
	key_of(k2, 2);
	key_of(k3, 3);
	struct store *st = open_store(NULL);
	struct store_edge e;
	cr_assert_eq(store_edge_add(st, "hq", k1, "CERT1", 10), 0);
	cr_expect_eq(store_edge_seen(st, "hq", 50), 0);
	cr_expect_eq(store_edge_seen(st, "hq", 40), 0); /* never backwards */
	cr_expect_eq(store_edge_seen(st, "ghost", 40), -ENOENT);
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_eq(e.last_seen_ms, 50);
	store_edge_clear(&e);

	cr_expect_eq(store_edge_renew(st, "hq", k2, k1, "CERT2"), 0);
	cr_assert_eq(store_edge_find_by_key(st, k2, &e), 0);
	cr_expect_str_eq(e.cert_pem, "CERT2");
	store_edge_clear(&e);
	cr_expect_eq(store_edge_key_confirmed(st, "hq"), 0);
	cr_expect_eq(store_edge_find_by_key(st, k1, &e), -ENOENT);
	cr_expect_eq(store_edge_renew(st, "hq", NULL, NULL, "CERT3"), 0); /* keep the key */
	cr_assert_eq(store_edge_find_by_key(st, k2, &e), 0);
	cr_expect_str_eq(e.cert_pem, "CERT3");
	store_edge_clear(&e);

	cr_expect_eq(store_edge_revoke(st, "hq", 100), 0);
	cr_expect_eq(store_edge_revoke(st, "hq", 200), 0);
	cr_expect_eq(store_edge_revoke(st, "ghost", 200), -ENOENT);
	cr_assert_eq(store_edge_find_by_key(st, k2, &e), 0);
	cr_expect(e.revoked);
	cr_expect_eq(e.revoked_ms, 100); /* the first revocation stands */
	store_edge_clear(&e);
	cr_expect_eq(store_edge_renew(st, "hq", NULL, NULL, "CERT4"), -ENOENT); /* revoked */

	/* A revoked site enrolls again with a new key; the old key is no longer found. */
	cr_assert_eq(store_edge_add(st, "hq", k3, "CERT5", 300), 0);
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_not(e.revoked);
	cr_expect_eq(e.enrolled_ms, 300);
	cr_expect_eq(e.last_seen_ms, 0);
	cr_expect_str_eq(e.cert_pem, "CERT5");
	store_edge_clear(&e);
	cr_expect_eq(store_edge_find_by_key(st, k2, &e), -ENOENT);
	store_free(st);
}

/* A key rotation in two steps: both keys admitted until the edge is seen with the new one. */
Test(store, key_rotation_keeps_the_old_key_until_the_new_one_is_seen)
{
	uint8_t k1[STORE_KEY_LEN], k2[STORE_KEY_LEN], k3[STORE_KEY_LEN], k9[STORE_KEY_LEN];
	key_of(k1, 1);
	key_of(k2, 2);
	key_of(k3, 3);
	key_of(k9, 9);
	struct store *st = open_store(NULL);
	struct store_edge e;
	cr_assert_eq(store_edge_add(st, "hq", k1, "CERT1", 10), 0);
	cr_assert_eq(store_edge_add(st, "b1", k9, "CERT9", 10), 0);
	cr_expect_eq(store_edge_renew(st, "hq", k2, NULL, "C"), -EINVAL, "the old key is required");
	cr_assert_eq(store_edge_renew(st, "hq", k2, k1, "CERT2"), 0);
	cr_assert_eq(store_edge_find_by_key(st, k1, &e), 0, "the old key is still admitted");
	cr_expect_str_eq(e.site, "hq");
	cr_expect(e.has_prev_key);
	cr_expect_eq(memcmp(e.curve_key, k2, STORE_KEY_LEN), 0);
	cr_expect_eq(memcmp(e.prev_curve_key, k1, STORE_KEY_LEN), 0);
	store_edge_clear(&e);
	/* The answer was lost: the edge, still on k1, rotates again to k3. k2 never served. */
	cr_assert_eq(store_edge_renew(st, "hq", k3, k1, "CERT3"), 0);
	cr_expect_eq(store_edge_find_by_key(st, k2, &e), -ENOENT);
	cr_assert_eq(store_edge_find_by_key(st, k1, &e), 0);
	store_edge_clear(&e);
	/* Nobody may take a key that is a site's, in either column, nor rotate to its own. */
	cr_expect_eq(store_edge_add(st, "b2", k1, "CERTX", 20), -EEXIST);
	cr_expect_eq(store_edge_renew(st, "b1", k1, k9, "CERTX"), -EEXIST);
	cr_expect_eq(store_edge_renew(st, "b1", k3, k9, "CERTX"), -EEXIST);
	cr_expect_eq(store_edge_renew(st, "hq", k3, k1, "CERTX"), -EEXIST);
	/* A restart reads both keys back. */
	store_free(st);
	st = open_store(NULL);
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect(e.has_prev_key);
	store_edge_clear(&e);
	/* Seen with k3: k1 goes. Confirming again is harmless. */
	cr_assert_eq(store_edge_key_confirmed(st, "hq"), 0);
	cr_assert_eq(store_edge_key_confirmed(st, "hq"), 0);
	cr_expect_eq(store_edge_find_by_key(st, k1, &e), -ENOENT);
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_not(e.has_prev_key);
	store_edge_clear(&e);
	/* Revocation takes both keys away. */
	cr_assert_eq(store_edge_renew(st, "hq", k2, k3, "CERT4"), 0);
	cr_assert_eq(store_edge_revoke(st, "hq", 30), 0);
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_not(e.has_prev_key);
	store_edge_clear(&e);
	cr_expect_eq(raw_int("SELECT count(*) FROM edge WHERE prev_curve_key IS NOT NULL"), 0);
	store_free(st);
}

/* An online copy: committed state only, 0600, opens as a store; never over a file. */
Test(store, backup_copies_the_committed_state)
{
	uint8_t k1[STORE_KEY_LEN], k2[STORE_KEY_LEN];
	key_of(k1, 1);
	key_of(k2, 2);
	struct store *st = open_store(NULL);
	cr_assert_eq(store_edge_add(st, "hq", k1, "CERT1", 10), 0);
	/* Uncommitted at the moment of the copy: not in it. */
	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(store_edge_add(st, "b1", k2, "CERT2", 20), 0);
	char bdir[256], copy[300];
	(void)snprintf(bdir, sizeof(bdir), "%s/backup", tmp);
	cr_assert_eq(mkdir(bdir, 0700), 0);
	(void)snprintf(copy, sizeof(copy), "%s/%s", bdir, STORE_DB_NAME);
	cr_assert_eq(store_backup(st, copy), 0);
	cr_assert_eq(store_tx_commit(st), 0);
	cr_expect_eq(mode_of(copy), 0600);
	char part[320];
	(void)snprintf(part, sizeof(part), "%s.part", copy);
	cr_expect_neq(access(part, F_OK), 0, "no .part left");
	/* A .part in the way (another backup running): refused, nothing replaced. */
	FILE *f = fopen(part, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(store_backup(st, copy), -EEXIST);
	cr_assert_eq(unlink(part), 0);
	store_free(st);
	struct store *back = NULL;
	cr_assert_eq(store_new(bdir, NULL, &back), 0);
	struct store_edge e;
	cr_assert_eq(store_edge_get(back, "hq", &e), 0);
	cr_expect_str_eq(e.cert_pem, "CERT1");
	store_edge_clear(&e);
	cr_expect_eq(store_edge_get(back, "b1", &e), -ENOENT, "uncommitted write copied");
	cr_expect_eq(store_integrity_check(back), 0);
	store_free(back);
}

/* --- Config generations --------------------------------------------------------------------- */

/* An edge runs a generation this store never issued (the controller was restored from an older
 * copy): the next one is lifted over it, and counting goes on from there. */
Test(store, config_generation_lifted_over_one_an_edge_runs)
{
	uint8_t d[STORE_DIGEST_LEN] = {3};
	uint64_t gen = 0;
	struct store *st = open_store(NULL);
	cr_assert_eq(store_config_push(st, "hq", d, 10, 5, &gen), 0);
	cr_expect_eq(gen, 5, "a first generation lifted");
	cr_assert_eq(store_config_push(st, "hq", d, 11, 0, &gen), 0);
	cr_expect_eq(gen, 6);
	cr_assert_eq(store_config_push(st, "hq", d, 12, 1001, &gen), 0);
	cr_expect_eq(gen, 1001);
	cr_assert_eq(store_config_push(st, "hq", d, 13, 3, &gen), 0);
	cr_expect_eq(gen, 1002, "never backwards");
	cr_expect_eq(store_config_push(st, "hq", d, 14, UINT64_MAX, &gen), -EINVAL);
	cr_expect_eq(store_config_ack(st, "hq", 1002, 15), 0);
	store_free(st);
}

Test(store, config_generations_push_ack_nack)
{
	uint8_t d1[STORE_DIGEST_LEN] = {1}, d2[STORE_DIGEST_LEN] = {2};
	uint64_t gen = 0;
	struct store_config c;
	struct store *st = open_store(NULL);
	cr_expect_eq(store_config_get(st, "hq", &c), -ENOENT);
	cr_expect_eq(store_config_ack(st, "hq", 1, 5), -ENOENT);
	cr_assert_eq(store_config_push(st, "hq", d1, 10, 0, &gen), 0);
	cr_expect_eq(gen, 1);
	cr_assert_eq(store_config_push(st, "hq", d2, 20, 0, &gen), 0);
	cr_expect_eq(gen, 2);
	cr_assert_eq(store_config_push(st, "other", d1, 20, 0, &gen), 0);
	cr_expect_eq(gen, 1); /* per site */

	cr_expect_eq(store_config_ack(st, "hq", 0, 25), -ERANGE);
	cr_expect_eq(store_config_ack(st, "hq", 3, 25), -ERANGE); /* never pushed */
	cr_expect_eq(store_config_ack(st, "hq", 2, 30), 0);
	cr_expect_eq(store_config_ack(st, "hq", 1, 35), 0); /* late ack of an older one */
	cr_expect_eq(store_config_nack(st, "hq", 1, "route table full", 40), 0);
	cr_assert_eq(store_config_get(st, "hq", &c), 0);
	cr_expect_eq(c.generation, 2);
	cr_expect_eq(memcmp(c.digest, d2, sizeof(d2)), 0);
	cr_expect_eq(c.pushed_ms, 20);
	cr_expect_eq(c.acked_generation, 2);
	cr_expect_eq(c.acked_ms, 30);
	cr_expect_eq(c.nack_generation, 1);
	cr_expect_eq(c.nacked_ms, 40);
	cr_expect_str_eq(c.nack_reason, "route table full");
	cr_expect_eq(store_config_nack(st, "hq", 3, "x", 45), -ERANGE);
	store_free(st);

	/* Generations keep growing after a restart. */
	st = open_store(NULL);
	cr_assert_eq(store_config_push(st, "hq", d1, 50, 0, &gen), 0);
	cr_expect_eq(gen, 3);
	store_free(st);
}

Test(store, nack_reason_truncated_on_a_character_boundary)
{
	uint8_t d[STORE_DIGEST_LEN] = {0};
	uint64_t gen = 0;
	struct store_config c;
	char reason[400];
	/* 254 ASCII bytes then "é" (2 bytes) straddling the 255-byte limit. */
	memset(reason, 'a', 254);
	memcpy(reason + 254, "\xc3\xa9tail", 7);
	struct store *st = open_store(NULL);
	cr_assert_eq(store_config_push(st, "hq", d, 1, 0, &gen), 0);
	cr_assert_eq(store_config_nack(st, "hq", 1, reason, 2), 0);
	cr_assert_eq(store_config_get(st, "hq", &c), 0);
	cr_expect_eq(strlen(c.nack_reason), 254);
	store_free(st);
}

/* --- Health --------------------------------------------------------------------------------- */

Test(store, health_put_get_marks_seen)
{
	uint8_t key[STORE_KEY_LEN], *rep = NULL;
	size_t len = 0;
	int64_t at = 0;
	key_of(key, 9);
	struct store *st = open_store(NULL);
	cr_expect_eq(store_health_put(st, "hq", (const uint8_t *)"x", 1, 5), -ENOENT);
	cr_assert_eq(store_edge_add(st, "hq", key, "CERT", 1), 0);
	cr_expect_eq(store_health_get(st, "hq", &rep, &len, &at), -ENOENT);
	cr_assert_eq(store_health_put(st, "hq", (const uint8_t *)"\x00\x01report", 8, 70), 0);
	cr_assert_eq(store_health_put(st, "hq", (const uint8_t *)"\x00\x02newer", 7, 80), 0);
	cr_assert_eq(store_health_get(st, "hq", &rep, &len, &at), 0);
	cr_expect_eq(len, 7);
	cr_expect_eq(memcmp(rep, "\x00\x02newer", 7), 0);
	cr_expect_eq(at, 80);
	free(rep);
	struct store_edge e;
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_eq(e.last_seen_ms, 80);
	store_edge_clear(&e);

	uint8_t *big = calloc(1, STORE_REPORT_MAX + 1);
	cr_assert_not_null(big);
	cr_expect_eq(store_health_put(st, "hq", big, STORE_REPORT_MAX + 1, 90), -EMSGSIZE);
	free(big);
	cr_expect_eq(store_health_put(st, "hq", NULL, 0, 95), 0); /* empty report */
	cr_assert_eq(store_health_get(st, "hq", &rep, &len, &at), 0);
	cr_expect_eq(len, 0);
	free(rep);
	store_free(st);
}

/* --- Events --------------------------------------------------------------------------------- */

Test(store, events_append_list_and_retention)
{
	struct store_options opts = {.event_retention = 5};
	struct store *st = open_store(&opts);
	int64_t id = 0, prev = 0;
	for (int i = 1; i <= 12; i++) {
		const char *site = i % 2 ? "hq" : "branch";
		char detail[32];
		(void)snprintf(detail, sizeof(detail), "n=%d", i);
		cr_assert_eq(store_event_append(st, 1000 + i, site, i == 3 ? "hq:branch" : NULL,
						"tunnel_up", detail, &id),
			     0);
		cr_expect_gt(id, prev);
		prev = id;
	}
	struct store_event *v = NULL;
	size_t n = 0;
	cr_assert_eq(store_event_list_since(st, 0, 100, &v, &n), 0);
	cr_assert_eq(n, 5); /* pruned to the newest 5 */
	cr_expect_eq(v[0].id, 8);
	cr_expect_eq(v[4].id, 12);
	cr_expect_eq(v[4].at_ms, 1012);
	cr_expect_str_eq(v[4].site, "branch");
	cr_expect_str_eq(v[4].kind, "tunnel_up");
	cr_expect_str_eq(v[4].detail, "n=12");
	cr_expect_str_eq(v[4].tunnel, "");
	store_event_list_free(v, n);

	cr_assert_eq(store_event_list_since(st, 10, 1, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_eq(v[0].id, 11);
	store_event_list_free(v, n);

	cr_assert_eq(store_event_list_site(st, "hq", 2, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_eq(v[0].id, 9); /* the newest two of hq, oldest first */
	cr_expect_eq(v[1].id, 11);
	store_event_list_free(v, n);
	cr_assert_eq(store_event_list_latest(st, 3, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_expect_eq(v[0].id, 10); /* the newest three of all sites, oldest first */
	cr_expect_eq(v[2].id, 12);
	store_event_list_free(v, n);
	cr_assert_eq(store_event_list_site(st, "nobody", 2, &v, &n), 0);
	cr_expect_eq(n, 0);
	store_event_list_free(v, n);
	store_free(st);

	/* Ids are not reused after pruning and a restart. */
	st = open_store(&opts);
	cr_assert_eq(store_event_append(st, 2000, NULL, NULL, "ca_created", NULL, &id), 0);
	cr_expect_eq(id, 13);
	cr_assert_eq(store_event_list_since(st, 12, 10, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(v[0].site, "");
	cr_expect_null(v[0].detail);
	store_event_list_free(v, n);
	store_free(st);
}

Test(store, events_bad_fields_refused)
{
	char long_detail[STORE_DETAIL_MAX + 2];
	memset(long_detail, 'd', sizeof(long_detail) - 1);
	long_detail[sizeof(long_detail) - 1] = '\0';
	struct store *st = open_store(NULL);
	cr_expect_eq(store_event_append(st, 1, "hq", NULL, NULL, NULL, NULL), -EINVAL);
	cr_expect_eq(store_event_append(st, 1, "hq", NULL, "", NULL, NULL), -EINVAL);
	cr_expect_eq(store_event_append(st, 1, "HQ!", NULL, "k", NULL, NULL), -EINVAL);
	cr_expect_eq(store_event_append(st, 1, "hq", NULL, "k", long_detail, NULL), -EINVAL);
	cr_expect_eq(store_event_append(st, 1, "hq", NULL, "k", long_detail + 1, NULL), 0);
	store_free(st);
}

/* --- Transactions --------------------------------------------------------------------------- */

Test(store, transactions_compose_and_roll_back_whole)
{
	uint8_t key[STORE_KEY_LEN];
	struct store_edge e;
	struct store_event *v = NULL;
	size_t n = 0;
	key_of(key, 4);
	struct store *st = open_store(NULL);

	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(store_edge_add(st, "hq", key, "CERT", 1), 0);
	cr_assert_eq(store_event_append(st, 1, "hq", NULL, "enrolled", NULL, NULL), 0);
	store_tx_rollback(st);
	cr_expect_eq(store_edge_get(st, "hq", &e), -ENOENT);
	cr_assert_eq(store_event_list_since(st, 0, 10, &v, &n), 0);
	cr_expect_eq(n, 0);
	store_event_list_free(v, n);

	/* A failed inner step rolls back only its own level. */
	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(store_edge_add(st, "hq", key, "CERT", 1), 0);
	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(store_event_append(st, 1, "hq", NULL, "discarded", NULL, NULL), 0);
	store_tx_rollback(st);
	cr_assert_eq(store_event_append(st, 2, "hq", NULL, "enrolled", NULL, NULL), 0);
	cr_assert_eq(store_tx_commit(st), 0);

	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	store_edge_clear(&e);
	cr_assert_eq(store_event_list_since(st, 0, 10, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(v[0].kind, "enrolled");
	store_event_list_free(v, n);

	/* Closing with a transaction open rolls it back. */
	cr_assert_eq(store_tx_begin(st), 0);
	cr_assert_eq(store_edge_revoke(st, "hq", 3), 0);
	store_free(st);
	st = open_store(NULL);
	cr_assert_eq(store_edge_get(st, "hq", &e), 0);
	cr_expect_not(e.revoked);
	store_edge_clear(&e);
	store_free(st);
}

/* --- kill -9 -------------------------------------------------------------------------------- */

#define CRASH_SITES  3
#define CRASH_ROUNDS 8
static const char *const crash_site[CRASH_SITES] = {"hq", "branch-1", "branch-2"};

/*
 * The child: forever, one transaction per iteration that pushes a generation to the next site in
 * turn, appends an event naming it and stores a health report naming it (three tables, one
 * commit), acking every third. Writes a byte to ready_fd once the store is open.
 */
static void hammer(int ready_fd) __attribute__((noreturn));
static void hammer(int ready_fd)
{
	struct store_options opts = {.event_retention = 64};
	struct store *st = NULL;
	if (store_new(dir, &opts, &st) != 0)
		_exit(2);
	/* Continue the sequence where the last writer stopped: event id k is for site (k-1) % 3. */
	struct store_event *v = NULL;
	size_t n = 0;
	if (store_event_list_since(st, 0, 1000, &v, &n) != 0)
		_exit(2);
	uint64_t start = n ? (uint64_t)v[n - 1].id : 0;
	store_event_list_free(v, n);
	if (write(ready_fd, "r", 1) != 1)
		_exit(2);
	for (uint64_t i = start;; i++) {
		const char *site = crash_site[i % CRASH_SITES];
		uint8_t digest[STORE_DIGEST_LEN] = {(uint8_t)i};
		uint64_t gen = 0;
		char text[32];
		int rc = store_tx_begin(st);
		if (rc == 0)
			rc = store_config_push(st, site, digest, (int64_t)i, 0, &gen);
		(void)snprintf(text, sizeof(text), "%" PRIu64, gen);
		if (rc == 0)
			rc = store_event_append(st, (int64_t)i, site, NULL, "push", text, NULL);
		if (rc == 0)
			rc = store_health_put(st, site, (const uint8_t *)text, strlen(text),
					      (int64_t)i);
		if (rc == 0 && gen % 3 == 0)
			rc = store_config_ack(st, site, gen, (int64_t)i);
		if (rc != 0) {
			store_tx_rollback(st);
			_exit(3);
		}
		if (store_tx_commit(st) != 0)
			_exit(4);
	}
}

/* Check every invariant the hammer's transactions keep; return the total generations. */
static uint64_t check_crash_invariants(uint64_t last_gen[static CRASH_SITES])
{
	struct store_options opts = {.event_retention = 64};
	struct store *st = open_store(&opts);
	uint64_t total = 0;
	cr_assert_eq(store_integrity_check(st), 0);
	for (size_t s = 0; s < CRASH_SITES; s++) {
		struct store_config c;
		int rc = store_config_get(st, crash_site[s], &c);
		if (rc == -ENOENT) {
			cr_assert_eq(last_gen[s], 0);
			continue;
		}
		cr_assert_eq(rc, 0);
		cr_assert_geq(c.generation, last_gen[s], "generation went backwards");
		cr_assert_leq(c.acked_generation, c.generation);
		last_gen[s] = c.generation;
		total += c.generation;

		/* The health report was written in the push's transaction. */
		uint8_t *rep = NULL;
		size_t len = 0;
		int64_t at = 0;
		char want[32];
		(void)snprintf(want, sizeof(want), "%" PRIu64, c.generation);
		cr_assert_eq(store_health_get(st, crash_site[s], &rep, &len, &at), 0);
		cr_assert(len == strlen(want) && memcmp(rep, want, len) == 0,
			  "health of %s is not generation %s", crash_site[s], want);
		free(rep);

		/* Its events: consecutive generations ending at the current one. */
		struct store_event *v = NULL;
		size_t n = 0;
		cr_assert_eq(store_event_list_site(st, crash_site[s], 1000, &v, &n), 0);
		cr_assert_gt(n, 0);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(strtoull(v[i].detail, NULL, 10), c.generation - (n - 1 - i));
		store_event_list_free(v, n);
	}
	/* One event per push, ids gap-free, at most 64 kept: the newest id counts every push. */
	struct store_event *v = NULL;
	size_t n = 0;
	cr_assert_eq(store_event_list_since(st, 0, 1000, &v, &n), 0);
	cr_assert_eq(n, total < 64 ? total : 64);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(v[i].id, (int64_t)(total - n + 1 + i));
		cr_assert_str_eq(v[i].site, crash_site[(v[i].id - 1) % CRASH_SITES]);
	}
	store_event_list_free(v, n);
	store_free(st);
	return total;
}

static unsigned random_below(unsigned n)
{
	unsigned r = 0;
	cr_assert_eq(getrandom(&r, sizeof(r), 0), (ssize_t)sizeof(r));
	return r % n;
}

Test(store, survives_kill_9_at_random_moments)
{
	uint8_t key[STORE_KEY_LEN];
	uint64_t last_gen[CRASH_SITES] = {0}, total = 0;
	struct store *st = open_store(NULL);
	for (uint8_t s = 0; s < CRASH_SITES; s++) {
		key_of(key, s);
		cr_assert_eq(store_edge_add(st, crash_site[s], key, "CERT", 1), 0);
	}
	store_free(st);

	for (int round = 0; round < CRASH_ROUNDS; round++) {
		int ready[2];
		cr_assert_eq(pipe(ready), 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(ready[0]);
			hammer(ready[1]);
		}
		close(ready[1]);
		/* Mostly mid-write; one round in four as early as the open itself. */
		char c;
		if (round % 4 != 3)
			cr_assert_eq(read(ready[0], &c, 1), 1, "writer did not start");
		struct timespec ts = {0, (long)(1 + random_below(40)) * 1000000L};
		nanosleep(&ts, NULL);
		cr_assert_eq(kill(pid, SIGKILL), 0);
		int status = 0;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		close(ready[0]); /* only now: an early kill may find the writer before its write */
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "writer stopped on its own (round %d, wait status %#x)", round, status);
		total = check_crash_invariants(last_gen);
	}
	cr_log_info("%" PRIu64 " transactions committed across %d kills", total, CRASH_ROUNDS);
	/* The test means something only if the writers got work done. */
	cr_expect_geq(total, CRASH_ROUNDS, "only %" PRIu64 " transactions committed", total);
}

/* NOLINTEND(readability-function-size) */
