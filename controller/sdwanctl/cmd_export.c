/*
 * sdwanctl export: configurations for things the controller does not push to.
 *
 *   sdwanctl export swanctl SITE [--topology FILE] [--state DIR] [--out DIR]
 *       strongSwan configuration of an external site (controller/export_swanctl.h): its
 *       swanctl.conf with credentials read offline from the controller's state directory,
 *       and a strongswan.conf fragment, strongswan.d/sdwan-SITE.conf (docs/export.md).
 *       The topology defaults to the installed controller's, /etc/sdwan/wan.yaml.
 *   sdwanctl export containerlab FILE [--out F] [--image IMAGE]
 *       a containerlab topology of the WAN (controller/export_clab.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/x509id.h"
#include "controller/ca.h"
#include "controller/export_clab.h"
#include "controller/export_swanctl.h"
#include "controller/intent.h"
#include "controller/sdwanctl/commands.h"
#include "controller/store.h"

/* The topology of a controller installed with its systemd unit. */
#define EXPORT_DEFAULT_TOPOLOGY "/etc/sdwan/wan.yaml"

enum {
	EXIT_USAGE = 1,
	EXIT_INVALID = 2
};

/* An option taking a value ("--out DIR") and where to store it. */
struct opt {
	const char *name;
	const char **value;
};

/* Options from opts anywhere among argv, and at most one positional argument. Returns 0, or -1
 * on an unknown option, a missing value or a second positional argument. */
static int parse_args(int argc, char **argv, const struct opt *opts, size_t n,
		      const char **positional)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!a)
			return -1;
		size_t k = 0;
		while (k < n && strcmp(a, opts[k].name) != 0)
			k++;
		if (k < n) {
			if (i + 1 >= argc || !argv[i + 1])
				return -1;
			*opts[k].value = argv[++i];
		} else if (a[0] == '-' || *positional) {
			return -1;
		} else {
			*positional = a;
		}
	}
	return 0;
}

static int compile(const char *path, struct intent *in)
{
	struct diag_list diags = {0};
	int rc = intent_compile_file(path, in, &diags);
	diag_print(&diags, path, stderr);
	diag_list_free(&diags);
	return rc;
}

static int make_dir(const char *dir, const char *sub, mode_t mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * A PEM string as a 0600 in-memory file, so ca_load() (which takes paths and refuses key files
 * readable by others) can read a CA kept in the store without its key touching the disk.
 */
static int memfd_of(const char *name, const char *pem, char path[static 64])
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(pem);
	if (fchmod(fd, 0600) != 0 || write(fd, pem, len) != (ssize_t)len) {
		int rc = errno ? -errno : -EIO;
		close(fd);
		return rc;
	}
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

static int ca_from_store(struct store *st, struct ca **out)
{
	struct store_ca sc = {0};
	int rc = store_ca_get(st, &sc);
	if (rc)
		return rc;
	char kpath[64], cpath[64];
	int kfd = memfd_of("ca-key", sc.key_pem, kpath);
	int cfd = memfd_of("ca-cert", sc.cert_pem, cpath);
	rc = kfd < 0 ? kfd : cfd < 0 ? cfd : ca_load(kpath, cpath, out);
	if (kfd >= 0)
		close(kfd);
	if (cfd >= 0)
		close(cfd);
	store_ca_clear(&sc);
	return rc;
}

/* Credentials of an export read from the controller's state directory. */
struct state_creds {
	struct store *st;
};

/*
 * The tunnel's PSK from the controller's store; when the controller has not made it yet, make
 * it here (CSPRNG) and record it, so whichever of the two comes first decides and the other
 * reads the same bytes (a concurrent insert loses with -EEXIST and reads the winner's).
 */
static int psk_from_store(void *arg, const char *tunnel, uint8_t psk[static EXPORT_PSK_LEN])
{
#ifdef STORE_PSK_LEN
	_Static_assert(STORE_PSK_LEN == EXPORT_PSK_LEN, "one PSK size");
	const struct state_creds *sc = arg;
	int rc = store_psk_get(sc->st, tunnel, psk);
	if (rc != -ENOENT)
		return rc;
	if (RAND_priv_bytes(psk, EXPORT_PSK_LEN) != 1)
		return -EIO;
	rc = store_psk_put(sc->st, tunnel, psk, (int64_t)time(NULL) * 1000);
	if (rc == -EEXIST)
		rc = store_psk_get(sc->st, tunnel, psk);
	return rc;
#else
	/* This controller's store keeps no tunnel PSKs yet. */
	(void)arg;
	(void)tunnel;
	(void)psk;
	fprintf(stderr, "sdwanctl: this controller's state keeps no tunnel pre-shared keys; "
			"export tunnels with auth: psk from a controller that makes them\n");
	return -ENOTSUP;
#endif
}

/* Issue the gateway's certificate from the controller's CA and write the CA certificate, the
 * gateway's certificate and its new key into swanctl's x509ca/, x509/ and private/. */
static int write_cert_files(struct store *st, const char *wan, const char *site, const char *out,
			    struct export_swanctl_creds *c, char names[3][96])
{
	struct ca *ca = NULL;
	EVP_PKEY *key = NULL;
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	char reason[CA_REASON_LEN] = "", path[4096];
	int rc = ca_from_store(st, &ca);
	if (rc) {
		fprintf(stderr,
			"sdwanctl: no CA in the state directory (%s); start the controller "
			"once to create it\n",
			sdw_strerror(-rc));
		goto out;
	}
	rc = x509id_key_generate(X509ID_KEY_P256, &key);
	if (!rc)
		rc = x509id_csr_create(key, site, &csr);
	struct ca_issue issue = {.site = site};
	if (!rc)
		rc = ca_sign_csr(ca, csr, &issue, &cert, reason, sizeof(reason));
	if (rc) {
		fprintf(stderr, "sdwanctl: cannot issue a certificate for '%s': %s %s\n", site,
			sdw_strerror(-rc), reason);
		goto out;
	}
	snprintf(names[0], 96, "%s-ca.pem", wan);
	snprintf(names[1], 96, "%s.pem", site);
	snprintf(names[2], 96, "%s.key", site);
	const char *subs[3] = {"x509ca", "x509", "private"};
	for (int i = 0; i < 3 && !rc; i++)
		rc = make_dir(out, subs[i], i == 2 ? 0700 : 0755);
	if (!rc) {
		snprintf(path, sizeof(path), "%s/x509ca/%s", out, names[0]);
		rc = x509id_cert_save(ca_cert(ca), path);
	}
	if (!rc) {
		snprintf(path, sizeof(path), "%s/x509/%s", out, names[1]);
		rc = x509id_cert_save(cert, path);
	}
	if (!rc) {
		snprintf(path, sizeof(path), "%s/private/%s", out, names[2]);
		rc = x509id_key_save(key, path);
	}
	if (rc)
		fprintf(stderr, "sdwanctl: writing credentials under %s: %s\n", out,
			sdw_strerror(-rc));
	c->ca_cert_file = names[0];
	c->site_cert_file = names[1];
	c->site_key_file = names[2];
out:
	X509_free(cert);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	ca_free(ca);
	return rc;
}

/* OUT/strongswan.d/sdwan-SITE.conf: charon's retransmission schedule from the plan's DPD
 * timeout (controller/export_swanctl.h). No secrets; replaced whole. */
static int write_retransmit(const struct plan *p, uint32_t site, const char *out)
{
	char err[256] = "", path[4096];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	int rc = export_swanctl_write_retransmit(p, site, f, err, sizeof(err));
	if (fclose(f) != 0 && !rc)
		rc = -EIO;
	if (rc) {
		fprintf(stderr, "sdwanctl: %s\n", err[0] ? err : sdw_strerror(-rc));
		goto out;
	}
	rc = make_dir(out, "strongswan.d", 0755);
	if (rc) {
		fprintf(stderr, "sdwanctl: cannot create %s/strongswan.d: %s\n", out,
			sdw_strerror(-rc));
		goto out;
	}
	const char *step = "write";
	snprintf(path, sizeof(path), "%s/strongswan.d/sdwan-%s.conf", out,
		 p->topo->sites[site].name);
	rc = file_replace(path, text, len, 0644, &step);
	if (rc)
		fprintf(stderr, "sdwanctl: cannot %s %s: %s\n", step, path, sdw_strerror(-rc));
out:
	free(text);
	return rc;
}

static int render_swanctl(const struct plan *p, uint32_t site, struct store *st, const char *out)
{
	struct state_creds sc = {.st = st};
	struct export_swanctl_creds c = {.psk = st ? psk_from_store : NULL, .psk_arg = &sc};
	struct export_swanctl_needs needs;
	char err[256] = "", names[3][96];
	int rc = export_swanctl_needs(p, site, &needs, err, sizeof(err));
	if (!rc && !st) {
		snprintf(err, sizeof(err),
			 "site '%s' has %zu tunnel(s) with auth: psk and %zu with certificates; "
			 "their credentials are the controller's: pass --state DIR (its state "
			 "directory, e.g. /var/lib/sdwan-controller)",
			 p->topo->sites[site].name, needs.psk_tunnels, needs.cert_tunnels);
		rc = -EINVAL;
	}
	if (!rc && needs.cert_tunnels)
		rc = write_cert_files(st, p->topo->wan, p->topo->sites[site].name, out, &c, names);
	if (rc) {
		if (err[0])
			fprintf(stderr, "sdwanctl: %s\n", err);
		return rc;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	rc = export_swanctl_write(p, site, &c, f, err, sizeof(err));
	if (fclose(f) != 0 && !rc)
		rc = -EIO;
	/* The fragment first: a complete swanctl.conf means the folder is complete (the
	 * containerlab export waits for it). */
	if (!rc) {
		err[0] = '\0';
		rc = write_retransmit(p, site, out);
	}
	if (!rc) {
		/* Replaced whole or not at all: a gateway never loads half a configuration. */
		char path[4096];
		const char *step = "write";
		snprintf(path, sizeof(path), "%s/swanctl.conf", out);
		rc = file_replace(path, text, len, 0600, &step);
		if (rc)
			fprintf(stderr, "sdwanctl: cannot %s %s: %s\n", step, path,
				sdw_strerror(rc));
	} else if (err[0]) {
		fprintf(stderr, "sdwanctl: %s\n", err);
	}
	if (text)
		OPENSSL_clear_free(text, len);
	return rc;
}

/* Open the controller's store in dir, which must already hold one: a mistyped --state must
 * not quietly create an empty store. */
static int open_state(const char *dir, struct store **st)
{
	char path[4096];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_NAME);
	if (stat(path, &sb) != 0)
		return -errno;
	return store_new(dir, NULL, st);
}

static int export_swanctl(int argc, char **argv)
{
	const char *site = NULL, *topo = EXPORT_DEFAULT_TOPOLOGY, *state = NULL, *out = ".";
	const struct opt opts[] = {{"--topology", &topo}, {"--state", &state}, {"--out", &out}};
	bool bad = parse_args(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), &site) != 0;
	if (bad || !site || !topo) {
		fprintf(stderr,
			"usage: sdwanctl export swanctl SITE [--topology FILE] [--state DIR] "
			"[--out DIR]\n");
		return EXIT_USAGE;
	}
	struct intent in;
	int status = EXIT_INVALID;
	struct store *st = NULL;
	if (compile(topo, &in) != 0)
		goto out;
	long idx = topo_find_site(in.topo, site);
	if (idx < 0) {
		fprintf(stderr, "sdwanctl: no site '%s' in %s\n", site, topo);
		goto out;
	}
	status = EXIT_USAGE;
	int rc = state ? open_state(state, &st) : 0;
	if (rc) {
		fprintf(stderr, "sdwanctl: cannot open the state in %s: %s\n", state,
			sdw_strerror(-rc));
		goto out;
	}
	rc = make_dir(out, NULL, 0700);
	if (!rc)
		rc = render_swanctl(in.plan, (uint32_t)idx, st, out);
	if (rc == -EINVAL)
		status = EXIT_INVALID;
	else if (!rc)
		status = 0;
	if (!rc)
		printf("%s/swanctl.conf written for external site '%s'; on the gateway, copy "
		       "the folder to /etc/swanctl/ and strongswan.d/sdwan-%s.conf to "
		       "/etc/strongswan.d/, then run 'swanctl --load-all'\n",
		       out, site, site);
out:
	store_free(st);
	intent_free(&in);
	return status;
}

/* Default output: FILE with its .yaml/.yml suffix replaced by .clab.yml, next to it. */
static void default_clab_path(const char *topo, char *buf, size_t len)
{
	size_t n = strlen(topo);
	if (n > 5 && strcmp(topo + n - 5, ".yaml") == 0)
		n -= 5;
	else if (n > 4 && strcmp(topo + n - 4, ".yml") == 0)
		n -= 4;
	snprintf(buf, len, "%.*s.clab.yml", (int)n, topo);
}

/* The folder part of path ("." when it has none) into buf. */
static void dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* The topology as the .clab.yml refers to it: its name when both sit in one folder (so the
 * pair can be moved together), else its absolute path. */
static void topo_ref(const char *topo, const char *out, char *buf, size_t len)
{
	char a[4096], b[4096], ra[PATH_MAX], rb[PATH_MAX];
	dir_of(topo, a, sizeof(a));
	dir_of(out, b, sizeof(b));
	const char *slash = strrchr(topo, '/');
	if (realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0)
		snprintf(buf, len, "%s", slash ? slash + 1 : topo);
	else if (realpath(topo, ra))
		snprintf(buf, len, "%s", ra);
	else
		snprintf(buf, len, "%s", topo);
}

static int export_containerlab(int argc, char **argv)
{
	const char *topo = NULL, *out = NULL, *image = NULL;
	const struct opt opts[] = {{"--out", &out}, {"--image", &image}};
	bool bad = parse_args(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), &topo) != 0;
	if (bad || !topo) {
		fprintf(stderr,
			"usage: sdwanctl export containerlab FILE [--out FILE] [--image IMAGE]\n");
		return EXIT_USAGE;
	}
	char out_buf[4096], ref[4096], err[256] = "";
	if (!out) {
		default_clab_path(topo, out_buf, sizeof(out_buf));
		out = out_buf;
	}
	struct intent in;
	int status = EXIT_INVALID;
	if (compile(topo, &in) != 0)
		goto out;
	status = EXIT_USAGE;
	topo_ref(topo, out, ref, sizeof(ref));
	struct export_clab_options o = {.image = image, .topology_file = ref};
	bool to_stdout = strcmp(out, "-") == 0;
	FILE *f = to_stdout ? stdout : fopen(out, "we");
	if (!f) {
		fprintf(stderr, "sdwanctl: cannot write %s: %s\n", out, sdw_strerror(errno));
		goto out;
	}
	int rc = export_clab_write(in.plan, &o, f, err, sizeof(err));
	if (!to_stdout && fclose(f) != 0 && !rc)
		rc = -EIO;
	if (rc) {
		fprintf(stderr, "sdwanctl: %s\n", err[0] ? err : sdw_strerror(-rc));
		status = rc == -EINVAL ? EXIT_INVALID : EXIT_USAGE;
		goto out;
	}
	if (!to_stdout)
		fprintf(stderr, "%s written; deploy it with 'containerlab deploy -t %s'\n", out,
			out);
	status = 0;
out:
	intent_free(&in);
	return status;
}

int cmd_export(const struct ctl_opts *o, int argc, char **argv)
{
	(void)o;
	if (argc >= 1 && strcmp(argv[0], "swanctl") == 0)
		return export_swanctl(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "containerlab") == 0)
		return export_containerlab(argc - 1, argv + 1);
	fprintf(stderr, "usage: sdwanctl export swanctl SITE [--topology FILE] [--state DIR] "
			"[--out DIR]\n"
			"       sdwanctl export containerlab FILE [--out FILE] [--image IMAGE]\n");
	return EXIT_USAGE;
}
