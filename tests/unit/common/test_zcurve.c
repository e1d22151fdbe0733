/*
 * zcurve: key generation and derivation against known keys, the Z85 and hex spellings (round
 * trips, one spelling, refusals), the secret key file (mode 0600 whatever the umask, atomic
 * replace, refusal of files others can read, of malformed files, wiping on failure, nothing
 * secret in the log), and the socket options.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/log.h"
#include "common/zcurve.h"

/*
 * NOLINTBEGIN(readability-function-size): Criterion's assertion macros expand into more nested
 * blocks than the nesting threshold; the check is off for this file only for that reason.
 */

static char tmp[64];
static char path[128];

static void setup(void)
{
	(void)snprintf(tmp, sizeof(tmp), "/tmp/sdwan-zcurve-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	(void)snprintf(path, sizeof(path), "%s/curve.key", tmp);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void teardown(void)
{
	/* The test process is single-threaded. */
	/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
	(void)nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(zcurve, .init = setup, .fini = teardown, .timeout = 10);

/* The key pairs of the ZeroMQ guide's CURVE examples (Z85). */
static const char *const known[][2] = {
	{"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"},
	{"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"},
};

static void random_key(uint8_t key[static ZCURVE_KEY_LEN])
{
	cr_assert_eq(getrandom(key, ZCURVE_KEY_LEN, 0), ZCURVE_KEY_LEN);
}

static void write_file(const char *p, const char *text, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	cr_assert_eq(close(fd), 0);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- keys ---- */

Test(zcurve, derive_public_of_known_keys)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		struct zcurve_keypair kp;
		char z85[ZCURVE_Z85_LEN + 1];
		cr_assert_eq(zcurve_z85_decode(known[i][0], ZCURVE_Z85_LEN, kp.secret_key), 0);
		cr_assert_eq(zcurve_keypair_derive_public(&kp), 0);
		zcurve_z85_encode(kp.public_key, z85);
		cr_assert_str_eq(z85, known[i][1]);
		zcurve_keypair_clear(&kp);
		cr_assert(all_zero(&kp, sizeof(kp)));
	}
	zcurve_keypair_clear(NULL);
}

Test(zcurve, generate_gives_matching_distinct_pairs)
{
	struct zcurve_keypair a, b, c;
	cr_assert_eq(zcurve_keypair_generate(&a), 0);
	cr_assert_eq(zcurve_keypair_generate(&b), 0);
	cr_assert(memcmp(a.secret_key, b.secret_key, ZCURVE_KEY_LEN) != 0);
	cr_assert(memcmp(a.public_key, b.public_key, ZCURVE_KEY_LEN) != 0);
	cr_assert_not(all_zero(a.secret_key, ZCURVE_KEY_LEN));
	memcpy(c.secret_key, a.secret_key, ZCURVE_KEY_LEN);
	cr_assert_eq(zcurve_keypair_derive_public(&c), 0);
	cr_assert_arr_eq(c.public_key, a.public_key, ZCURVE_KEY_LEN);
	zcurve_keypair_clear(&a);
	zcurve_keypair_clear(&b);
	zcurve_keypair_clear(&c);
}

/* ---- spellings ---- */

Test(zcurve, z85_known_vector)
{
	/* RFC 32's example, 0x864FD26FB559F75B -> "HelloWorld", four times over. */
	static const uint8_t hello[8] = {0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
	uint8_t key[ZCURVE_KEY_LEN], back[ZCURVE_KEY_LEN];
	char z85[ZCURVE_Z85_LEN + 1];
	for (size_t i = 0; i < 4; i++)
		memcpy(key + 8 * i, hello, 8);
	zcurve_z85_encode(key, z85);
	cr_assert_str_eq(z85, "HelloWorldHelloWorldHelloWorldHelloWorld");
	cr_assert_eq(zcurve_z85_decode(z85, strlen(z85), back), 0);
	cr_assert_arr_eq(back, key, ZCURVE_KEY_LEN);
}

Test(zcurve, hex_known_vector)
{
	uint8_t key[ZCURVE_KEY_LEN], back[ZCURVE_KEY_LEN];
	char hex[ZCURVE_HEX_LEN + 1];
	for (size_t i = 0; i < ZCURVE_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 8 + 7);
	zcurve_hex_encode(key, hex);
	cr_assert_str_eq(hex, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
	cr_assert_eq(zcurve_hex_decode(hex, strlen(hex), back), 0);
	cr_assert_arr_eq(back, key, ZCURVE_KEY_LEN);
}

Test(zcurve, round_trips_between_the_three_spellings)
{
	for (int i = 0; i < 200; i++) {
		uint8_t key[ZCURVE_KEY_LEN], a[ZCURVE_KEY_LEN], b[ZCURVE_KEY_LEN];
		char z85[ZCURVE_Z85_LEN + 1], hex[ZCURVE_HEX_LEN + 1], z85b[ZCURVE_Z85_LEN + 1];
		random_key(key);
		if (i == 0)
			memset(key, 0, sizeof(key));
		if (i == 1)
			memset(key, 0xff, sizeof(key));
		zcurve_z85_encode(key, z85);
		cr_assert_eq(strlen(z85), ZCURVE_Z85_LEN);
		cr_assert_eq(zcurve_z85_decode(z85, ZCURVE_Z85_LEN, a), 0);
		zcurve_hex_encode(a, hex);
		cr_assert_eq(strlen(hex), ZCURVE_HEX_LEN);
		cr_assert_eq(zcurve_hex_decode(hex, ZCURVE_HEX_LEN, b), 0);
		zcurve_z85_encode(b, z85b);
		cr_assert_arr_eq(b, key, ZCURVE_KEY_LEN);
		cr_assert_str_eq(z85b, z85);
	}
}

Test(zcurve, z85_refusals_leave_the_key_alone)
{
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {
		{"HelloWorldHelloWorldHelloWorldHelloWorl", 39},
		{"HelloWorldHelloWorldHelloWorldHelloWorldH", 41},
		{"HelloWorldHelloWorldHelloWorldHelloWor d", 40},
		{"HelloWorldHelloWorldHelloWorldHelloWor\"d", 40},
		{"HelloWorldHelloWorldHelloWorldHelloWor~d", 40},
		{"HelloWorldHelloWorldHelloWorldHelloWor\xc3\xa9", 40},
		{"HelloWorldHelloWorldHelloWorldHello\0orld", 40},
		/* "#####" is 85^5 - 1, over 2^32 - 1 */
		{"HelloWorldHelloWorldHelloWorldHello#####", 40},
		{"", 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t key[ZCURVE_KEY_LEN];
		memset(key, 0x5a, sizeof(key));
		cr_assert_eq(zcurve_z85_decode(bad[i].text, bad[i].len, key), -EINVAL, "row %zu",
			     i);
		for (size_t j = 0; j < sizeof(key); j++)
			cr_assert_eq(key[j], 0x5a, "row %zu changed the key", i);
	}
	uint8_t key[ZCURVE_KEY_LEN];
	cr_assert_eq(zcurve_z85_decode(NULL, 40, key), -EINVAL);
}

Test(zcurve, hex_is_lowercase_only_and_exact)
{
	char good[ZCURVE_HEX_LEN + 2];
	uint8_t key[ZCURVE_KEY_LEN];
	memset(good, 'a', ZCURVE_HEX_LEN);
	good[ZCURVE_HEX_LEN] = '\0';
	cr_assert_eq(zcurve_hex_decode(good, ZCURVE_HEX_LEN, key), 0);
	cr_assert_eq(zcurve_hex_decode(good, ZCURVE_HEX_LEN - 1, key), -EINVAL);
	cr_assert_eq(zcurve_hex_decode(good, ZCURVE_HEX_LEN - 2, key), -EINVAL);
	good[ZCURVE_HEX_LEN] = 'a';
	good[ZCURVE_HEX_LEN + 1] = '\0';
	cr_assert_eq(zcurve_hex_decode(good, ZCURVE_HEX_LEN + 1, key), -EINVAL);
	good[ZCURVE_HEX_LEN] = '\0';
	static const char subs[] = {'A', 'F', 'g', ' ', '\0', 'x', '/', ':', '@', '`'};
	for (size_t i = 0; i < sizeof(subs); i++) {
		good[17] = subs[i];
		cr_assert_eq(zcurve_hex_decode(good, ZCURVE_HEX_LEN, key), -EINVAL, "'%c'",
			     subs[i]);
	}
	cr_assert_eq(zcurve_hex_decode(NULL, ZCURVE_HEX_LEN, key), -EINVAL);
}

/* ---- the secret key file ---- */

static size_t files_in(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	/* The test process is single-threaded. */
	/* NOLINTNEXTLINE(concurrency-mt-unsafe) */
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

Test(zcurve, save_load_round_trip_mode_0600_whatever_the_umask)
{
	struct zcurve_keypair kp, back;
	struct stat st;
	char z85[ZCURVE_Z85_LEN + 1], expect[128], got[128] = {0};
	cr_assert_eq(zcurve_keypair_generate(&kp), 0);
	mode_t old = umask(0);
	cr_assert_eq(zcurve_secret_save(path, &kp), 0);
	(void)umask(old);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", (unsigned)(st.st_mode & 07777));
	cr_assert_eq(files_in(tmp), 1, "no temporary file left behind");

	zcurve_z85_encode(kp.secret_key, z85);
	(void)snprintf(expect, sizeof(expect), "sdwan-curve-secret-v1 %s\n", z85);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	cr_assert_eq(n, strlen(expect));
	cr_assert_str_eq(got, expect);

	cr_assert_eq(zcurve_secret_load(path, &back), 0);
	cr_assert_arr_eq(back.secret_key, kp.secret_key, ZCURVE_KEY_LEN);
	cr_assert_arr_eq(back.public_key, kp.public_key, ZCURVE_KEY_LEN, "public key derived");
	zcurve_keypair_clear(&kp);
	zcurve_keypair_clear(&back);
}

Test(zcurve, save_replaces_atomically_and_tightens_mode)
{
	struct zcurve_keypair a, b, back;
	struct stat st;
	cr_assert_eq(zcurve_keypair_generate(&a), 0);
	cr_assert_eq(zcurve_keypair_generate(&b), 0);
	write_file(path, "an old file, world-readable\n", 0644);
	cr_assert_eq(zcurve_secret_save(path, &a), 0);
	cr_assert_eq(zcurve_secret_save(path, &b), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(files_in(tmp), 1);
	cr_assert_eq(zcurve_secret_load(path, &back), 0);
	cr_assert_arr_eq(back.secret_key, b.secret_key, ZCURVE_KEY_LEN);

	/* A directory that does not exist: refused, nothing created. */
	char bad[160];
	(void)snprintf(bad, sizeof(bad), "%s/missing/curve.key", tmp);
	cr_assert_eq(zcurve_secret_save(bad, &a), -ENOENT);
	cr_assert_eq(zcurve_secret_save(NULL, &a), -EINVAL);
	zcurve_keypair_clear(&a);
	zcurve_keypair_clear(&b);
	zcurve_keypair_clear(&back);
}

Test(zcurve, load_refuses_a_file_others_can_access)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0660, 0602, 0620, 0601, 0610, 0666};
	struct zcurve_keypair kp, back;
	cr_assert_eq(zcurve_keypair_generate(&kp), 0);
	cr_assert_eq(zcurve_secret_save(path, &kp), 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		cr_assert_eq(chmod(path, modes[i]), 0);
		memset(&back, 0xaa, sizeof(back));
		cr_assert_eq(zcurve_secret_load(path, &back), -EACCES, "mode %o", modes[i]);
		cr_assert(all_zero(&back, sizeof(back)), "wiped on failure");
	}
	/* Owner-only modes are fine. */
	cr_assert_eq(chmod(path, 0400), 0);
	cr_assert_eq(zcurve_secret_load(path, &back), 0);
	cr_assert_arr_eq(back.secret_key, kp.secret_key, ZCURVE_KEY_LEN);
	zcurve_keypair_clear(&kp);
	zcurve_keypair_clear(&back);
}

Test(zcurve, load_refuses_what_is_not_a_key_file)
{
	static const char *const bad[] = {
		"",
		"sdwan-curve-secret-v1\n",
		"sdwan-curve-secret-v1 HelloWorldHelloWorldHelloWorldHelloWorld",
		"sdwan-curve-secret-v1 HelloWorldHelloWorldHelloWorldHelloWorld\n\n",
		"sdwan-curve-secret-v1  HelloWorldHelloWorldHelloWorldHelloWorl\n",
		"sdwan-curve-secret-v2 HelloWorldHelloWorldHelloWorldHelloWorld\n",
		"sdwan-curve-secret-v1 HelloWorldHelloWorldHelloWorldHello#####\n",
		"sdwan-curve-secret-v1\tHelloWorldHelloWorldHelloWorldHelloWorld\n",
		"sdwan-curve-secret-v1 HelloWorldHelloWorldHelloWorldHelloWorld\r",
	};
	struct zcurve_keypair back;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], 0600);
		memset(&back, 0xaa, sizeof(back));
		cr_assert_eq(zcurve_secret_load(path, &back), -EBADMSG, "row %zu", i);
		cr_assert(all_zero(&back, sizeof(back)));
	}
	/* The well-formed version of the rows above loads. */
	write_file(path, "sdwan-curve-secret-v1 HelloWorldHelloWorldHelloWorldHelloWorld\n", 0600);
	cr_assert_eq(zcurve_secret_load(path, &back), 0);

	char missing[160];
	(void)snprintf(missing, sizeof(missing), "%s/nope", tmp);
	cr_assert_eq(zcurve_secret_load(missing, &back), -ENOENT);
	cr_assert_eq(chmod(tmp, 0700), 0);
	cr_assert_eq(zcurve_secret_load(tmp, &back), -EINVAL, "a directory");
	zcurve_keypair_clear(&back);
}

Test(zcurve, secrets_stay_out_of_the_log)
{
	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *logf = open_memstream(&logbuf, &loglen);
	cr_assert_not_null(logf);
	log_configure(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, logf);

	struct zcurve_keypair kp, back;
	char z85[ZCURVE_Z85_LEN + 1], hex[ZCURVE_HEX_LEN + 1];
	cr_assert_eq(zcurve_keypair_generate(&kp), 0);
	cr_assert_eq(zcurve_secret_save(path, &kp), 0);
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(zcurve_secret_load(path, &back), -EACCES);
	cr_assert_eq(chmod(path, 0600), 0);
	cr_assert_eq(zcurve_secret_load(path, &back), 0);
	char text[80];
	zcurve_z85_encode(kp.secret_key, z85);
	(void)snprintf(text, sizeof(text), "sdwan-curve-secret-v1 %s", z85); /* no newline */
	write_file(path, text, 0600);
	cr_assert_eq(zcurve_secret_load(path, &back), -EBADMSG);

	cr_assert_eq(fflush(logf), 0);
	cr_assert_gt(loglen, 0, "the refusals are logged");
	cr_assert_not_null(strstr(logbuf, "chmod 600"), "the log says what to do");
	zcurve_hex_encode(kp.secret_key, hex);
	cr_assert_null(strstr(logbuf, z85));
	cr_assert_null(strstr(logbuf, hex));
	log_configure(LOG_LEVEL_NOTICE, LOG_FORMAT_TEXT, NULL);
	fclose(logf);
	free(logbuf);
	zcurve_keypair_clear(&kp);
	zcurve_keypair_clear(&back);
}

/* ---- sockets ---- */

Test(zcurve, socket_setup)
{
	void *ctx = zmq_ctx_new();
	void *srv = zmq_socket(ctx, ZMQ_ROUTER), *cli = zmq_socket(ctx, ZMQ_DEALER);
	struct zcurve_keypair skp, ckp;
	uint8_t got[ZCURVE_KEY_LEN];
	char domain[32];
	size_t len;
	int v = 0;
	cr_assert_eq(zcurve_keypair_generate(&skp), 0);
	cr_assert_eq(zcurve_keypair_generate(&ckp), 0);

	cr_assert_eq(zcurve_server_setup(srv, &skp, ""), -EINVAL, "an empty domain skips ZAP");
	cr_assert_eq(zcurve_server_setup(srv, &skp, NULL), -EINVAL);
	cr_assert_eq(zcurve_server_setup(srv, &skp, "control"), 0);
	len = sizeof(v);
	cr_assert_eq(zmq_getsockopt(srv, ZMQ_CURVE_SERVER, &v, &len), 0);
	cr_assert_eq(v, 1);
	len = sizeof(domain);
	cr_assert_eq(zmq_getsockopt(srv, ZMQ_ZAP_DOMAIN, domain, &len), 0);
	cr_assert_str_eq(domain, "control");
	len = sizeof(got);
	cr_assert_eq(zmq_getsockopt(srv, ZMQ_CURVE_PUBLICKEY, got, &len), 0);
	cr_assert_arr_eq(got, skp.public_key, ZCURVE_KEY_LEN, "public key set");

	cr_assert_eq(zcurve_client_setup(cli, &ckp, skp.public_key), 0);
	len = sizeof(got);
	cr_assert_eq(zmq_getsockopt(cli, ZMQ_CURVE_SERVERKEY, got, &len), 0);
	cr_assert_arr_eq(got, skp.public_key, ZCURVE_KEY_LEN);
	len = sizeof(got);
	cr_assert_eq(zmq_getsockopt(cli, ZMQ_CURVE_PUBLICKEY, got, &len), 0);
	cr_assert_arr_eq(got, ckp.public_key, ZCURVE_KEY_LEN);

	zcurve_keypair_clear(&skp);
	zcurve_keypair_clear(&ckp);
	cr_assert_eq(zmq_close(srv), 0);
	cr_assert_eq(zmq_close(cli), 0);
	cr_assert_eq(zmq_ctx_term(ctx), 0);
}

/* NOLINTEND(readability-function-size) */
