/*
 * The key log: the exact lines Wireshark's ikev2_decryption_table and esp_sa UAT files take, for
 * each cipher; files created (or made) 0600, appended to line by line; symlinks refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/proposal.h"
#include "edge/keylog.h"

static uint8_t key_a[36], key_b[36];

static void fill_keys(void)
{
	for (size_t i = 0; i < sizeof(key_a); i++) {
		key_a[i] = (uint8_t)i;
		key_b[i] = (uint8_t)(0xa0 + i);
	}
}

static struct keylog_ike ike_of(uint8_t encr, size_t enc_len)
{
	fill_keys();
	return (struct keylog_ike){.spi_i = 0x0102030405060708ull,
				   .spi_r = 0xf1f2f3f4f5f6f7f8ull,
				   .encr = encr,
				   .sk_ei = key_a,
				   .sk_er = key_b,
				   .enc_len = enc_len};
}

Test(keylog, ike_aes128gcm16_line)
{
	struct keylog_ike k = ike_of(PROPOSAL_ENCR_AES128GCM16, 20);
	char line[KEYLOG_LINE_MAX];
	int n = keylog_format_ike(&k, line);
	cr_assert_gt(n, 0);
	cr_expect_str_eq(line,
			 "0102030405060708,f1f2f3f4f5f6f7f8,"
			 "000102030405060708090a0b0c0d0e0f10111213,"
			 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3,"
			 "\"AES-GCM-128 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"\n");
	cr_expect_eq((size_t)n, strlen(line));
}

Test(keylog, ike_aes256gcm16_line)
{
	struct keylog_ike k = ike_of(PROPOSAL_ENCR_AES256GCM16, 36);
	char line[KEYLOG_LINE_MAX];
	cr_assert_gt(keylog_format_ike(&k, line), 0);
	cr_expect_str_eq(line,
			 "0102030405060708,f1f2f3f4f5f6f7f8,"
			 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223,"
			 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3,"
			 "\"AES-GCM-256 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"\n");
}

Test(keylog, ike_chacha20poly1305_is_a_comment)
{
	struct keylog_ike k = ike_of(PROPOSAL_ENCR_CHACHA20POLY1305, 36);
	char line[KEYLOG_LINE_MAX];
	cr_assert_gt(keylog_format_ike(&k, line), 0);
	cr_expect_str_eq(line,
			 "# 0102030405060708,f1f2f3f4f5f6f7f8,"
			 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223,"
			 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3,"
			 "\"ChaCha20-Poly1305 [RFC7634]\",,,\"NONE [RFC4306]\"\n");
}

Test(keylog, ike_refuses_wrong_lengths_and_ciphers)
{
	char line[KEYLOG_LINE_MAX];
	struct keylog_ike k = ike_of(PROPOSAL_ENCR_AES128GCM16, 36);
	cr_expect_eq(keylog_format_ike(&k, line), -EINVAL);
	k = ike_of(PROPOSAL_ENCR_NONE, 20);
	cr_expect_eq(keylog_format_ike(&k, line), -EINVAL);
}

static struct keylog_esp esp_of(enum esp_cipher c, const char *src, const char *dst)
{
	fill_keys();
	struct keylog_esp k = {.spi = 0xc0ffee01, .cipher = c, .keymat = key_a};
	cr_assert_eq(ip_addr_parse(src, &k.src), 0);
	cr_assert_eq(ip_addr_parse(dst, &k.dst), 0);
	return k;
}

Test(keylog, esp_lines)
{
	char line[KEYLOG_LINE_MAX];
	struct keylog_esp k = esp_of(ESP_CIPHER_AES128_GCM16, "192.0.2.1", "198.51.100.7");
	cr_assert_gt(keylog_format_esp(&k, line), 0);
	cr_expect_str_eq(line, "\"IPv4\",\"192.0.2.1\",\"198.51.100.7\",\"0xc0ffee01\","
			       "\"AES-GCM with 16 octet ICV [RFC4106]\","
			       "\"0x000102030405060708090a0b0c0d0e0f10111213\",\"NULL\",\"\"\n");
	k = esp_of(ESP_CIPHER_AES256_GCM16, "2001:db8::1", "2001:db8::2");
	cr_assert_gt(keylog_format_esp(&k, line), 0);
	cr_expect_str_eq(
		line,
		"\"IPv6\",\"2001:db8::1\",\"2001:db8::2\",\"0xc0ffee01\","
		"\"AES-GCM with 16 octet ICV [RFC4106]\","
		"\"0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223\","
		"\"NULL\",\"\"\n");
	k = esp_of(ESP_CIPHER_CHACHA20_POLY1305, "192.0.2.1", "192.0.2.2");
	cr_assert_gt(keylog_format_esp(&k, line), 0);
	cr_expect_str_eq(
		line,
		"\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0xc0ffee01\","
		"\"ChaCha20 with Poly1305 [RFC7634]\","
		"\"0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223\","
		"\"NULL\",\"\"\n");
	k = esp_of(ESP_CIPHER_AES128_GCM16, "192.0.2.1", "2001:db8::2");
	cr_expect_eq(keylog_format_esp(&k, line), -EINVAL, "mixed families");
}

static void read_all(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_mode & 07777;
}

Test(keylog, files_private_and_appended)
{
	char dir[] = "/tmp/test-keylog.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128], esp[160];
	snprintf(path, sizeof(path), "%s/keys", dir);
	snprintf(esp, sizeof(esp), "%s.esp", path);
	/* A file left readable by others is made private, and what it held is kept. */
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("# old\n", f);
	fclose(f);
	cr_assert_eq(chmod(path, 0644), 0);
	struct keylog *kl;
	cr_assert_eq(keylog_open(path, &kl), 0);
	cr_expect_eq(mode_of(path), 0600);
	cr_expect_eq(mode_of(esp), 0600);
	struct keylog_ike ike = ike_of(PROPOSAL_ENCR_AES128GCM16, 20);
	cr_expect_eq(keylog_ike_sa(kl, &ike), 0);
	cr_expect_eq(keylog_ike_sa(kl, &ike), 0);
	struct keylog_esp e = esp_of(ESP_CIPHER_AES128_GCM16, "192.0.2.1", "192.0.2.2");
	cr_expect_eq(keylog_esp_sa(kl, &e), 0);
	/* Written through at once: readable before close. */
	char buf[2048], want[KEYLOG_LINE_MAX], want_esp[KEYLOG_LINE_MAX];
	cr_assert_gt(keylog_format_ike(&ike, want), 0);
	cr_assert_gt(keylog_format_esp(&e, want_esp), 0);
	read_all(path, buf, sizeof(buf));
	char expect[2048];
	snprintf(expect, sizeof(expect), "# old\n%s%s", want, want);
	cr_expect_str_eq(buf, expect);
	read_all(esp, buf, sizeof(buf));
	cr_expect_str_eq(buf, want_esp);
	cr_expect_eq(keylog_ike_sa(kl, &(struct keylog_ike){.encr = 99}), -EINVAL);
	keylog_close(kl);
	keylog_close(NULL);
	unlink(path);
	unlink(esp);
	/* A symlink planted at the path is refused rather than followed. */
	cr_assert_eq(symlink("/etc/hostname", path), 0);
	cr_expect_eq(keylog_open(path, &kl), -ELOOP);
	cr_expect_null(kl);
	unlink(path);
	rmdir(dir);
}

/* Wireshark itself accepts every line we write: tshark loads both tables from a profile and
 * names any line it refuses ("Error loading table"). Skipped where tshark is not installed. */
Test(keylog, tshark_loads_the_tables)
{
	if (access("/usr/bin/tshark", X_OK) != 0)
		cr_skip_test("tshark is not installed (deploy/install-deps.sh installs it)");
	char home[] = "/tmp/test-keylog-ws.XXXXXX";
	cr_assert_not_null(mkdtemp(home));
	char cmd[1024], path[256];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/.config/wireshark", home);
	cr_assert_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/.config/wireshark/ikev2_decryption_table", home);
	struct keylog *kl;
	cr_assert_eq(keylog_open(path, &kl), 0);
	static const uint8_t encrs[] = {PROPOSAL_ENCR_AES128GCM16, PROPOSAL_ENCR_AES256GCM16,
					PROPOSAL_ENCR_CHACHA20POLY1305};
	for (size_t i = 0; i < sizeof(encrs); i++) {
		struct keylog_ike k = ike_of(encrs[i], i == 0 ? 20 : 36);
		k.spi_i += i;
		cr_expect_eq(keylog_ike_sa(kl, &k), 0);
	}
	/* Only the ciphers Debian 12's Wireshark 4.0 knows for ESP. */
	struct keylog_esp e = esp_of(ESP_CIPHER_AES128_GCM16, "192.0.2.1", "192.0.2.2");
	cr_expect_eq(keylog_esp_sa(kl, &e), 0);
	e = esp_of(ESP_CIPHER_AES256_GCM16, "2001:db8::1", "2001:db8::2");
	e.spi++;
	cr_expect_eq(keylog_esp_sa(kl, &e), 0);
	keylog_close(kl);
	/* An empty capture (pcap header only) is enough to make tshark load its tables. */
	snprintf(
		cmd, sizeof(cmd),
		"cd %s && mv .config/wireshark/ikev2_decryption_table.esp .config/wireshark/esp_sa "
		"&& printf '\\324\\303\\262\\241\\2\\0\\4\\0\\0\\0\\0\\0\\0\\0\\0\\0\\377\\377\\0\\0"
		"\\1\\0\\0\\0' > empty.pcap && HOME=%s tshark -r empty.pcap > out.txt 2>&1",
		home, home);
	cr_expect_eq(system(cmd), 0);
	char out[4096];
	snprintf(path, sizeof(path), "%s/out.txt", home);
	read_all(path, out, sizeof(out));
	cr_expect_null(strstr(out, "Error loading table"), "tshark refused a line: %s", out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	cr_expect_eq(system(cmd), 0);
}
