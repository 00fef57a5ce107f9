/*
 * hostcert-t.c - tests of the OpenSSH certificate decoder and rules
 * (client/hostcert.c).
 *
 * Two certificates made by ssh-keygen (an ed25519 CA and an RSA one) check the
 * decoder against OpenSSH; a table of certificates built and signed here with
 * libsodium covers the error paths (wrong types, bad lengths, bad
 * signatures, every rule). Every certificate is also cut at every offset and
 * given a trailing byte: neither may decode. Then ssh-keygen (when installed)
 * signs with RSA (rsa-sha2-256, rsa-sha2-512, ssh-rsa) and ECDSA (nistp256,
 * 384, 521) CAs: each verifies (ssh-rsa is refused, as by ssh) and a table of
 * damage to the signature and the CA key (flipped bytes, wrong algorithm
 * names, trailing bytes, cuts at every offset of each inner blob) does not.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/hostcert.h"
#include "tests/tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define BUF 4096

/* ssh-keygen -s ca -I vec -h -n host.example,127.0.0.1 -z 42
 *     -V 20200101:20300101 host.pub (ed25519 CA and host key) */
static const char ed_cert[] =
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIOSmTJ/66xlYv6Lo+f3S"
    "z1c4BN2MuFaO1Q+Xk2qaNcQuAAAAIK3SxaFSFQf5Yg4NBMUgxcgPBqr6qY39+rfdr3+N0k6K"
    "AAAAAAAAACoAAAACAAAAA3ZlYwAAAB0AAAAMaG9zdC5leGFtcGxlAAAACTEyNy4wLjAuMQAA"
    "AABeC+EAAAAAAHDb2IAAAAAAAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIPV5dxfT"
    "hrw6p2/Kkid5LEsCGaGaYbkQtNrRT06a1+/3AAAAUwAAAAtzc2gtZWQyNTUxOQAAAECzJ+hu"
    "IgVWUg7nlmRTQmMnT4t24D2nm7PAyJ2+W8UUiLFRNWXKKaE2Du+q5Ph6qYz+nephhtV+/mtN"
    "v7+KYW4N";
static const char ed_host[] =
    "AAAAC3NzaC1lZDI1NTE5AAAAIK3SxaFSFQf5Yg4NBMUgxcgPBqr6qY39+rfdr3+N0k6K";
static const char ed_ca[] =
    "AAAAC3NzaC1lZDI1NTE5AAAAIPV5dxfThrw6p2/Kkid5LEsCGaGaYbkQtNrRT06a1+/3";
/* The same host key signed by a 1024-bit RSA CA (-I rsavec -n host.example). */
static const char rsa_cert[] =
    "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIH/LTlj+xg1rwBDXfxrK"
    "Mn9p6jyjBdENp54Zm09Yls92AAAAIK3SxaFSFQf5Yg4NBMUgxcgPBqr6qY39+rfdr3+N0k6K"
    "AAAAAAAAAAAAAAACAAAABnJzYXZlYwAAABAAAAAMaG9zdC5leGFtcGxlAAAAAF4L4QAAAAAA"
    "cNvYgAAAAAAAAAAAAAAAAAAAAJcAAAAHc3NoLXJzYQAAAAMBAAEAAACBALgf4x2zzcTI96uH"
    "NY+tAsbWl1KoekGUs4++y+U6W5SpkDxwEuErP319jX/oBuPLupXE/Icka5X+j7L+zy0W1DZQ"
    "OofhsiT1VvEd3AzyrKQ9k+as/LPnpEKxwkZ86vRwVhyVXEbhvVTBgewbQAuRaGIO0uQQ6fpR"
    "TSUtPAICb2dBAAAAlAAAAAxyc2Etc2hhMi01MTIAAACAnh3Tog598jPQrLkJ3EOF4lfordXg"
    "B09DYKoIHH5jkCJXASTWn0pEn8rksIvzk1wpqH4C5X6XbzH66OnIkQDWwpn5zH9tgCn9tMeu"
    "7T8fTtUKI5qkmAX4X+h4H6iDNgiLmj9Vtvj+MDZBQTEOVQEZkCZqkANcpn//Mq0PCAmCwz4=";

#define T2020	1577836800ULL	/* 2020-01-01 */
#define T2030	1893456000ULL	/* 2030-01-01 */
#define NOW	1700000000ULL

static size_t
unb64(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (sodium_base642bin(out, cap, s, strlen(s), NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		bail("bad base64 in the test");
	return n;
}

/* Cut at every offset and with a byte too many: never decodes. */
static void
cut_everywhere(const uint8_t *b, size_t len, const char *what)
{
	uint8_t *copy;
	struct hostcert c;
	size_t i, bad = 0;

	for (i = 0; i < len; i++) {
		/* a fresh allocation each time, so ASan sees over-reads */
		if ((copy = malloc(i + 1)) == NULL)
			bail("out of memory");
		memcpy(copy, b, i);
		if (hostcert_parse(copy, i, &c) == 0) {
			if (bad++ == 0)
				diag("%s: decodes when cut at %zu", what, i);
		}
		free(copy);
	}
	ok(bad == 0, "%s: cut at each of %zu offsets, never decodes", what, len);
	if ((copy = malloc(len + 1)) == NULL)
		bail("out of memory");
	memcpy(copy, b, len);
	copy[len] = 0;
	is_int(hostcert_parse(copy, len + 1, &c), HOSTCERT_ERR_FORMAT,
	    "%s: a trailing byte is a format error", what);
	free(copy);
}

static void
test_openssh(void)
{
	uint8_t b[BUF], want[BUF], plain[BUF], bad[BUF];
	size_t len, wl, pl;
	struct hostcert c, untouched;
	const char *reason = NULL;
	char ct[64];

	len = unb64(ed_cert, b, sizeof(b));
	if (!is_int(hostcert_parse(b, len, &c), 0, "ssh-keygen ed25519 cert decodes"))
		return;
	is_mem(c.certtype.p, c.certtype.len, "ssh-ed25519-cert-v01@openssh.com",
	    32, "  certificate type");
	is_str(c.plaintype, "ssh-ed25519", "  plain type");
	is_int((long long)c.serial, 42, "  serial");
	is_int(c.type, HOSTCERT_TYPE_HOST, "  host certificate");
	is_mem(c.key_id.p, c.key_id.len, "vec", 3, "  key id");
	is_int((long long)c.nprincipals, 2, "  two principals");
	is_int((long long)c.valid_after, (long long)T2020, "  valid after");
	is_int((long long)c.valid_before, (long long)T2030, "  valid before");
	is_int((long long)c.ncritical, 0, "  no critical option");
	wl = unb64(ed_ca, want, sizeof(want));
	is_mem(c.ca_key.p, c.ca_key.len, want, wl, "  CA key blob as in ca.pub");
	is_str(hostcert_ca_type(&c, ct, sizeof(ct)), "ssh-ed25519", "  CA type");
	wl = unb64(ed_host, want, sizeof(want));
	pl = hostcert_plain_key(&c, plain, sizeof(plain));
	is_mem(plain, pl, want, wl, "  plain key blob as in host.pub");
	is_int((long long)hostcert_plain_key(&c, plain, wl - 1), 0,
	    "  plain key: too small a buffer gives 0");
	is_int(hostcert_verify(&c), 0, "  CA signature verifies");
	is_int(hostcert_check(&c, "host.example", NOW, &reason), 0,
	    "  principal host.example, now: accepted");
	is_int(hostcert_check(&c, "127.0.0.1", NOW, &reason), 0,
	    "  principal 127.0.0.1: accepted");
	is_int(hostcert_check(&c, "Host.example", NOW, &reason), -1,
	    "  principals are case-sensitive");
	is_int(hostcert_check(&c, "other", NOW, &reason), -1, "  other name: refused");
	is_str(reason, "Certificate invalid: name is not a listed principal",
	    "  with OpenSSH's reason");
	is_int(hostcert_check(&c, "host.example", T2020 - 1, &reason), -1,
	    "  a second before valid_after: refused");
	is_str(reason, "Certificate invalid: not yet valid", "  not yet valid");
	is_int(hostcert_check(&c, "host.example", T2020, &reason), 0,
	    "  at valid_after: accepted");
	is_int(hostcert_check(&c, "host.example", T2030, &reason), -1,
	    "  at valid_before: refused");
	is_str(reason, "Certificate invalid: expired", "  expired");

	/* One flipped bit in the signed part, then in the signature. */
	memcpy(bad, b, len);
	bad[len - 200] ^= 1;
	if (hostcert_parse(bad, len, &c) == 0)
		is_int(hostcert_verify(&c), HOSTCERT_ERR_SIGNATURE,
		    "a flipped bit in the signed part: signature refused");
	else
		ok(1, "a flipped bit in the signed part: does not decode");
	memcpy(bad, b, len);
	bad[len - 1] ^= 1;
	is_int(hostcert_parse(bad, len, &c), 0,
	    "a flipped bit in the signature: decodes");
	is_int(hostcert_verify(&c), HOSTCERT_ERR_SIGNATURE, "  but does not verify");
	cut_everywhere(b, len, "ssh-keygen ed25519 cert");

	memset(&untouched, 0x5a, sizeof(untouched));
	c = untouched;
	is_int(hostcert_parse(b, 10, &c), HOSTCERT_ERR_FORMAT,
	    "truncated: format error");
	ok(memcmp(&c, &untouched, sizeof(c)) == 0, "  and the output is untouched");
	is_int(hostcert_parse(b, 0, &c), HOSTCERT_ERR_FORMAT, "empty: format error");
	{
		uint8_t *big = calloc(1, HOSTCERT_MAX_LEN + 1);

		if (big == NULL)
			bail("out of memory");
		is_int(hostcert_parse(big, HOSTCERT_MAX_LEN + 1, &c),
		    HOSTCERT_ERR_TOOBIG, "over HOSTCERT_MAX_LEN: too big");
		free(big);
	}

	len = unb64(rsa_cert, b, sizeof(b));
	if (!is_int(hostcert_parse(b, len, &c), 0,
	    "ssh-keygen cert with an RSA CA decodes"))
		return;
	is_str(hostcert_ca_type(&c, ct, sizeof(ct)), "ssh-rsa", "  CA type ssh-rsa");
	is_int(hostcert_verify(&c), 0, "  its rsa-sha2-512 signature verifies");
	cut_everywhere(b, len, "ssh-keygen cert, RSA CA");
}

/* ---- certificates built here -------------------------------------------- */

struct w {
	uint8_t b[BUF];
	size_t n;
};

static void
put_u32(struct w *w, uint32_t v)
{
	w->b[w->n++] = (uint8_t)(v >> 24);
	w->b[w->n++] = (uint8_t)(v >> 16);
	w->b[w->n++] = (uint8_t)(v >> 8);
	w->b[w->n++] = (uint8_t)v;
}

static void
put_u64(struct w *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

static void
put_mem(struct w *w, const void *p, size_t n)
{
	put_u32(w, (uint32_t)n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
put_str(struct w *w, const char *s)
{
	put_mem(w, s, strlen(s));
}

enum keyv { K_ED, K_ED_SHORT, K_ECDSA, K_ECDSA_CURVE, K_RSA, K_RSA_EMPTY };
enum prv { P_LIST, P_NUL, P_OVERLONG };
enum critv { C_NONE, C_FORCE, C_NODATA, C_EMPTYNAME };
enum sigv { S_GOOD, S_TYPE, S_FLIP, S_SHORT, S_CA_RSA, S_CA_DSS, S_CA_TRAIL };

static const struct row {
	const char *desc;
	const char *certtype;
	enum keyv key;
	uint32_t type;
	enum prv pv;
	const char *principals[3];
	uint64_t after, before;
	enum critv crit;
	int ext;		/* an extension: permit-pty */
	enum sigv sig;
	int want_parse, want_verify;
	const char *name;
	const char *reason;	/* NULL: accepted */
} rows[] = {
	{ "ed25519 host cert", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2,
	  P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0, 0,
	  "h.example", NULL },
	{ "ecdsa-nistp256 host cert", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
	  K_ECDSA, 2, P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0,
	  0, "h.example", NULL },
	{ "rsa host cert", "ssh-rsa-cert-v01@openssh.com", K_RSA, 2, P_LIST,
	  { "h.example" }, 0, ~0ULL, C_NONE, 1, S_GOOD, 0, 0, "h.example", NULL },
	{ "wildcard principal", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2,
	  P_LIST, { "x", "*.example.com" }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0, 0,
	  "a.example.com", NULL },
	{ "wildcard principal, not the bare domain",
	  "ssh-ed25519-cert-v01@openssh.com", K_ED, 2, P_LIST,
	  { "*.example.com" }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0, 0, "example.com",
	  "Certificate invalid: name is not a listed principal" },
	{ "? principal", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2, P_LIST,
	  { "h?.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0, 0, "h1.example", NULL },
	{ "user certificate", "ssh-ed25519-cert-v01@openssh.com", K_ED, 1,
	  P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0, 0,
	  "h.example", "Certificate invalid: not a host certificate" },
	{ "type 3", "ssh-ed25519-cert-v01@openssh.com", K_ED, 3, P_LIST,
	  { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0, 0, "h.example",
	  "Certificate invalid: not a host certificate" },
	{ "no principals", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2, P_LIST,
	  { NULL }, 0, ~0ULL, C_NONE, 0, S_GOOD, 0, 0, "h.example",
	  "Certificate lacks principal list" },
	{ "expired", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2, P_LIST,
	  { "h.example" }, 0, NOW, C_NONE, 0, S_GOOD, 0, 0, "h.example",
	  "Certificate invalid: expired" },
	{ "not yet valid", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2, P_LIST,
	  { "h.example" }, NOW + 1, ~0ULL, C_NONE, 0, S_GOOD, 0, 0, "h.example",
	  "Certificate invalid: not yet valid" },
	{ "critical option", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2,
	  P_LIST, { "h.example" }, 0, ~0ULL, C_FORCE, 0, S_GOOD, 0, 0,
	  "h.example", "Certificate contains unsupported critical options" },
	{ "unknown certificate type", "ssh-dss-cert-v01@openssh.com", K_ED, 2,
	  P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD,
	  HOSTCERT_ERR_TYPE, 0, NULL, NULL },
	{ "a plain key, not a certificate", "ssh-ed25519", K_ED, 2, P_LIST,
	  { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD, HOSTCERT_ERR_TYPE, 0,
	  NULL, NULL },
	{ "ed25519 key of 31 bytes", "ssh-ed25519-cert-v01@openssh.com",
	  K_ED_SHORT, 2, P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD,
	  HOSTCERT_ERR_FORMAT, 0, NULL, NULL },
	{ "ecdsa curve mismatch", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
	  K_ECDSA_CURVE, 2, P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0,
	  S_GOOD, HOSTCERT_ERR_FORMAT, 0, NULL, NULL },
	{ "rsa with an empty modulus", "ssh-rsa-cert-v01@openssh.com",
	  K_RSA_EMPTY, 2, P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_GOOD,
	  HOSTCERT_ERR_FORMAT, 0, NULL, NULL },
	{ "NUL inside a principal", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2,
	  P_NUL, { NULL }, 0, ~0ULL, C_NONE, 0, S_GOOD, HOSTCERT_ERR_FORMAT, 0,
	  NULL, NULL },
	{ "principal longer than its list", "ssh-ed25519-cert-v01@openssh.com",
	  K_ED, 2, P_OVERLONG, { NULL }, 0, ~0ULL, C_NONE, 0, S_GOOD,
	  HOSTCERT_ERR_FORMAT, 0, NULL, NULL },
	{ "critical option without data", "ssh-ed25519-cert-v01@openssh.com",
	  K_ED, 2, P_LIST, { "h.example" }, 0, ~0ULL, C_NODATA, 0, S_GOOD,
	  HOSTCERT_ERR_FORMAT, 0, NULL, NULL },
	{ "critical option with an empty name",
	  "ssh-ed25519-cert-v01@openssh.com", K_ED, 2, P_LIST, { "h.example" },
	  0, ~0ULL, C_EMPTYNAME, 0, S_GOOD, HOSTCERT_ERR_FORMAT, 0, NULL, NULL },
	{ "signature of another type", "ssh-ed25519-cert-v01@openssh.com", K_ED,
	  2, P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_TYPE, 0,
	  HOSTCERT_ERR_SIGNATURE, "h.example", NULL },
	{ "signature flipped", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2,
	  P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_FLIP, 0,
	  HOSTCERT_ERR_SIGNATURE, "h.example", NULL },
	{ "signature of 63 bytes", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2,
	  P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_SHORT, 0,
	  HOSTCERT_ERR_SIGNATURE, "h.example", NULL },
	{ "RSA CA of 253 bits", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2,
	  P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_CA_RSA, 0,
	  HOSTCERT_ERR_CA_KEY, "h.example", NULL },
	{ "DSA CA", "ssh-ed25519-cert-v01@openssh.com", K_ED, 2, P_LIST,
	  { "h.example" }, 0, ~0ULL, C_NONE, 0, S_CA_DSS, 0,
	  HOSTCERT_ERR_CA_TYPE, "h.example", NULL },
	{ "CA key with trailing bytes", "ssh-ed25519-cert-v01@openssh.com", K_ED,
	  2, P_LIST, { "h.example" }, 0, ~0ULL, C_NONE, 0, S_CA_TRAIL, 0,
	  HOSTCERT_ERR_FORMAT, "h.example", NULL },
};

static void
build(const struct row *r, const uint8_t ca_pk[32], const uint8_t ca_sk[64],
    struct w *w)
{
	struct w sub, ca, sig;
	uint8_t pk[32], s[64];
	size_t i;

	memset(pk, 0x11, sizeof(pk));
	w->n = 0;
	put_str(w, r->certtype);
	put_str(w, "nonce-nonce-nonce-nonce-nonce-32");
	switch (r->key) {
	case K_ED:
		put_mem(w, pk, 32);
		break;
	case K_ED_SHORT:
		put_mem(w, pk, 31);
		break;
	case K_ECDSA:
		put_str(w, "nistp256");
		put_mem(w, pk, 32);	/* not a point: the decoder does not care */
		break;
	case K_ECDSA_CURVE:
		put_str(w, "nistp256");
		put_mem(w, pk, 32);
		break;
	case K_RSA:
		put_mem(w, "\x01\x00\x01", 3);
		put_mem(w, pk, 32);
		break;
	case K_RSA_EMPTY:
		put_mem(w, "\x01\x00\x01", 3);
		put_mem(w, pk, 0);
		break;
	}
	put_u64(w, 7);
	put_u32(w, r->type);
	put_str(w, "id");
	sub.n = 0;
	if (r->pv == P_LIST) {
		for (i = 0; i < N(r->principals) && r->principals[i] != NULL; i++)
			put_str(&sub, r->principals[i]);
	} else if (r->pv == P_NUL)
		put_mem(&sub, "h\0x", 3);
	else {
		put_u32(&sub, 50);
		memcpy(sub.b + sub.n, "h.example", 9);
		sub.n += 9;
	}
	put_mem(w, sub.b, sub.n);
	put_u64(w, r->after);
	put_u64(w, r->before);
	sub.n = 0;
	if (r->crit == C_FORCE) {
		put_str(&sub, "force-command");
		put_str(&sub, "\0\0\0\x04true");
	} else if (r->crit == C_NODATA)
		put_str(&sub, "force-command");
	else if (r->crit == C_EMPTYNAME) {
		put_str(&sub, "");
		put_str(&sub, "");
	}
	put_mem(w, sub.b, sub.n);
	sub.n = 0;
	if (r->ext) {
		put_str(&sub, "permit-pty");
		put_str(&sub, "");
	}
	put_mem(w, sub.b, sub.n);
	put_str(w, "");		/* reserved */
	ca.n = 0;
	if (r->sig == S_CA_RSA) {
		put_str(&ca, "ssh-rsa");
		put_mem(&ca, "\x01\x00\x01", 3);
		put_mem(&ca, pk, 32);
	} else if (r->sig == S_CA_DSS) {
		put_str(&ca, "ssh-dss");
		put_mem(&ca, pk, 32);
	} else {
		put_str(&ca, "ssh-ed25519");
		put_mem(&ca, ca_pk, 32);
		if (r->sig == S_CA_TRAIL)
			ca.b[ca.n++] = 0;
	}
	put_mem(w, ca.b, ca.n);
	crypto_sign_detached(s, NULL, w->b, w->n, ca_sk);
	if (r->sig == S_FLIP)
		s[10] ^= 0x80;
	sig.n = 0;
	put_str(&sig, r->sig == S_TYPE ? "ssh-rsa" : "ssh-ed25519");
	put_mem(&sig, s, r->sig == S_SHORT ? 63 : 64);
	put_mem(w, sig.b, sig.n);
}

static void
test_table(void)
{
	uint8_t ca_pk[32], ca_sk[64], seed[32];
	struct w w;
	struct hostcert c;
	const char *reason;
	size_t i;
	int rc;

	memset(seed, 0x42, sizeof(seed));
	crypto_sign_seed_keypair(ca_pk, ca_sk, seed);
	for (i = 0; i < N(rows); i++) {
		const struct row *r = &rows[i];

		build(r, ca_pk, ca_sk, &w);
		rc = hostcert_parse(w.b, w.n, &c);
		is_int(rc, r->want_parse, "%s: decode gives %s", r->desc,
		    hostcert_strerror(r->want_parse));
		if (rc != 0 || r->want_parse != 0)
			continue;
		is_int(hostcert_verify(&c), r->want_verify, "%s: verify gives %s",
		    r->desc, hostcert_strerror(r->want_verify));
		if (r->name != NULL && r->want_verify == 0) {
			reason = "(none)";
			rc = hostcert_check(&c, r->name, NOW, &reason);
			if (r->reason == NULL) {
				if (!ok(rc == 0, "%s: accepted for %s", r->desc,
				    r->name))
					diag("reason: %s", reason);
			} else if (!ok(rc == -1 && strcmp(reason, r->reason) == 0,
			    "%s: refused: %s", r->desc, r->reason))
				diag("rc %d, reason: %s", rc, reason);
		}
		cut_everywhere(w.b, w.n, r->desc);
	}
}

/* ---- RSA and ECDSA CAs: certificates signed by ssh-keygen --------------- */

/* The CAs, made once; each signs host.pub into its own certificate. */
static const struct kgca {
	const char *ca;		/* file name of the CA key */
	const char *keygen;	/* ssh-keygen options making it */
	const char *alg;	/* ssh-keygen -t when signing, or NULL */
	int want;		/* what hostcert_verify() gives for it */
} kgcas[] = {
	{ "rsa", "-t rsa -b 2048", "rsa-sha2-256", 0 },
	{ "rsa", "-t rsa -b 2048", "rsa-sha2-512", 0 },
	{ "rsa", "-t rsa -b 2048", "ssh-rsa", HOSTCERT_ERR_SIG_ALG },
	{ "ec256", "-t ecdsa -b 256", NULL, 0 },
	{ "ec384", "-t ecdsa -b 384", NULL, 0 },
	{ "ec521", "-t ecdsa -b 521", NULL, 0 },
};
#define RSA256	(1u << 0)
#define RSA512	(1u << 1)
#define RSA	(RSA256 | RSA512)
#define EC	(1u << 3 | 1u << 4 | 1u << 5)

enum mut {
	M_FLIP_SIG,	/* the last byte of the signature flipped */
	M_FLIP_SIGNED,	/* the key id's first byte flipped */
	M_SIG_TYPE,	/* the signature's algorithm name replaced by arg */
	M_SIG_TRAIL,	/* a byte after the signature's two strings */
	M_BODY_TRAIL,	/* a byte after the signature blob (ECDSA: r, s) */
	M_CUT_SIG,	/* the signature cut at every offset */
	M_CUT_BODY,	/* the signature blob (RSA: s; ECDSA: r, s) cut */
	M_CA_TRAIL,	/* a byte after the CA key's fields */
	M_CUT_CA,	/* the CA key cut at every offset */
	M_CA_CURVE,	/* the CA's curve name replaced by arg */
	M_CA_POINT,	/* the CA's point moved off its curve */
	M_CA_NEG,	/* the CA's modulus made negative */
	M_CA_SMALL,	/* the CA's modulus replaced by a 1023-bit one */
};

/* Mutations of the valid certificates (mask: which of kgcas[]). */
static const struct mrow {
	const char *desc;
	unsigned int mask;
	enum mut m;
	const char *arg;
	int want;
} mrows[] = {
	{ "signature byte flipped", RSA | EC, M_FLIP_SIG, NULL,
	  HOSTCERT_ERR_SIGNATURE },
	{ "signed byte flipped", RSA | EC, M_FLIP_SIGNED, NULL,
	  HOSTCERT_ERR_SIGNATURE },
	{ "signature type ssh-ed25519", RSA | EC, M_SIG_TYPE, "ssh-ed25519",
	  HOSTCERT_ERR_SIGNATURE },
	{ "signature type ecdsa-sha2-nistp256 for an RSA CA", RSA, M_SIG_TYPE,
	  "ecdsa-sha2-nistp256", HOSTCERT_ERR_SIGNATURE },
	{ "signature type rsa-sha2-256 for an ECDSA CA", EC, M_SIG_TYPE,
	  "rsa-sha2-256", HOSTCERT_ERR_SIGNATURE },
	{ "signature type of another curve", EC, M_SIG_TYPE,
	  "ecdsa-sha2-nistp999", HOSTCERT_ERR_SIGNATURE },
	{ "signature type ecdsa-sha2-nistp521 for nistp256", 1u << 3,
	  M_SIG_TYPE, "ecdsa-sha2-nistp521", HOSTCERT_ERR_SIGNATURE },
	{ "rsa-sha2-256 signature named rsa-sha2-512", RSA256, M_SIG_TYPE,
	  "rsa-sha2-512", HOSTCERT_ERR_SIGNATURE },
	{ "rsa-sha2-512 signature named rsa-sha2-256", RSA512, M_SIG_TYPE,
	  "rsa-sha2-256", HOSTCERT_ERR_SIGNATURE },
	{ "rsa-sha2-512 signature named ssh-rsa", RSA512, M_SIG_TYPE,
	  "ssh-rsa", HOSTCERT_ERR_SIG_ALG },
	{ "trailing byte after the signature", RSA | EC, M_SIG_TRAIL, NULL,
	  HOSTCERT_ERR_SIGNATURE },
	{ "trailing byte in the signature blob", RSA | EC, M_BODY_TRAIL, NULL,
	  HOSTCERT_ERR_SIGNATURE },
	{ "signature cut", RSA | EC, M_CUT_SIG, NULL, HOSTCERT_ERR_SIGNATURE },
	{ "signature blob cut", RSA | EC, M_CUT_BODY, NULL,
	  HOSTCERT_ERR_SIGNATURE },
	{ "trailing byte after the CA key", RSA | EC, M_CA_TRAIL, NULL,
	  HOSTCERT_ERR_FORMAT },
	{ "CA key cut", RSA | EC, M_CUT_CA, NULL, HOSTCERT_ERR_FORMAT },
	{ "CA curve name of another curve", EC, M_CA_CURVE, "nistp999",
	  HOSTCERT_ERR_FORMAT },
	{ "CA point off its curve", EC, M_CA_POINT, NULL, HOSTCERT_ERR_CA_KEY },
	{ "CA modulus negative", RSA, M_CA_NEG, NULL, HOSTCERT_ERR_FORMAT },
	{ "CA modulus of 1023 bits", RSA, M_CA_SMALL, NULL,
	  HOSTCERT_ERR_CA_KEY },
};

/* The two strings packed in p; -1 when that is not what it holds. */
static int
two_strings(const uint8_t *p, size_t n, struct hostcert_span *a,
    struct hostcert_span *b)
{
	size_t la, lb;

	if (n < 4)
		return -1;
	la = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (la > n - 4 || n - 4 - la < 4)
		return -1;
	a->p = p + 4;
	a->len = la;
	p += 4 + la;
	n -= 4 + la;
	lb = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (lb != n - 4)
		return -1;
	b->p = p + 4;
	b->len = lb;
	return 0;
}

/* The certificate c (parsed from b) with its CA key and signature replaced
 * by ca and sig, and the signed byte at flip (if not 0) flipped, into out. */
static void
reassemble(const uint8_t *b, const struct hostcert *c, const struct w *ca,
    const struct w *sig, size_t flip, struct w *out)
{
	size_t pre = (size_t)(c->ca_key.p - 4 - b);

	memcpy(out->b, b, pre);
	out->n = pre;
	if (flip != 0)
		out->b[flip] ^= 0x01;
	put_mem(out, ca->b, ca->n);
	put_mem(out, sig->b, sig->n);
}

/* Verifies the certificate in w: the error, or 1 when it does not decode. */
static int
verify_w(const struct w *w)
{
	struct hostcert c;

	if (hostcert_parse(w->b, w->n, &c) != 0)
		return 1;
	return hostcert_verify(&c);
}

/* Applies m to the certificate b (decoded as c); is the result m->want? */
static void
mutate(const uint8_t *b, const struct hostcert *c, const char *name,
    const struct mrow *m)
{
	struct w ca, sig, out, body;
	struct hostcert_span st, sb, x, y;
	size_t cut, bad = 0, n;
	int rc;

	memcpy(ca.b, c->ca_key.p, c->ca_key.len);
	ca.n = c->ca_key.len;
	memcpy(sig.b, c->signature.p, c->signature.len);
	sig.n = c->signature.len;
	if (two_strings(sig.b, sig.n, &st, &sb) != 0)
		bail("%s: the signature is not two strings", name);
	switch (m->m) {
	case M_FLIP_SIG:
		sig.b[sig.n - 1] ^= 0x01;
		break;
	case M_FLIP_SIGNED:
		reassemble(b, c, &ca, &sig, (size_t)(c->key_id.p - b), &out);
		is_int(verify_w(&out), m->want, "%s: %s", name, m->desc);
		return;
	case M_SIG_TYPE:
		memcpy(body.b, sb.p, sb.len);
		body.n = sb.len;
		sig.n = 0;
		put_str(&sig, m->arg);
		put_mem(&sig, body.b, body.n);
		break;
	case M_SIG_TRAIL:
		sig.b[sig.n++] = 0;
		break;
	case M_BODY_TRAIL:
		memcpy(body.b, sb.p, sb.len);
		body.n = sb.len;
		body.b[body.n++] = 0;
		out.n = 0;
		put_mem(&out, st.p, st.len);
		put_mem(&out, body.b, body.n);
		sig = out;
		break;
	case M_CA_TRAIL:
		ca.b[ca.n++] = 0;
		break;
	case M_CA_CURVE:
		if (two_strings(ca.b + 4 + c->ca_type.len,
		    ca.n - 4 - c->ca_type.len, &x, &y) != 0)
			bail("%s: the CA key is not type, curve, point", name);
		memcpy(body.b, y.p, y.len);
		body.n = y.len;
		ca.n = 0;
		put_mem(&ca, c->ca_type.p, c->ca_type.len);
		put_str(&ca, m->arg);
		put_mem(&ca, body.b, body.n);
		break;
	case M_CA_POINT:
		ca.b[ca.n - 1] ^= 0x01;
		break;
	case M_CA_NEG:
	case M_CA_SMALL:
		if (two_strings(ca.b + 4 + c->ca_type.len,
		    ca.n - 4 - c->ca_type.len, &x, &y) != 0 || y.len < 2 ||
		    y.p[0] != 0)
			bail("%s: the CA key is not type, e, n", name);
		if (m->m == M_CA_NEG) {
			ca.b[y.p - ca.b] = 0x80;
			break;
		}
		memcpy(body.b, x.p, x.len);
		body.n = x.len;
		ca.n = 0;
		put_mem(&ca, c->ca_type.p, c->ca_type.len);
		put_mem(&ca, body.b, body.n);
		memset(body.b, 0xff, 128);
		body.b[0] = 0x7f;
		put_mem(&ca, body.b, 128);
		break;
	case M_CUT_SIG:
	case M_CUT_BODY:
	case M_CUT_CA:
		n = m->m == M_CUT_SIG ? sig.n : m->m == M_CUT_BODY ? sb.len :
		    ca.n;
		for (cut = 0; cut < n; cut++) {
			struct w cs = sig, cc = ca;

			if (m->m == M_CUT_SIG)
				cs.n = cut;
			else if (m->m == M_CUT_BODY) {
				cs.n = 0;
				put_mem(&cs, st.p, st.len);
				put_mem(&cs, sb.p, cut);
			} else
				cc.n = cut;
			reassemble(b, c, &cc, &cs, 0, &out);
			rc = verify_w(&out);
			/* a CA key cut inside its type does not decode */
			if (rc != m->want && !(m->m == M_CUT_CA && rc == 1 &&
			    cut < 4 + c->ca_type.len)) {
				if (bad++ == 0)
					diag("%s: %s at %zu gives %d", name,
					    m->desc, cut, rc);
			}
		}
		ok(bad == 0, "%s: %s at each of %zu offsets: %s", name, m->desc,
		    n, hostcert_strerror(m->want));
		return;
	}
	reassemble(b, c, &ca, &sig, 0, &out);
	is_int(verify_w(&out), m->want, "%s: %s: %s", name, m->desc,
	    hostcert_strerror(m->want));
}

/* A certificate file's blob (its second field) into b; its length. */
static size_t
read_cert(const char *path, uint8_t *b, size_t cap)
{
	char line[8192], *f;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL || fgets(line, sizeof(line), fp) ==
	    NULL)
		bail("cannot read %s", path);
	fclose(fp);
	if (strtok(line, " ") == NULL || (f = strtok(NULL, " \n")) == NULL)
		bail("%s is not a certificate file", path);
	return unb64(f, b, cap);
}

static int
run(const char *fmt, ...) TAP_PRINTF(1, 2);

static int
run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void
test_keygen(void)
{
	char dir[] = "/tmp/hostcert-t.XXXXXX", name[128];
	uint8_t b[BUF];
	struct hostcert c;
	size_t i, j, len;

	if (run("command -v ssh-keygen >/dev/null") != 0) {
		skip("ssh-keygen not installed: no RSA or ECDSA CA signed here");
		return;
	}
	if (mkdtemp(dir) == NULL)
		bail("mkdtemp failed");
	if (run("ssh-keygen -q -t ed25519 -N '' -f %s/host </dev/null", dir) != 0)
		bail("ssh-keygen cannot make a host key");
	for (i = 0; i < N(kgcas); i++) {
		const struct kgca *k = &kgcas[i];

		if (run("test -f %s/%s || ssh-keygen -q %s -N '' -f %s/%s "
		    "</dev/null", dir, k->ca, k->keygen, dir, k->ca) != 0 ||
		    run("cp %s/host.pub %s/h%zu.pub && ssh-keygen -q -s %s/%s "
		    "%s%s -I kg%zu -h -n h.example %s/h%zu.pub 2>/dev/null",
		    dir, dir, i, dir, k->ca, k->alg != NULL ? "-t " : "",
		    k->alg != NULL ? k->alg : "", i, dir, i) != 0)
			bail("ssh-keygen cannot sign with %s", k->ca);
		snprintf(name, sizeof(name), "%s/h%zu-cert.pub", dir, i);
		len = read_cert(name, b, sizeof(b));
		snprintf(name, sizeof(name), "%s CA, %s", k->ca,
		    k->alg != NULL ? k->alg : "its own algorithm");
		if (!is_int(hostcert_parse(b, len, &c), 0, "%s: decodes", name))
			continue;
		is_int(hostcert_verify(&c), k->want, "%s: verify gives %s", name,
		    hostcert_strerror(k->want));
		if (k->want != 0)
			continue;
		for (j = 0; j < N(mrows); j++)
			if ((mrows[j].mask & (1u << i)) != 0)
				mutate(b, &c, name, &mrows[j]);
	}
	run("rm -rf %s", dir);
}

int
main(void)
{
	if (sodium_init() < 0)
		bail("sodium_init failed");
	plan_lazy();
	test_openssh();
	test_table();
	test_keygen();
	return done_testing();
}
