#include "edge/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ctl_msg.h"
#include "common/fileio.h"
#include "common/log.h"

/* Mode of every file in the state directory: keys and PSKs live there. */
#define STATE_FILE_MODE 0600

static int path_join(char out[static PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

bool identity_endpoint_valid(const char *s)
{
	size_t n = s ? strnlen(s, IDENTITY_ENDPOINT_MAX) : 0;
	if (n == 0 || n >= IDENTITY_ENDPOINT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	}
	return true;
}

/*
 * Read all of a regular file of at most max bytes into a new buffer (NUL-terminated, released
 * with free after wiping). Returns 0 or -errno; -EFBIG when larger.
 */
static int read_small(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	int rc = 0;
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)r;
	}
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

/* Read a one-line file (a trailing newline is allowed) into out[0..size). */
static int read_line_file(const char *dir, const char *name, char *out, size_t size)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	int rc = path_join(path, dir, name);
	if (rc == 0)
		rc = read_small(path, size, &buf, &len);
	if (rc != 0)
		goto out;
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len == 0 || len >= size || strlen(buf) != len) {
		rc = -EBADMSG;
		goto out;
	}
	memcpy(out, buf, len + 1);
out:
	if (rc != 0)
		LOG_ERR(CTL, "state: cannot read", "file=%s err=%d", name, rc);
	free(buf);
	return rc;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	const char *step = "name";
	int rc = path_join(path, dir, name);
	if (rc == 0)
		rc = file_replace(path, data, len, STATE_FILE_MODE, &step);
	if (rc != 0)
		LOG_ERR(CTL, "state: cannot write", "file=%s step=\"%s\" err=%d", name, step, rc);
	return rc;
}

static int write_line_file(const char *dir, const char *name, const char *text)
{
	char line[IDENTITY_ENDPOINT_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\n", text);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -ENAMETOOLONG;
	return write_file(dir, name, line, (size_t)n);
}

static int write_cert_file(const char *dir, const char *name, const X509 *cert)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	int rc = x509id_cert_encode(cert, X509ID_PEM, &pem, &len);
	if (rc == 0)
		rc = write_file(dir, name, pem, len);
	free(pem);
	return rc;
}

static int load_cert_file(const char *dir, const char *name, X509 **out)
{
	char path[PATH_MAX];
	int rc = path_join(path, dir, name);
	return rc ? rc : x509id_cert_load(path, out);
}

/* The pieces of identity_load after cert.pem was found. */
static int load_rest(const char *dir, struct identity *id)
{
	char path[PATH_MAX], hex[ZCURVE_HEX_LEN + 2];
	struct x509id_identity names;
	int rc = path_join(path, dir, IDENTITY_CURVE_FILE);
	if (rc == 0)
		rc = zcurve_secret_load(path, &id->curve);
	if (rc == 0)
		rc = path_join(path, dir, IDENTITY_IKE_KEY_FILE);
	if (rc == 0)
		rc = x509id_key_load(path, &id->ike_key);
	if (rc == 0)
		rc = load_cert_file(dir, IDENTITY_CA_FILE, &id->ca);
	if (rc == 0)
		rc = read_line_file(dir, IDENTITY_ENDPOINT_FILE, id->endpoint,
				    sizeof(id->endpoint));
	if (rc == 0)
		rc = read_line_file(dir, IDENTITY_CTL_KEY_FILE, hex, sizeof(hex));
	if (rc == 0 && (!identity_endpoint_valid(id->endpoint) ||
			zcurve_hex_decode(hex, strlen(hex), id->controller_key) != 0))
		rc = -EBADMSG;
	if (rc == 0 && x509id_cert_identity(id->cert, &names) != 0)
		rc = -EBADMSG;
	if (rc == 0 && X509_check_private_key(id->cert, id->ike_key) != 1) {
		LOG_ERR(CTL, "state: the certificate is not for the IKE key", "dir=%s", dir);
		rc = -EKEYREJECTED;
	}
	if (rc == 0)
		memcpy(id->site, names.site, sizeof(id->site));
	return rc;
}

/* The files of an identity, in the order they are written. */
static const char *const identity_files[] = {
	IDENTITY_CURVE_FILE,   IDENTITY_IKE_KEY_FILE, IDENTITY_ENDPOINT_FILE,
	IDENTITY_CTL_KEY_FILE, IDENTITY_CA_FILE,      IDENTITY_CERT_FILE,
};
#define N_IDENTITY_FILES (sizeof(identity_files) / sizeof(identity_files[0]))

/* "<name>.new": where identity_save writes a file before the commit. */
static int staged_name(char out[static PATH_MAX], const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s.new", name);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	return path_join(path, dir, name) == 0 && lstat(path, &st) == 0;
}

/* Move every staged file over its live name, then drop the journal. Every step can be repeated:
 * a crash anywhere here is finished by the next call. */
static int roll_forward(const char *dir)
{
	char staged[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	int rc = 0;
	for (size_t i = 0; i < N_IDENTITY_FILES; i++) {
		if (staged_name(staged, identity_files[i]) != 0 ||
		    path_join(from, dir, staged) != 0 ||
		    path_join(to, dir, identity_files[i]) != 0) {
			rc = -ENAMETOOLONG;
			break;
		}
		/* Already moved by an earlier, interrupted pass: nothing to do. */
		if (rename(from, to) != 0 && errno != ENOENT) {
			rc = -errno;
			break;
		}
	}
	if (rc == 0)
		rc = path_join(to, dir, IDENTITY_JOURNAL_FILE);
	if (rc == 0)
		rc = file_fsync_parent(to);
	if (rc == 0 && unlink(to) != 0 && errno != ENOENT)
		rc = -errno;
	if (rc == 0)
		rc = file_fsync_parent(to);
	if (rc != 0)
		LOG_ERR(CTL, "state: new identity not put in place", "dir=%s err=%d", dir, rc);
	return rc;
}

int identity_recover(const char *dir)
{
	if (exists(dir, IDENTITY_JOURNAL_FILE)) {
		LOG_NOTICE(CTL, "state: finishing an identity change cut short", "dir=%s", dir);
		return roll_forward(dir);
	}
	/* Staged files without the journal: the save never committed; the identity in place is
	 * the whole old one. */
	char staged[PATH_MAX], path[PATH_MAX];
	for (size_t i = 0; i < N_IDENTITY_FILES; i++) {
		if (staged_name(staged, identity_files[i]) == 0 &&
		    path_join(path, dir, staged) == 0)
			(void)unlink(path);
	}
	return 0;
}

int identity_load(const char *dir, struct identity *id)
{
	char path[PATH_MAX];
	struct stat st;
	memset(id, 0, sizeof(*id));
	int rc = identity_recover(dir);
	if (rc == 0)
		rc = path_join(path, dir, IDENTITY_CERT_FILE);
	if (rc == 0 && stat(path, &st) != 0 && errno == ENOENT)
		return -ENOENT; /* not enrolled: no log line, the caller decides what that means */
	if (rc == 0)
		rc = x509id_cert_load(path, &id->cert);
	if (rc == 0)
		rc = load_rest(dir, id);
	if (rc != 0) {
		LOG_ERR(CTL, "state: identity unusable", "dir=%s err=%d", dir, rc);
		identity_clear(id);
	}
	return rc;
}

static int ensure_dir(const char *dir)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	int rc = -errno;
	LOG_ERR(CTL, "state: cannot create the directory", "dir=%s err=%d", dir, rc);
	return rc;
}

int identity_save_cert(const char *dir, const struct identity *id)
{
	int rc = write_cert_file(dir, IDENTITY_CA_FILE, id->ca);
	return rc ? rc : write_cert_file(dir, IDENTITY_CERT_FILE, id->cert);
}

int identity_save(const char *dir, const struct identity *id)
{
	char path[PATH_MAX], name[PATH_MAX], hex[ZCURVE_HEX_LEN + 1];
	int rc = ensure_dir(dir);
	if (rc == 0)
		rc = identity_recover(dir);
	/* Every file staged as <name>.new, each written atomically; then the journal commits the
	 * set and the renames follow. Killed before the journal: the old identity stands whole;
	 * after: the next load finishes the renames. Never keys of one and a certificate of the
	 * other. */
	if (rc == 0)
		rc = staged_name(name, IDENTITY_CURVE_FILE);
	if (rc == 0)
		rc = path_join(path, dir, name);
	if (rc == 0)
		rc = zcurve_secret_save(path, &id->curve);
	if (rc == 0)
		rc = staged_name(name, IDENTITY_IKE_KEY_FILE);
	if (rc == 0)
		rc = path_join(path, dir, name);
	if (rc == 0)
		rc = x509id_key_save(id->ike_key, path);
	if (rc == 0)
		rc = staged_name(name, IDENTITY_ENDPOINT_FILE);
	if (rc == 0)
		rc = write_line_file(dir, name, id->endpoint);
	if (rc == 0)
		rc = staged_name(name, IDENTITY_CTL_KEY_FILE);
	if (rc == 0) {
		zcurve_hex_encode(id->controller_key, hex);
		rc = write_line_file(dir, name, hex);
	}
	if (rc == 0)
		rc = staged_name(name, IDENTITY_CA_FILE);
	if (rc == 0)
		rc = write_cert_file(dir, name, id->ca);
	if (rc == 0)
		rc = staged_name(name, IDENTITY_CERT_FILE);
	if (rc == 0)
		rc = write_cert_file(dir, name, id->cert);
	if (rc == 0)
		rc = write_line_file(dir, IDENTITY_JOURNAL_FILE, "identity-v1");
	if (rc == 0) {
		rc = roll_forward(dir);
	} else {
		/* Not committed (or committed and then failing): drop or finish, logged. */
		int undo = identity_recover(dir);
		(void)undo;
	}
	if (rc == 0)
		identity_pending_remove(dir);
	return rc;
}

int identity_pending_save(const char *dir, const struct identity *pending)
{
	char path[PATH_MAX];
	int rc = ensure_dir(dir);
	if (rc == 0)
		rc = path_join(path, dir, IDENTITY_PENDING_IKE_KEY_FILE);
	if (rc == 0)
		rc = x509id_key_save(pending->ike_key, path);
	/* The CURVE key last: its presence says the pair is complete. */
	if (rc == 0)
		rc = path_join(path, dir, IDENTITY_PENDING_CURVE_FILE);
	if (rc == 0)
		rc = zcurve_secret_save(path, &pending->curve);
	if (rc != 0)
		LOG_ERR(CTL, "state: new keys not saved", "dir=%s err=%d", dir, rc);
	return rc;
}

int identity_pending_load(const char *dir, struct identity *pending)
{
	char path[PATH_MAX];
	if (!exists(dir, IDENTITY_PENDING_CURVE_FILE))
		return -ENOENT;
	int rc = path_join(path, dir, IDENTITY_PENDING_CURVE_FILE);
	if (rc == 0)
		rc = zcurve_secret_load(path, &pending->curve);
	if (rc == 0)
		rc = path_join(path, dir, IDENTITY_PENDING_IKE_KEY_FILE);
	if (rc == 0)
		rc = x509id_key_load(path, &pending->ike_key);
	if (rc != 0) {
		LOG_WARN(CTL, "state: saved new keys unusable; making others", "dir=%s err=%d", dir,
			 rc);
		zcurve_keypair_clear(&pending->curve);
		EVP_PKEY_free(pending->ike_key);
		pending->ike_key = NULL;
	}
	return rc;
}

int identity_pending_token_save(const char *dir, const char *token_line, const char *endpoint)
{
	char buf[TOKEN_LINE_MAX + IDENTITY_ENDPOINT_MAX + 4];
	int n = snprintf(buf, sizeof(buf), "%s\n%s\n", token_line, endpoint ? endpoint : "");
	int rc = n > 0 && (size_t)n < sizeof(buf) ? ensure_dir(dir) : -ENAMETOOLONG;
	if (rc == 0)
		rc = write_file(dir, IDENTITY_PENDING_TOKEN_FILE, buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int identity_pending_token_load(const char *dir, char token_line[static TOKEN_LINE_MAX],
				char endpoint[static IDENTITY_ENDPOINT_MAX])
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	token_line[0] = endpoint[0] = '\0';
	if (!exists(dir, IDENTITY_PENDING_TOKEN_FILE))
		return -ENOENT;
	int rc = path_join(path, dir, IDENTITY_PENDING_TOKEN_FILE);
	if (rc == 0)
		rc = read_small(path, TOKEN_LINE_MAX + IDENTITY_ENDPOINT_MAX + 4, &buf, &len);
	if (rc != 0)
		return rc;
	/* "<token>\n<endpoint or nothing>\n", nothing else. */
	char *nl = memchr(buf, '\n', len);
	size_t tlen = nl ? (size_t)(nl - buf) : 0;
	size_t elen = nl ? len - tlen - 1 : 0;
	if (!nl || tlen == 0 || tlen >= TOKEN_LINE_MAX || elen == 0 || buf[len - 1] != '\n' ||
	    elen - 1 >= IDENTITY_ENDPOINT_MAX || memchr(nl + 1, '\n', elen - 1) ||
	    strlen(buf) != len) {
		rc = -EBADMSG;
	} else {
		memcpy(token_line, buf, tlen);
		token_line[tlen] = '\0';
		memcpy(endpoint, nl + 1, elen - 1);
		endpoint[elen - 1] = '\0';
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

void identity_pending_remove(const char *dir)
{
	char path[PATH_MAX];
	if (path_join(path, dir, IDENTITY_PENDING_TOKEN_FILE) == 0)
		(void)unlink(path);
	/* The CURVE key first: without it the pair is not taken for complete. */
	if (path_join(path, dir, IDENTITY_PENDING_CURVE_FILE) == 0)
		(void)unlink(path);
	if (path_join(path, dir, IDENTITY_PENDING_IKE_KEY_FILE) == 0)
		(void)unlink(path);
}

void identity_clear(struct identity *id)
{
	if (!id)
		return;
	EVP_PKEY_free(id->ike_key);
	X509_free(id->cert);
	X509_free(id->ca);
	zcurve_keypair_clear(&id->curve);
	OPENSSL_cleanse(id, sizeof(*id));
}

int identity_config_save(const char *dir, const Sdwan__EdgeConfig *cfg)
{
	struct Sdwan__Envelope env;
	uint8_t *buf = NULL;
	size_t len = 0;
	ctl_msg_envelope_init(&env, 0);
	env.body_case = SDWAN__ENVELOPE__BODY_CONFIG;
	/* The codec takes a const envelope; the config is only read. */
	env.config = (Sdwan__EdgeConfig *)cfg;
	int rc = ctl_msg_encode_alloc(&env, &buf, &len);
	if (rc == 0)
		rc = write_file(dir, IDENTITY_CONFIG_FILE, buf, len);
	ctl_msg_buf_free(buf, len);
	return rc;
}

int identity_config_load(const char *dir, Sdwan__Envelope **env)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	struct ctl_msg_error err = {0};
	*env = NULL;
	int rc = path_join(path, dir, IDENTITY_CONFIG_FILE);
	if (rc == 0)
		rc = read_small(path, CTL_MSG_MAX_SIZE, &buf, &len);
	if (rc == 0)
		rc = ctl_msg_decode((const uint8_t *)buf, len, CTL_MSG_MAX_SIZE, env, &err);
	if (rc == 0 && ((*env)->body_case != SDWAN__ENVELOPE__BODY_CONFIG || !(*env)->config)) {
		ctl_msg_free(*env);
		*env = NULL;
		rc = -EBADMSG;
	}
	if (rc != 0 && rc != -ENOENT)
		LOG_ERR(CTL, "state: stored config unusable", "dir=%s err=%d reason=\"%s\"", dir,
			rc, err.text);
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	return rc;
}
