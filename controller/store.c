#include "controller/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/log.h"

#define BUSY_TIMEOUT_DEFAULT_MS 5000u

/*
 * Every statement the store runs, prepared on first use and kept for the life of the store.
 * Lazy preparation lets a store opened at an older schema version (migration tests) run the
 * statements that exist at that version.
 */
enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_VERSION,
	S_CA_PUT,
	S_CA_GET,
	S_EDGE_ADD,
	S_EDGE_REVOKE,
	S_EDGE_RENEW,
	S_EDGE_KEY_CONFIRMED,
	S_EDGE_SEEN,
	S_EDGE_FEATURES,
	S_EDGE_GET,
	S_EDGE_BY_KEY,
	S_EDGE_LIST,
	S_TOKEN_ADD,
	S_TOKEN_CONSUME,
	S_TOKEN_LOOKUP,
	S_TOKEN_PURGE,
	S_CONFIG_PUSH,
	S_CONFIG_GET,
	S_CONFIG_ACK,
	S_CONFIG_NACK,
	S_HEALTH_PUT,
	S_HEALTH_GET,
	S_EVENT_ADD,
	S_EVENT_PRUNE,
	S_EVENT_SINCE,
	S_EVENT_SITE,
	S_EVENT_LATEST,
	S_PSK_GET,
	S_PSK_PUT,
	S_PSK_DELETE,
	S_COUNT,
};

#define EDGE_COLS                                                                                  \
	"site, curve_key, cert_pem, enrolled_at, last_seen, revoked, revoked_at, features, "       \
	"prev_curve_key"
#define EVENT_COLS "id, at, site, tunnel, kind, detail"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	/* Savepoints nest by name: RELEASE / ROLLBACK TO act on the innermost "nest". */
	[S_SAVEPOINT] = "SAVEPOINT nest",
	[S_RELEASE] = "RELEASE nest",
	[S_ROLLBACK_TO] = "ROLLBACK TO nest",
	[S_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_version",
	[S_CA_PUT] = "INSERT INTO ca(id, key_pem, cert_pem, created_at) VALUES(1, ?1, ?2, ?3)",
	[S_CA_GET] = "SELECT key_pem, cert_pem, created_at FROM ca WHERE id = 1",
	/* A revoked site may enroll again: its row is replaced; an active one is left alone
	 * (changes() == 0 tells the caller). */
	[S_EDGE_ADD] =
		"INSERT INTO edge(site, curve_key, cert_pem, enrolled_at) VALUES(?1, ?2, ?3, ?4)"
		" ON CONFLICT(site) DO UPDATE SET curve_key = excluded.curve_key,"
		" cert_pem = excluded.cert_pem, enrolled_at = excluded.enrolled_at,"
		" revoked = 0, revoked_at = NULL, last_seen = NULL, prev_curve_key = NULL"
		" WHERE edge.revoked = 1",
	[S_EDGE_REVOKE] = "UPDATE edge SET revoked = 1, revoked_at = COALESCE(revoked_at, ?2),"
			  " prev_curve_key = NULL WHERE site = ?1",
	/* A new key: the one the request came with stays admitted (prev_curve_key) until the
	 * edge is seen with the new one. */
	[S_EDGE_RENEW] = "UPDATE edge SET cert_pem = ?2, curve_key = COALESCE(?3, curve_key),"
			 " prev_curve_key = CASE WHEN ?3 IS NULL THEN prev_curve_key ELSE ?4 END"
			 " WHERE site = ?1 AND revoked = 0",
	[S_EDGE_KEY_CONFIRMED] = "UPDATE edge SET prev_curve_key = NULL"
				 " WHERE site = ?1 AND prev_curve_key IS NOT NULL",
	[S_EDGE_SEEN] =
		"UPDATE edge SET last_seen = MAX(COALESCE(last_seen, 0), ?2) WHERE site = ?1",
	[S_EDGE_FEATURES] = "UPDATE edge SET features = ?2 WHERE site = ?1",
	[S_EDGE_GET] = "SELECT " EDGE_COLS " FROM edge WHERE site = ?1",
	[S_EDGE_BY_KEY] =
		"SELECT " EDGE_COLS " FROM edge WHERE curve_key = ?1 OR prev_curve_key = ?1",
	[S_EDGE_LIST] = "SELECT " EDGE_COLS " FROM edge ORDER BY site",
	[S_TOKEN_ADD] =
		"INSERT INTO token(hash, site, created_at, expires_at) VALUES(?1, ?2, ?3, ?4)",
	/* The whole check is in the WHERE clause: the row changes only if every condition holds
	 * at the moment the write lock is held, so two racing consumers cannot both match. */
	[S_TOKEN_CONSUME] = "UPDATE token SET used_at = ?3 WHERE hash = ?1 AND site = ?2"
			    " AND used_at IS NULL AND expires_at > ?3",
	[S_TOKEN_LOOKUP] = "SELECT hash, site, expires_at, used_at FROM token WHERE hash = ?1",
	[S_TOKEN_PURGE] = "DELETE FROM token WHERE expires_at <= ?1 OR used_at <= ?1",
	[S_CONFIG_PUSH] = "INSERT INTO config_state(site, generation, digest, pushed_at)"
			  " VALUES(?1, MAX(1, ?4), ?2, ?3) ON CONFLICT(site) DO UPDATE SET"
			  " generation = MAX(generation + 1, ?4), digest = excluded.digest,"
			  " pushed_at = excluded.pushed_at RETURNING generation",
	[S_CONFIG_GET] =
		"SELECT generation, digest, pushed_at, acked_generation, acked_at,"
		" nack_generation, nacked_at, nack_reason FROM config_state WHERE site = ?1",
	[S_CONFIG_ACK] = "UPDATE config_state SET acked_generation = ?2, acked_at = ?3"
			 " WHERE site = ?1 AND ?2 > acked_generation",
	[S_CONFIG_NACK] = "UPDATE config_state SET nack_generation = ?2, nacked_at = ?3,"
			  " nack_reason = ?4 WHERE site = ?1 AND ?2 >= nack_generation",
	[S_HEALTH_PUT] = "INSERT INTO health(site, report, received_at) VALUES(?1, ?2, ?3)"
			 " ON CONFLICT(site) DO UPDATE SET report = excluded.report,"
			 " received_at = excluded.received_at",
	[S_HEALTH_GET] = "SELECT report, received_at FROM health WHERE site = ?1",
	[S_EVENT_ADD] =
		"INSERT INTO event(at, site, tunnel, kind, detail) VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_EVENT_PRUNE] = "DELETE FROM event WHERE id <= ?1",
	[S_EVENT_SINCE] = "SELECT " EVENT_COLS " FROM event WHERE id > ?1 ORDER BY id LIMIT ?2",
	[S_EVENT_SITE] = "SELECT * FROM (SELECT " EVENT_COLS " FROM event WHERE site = ?1"
			 " ORDER BY id DESC LIMIT ?2) ORDER BY id",
	[S_EVENT_LATEST] = "SELECT * FROM (SELECT " EVENT_COLS " FROM event"
			   " ORDER BY id DESC LIMIT ?1) ORDER BY id",
	[S_PSK_GET] = "SELECT psk FROM tunnel_psk WHERE tunnel = ?1",
	[S_PSK_PUT] = "INSERT INTO tunnel_psk(tunnel, psk, created_at) VALUES(?1, ?2, ?3)",
	[S_PSK_DELETE] = "DELETE FROM tunnel_psk WHERE tunnel = ?1",
};

/*
 * Forward migrations, applied in order inside one transaction by store_new(). Never edit a
 * released entry: add a new one. Tables are not STRICT (that needs SQLite 3.37; we accept
 * 3.35), so the CHECKs hold the types that matter.
 */
struct migration {
	uint32_t version;
	const char *sql;
};

static const struct migration migrations[] = {
	{1, "CREATE TABLE ca("
	    " id INTEGER PRIMARY KEY CHECK (id = 1),"
	    " key_pem TEXT NOT NULL,"
	    " cert_pem TEXT NOT NULL,"
	    " created_at INTEGER NOT NULL);"
	    "CREATE TABLE edge("
	    " site TEXT PRIMARY KEY NOT NULL CHECK (length(site) BETWEEN 1 AND 31),"
	    " curve_key BLOB NOT NULL UNIQUE"
	    "  CHECK (typeof(curve_key) = 'blob' AND length(curve_key) = 32),"
	    " cert_pem TEXT NOT NULL,"
	    " enrolled_at INTEGER NOT NULL,"
	    " last_seen INTEGER,"
	    " revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
	    " revoked_at INTEGER);"
	    "CREATE TABLE token("
	    " hash BLOB PRIMARY KEY NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
	    " site TEXT NOT NULL,"
	    " created_at INTEGER NOT NULL,"
	    " expires_at INTEGER NOT NULL CHECK (expires_at > created_at),"
	    " used_at INTEGER) WITHOUT ROWID;"},
	/* No foreign key from config_state to edge: a site's generations must keep growing even
	 * when it is revoked and enrolled again, or the edge would take a new generation 1 for a
	 * stale configuration. */
	{2, "CREATE TABLE config_state("
	    " site TEXT PRIMARY KEY NOT NULL,"
	    " generation INTEGER NOT NULL CHECK (generation >= 1),"
	    " digest BLOB NOT NULL CHECK (typeof(digest) = 'blob' AND length(digest) = 32),"
	    " pushed_at INTEGER NOT NULL,"
	    " acked_generation INTEGER NOT NULL DEFAULT 0,"
	    " acked_at INTEGER,"
	    " nack_generation INTEGER NOT NULL DEFAULT 0,"
	    " nacked_at INTEGER,"
	    " nack_reason TEXT,"
	    " CHECK (acked_generation BETWEEN 0 AND generation),"
	    " CHECK (nack_generation BETWEEN 0 AND generation));"
	    "CREATE TABLE health("
	    " site TEXT PRIMARY KEY NOT NULL REFERENCES edge(site) ON DELETE CASCADE,"
	    " report BLOB NOT NULL,"
	    " received_at INTEGER NOT NULL);"
	    /* AUTOINCREMENT: ids are never reused, so "events since id N" stays correct after
	     * pruning, and "keep the newest N" is a range delete on the rowid. */
	    "CREATE TABLE event("
	    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " at INTEGER NOT NULL,"
	    " site TEXT,"
	    " tunnel TEXT,"
	    " kind TEXT NOT NULL,"
	    " detail TEXT);"
	    "CREATE INDEX event_site ON event(site, id);"},
	/* One key per tunnel (auth: psk), kept so that a restarted controller sends both ends the
	 * key they already run. */
	{3, "CREATE TABLE tunnel_psk("
	    " tunnel TEXT PRIMARY KEY NOT NULL,"
	    " psk BLOB NOT NULL CHECK (typeof(psk) = 'blob' AND length(psk) = 32),"
	    " created_at INTEGER NOT NULL) WITHOUT ROWID;"},
	/* What each edge build understands (CTL_FEATURE_* bits): a restarted controller must
	 * build the configs it built before, not fall back until every edge has reported. */
	{4, "ALTER TABLE edge ADD COLUMN features INTEGER NOT NULL DEFAULT 0;"},
	/* Key rotation in two steps: the key an edge rotated from stays admitted until the edge
	 * connects with its new one, so that a lost answer or a crash before the edge saved its
	 * new key does not lock it out. A key is one site's, in either column (checked on write).
	 */
	{5, "ALTER TABLE edge ADD COLUMN prev_curve_key BLOB"
	    " CHECK (prev_curve_key IS NULL"
	    "  OR (typeof(prev_curve_key) = 'blob' AND length(prev_curve_key) = 32));"
	    "CREATE UNIQUE INDEX edge_prev_curve_key ON edge(prev_curve_key)"
	    " WHERE prev_curve_key IS NOT NULL;"},
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	unsigned tx_depth; /* open levels: 1 = the transaction, more = savepoints inside */
	bool tx_aborted;   /* SQLite rolled the transaction back under open levels */
	uint32_t event_retention;
};

/* --- Errors ------------------------------------------------------------------------------- */

static int sqlite_to_errno(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
		return -EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_TOOBIG:
		return -EMSGSIZE;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	default:
		return -EIO;
	}
}

/* Log a failed SQLite call once and map it. Constraint outcomes are answers, not faults: they
 * log at debug. Only the statement's text and SQLite's message are logged, never a value. */
static int sql_fail(const struct store *st, int rc, const char *what)
{
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		LOG_DEBUG(CTL, "store: constraint", "what=\"%.60s\" err=\"%s\"", what,
			  sqlite3_errmsg(st->db));
	else
		LOG_ERR(CTL, "store: SQLite failed", "what=\"%.60s\" code=%d err=\"%s\"", what, rc,
			sqlite3_errmsg(st->db));
	return sqlite_to_errno(rc);
}

/* --- Statements --------------------------------------------------------------------------- */

static int stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out)
{
	if (!st->stmt[id]) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &st->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return sql_fail(st, rc, stmt_sql[id]);
	}
	*out = st->stmt[id];
	return 0;
}

/* Reset and drop the bindings, so no pointer to a caller's buffer outlives the call. */
static void stmt_end(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Positional binder: each call binds the next parameter; the first failure sticks. Text and
 * blobs are bound SQLITE_STATIC: they must live until stmt_end, which every path reaches. */
struct bind {
	sqlite3_stmt *s;
	int idx;
	int rc;
};

static void bind_text(struct bind *b, const char *v, size_t len)
{
	int i = ++b->idx;
	if (b->rc != SQLITE_OK)
		return;
	b->rc = v ? sqlite3_bind_text64(b->s, i, v, len, SQLITE_STATIC, SQLITE_UTF8)
		  : sqlite3_bind_null(b->s, i);
}

static void bind_str(struct bind *b, const char *v)
{
	bind_text(b, v, v ? strlen(v) : 0);
}

static void bind_blob(struct bind *b, const void *p, size_t len)
{
	int i = ++b->idx;
	if (b->rc != SQLITE_OK)
		return;
	if (!p)
		b->rc = sqlite3_bind_null(b->s, i);
	else if (len == 0)
		b->rc = sqlite3_bind_zeroblob(b->s, i, 0);
	else
		b->rc = sqlite3_bind_blob64(b->s, i, p, len, SQLITE_STATIC);
}

static void bind_i64(struct bind *b, int64_t v)
{
	int i = ++b->idx;
	if (b->rc == SQLITE_OK)
		b->rc = sqlite3_bind_int64(b->s, i, v);
}

/* Step a statement that returns rows: 1 with a row ready (the caller reads it, then calls
 * stmt_end), 0 when done, or -errno; both of the latter have ended the statement. */
static int step_row(const struct store *st, sqlite3_stmt *s, const struct bind *b)
{
	if (b && b->rc != SQLITE_OK) {
		int err = sql_fail(st, b->rc, sqlite3_sql(s));
		stmt_end(s);
		return err;
	}
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	stmt_end(s);
	return rc == SQLITE_DONE ? 0 : sql_fail(st, rc, sqlite3_sql(s));
}

/* Run a statement to completion; *changes (may be NULL) receives the rows it changed. */
static int step_done(const struct store *st, sqlite3_stmt *s, const struct bind *b, int *changes)
{
	int rc;
	do {
		rc = step_row(st, s, b);
	} while (rc == 1);
	if (rc == 0 && changes)
		*changes = sqlite3_changes(st->db);
	return rc;
}

/* Prepare-free one-shot run of a cached statement without parameters. */
static int run(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt_get(st, id, &s);
	return rc ? rc : step_done(st, s, NULL, NULL);
}

/* Copy a text column into buf; a NULL column reads as "". A value longer than the buffer was
 * not written by us: -EUCLEAN. */
static int col_copy(sqlite3_stmt *s, int i, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	const unsigned char *t = sqlite3_column_text(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);
	if (!t)
		return -ENOMEM;
	if (n >= cap)
		return -EUCLEAN;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return 0;
}

/* An owned copy of a text column into *out (NULL for a NULL column). */
static int col_dup(sqlite3_stmt *s, int i, char **out)
{
	*out = NULL;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	const unsigned char *t = sqlite3_column_text(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);
	char *c = t ? malloc(n + 1) : NULL;
	if (!c)
		return -ENOMEM;
	memcpy(c, t, n);
	c[n] = '\0';
	*out = c;
	return 0;
}

/* A fixed-size blob column into buf; any other size is not what we wrote: -EUCLEAN. */
static int col_fixed(sqlite3_stmt *s, int i, uint8_t *buf, size_t len)
{
	const void *p = sqlite3_column_blob(s, i);
	if (!p || (size_t)sqlite3_column_bytes(s, i) != len)
		return -EUCLEAN;
	memcpy(buf, p, len);
	return 0;
}

static uint64_t col_u64(sqlite3_stmt *s, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(s, i);
	return v < 0 ? 0 : (uint64_t)v;
}

/* --- Transactions ------------------------------------------------------------------------- */

/* SQLite rolls a transaction back on its own after some failures (I/O error, disk full); the
 * open levels then have nothing under them. */
static bool tx_lost(struct store *st)
{
	if (st->tx_depth > 0 && sqlite3_get_autocommit(st->db))
		st->tx_aborted = true;
	return st->tx_aborted;
}

static void tx_close_level(struct store *st)
{
	assert(st->tx_depth > 0);
	st->tx_depth--;
	if (st->tx_depth == 0)
		st->tx_aborted = false;
}

int store_tx_begin(struct store *st)
{
	if (st->tx_depth > 0 && tx_lost(st))
		return -EIO;
	int rc = run(st, st->tx_depth > 0 ? S_SAVEPOINT : S_BEGIN);
	if (rc == 0)
		st->tx_depth++;
	return rc;
}

void store_tx_rollback(struct store *st)
{
	assert(st->tx_depth > 0);
	if (st->tx_depth == 0)
		return;
	if (!tx_lost(st)) {
		if (st->tx_depth == 1) {
			(void)run(st, S_ROLLBACK);
		} else if (run(st, S_ROLLBACK_TO) == 0) {
			(void)run(st, S_RELEASE);
		}
	}
	tx_close_level(st);
}

int store_tx_commit(struct store *st)
{
	assert(st->tx_depth > 0);
	if (st->tx_depth == 0)
		return -EINVAL;
	if (tx_lost(st)) {
		LOG_ERR(CTL, "store: transaction was rolled back by SQLite", "depth=%u",
			st->tx_depth);
		tx_close_level(st);
		return -EIO;
	}
	int rc = run(st, st->tx_depth == 1 ? S_COMMIT : S_RELEASE);
	if (rc != 0) {
		store_tx_rollback(st);
		return rc;
	}
	tx_close_level(st);
	return 0;
}

/* Close the level a function opened: commit when rc is 0, else roll back and keep rc. */
static int tx_finish(struct store *st, int rc)
{
	if (rc == 0)
		return store_tx_commit(st);
	store_tx_rollback(st);
	return rc;
}

/* --- Opening ------------------------------------------------------------------------------ */

/* Owner must be us; permission bits exactly `want` (tightened, with a warning if they were
 * wider). */
static int mode_enforce(int fd, const char *what, mode_t want)
{
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		return -errno;
	if (sb.st_uid != geteuid()) {
		LOG_ERR(CTL,
			"store: state owned by another user; chown it to the controller's user",
			"path=%s uid=%u", what, (unsigned)sb.st_uid);
		return -EPERM;
	}
	if ((sb.st_mode & 07777) == want)
		return 0;
	if (fchmod(fd, want) != 0)
		return -errno;
	if (sb.st_mode & 077)
		LOG_WARN(CTL, "store: permissions were too open; tightened", "path=%s mode=%04o",
			 what, (unsigned)want);
	return 0;
}

static int file_enforce(int dfd, const char *dir, const char *name, int flags)
{
	char what[512];
	(void)snprintf(what, sizeof(what), "%s/%s", dir, name);
	int fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
	if (fd < 0) {
		int err = -errno;
		if (err == -ENOENT && !(flags & O_CREAT))
			return 0;
		LOG_ERR(CTL, "store: cannot open database file", "path=%s err=\"%s\"", what,
			sdw_strerror(err));
		return err;
	}
	struct stat sb;
	int rc = fstat(fd, &sb) != 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(sb.st_mode))
		rc = -EINVAL;
	if (rc == 0)
		rc = mode_enforce(fd, what, 0600);
	close(fd);
	return rc;
}

/* The state directory 0700 and the database files 0600, before SQLite opens anything: SQLite
 * gives the -wal and -shm files it creates the database file's mode. */
static int files_prepare(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		int err = -errno;
		LOG_ERR(CTL, "store: cannot create state directory; create its parent",
			"path=%s err=\"%s\"", dir, sdw_strerror(err));
		return err;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int err = -errno;
		LOG_ERR(CTL, "store: cannot open state directory", "path=%s err=\"%s\"", dir,
			sdw_strerror(err));
		return err;
	}
	int rc = mode_enforce(dfd, dir, 0700);
	if (rc == 0)
		rc = file_enforce(dfd, dir, STORE_DB_NAME, O_CREAT);
	if (rc == 0)
		rc = file_enforce(dfd, dir, STORE_DB_NAME "-wal", 0);
	if (rc == 0)
		rc = file_enforce(dfd, dir, STORE_DB_NAME "-shm", 0);
	close(dfd);
	return rc;
}

static int exec_sql(struct store *st, const char *sql)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sql_fail(st, rc, sql);
}

/* A one-row pragma's value as text into buf. */
static int pragma_text(struct store *st, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(st, rc, sql);
	rc = step_row(st, s, NULL);
	if (rc == 1) {
		rc = col_copy(s, 0, buf, cap);
		stmt_end(s);
	} else if (rc == 0) {
		rc = -EIO;
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * WAL is a property of the file, set by the first open. Switching needs the other connections
 * out of the file, and SQLite answers SQLITE_BUSY at once rather than wait in the busy handler
 * (two connections waiting for each other could deadlock): when two processes open a new
 * database together, one of them retries here, within the busy timeout.
 */
static int journal_wal(struct store *st, uint32_t busy_ms)
{
	static const char sql[] = "PRAGMA journal_mode = WAL";
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(st, rc, sql);
	for (uint32_t waited_ms = 0;; waited_ms += 10) {
		rc = sqlite3_step(s);
		if (rc != SQLITE_BUSY || waited_ms >= busy_ms)
			break;
		(void)sqlite3_reset(s);
		struct timespec pause = {.tv_nsec = 10L * 1000 * 1000};
		(void)nanosleep(&pause, NULL);
	}
	int err = 0;
	if (rc == SQLITE_ROW) {
		const unsigned char *mode = sqlite3_column_text(s, 0);
		if (!mode || strcmp((const char *)mode, "wal") != 0) {
			LOG_ERR(CTL, "store: cannot switch to WAL journal", "mode=%s",
				mode ? (const char *)mode : "?");
			err = -EIO;
		}
	} else {
		err = sql_fail(st, rc, sql);
	}
	sqlite3_finalize(s);
	return err;
}

static int db_configure(struct store *st, uint32_t busy_ms)
{
	char v[16];
	(void)sqlite3_extended_result_codes(st->db, 1);
	(void)sqlite3_busy_timeout(st->db, busy_ms > INT32_MAX ? INT32_MAX : (int)busy_ms);
	/* No writable_schema or similar tricks from SQL; triggers and views cannot call
	 * application functions. */
	(void)sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	(void)sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	int rc = journal_wal(st, busy_ms);
	if (rc == 0)
		rc = exec_sql(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
				  " PRAGMA secure_delete = ON");
	/* foreign_keys is silently ignored by a SQLite built without them: check. */
	if (rc == 0)
		rc = pragma_text(st, "PRAGMA foreign_keys", v, sizeof(v));
	if (rc == 0 && strcmp(v, "1") != 0) {
		LOG_ERR(CTL, "store: SQLite without foreign key support", "foreign_keys=%s", v);
		rc = -ENOTSUP;
	}
	return rc;
}

int store_schema_version(struct store *st, uint32_t *out)
{
	sqlite3_stmt *s = NULL;
	*out = 0;
	int rc = stmt_get(st, S_VERSION, &s);
	if (rc == 0)
		rc = step_row(st, s, NULL);
	if (rc == 1) {
		sqlite3_int64 v = sqlite3_column_int64(s, 0);
		stmt_end(s);
		if (v < 0 || v > UINT32_MAX)
			return -EUCLEAN;
		*out = (uint32_t)v;
		return 0;
	}
	return rc == 0 ? -EIO : rc;
}

static int migrate_to(struct store *st, uint32_t from, uint32_t target)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(migrations) / sizeof(migrations[0]) && rc == 0; i++) {
		const struct migration *m = &migrations[i];
		if (m->version <= from || m->version > target)
			continue;
		char ins[160];
		(void)snprintf(ins, sizeof(ins),
			       "INSERT INTO schema_version(version, applied_at) VALUES(%" PRIu32
			       ", CAST(strftime('%%s', 'now') AS INTEGER) * 1000)",
			       m->version);
		rc = exec_sql(st, m->sql);
		if (rc == 0)
			rc = exec_sql(st, ins);
		if (rc == 0)
			LOG_NOTICE(CTL, "store: schema migrated", "version=%" PRIu32, m->version);
	}
	return rc;
}

/* Apply every migration above the current version, up to target, in one transaction: a crash
 * leaves the database at the old version or the new one. The version is read under the write
 * lock, so two processes opening a new database migrate it once. */
static int migrate(struct store *st, uint32_t target)
{
	uint32_t cur = 0;
	int rc = store_tx_begin(st);
	if (rc != 0)
		return rc;
	rc = exec_sql(st, "CREATE TABLE IF NOT EXISTS schema_version("
			  "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
	if (rc == 0)
		rc = store_schema_version(st, &cur);
	if (rc == 0 && cur > STORE_SCHEMA_VERSION) {
		LOG_ERR(CTL, "store: database written by a newer controller; upgrade this one",
			"schema=%" PRIu32 " supported=%d", cur, STORE_SCHEMA_VERSION);
		rc = -ENOTSUP;
	}
	if (rc == 0)
		rc = migrate_to(st, cur, target);
	return tx_finish(st, rc);
}

int store_new(const char *state_dir, const struct store_options *opts, struct store **out)
{
	static const struct store_options defaults = {0};
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (!state_dir || !*state_dir || strlen(state_dir) > 4000 ||
	    opts->schema_version > STORE_SCHEMA_VERSION)
		return -EINVAL;
	struct store *st = calloc(1, sizeof(*st));
	char *path = NULL;
	int rc = -ENOMEM;
	if (!st)
		goto out;
	st->event_retention =
		opts->event_retention ? opts->event_retention : STORE_EVENT_RETENTION_DEFAULT;
	rc = files_prepare(state_dir);
	if (rc != 0)
		goto out;
	size_t plen = strlen(state_dir) + sizeof("/" STORE_DB_NAME);
	path = malloc(plen);
	if (!path) {
		rc = -ENOMEM;
		goto out;
	}
	(void)snprintf(path, plen, "%s/%s", state_dir, STORE_DB_NAME);
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		LOG_ERR(CTL, "store: cannot open database", "path=%s err=\"%s\"", path,
			st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		rc = sqlite_to_errno(rc);
		goto out;
	}
	rc = db_configure(st,
			  opts->busy_timeout_ms ? opts->busy_timeout_ms : BUSY_TIMEOUT_DEFAULT_MS);
	if (rc == 0)
		rc = migrate(st,
			     opts->schema_version ? opts->schema_version : STORE_SCHEMA_VERSION);
out:
	free(path);
	if (rc != 0) {
		store_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	if (st->db && !sqlite3_get_autocommit(st->db))
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		LOG_ERR(CTL, "store: close failed", "err=\"%s\"", sqlite3_errmsg(st->db));
	free(st);
}

/* The copy reads back whole: SQLite's quick check over every page of it. */
static int check_copy(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int ok = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, NULL) == SQLITE_OK &&
		 sqlite3_step(s) == SQLITE_ROW &&
		 strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
	sqlite3_finalize(s);
	return ok ? 0 : -EUCLEAN;
}

int store_backup(struct store *st, const char *dest_path)
{
	sqlite3 *src = NULL, *dst = NULL;
	const char *db_path = sqlite3_db_filename(st->db, "main");
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.part", dest_path);
	if (!db_path || !db_path[0] || n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	/* Created 0600 here (it holds the CA's key), never over an existing file. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	(void)close(fd);
	/* A connection of its own reads the last committed state (a WAL snapshot), whatever the
	 * store's connection has open meanwhile; writers are not held up. */
	int rc = sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
		if (!b) {
			rc = sqlite3_errcode(dst);
		} else {
			rc = sqlite3_backup_step(b, -1);
			int fin = sqlite3_backup_finish(b);
			rc = rc == SQLITE_DONE ? fin : rc;
		}
	}
	if (rc != SQLITE_OK)
		LOG_ERR(CTL, "store: backup failed", "dest=%s err=\"%s\"", dest_path,
			dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
	int err = rc == SQLITE_OK ? 0 : sqlite_to_errno(rc);
	if (err == 0)
		err = check_copy(dst);
	if (sqlite3_close(dst) != SQLITE_OK && err == 0)
		err = -EIO;
	(void)sqlite3_close(src);
	if (err == 0 && rename(tmp, dest_path) != 0)
		err = -errno;
	if (err == 0)
		err = file_fsync_parent(dest_path);
	if (err != 0)
		(void)unlink(tmp);
	return err;
}

/* Log up to a few rows of a checking pragma; any row other than a lone "ok" is a problem. */
static int check_pragma(struct store *st, const char *sql, bool ok_row)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(st, rc, sql);
	unsigned bad = 0;
	while ((rc = step_row(st, s, NULL)) == 1) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		if (ok_row && t && strcmp((const char *)t, "ok") == 0)
			continue;
		if (bad++ < 5)
			LOG_ERR(CTL, "store: integrity problem", "check=\"%s\" row=\"%s\"", sql,
				t ? (const char *)t : "");
	}
	sqlite3_finalize(s);
	if (rc == 0 && bad)
		rc = -EUCLEAN;
	return rc;
}

int store_integrity_check(struct store *st)
{
	int rc = check_pragma(st, "PRAGMA integrity_check", true);
	return rc ? rc : check_pragma(st, "PRAGMA foreign_key_check", false);
}

bool store_site_name_valid(const char *name)
{
	if (!name)
		return false;
	size_t n = strnlen(name, STORE_SITE_MAX + 1);
	if (n == 0 || n > STORE_SITE_MAX || name[0] < 'a' || name[0] > 'z' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

static bool pem_ok(const char *pem)
{
	return pem && *pem && strnlen(pem, STORE_PEM_MAX + 1) <= STORE_PEM_MAX;
}

/* --- CA ----------------------------------------------------------------------------------- */

int store_ca_put(struct store *st, const char *key_pem, const char *cert_pem, int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	if (!pem_ok(key_pem) || !pem_ok(cert_pem))
		return -EINVAL;
	int rc = stmt_get(st, S_CA_PUT, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, key_pem);
	bind_str(&b, cert_pem);
	bind_i64(&b, now_ms);
	return step_done(st, s, &b, NULL);
}

void store_ca_clear(struct store_ca *ca)
{
	if (!ca)
		return;
	if (ca->key_pem) {
		OPENSSL_cleanse(ca->key_pem, strlen(ca->key_pem));
		free(ca->key_pem);
	}
	free(ca->cert_pem);
	memset(ca, 0, sizeof(*ca));
}

int store_ca_get(struct store *st, struct store_ca *out)
{
	sqlite3_stmt *s = NULL;
	memset(out, 0, sizeof(*out));
	int rc = stmt_get(st, S_CA_GET, &s);
	if (rc == 0)
		rc = step_row(st, s, NULL);
	if (rc != 1)
		return rc == 0 ? -ENOENT : rc;
	rc = col_dup(s, 0, &out->key_pem);
	if (rc == 0)
		rc = col_dup(s, 1, &out->cert_pem);
	out->created_ms = sqlite3_column_int64(s, 2);
	stmt_end(s);
	if (rc == 0 && (!out->key_pem || !out->cert_pem))
		rc = -EUCLEAN;
	if (rc != 0)
		store_ca_clear(out);
	return rc;
}

/* --- Edges -------------------------------------------------------------------------------- */

/* One edge row (EDGE_COLS) into *e; on failure *e owns nothing. */
static int edge_read(sqlite3_stmt *s, struct store_edge *e)
{
	memset(e, 0, sizeof(*e));
	int rc = col_copy(s, 0, e->site, sizeof(e->site));
	if (rc == 0)
		rc = col_fixed(s, 1, e->curve_key, sizeof(e->curve_key));
	if (rc == 0)
		rc = col_dup(s, 2, &e->cert_pem);
	e->enrolled_ms = sqlite3_column_int64(s, 3);
	e->last_seen_ms = sqlite3_column_int64(s, 4);
	e->revoked = sqlite3_column_int64(s, 5) != 0;
	e->revoked_ms = sqlite3_column_int64(s, 6);
	e->features = (uint64_t)sqlite3_column_int64(s, 7);
	if (rc == 0 && sqlite3_column_type(s, 8) != SQLITE_NULL) {
		rc = col_fixed(s, 8, e->prev_curve_key, sizeof(e->prev_curve_key));
		e->has_prev_key = rc == 0;
	}
	if (rc != 0)
		store_edge_clear(e);
	return rc;
}

/* -EEXIST when key is held, now or as the key a rotation started from, by another site than
 * `site` (or by site too, when own_counts); 0 when nobody holds it. The UNIQUE constraints
 * cover each column; this covers one column against the other. */
static int key_taken(struct store *st, const uint8_t key[static STORE_KEY_LEN], const char *site,
		     bool own_counts)
{
	struct store_edge e;
	int rc = store_edge_find_by_key(st, key, &e);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	bool taken = own_counts || strcmp(e.site, site) != 0;
	store_edge_clear(&e);
	return taken ? -EEXIST : 0;
}

int store_edge_add(struct store *st, const char *site,
		   const uint8_t curve_key[static STORE_KEY_LEN], const char *cert_pem,
		   int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	int changes = 0;
	if (!store_site_name_valid(site) || !pem_ok(cert_pem))
		return -EINVAL;
	int rc = key_taken(st, curve_key, site, false);
	if (rc == 0)
		rc = stmt_get(st, S_EDGE_ADD, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	bind_blob(&b, curve_key, STORE_KEY_LEN);
	bind_str(&b, cert_pem);
	bind_i64(&b, now_ms);
	rc = step_done(st, s, &b, &changes);
	if (rc == 0 && changes == 0)
		rc = -EEXIST; /* enrolled and not revoked */
	if (rc == 0)
		LOG_NOTICE(CTL, "store: edge enrolled", "site=%s", site);
	return rc;
}

/* Run an UPDATE keyed by site; -ENOENT when it matched no row. */
static int update_site(const struct store *st, sqlite3_stmt *s, struct bind *b)
{
	int changes = 0;
	int rc = step_done(st, s, b, &changes);
	return rc == 0 && changes == 0 ? -ENOENT : rc;
}

int store_edge_revoke(struct store *st, const char *site, int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = stmt_get(st, S_EDGE_REVOKE, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	bind_i64(&b, now_ms);
	rc = update_site(st, s, &b);
	if (rc == 0)
		LOG_NOTICE(CTL, "store: edge revoked", "site=%s", site);
	return rc;
}

int store_edge_renew(struct store *st, const char *site, const uint8_t *new_key,
		     const uint8_t *from_key, const char *cert_pem)
{
	sqlite3_stmt *s = NULL;
	if (!pem_ok(cert_pem) || (new_key && !from_key))
		return -EINVAL;
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = new_key ? key_taken(st, new_key, site, true) : 0;
	if (rc == 0)
		rc = stmt_get(st, S_EDGE_RENEW, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	bind_str(&b, cert_pem);
	bind_blob(&b, new_key, STORE_KEY_LEN);
	bind_blob(&b, from_key, STORE_KEY_LEN);
	return update_site(st, s, &b);
}

int store_edge_key_confirmed(struct store *st, const char *site)
{
	sqlite3_stmt *s = NULL;
	int changes = 0;
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = stmt_get(st, S_EDGE_KEY_CONFIRMED, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	rc = step_done(st, s, &b, &changes);
	if (rc == 0 && changes)
		LOG_NOTICE(CTL, "store: previous CURVE key no longer admitted", "site=%s", site);
	return rc;
}

int store_edge_seen(struct store *st, const char *site, int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = stmt_get(st, S_EDGE_SEEN, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	bind_i64(&b, now_ms);
	return update_site(st, s, &b);
}

int store_edge_features_set(struct store *st, const char *site, uint64_t features)
{
	sqlite3_stmt *s = NULL;
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = stmt_get(st, S_EDGE_FEATURES, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	bind_i64(&b, (int64_t)features);
	return update_site(st, s, &b);
}

/* Run a query returning at most one edge. */
static int edge_query(struct store *st, sqlite3_stmt *s, const struct bind *b,
		      struct store_edge *out)
{
	memset(out, 0, sizeof(*out));
	int rc = step_row(st, s, b);
	if (rc != 1)
		return rc == 0 ? -ENOENT : rc;
	rc = edge_read(s, out);
	stmt_end(s);
	return rc;
}

int store_edge_get(struct store *st, const char *site, struct store_edge *out)
{
	sqlite3_stmt *s = NULL;
	memset(out, 0, sizeof(*out));
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = stmt_get(st, S_EDGE_GET, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	return edge_query(st, s, &b, out);
}

int store_edge_find_by_key(struct store *st, const uint8_t curve_key[static STORE_KEY_LEN],
			   struct store_edge *out)
{
	sqlite3_stmt *s = NULL;
	memset(out, 0, sizeof(*out));
	int rc = stmt_get(st, S_EDGE_BY_KEY, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_blob(&b, curve_key, STORE_KEY_LEN);
	return edge_query(st, s, &b, out);
}

/* v, grown to hold item n when it is full (*cap doubles); NULL when out of memory, v then
 * still being the caller's. */
static void *grow(void *v, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return v;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *nv = reallocarray(v, ncap, elem);
	if (nv)
		*cap = ncap;
	return nv;
}

int store_edge_list(struct store *st, struct store_edge **out, size_t *n)
{
	sqlite3_stmt *s = NULL;
	struct store_edge *v = NULL;
	size_t cnt = 0, cap = 0;
	*out = NULL;
	*n = 0;
	int rc = stmt_get(st, S_EDGE_LIST, &s);
	while (rc == 0 && (rc = step_row(st, s, NULL)) == 1) {
		struct store_edge *nv = grow(v, cnt, &cap, sizeof(*v));
		rc = nv ? edge_read(s, &nv[cnt]) : -ENOMEM;
		v = nv ? nv : v;
		if (rc != 0) {
			stmt_end(s);
			break;
		}
		cnt++;
	}
	if (rc != 0) {
		store_edge_list_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void store_edge_clear(struct store_edge *e)
{
	if (!e)
		return;
	free(e->cert_pem);
	memset(e, 0, sizeof(*e));
}

void store_edge_list_free(struct store_edge *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		store_edge_clear(&v[i]);
	free(v);
}

/* --- Tokens ------------------------------------------------------------------------------- */

const char *store_token_status_name(enum store_token_status s)
{
	switch (s) {
	case STORE_TOKEN_OK:
		return "ok";
	case STORE_TOKEN_UNKNOWN:
		return "unknown";
	case STORE_TOKEN_WRONG_SITE:
		return "wrong-site";
	case STORE_TOKEN_USED:
		return "used";
	case STORE_TOKEN_EXPIRED:
		return "expired";
	}
	return "invalid";
}

int store_token_add(struct store *st, const uint8_t hash[static STORE_HASH_LEN], const char *site,
		    int64_t created_ms, int64_t expires_ms)
{
	sqlite3_stmt *s = NULL;
	if (!store_site_name_valid(site) || expires_ms <= created_ms)
		return -EINVAL;
	int rc = stmt_get(st, S_TOKEN_ADD, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_blob(&b, hash, STORE_HASH_LEN);
	bind_str(&b, site);
	bind_i64(&b, created_ms);
	bind_i64(&b, expires_ms);
	return step_done(st, s, &b, NULL);
}

/*
 * Why the consuming UPDATE matched nothing. Runs in the same transaction, so the answer
 * describes the state the UPDATE saw. The lookup is by hash through the index: its timing can
 * at most tell how much of a SHA-256 output prefix matched, which says nothing about any secret.
 * The row's hash is compared again in constant time before it is trusted.
 */
static int token_classify(struct store *st, const uint8_t hash[static STORE_HASH_LEN],
			  const char *site, int64_t now_ms, enum store_token_status *status)
{
	sqlite3_stmt *s = NULL;
	uint8_t row_hash[STORE_HASH_LEN];
	char row_site[STORE_SITE_MAX + 1];
	int rc = stmt_get(st, S_TOKEN_LOOKUP, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_blob(&b, hash, STORE_HASH_LEN);
	rc = step_row(st, s, &b);
	if (rc != 1)
		return rc; /* 0: no such token, *status stays UNKNOWN */
	rc = col_fixed(s, 0, row_hash, sizeof(row_hash));
	if (rc == 0)
		rc = col_copy(s, 1, row_site, sizeof(row_site));
	int64_t expires = sqlite3_column_int64(s, 2);
	bool used = sqlite3_column_type(s, 3) != SQLITE_NULL;
	stmt_end(s);
	if (rc != 0 || CRYPTO_memcmp(row_hash, hash, STORE_HASH_LEN) != 0)
		return rc;
	if (strcmp(row_site, site) != 0)
		*status = STORE_TOKEN_WRONG_SITE;
	else if (used)
		*status = STORE_TOKEN_USED;
	else if (expires <= now_ms)
		*status = STORE_TOKEN_EXPIRED;
	else
		rc = -EIO; /* valid, yet the UPDATE did not match: cannot happen */
	return rc;
}

int store_token_consume(struct store *st, const uint8_t hash[static STORE_HASH_LEN],
			const char *site, int64_t now_ms, enum store_token_status *status)
{
	sqlite3_stmt *s = NULL;
	enum store_token_status res = STORE_TOKEN_UNKNOWN;
	int changes = 0;
	*status = STORE_TOKEN_UNKNOWN;
	if (!store_site_name_valid(site))
		return -EINVAL;
	int rc = store_tx_begin(st);
	if (rc != 0)
		return rc;
	rc = stmt_get(st, S_TOKEN_CONSUME, &s);
	if (rc == 0) {
		struct bind b = {.s = s};
		bind_blob(&b, hash, STORE_HASH_LEN);
		bind_str(&b, site);
		bind_i64(&b, now_ms);
		rc = step_done(st, s, &b, &changes);
	}
	if (rc == 0 && changes == 1)
		res = STORE_TOKEN_OK;
	else if (rc == 0)
		rc = token_classify(st, hash, site, now_ms, &res);
	rc = tx_finish(st, rc);
	if (rc == 0)
		*status = res;
	return rc;
}

int store_token_purge(struct store *st, int64_t before_ms, size_t *n)
{
	sqlite3_stmt *s = NULL;
	int changes = 0;
	if (n)
		*n = 0;
	int rc = stmt_get(st, S_TOKEN_PURGE, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_i64(&b, before_ms);
	rc = step_done(st, s, &b, &changes);
	if (rc == 0 && n)
		*n = (size_t)changes;
	return rc;
}

/* --- Config generations ------------------------------------------------------------------- */

int store_config_push(struct store *st, const char *site,
		      const uint8_t digest[static STORE_DIGEST_LEN], int64_t now_ms,
		      uint64_t at_least, uint64_t *generation)
{
	sqlite3_stmt *s = NULL;
	*generation = 0;
	if (!store_site_name_valid(site) || at_least > INT64_MAX)
		return -EINVAL;
	int rc = stmt_get(st, S_CONFIG_PUSH, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	bind_blob(&b, digest, STORE_DIGEST_LEN);
	bind_i64(&b, now_ms);
	bind_i64(&b, (int64_t)at_least);
	rc = step_row(st, s, &b);
	if (rc != 1)
		return rc == 0 ? -EIO : rc;
	uint64_t gen = col_u64(s, 0);
	/* RETURNING: the change is made by the first step; finish the statement all the same. */
	rc = step_done(st, s, NULL, NULL);
	if (rc == 0)
		*generation = gen;
	return rc;
}

static int config_read(sqlite3_stmt *s, struct store_config *out)
{
	out->generation = col_u64(s, 0);
	int rc = col_fixed(s, 1, out->digest, sizeof(out->digest));
	out->pushed_ms = sqlite3_column_int64(s, 2);
	out->acked_generation = col_u64(s, 3);
	out->acked_ms = sqlite3_column_int64(s, 4);
	out->nack_generation = col_u64(s, 5);
	out->nacked_ms = sqlite3_column_int64(s, 6);
	if (rc == 0)
		rc = col_copy(s, 7, out->nack_reason, sizeof(out->nack_reason));
	return rc;
}

int store_config_get(struct store *st, const char *site, struct store_config *out)
{
	sqlite3_stmt *s = NULL;
	memset(out, 0, sizeof(*out));
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = stmt_get(st, S_CONFIG_GET, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	rc = step_row(st, s, &b);
	if (rc != 1)
		return rc == 0 ? -ENOENT : rc;
	rc = config_read(s, out);
	stmt_end(s);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* Longest prefix of s within max bytes that does not split a UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Ack (reason NULL) or nack: check the generation against the site's state and update, in one
 * transaction so the check holds when the update runs. */
static int config_answer(struct store *st, const char *site, uint64_t generation,
			 const char *reason, int64_t now_ms)
{
	struct store_config cur;
	sqlite3_stmt *s = NULL;
	if (generation == 0 || generation > INT64_MAX)
		return -ERANGE;
	int rc = store_tx_begin(st);
	if (rc != 0)
		return rc;
	rc = store_config_get(st, site, &cur);
	if (rc == 0 && generation > cur.generation)
		rc = -ERANGE;
	if (rc == 0)
		rc = stmt_get(st, reason ? S_CONFIG_NACK : S_CONFIG_ACK, &s);
	if (rc == 0) {
		struct bind b = {.s = s};
		bind_str(&b, site);
		bind_i64(&b, (int64_t)generation);
		bind_i64(&b, now_ms);
		if (reason)
			bind_text(&b, reason, utf8_prefix(reason, STORE_REASON_MAX));
		rc = step_done(st, s, &b, NULL);
	}
	return tx_finish(st, rc);
}

int store_config_ack(struct store *st, const char *site, uint64_t generation, int64_t now_ms)
{
	return config_answer(st, site, generation, NULL, now_ms);
}

int store_config_nack(struct store *st, const char *site, uint64_t generation, const char *reason,
		      int64_t now_ms)
{
	return config_answer(st, site, generation, reason ? reason : "", now_ms);
}

/* --- Health ------------------------------------------------------------------------------- */

int store_health_put(struct store *st, const char *site, const uint8_t *report, size_t len,
		     int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	if (len > STORE_REPORT_MAX)
		return -EMSGSIZE;
	if (!report && len)
		return -EINVAL;
	int rc = store_tx_begin(st);
	if (rc != 0)
		return rc;
	/* Marking the edge seen first also answers "is it enrolled" without a constraint error. */
	rc = store_edge_seen(st, site, now_ms);
	if (rc == 0)
		rc = stmt_get(st, S_HEALTH_PUT, &s);
	if (rc == 0) {
		struct bind b = {.s = s};
		bind_str(&b, site);
		bind_blob(&b, report ? report : (const uint8_t *)"", len);
		bind_i64(&b, now_ms);
		rc = step_done(st, s, &b, NULL);
	}
	return tx_finish(st, rc);
}

int store_health_get(struct store *st, const char *site, uint8_t **report, size_t *len,
		     int64_t *received_ms)
{
	sqlite3_stmt *s = NULL;
	*report = NULL;
	*len = 0;
	*received_ms = 0;
	if (!store_site_name_valid(site))
		return -ENOENT;
	int rc = stmt_get(st, S_HEALTH_GET, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	rc = step_row(st, s, &b);
	if (rc != 1)
		return rc == 0 ? -ENOENT : rc;
	const void *p = sqlite3_column_blob(s, 0);
	size_t n = (size_t)sqlite3_column_bytes(s, 0);
	uint8_t *copy = malloc(n ? n : 1);
	if (copy) {
		if (n)
			memcpy(copy, p, n);
		*report = copy;
		*len = n;
		*received_ms = sqlite3_column_int64(s, 1);
	}
	stmt_end(s);
	return copy ? 0 : -ENOMEM;
}

/* --- Events ------------------------------------------------------------------------------- */

static bool event_fields_ok(const char *site, const char *tunnel, const char *kind,
			    const char *detail)
{
	if (site && *site && !store_site_name_valid(site))
		return false;
	if (tunnel && strnlen(tunnel, STORE_TUNNEL_MAX + 1) > STORE_TUNNEL_MAX)
		return false;
	if (!kind || !*kind || strnlen(kind, STORE_KIND_MAX + 1) > STORE_KIND_MAX)
		return false;
	return !detail || strnlen(detail, STORE_DETAIL_MAX + 1) <= STORE_DETAIL_MAX;
}

static const char *empty_null(const char *s)
{
	return s && *s ? s : NULL;
}

int store_event_append(struct store *st, int64_t at_ms, const char *site, const char *tunnel,
		       const char *kind, const char *detail, int64_t *id)
{
	sqlite3_stmt *s = NULL;
	sqlite3_int64 new_id = 0;
	if (id)
		*id = 0;
	if (!event_fields_ok(site, tunnel, kind, detail))
		return -EINVAL;
	int rc = store_tx_begin(st);
	if (rc != 0)
		return rc;
	rc = stmt_get(st, S_EVENT_ADD, &s);
	if (rc == 0) {
		struct bind b = {.s = s};
		bind_i64(&b, at_ms);
		bind_str(&b, empty_null(site));
		bind_str(&b, empty_null(tunnel));
		bind_str(&b, kind);
		bind_str(&b, detail);
		rc = step_done(st, s, &b, NULL);
	}
	if (rc == 0) {
		new_id = sqlite3_last_insert_rowid(st->db);
		rc = stmt_get(st, S_EVENT_PRUNE, &s);
	}
	/* Ids are never reused, so the newest N are exactly those above new_id - N. */
	if (rc == 0 && new_id > (sqlite3_int64)st->event_retention) {
		struct bind b = {.s = s};
		bind_i64(&b, new_id - (sqlite3_int64)st->event_retention);
		rc = step_done(st, s, &b, NULL);
	}
	rc = tx_finish(st, rc);
	if (rc == 0 && id)
		*id = new_id;
	return rc;
}

static int event_read(sqlite3_stmt *s, struct store_event *e)
{
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(s, 0);
	e->at_ms = sqlite3_column_int64(s, 1);
	int rc = col_copy(s, 2, e->site, sizeof(e->site));
	if (rc == 0)
		rc = col_copy(s, 3, e->tunnel, sizeof(e->tunnel));
	if (rc == 0)
		rc = col_copy(s, 4, e->kind, sizeof(e->kind));
	if (rc == 0)
		rc = col_dup(s, 5, &e->detail);
	return rc;
}

static int event_collect(const struct store *st, sqlite3_stmt *s, const struct bind *b,
			 struct store_event **out, size_t *n)
{
	struct store_event *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;
	while ((rc = step_row(st, s, b)) == 1) {
		struct store_event *nv = grow(v, cnt, &cap, sizeof(*v));
		rc = nv ? event_read(s, &nv[cnt]) : -ENOMEM;
		v = nv ? nv : v;
		if (rc != 0) {
			stmt_end(s);
			break;
		}
		cnt++;
	}
	if (rc != 0) {
		store_event_list_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* SQLite's LIMIT is signed: clamp. */
static int64_t limit_of(size_t max)
{
	return max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max;
}

int store_event_list_since(struct store *st, int64_t after_id, size_t max, struct store_event **out,
			   size_t *n)
{
	sqlite3_stmt *s = NULL;
	*out = NULL;
	*n = 0;
	int rc = stmt_get(st, S_EVENT_SINCE, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_i64(&b, after_id);
	bind_i64(&b, limit_of(max));
	return event_collect(st, s, &b, out, n);
}

int store_event_list_site(struct store *st, const char *site, size_t max, struct store_event **out,
			  size_t *n)
{
	sqlite3_stmt *s = NULL;
	*out = NULL;
	*n = 0;
	if (!store_site_name_valid(site))
		return 0;
	int rc = stmt_get(st, S_EVENT_SITE, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, site);
	bind_i64(&b, limit_of(max));
	return event_collect(st, s, &b, out, n);
}

int store_event_list_latest(struct store *st, size_t max, struct store_event **out, size_t *n)
{
	sqlite3_stmt *s = NULL;
	*out = NULL;
	*n = 0;
	int rc = stmt_get(st, S_EVENT_LATEST, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_i64(&b, limit_of(max));
	return event_collect(st, s, &b, out, n);
}

void store_event_list_free(struct store_event *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].detail);
	free(v);
}

/* --- Tunnel PSKs ------------------------------------------------------------------------- */

static bool psk_tunnel_valid(const char *tunnel)
{
	size_t n = tunnel ? strlen(tunnel) : 0;
	return n > 0 && n <= STORE_TUNNEL_MAX;
}

int store_psk_get(struct store *st, const char *tunnel, uint8_t psk[static STORE_PSK_LEN])
{
	sqlite3_stmt *s = NULL;
	if (!psk_tunnel_valid(tunnel))
		return -EINVAL;
	int rc = stmt_get(st, S_PSK_GET, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, tunnel);
	rc = step_row(st, s, &b);
	if (rc != 1)
		return rc == 0 ? -ENOENT : rc;
	rc = col_fixed(s, 0, psk, STORE_PSK_LEN);
	stmt_end(s);
	return rc;
}

int store_psk_put(struct store *st, const char *tunnel, const uint8_t psk[static STORE_PSK_LEN],
		  int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	if (!psk_tunnel_valid(tunnel))
		return -EINVAL;
	int rc = stmt_get(st, S_PSK_PUT, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, tunnel);
	bind_blob(&b, psk, STORE_PSK_LEN);
	bind_i64(&b, now_ms);
	return step_done(st, s, &b, NULL);
}

int store_psk_delete(struct store *st, const char *tunnel)
{
	sqlite3_stmt *s = NULL;
	int changes = 0;
	if (!psk_tunnel_valid(tunnel))
		return -EINVAL;
	int rc = stmt_get(st, S_PSK_DELETE, &s);
	if (rc != 0)
		return rc;
	struct bind b = {.s = s};
	bind_str(&b, tunnel);
	rc = step_done(st, s, &b, &changes);
	return rc == 0 && changes == 0 ? -ENOENT : rc;
}
