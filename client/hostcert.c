/*
 * hostcert.c - OpenSSH certificates: a bounds-checked decoder over a borrowed
 * blob, the ed25519 CA signature (libsodium), and OpenSSH's host certificate
 * rules. The layout follows OpenSSH's sshkey.c cert_parse(); the rules its
 * sshkey_cert_check_authority() as of OpenSSH 10 (a principal list is
 * required, principals are patterns).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "client/hostcert.h"

#define ED25519_PK	32
#define ED25519_SIG	64

/* ---- reading ------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
};

static int
get_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | (uint32_t)r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int
get_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (r->left < 8 || get_u32(r, &hi) != 0 || get_u32(r, &lo) != 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

static int
get_string(struct rd *r, struct hostcert_span *s)
{
	uint32_t n;
	struct rd save = *r;

	if (get_u32(r, &n) != 0 || n > r->left) {
		*r = save;
		return -1;
	}
	s->p = r->p;
	s->len = n;
	r->p += n;
	r->left -= n;
	return 0;
}

/* A string that is text: no NUL inside, as OpenSSH's sshbuf_get_cstring(). */
static int
get_cstring(struct rd *r, struct hostcert_span *s)
{
	if (get_string(r, s) != 0 || memchr(s->p, '\0', s->len) != NULL)
		return -1;
	return 0;
}

static int
span_is(const struct hostcert_span *s, const char *str)
{
	return s->len == strlen(str) && memcmp(s->p, str, s->len) == 0;
}

/* ---- the certificate ----------------------------------------------------- */

enum kf { KF_ED25519, KF_ECDSA, KF_RSA };

static const struct {
	const char *cert;
	const char *plain;
	enum kf fields;
	const char *curve;
} types[] = {
	{ "ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519", KF_ED25519, NULL },
	{ "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp256",
	  KF_ECDSA, "nistp256" },
	{ "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp384",
	  KF_ECDSA, "nistp384" },
	{ "ecdsa-sha2-nistp521-cert-v01@openssh.com", "ecdsa-sha2-nistp521",
	  KF_ECDSA, "nistp521" },
	{ "ssh-rsa-cert-v01@openssh.com", "ssh-rsa", KF_RSA, NULL },
};

/* Skips the key's fields for type t; 0 or -1. */
static int
skip_keyfields(struct rd *r, size_t t)
{
	struct hostcert_span a, b;

	switch (types[t].fields) {
	case KF_ED25519:
		return get_string(r, &a) != 0 || a.len != ED25519_PK ? -1 : 0;
	case KF_ECDSA:
		return get_string(r, &a) != 0 || !span_is(&a, types[t].curve) ||
		    get_string(r, &b) != 0 || b.len == 0 ? -1 : 0;
	case KF_RSA:
		return get_string(r, &a) != 0 || a.len == 0 ||
		    get_string(r, &b) != 0 || b.len == 0 ? -1 : 0;
	}
	return -1;
}

/* Counts the strings packed in s (each a cstring); -1 when malformed. */
static int
count_strings(const struct hostcert_span *s, size_t max, size_t *n)
{
	struct rd r = { s->p, s->len };
	struct hostcert_span x;
	size_t k = 0;

	while (r.left > 0) {
		if (get_cstring(&r, &x) != 0 || ++k > max)
			return -1;
	}
	*n = k;
	return 0;
}

/* Counts the (name, data) pairs packed in s; -1 when malformed. */
static int
count_pairs(const struct hostcert_span *s, size_t *n)
{
	struct rd r = { s->p, s->len };
	struct hostcert_span name, data;
	size_t k = 0;

	while (r.left > 0) {
		if (get_cstring(&r, &name) != 0 || name.len == 0 ||
		    get_string(&r, &data) != 0)
			return -1;
		k++;
	}
	*n = k;
	return 0;
}

int
hostcert_parse(const uint8_t *blob, size_t len, struct hostcert *out)
{
	struct rd r = { blob, len }, ca;
	struct hostcert c;
	struct hostcert_span nonce, reserved;
	const uint8_t *kstart;
	size_t t;

	if (blob == NULL || len == 0)
		return HOSTCERT_ERR_FORMAT;
	if (len > HOSTCERT_MAX_LEN)
		return HOSTCERT_ERR_TOOBIG;
	memset(&c, 0, sizeof(c));
	if (get_cstring(&r, &c.certtype) != 0)
		return HOSTCERT_ERR_FORMAT;
	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		if (span_is(&c.certtype, types[t].cert))
			break;
	if (t == sizeof(types) / sizeof(types[0]))
		return HOSTCERT_ERR_TYPE;
	c.plaintype = types[t].plain;
	if (get_string(&r, &nonce) != 0)
		return HOSTCERT_ERR_FORMAT;
	kstart = r.p;
	if (skip_keyfields(&r, t) != 0)
		return HOSTCERT_ERR_FORMAT;
	c.keyfields.p = kstart;
	c.keyfields.len = (size_t)(r.p - kstart);
	if (get_u64(&r, &c.serial) != 0 || get_u32(&r, &c.type) != 0 ||
	    get_cstring(&r, &c.key_id) != 0 ||
	    get_string(&r, &c.principals) != 0 ||
	    get_u64(&r, &c.valid_after) != 0 ||
	    get_u64(&r, &c.valid_before) != 0 ||
	    get_string(&r, &c.critical) != 0 ||
	    get_string(&r, &c.extensions) != 0 ||
	    get_string(&r, &reserved) != 0 ||
	    get_string(&r, &c.ca_key) != 0)
		return HOSTCERT_ERR_FORMAT;
	if (count_strings(&c.principals, HOSTCERT_MAX_PRINCIPALS,
	    &c.nprincipals) != 0 || count_pairs(&c.critical, &c.ncritical) != 0)
		return HOSTCERT_ERR_FORMAT;
	{
		size_t next;

		if (count_pairs(&c.extensions, &next) != 0)
			return HOSTCERT_ERR_FORMAT;
	}
	ca.p = c.ca_key.p;
	ca.left = c.ca_key.len;
	if (get_cstring(&ca, &c.ca_type) != 0 || c.ca_type.len == 0)
		return HOSTCERT_ERR_FORMAT;
	c.signed_len = (size_t)(r.p - blob);
	if (get_string(&r, &c.signature) != 0 || r.left != 0)
		return HOSTCERT_ERR_FORMAT;
	*out = c;
	return 0;
}

int
hostcert_verify(const struct hostcert *c)
{
	struct rd ca = { c->ca_key.p, c->ca_key.len };
	struct rd sig = { c->signature.p, c->signature.len };
	struct hostcert_span type, pk, stype, s;

	if (!span_is(&c->ca_type, "ssh-ed25519"))
		return HOSTCERT_ERR_CA_TYPE;
	if (get_string(&ca, &type) != 0 || get_string(&ca, &pk) != 0 ||
	    ca.left != 0 || pk.len != ED25519_PK)
		return HOSTCERT_ERR_FORMAT;
	if (get_string(&sig, &stype) != 0 || get_string(&sig, &s) != 0 ||
	    sig.left != 0 || !span_is(&stype, "ssh-ed25519") ||
	    s.len != ED25519_SIG)
		return HOSTCERT_ERR_SIGNATURE;
	/* The blob the spans point into starts at certtype's length field. */
	if (crypto_sign_verify_detached(s.p, c->certtype.p - 4, c->signed_len,
	    pk.p) != 0)
		return HOSTCERT_ERR_SIGNATURE;
	return 0;
}

/* ---- the rules ----------------------------------------------------------- */

/* OpenSSH's match_pattern(): '*' any run, '?' any one byte, case-sensitive;
 * one backtrack point, so hostile patterns stay O(n * m). */
static int
glob(const char *s, const uint8_t *p, size_t plen)
{
	const uint8_t *pe = p + plen, *star = NULL;
	const char *resume = NULL;

	while (*s != '\0') {
		if (p < pe && *p == '*') {
			star = ++p;
			resume = s;
		} else if (p < pe && (*p == '?' || *p == (uint8_t)*s)) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;
			s = ++resume;
		} else
			return 0;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

int
hostcert_check(const struct hostcert *c, const char *name, uint64_t now,
    const char **reason)
{
	struct rd r = { c->principals.p, c->principals.len };
	struct hostcert_span pr;

	if (c->type != HOSTCERT_TYPE_HOST) {
		*reason = "Certificate invalid: not a host certificate";
		return -1;
	}
	if (now < c->valid_after) {
		*reason = "Certificate invalid: not yet valid";
		return -1;
	}
	if (now >= c->valid_before) {
		*reason = "Certificate invalid: expired";
		return -1;
	}
	if (c->nprincipals == 0) {
		*reason = "Certificate lacks principal list";
		return -1;
	}
	for (;;) {
		if (r.left == 0) {
			*reason = "Certificate invalid: name is not a listed "
			    "principal";
			return -1;
		}
		if (get_string(&r, &pr) != 0) {
			*reason = "Certificate invalid: bad principal list";
			return -1;
		}
		if (glob(name, pr.p, pr.len))
			break;
	}
	if (c->ncritical != 0) {
		*reason = "Certificate contains unsupported critical options";
		return -1;
	}
	return 0;
}

size_t
hostcert_plain_key(const struct hostcert *c, uint8_t *buf, size_t buflen)
{
	size_t tl = strlen(c->plaintype), n = 4 + tl + c->keyfields.len;

	if (n > buflen)
		return 0;
	buf[0] = (uint8_t)(tl >> 24);
	buf[1] = (uint8_t)(tl >> 16);
	buf[2] = (uint8_t)(tl >> 8);
	buf[3] = (uint8_t)tl;
	memcpy(buf + 4, c->plaintype, tl);
	memcpy(buf + 4 + tl, c->keyfields.p, c->keyfields.len);
	return n;
}

const char *
hostcert_ca_type(const struct hostcert *c, char *buf, size_t buflen)
{
	int n = c->ca_type.len > 200 ? 200 : (int)c->ca_type.len;

	snprintf(buf, buflen, "%.*s", n, (const char *)c->ca_type.p);
	return buf;
}

const char *
hostcert_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case HOSTCERT_ERR_FORMAT:
		return "malformed certificate";
	case HOSTCERT_ERR_TYPE:
		return "not a supported certificate type";
	case HOSTCERT_ERR_TOOBIG:
		return "certificate too large";
	case HOSTCERT_ERR_CA_TYPE:
		return "CA key type not supported";
	case HOSTCERT_ERR_SIGNATURE:
		return "CA signature does not verify";
	}
	return "unknown error";
}
