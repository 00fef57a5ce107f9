/*
 * hostcert.c - OpenSSH certificates: a bounds-checked decoder over a borrowed
 * blob, the CA signature (ed25519 with libsodium; RSA and ECDSA with OpenSSL's
 * libcrypto), and OpenSSH's host certificate rules. The layout follows
 * OpenSSH's sshkey.c cert_parse(); the signatures its ssh-ed25519.c,
 * ssh-rsa.c and ssh-ecdsa.c; the rules its sshkey_cert_check_authority() as
 * of OpenSSH 10 (a principal list is required, principals are patterns).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "client/hostcert.h"
#include "client/sshconf.h"

#define ED25519_PK	32
#define ED25519_SIG	64
#define MPINT_MAX	2048	/* bytes: OpenSSH's SSHBUF_MAX_BIGNUM */
#define RSA_MIN_BITS	1024	/* OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE */
#define RSA_MAX_BITS	16384	/* OpenSSH's SSHBUF_MAX_BIGNUM * 8 */

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

/* An mpint as OpenSSH's sshbuf_get_bignum2_bytes_direct() takes it: not
 * negative, at most MPINT_MAX bytes after an optional 0 byte; *m is its
 * magnitude without leading zeros (possibly empty). */
static int
get_mpint(struct rd *r, struct hostcert_span *m)
{
	struct rd save = *r;
	struct hostcert_span s;

	if (get_string(r, &s) != 0)
		return -1;
	if ((s.len > 0 && (s.p[0] & 0x80) != 0) || s.len > MPINT_MAX + 1 ||
	    (s.len == MPINT_MAX + 1 && s.p[0] != 0)) {
		*r = save;
		return -1;
	}
	while (s.len > 0 && s.p[0] == 0) {
		s.p++;
		s.len--;
	}
	*m = s;
	return 0;
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

/* ---- the CA signature --------------------------------------------------- */

/* The ECDSA CAs: key type (also the signature type), curve, OpenSSL's
 * group, field size in bytes and digest (RFC 5656 6.2.1). */
static const struct {
	const char *type;
	const char *curve;
	const char *group;
	size_t field;
	const char *md;
} ec_cas[] = {
	{ "ecdsa-sha2-nistp256", "nistp256", "P-256", 32, "SHA256" },
	{ "ecdsa-sha2-nistp384", "nistp384", "P-384", 48, "SHA384" },
	{ "ecdsa-sha2-nistp521", "nistp521", "P-521", 66, "SHA512" },
};

/* The blob the spans point into starts at certtype's length field. */
static const uint8_t *
signed_part(const struct hostcert *c)
{
	return c->certtype.p - 4;
}

/* EVP_DigestVerify() of the signed part with key and digest md: 0 or
 * HOSTCERT_ERR_SIGNATURE. Clears OpenSSL's error queue, which libssh shares. */
static int
digest_verify(const struct hostcert *c, EVP_PKEY *key, const char *md,
    const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *m;
	int rc = HOSTCERT_ERR_SIGNATURE;

	if ((m = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestVerifyInit_ex(m, NULL, md, NULL, NULL, key, NULL) == 1 &&
	    EVP_DigestVerify(m, sig, siglen, signed_part(c), c->signed_len) == 1)
		rc = 0;
out:
	EVP_MD_CTX_free(m);
	ERR_clear_error();
	return rc;
}

/* A public key of type name ("RSA", "EC") from params; NULL when OpenSSL
 * refuses it (an EC point not on the curve, ...). */
static EVP_PKEY *
key_from(const char *name, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *kc;
	EVP_PKEY *key = NULL;

	if ((kc = EVP_PKEY_CTX_new_from_name(NULL, name, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(kc) != 1 ||
	    EVP_PKEY_fromdata(kc, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(kc);
	ERR_clear_error();
	return key;
}

static int
verify_ed25519(const struct hostcert *c, struct rd *ca, struct rd *sig)
{
	struct hostcert_span pk, stype, s;

	if (get_string(ca, &pk) != 0 || ca->left != 0 || pk.len != ED25519_PK)
		return HOSTCERT_ERR_FORMAT;
	if (get_string(sig, &stype) != 0 || get_string(sig, &s) != 0 ||
	    sig->left != 0 || !span_is(&stype, "ssh-ed25519") ||
	    s.len != ED25519_SIG)
		return HOSTCERT_ERR_SIGNATURE;
	if (crypto_sign_verify_detached(s.p, signed_part(c), c->signed_len,
	    pk.p) != 0)
		return HOSTCERT_ERR_SIGNATURE;
	return 0;
}

/* PKCS#1 v1.5 (RFC 8332): rsa-sha2-256 or -512; ssh-rsa (SHA-1) is refused,
 * as by ssh(1), whose CASignatureAlgorithms lacks it since OpenSSH 8.2. */
static int
verify_rsa(const struct hostcert *c, struct rd *ca, struct rd *sig)
{
	struct hostcert_span e, n, stype, s;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	EVP_PKEY *key = NULL;
	uint8_t *padded = NULL;
	const char *md;
	size_t bits;
	unsigned int top;
	int rc;

	if (get_mpint(ca, &e) != 0 || get_mpint(ca, &n) != 0 || ca->left != 0 ||
	    e.len == 0 || n.len == 0)
		return HOSTCERT_ERR_FORMAT;
	bits = n.len * 8;
	for (top = n.p[0]; (top & 0x80) == 0; top <<= 1)
		bits--;
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
		return HOSTCERT_ERR_CA_KEY;
	if (get_string(sig, &stype) != 0 || get_string(sig, &s) != 0 ||
	    sig->left != 0)
		return HOSTCERT_ERR_SIGNATURE;
	if (span_is(&stype, "rsa-sha2-256"))
		md = "SHA256";
	else if (span_is(&stype, "rsa-sha2-512"))
		md = "SHA512";
	else if (span_is(&stype, "ssh-rsa"))
		return HOSTCERT_ERR_SIG_ALG;
	else
		return HOSTCERT_ERR_SIGNATURE;
	/* ssh-rsa.c: a signature shorter than the modulus is left-padded. */
	if (s.len == 0 || s.len > n.len)
		return HOSTCERT_ERR_SIGNATURE;
	rc = HOSTCERT_ERR_SIGNATURE;
	if ((padded = calloc(1, n.len)) == NULL)
		goto out;
	memcpy(padded + (n.len - s.len), s.p, s.len);
	if ((bn = BN_bin2bn(n.p, (int)n.len, NULL)) == NULL ||
	    (be = BN_bin2bn(e.p, (int)e.len, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((key = key_from("RSA", params)) == NULL) {
		rc = HOSTCERT_ERR_CA_KEY;
		goto out;
	}
	rc = digest_verify(c, key, md, padded, n.len);
out:
	EVP_PKEY_free(key);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(padded);
	ERR_clear_error();
	return rc;
}

/* RFC 5656: string curve, string Q (uncompressed) in the key; string type,
 * string (mpint r, mpint s) in the signature, r and s given to OpenSSL as
 * the DER it verifies. */
static int
verify_ecdsa(const struct hostcert *c, size_t t, struct rd *ca, struct rd *sig)
{
	struct hostcert_span curve, q, stype, inner, r, s;
	struct rd in;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *key = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int dl, rc;

	if (get_string(ca, &curve) != 0 || get_string(ca, &q) != 0 ||
	    ca->left != 0 || !span_is(&curve, ec_cas[t].curve))
		return HOSTCERT_ERR_FORMAT;
	if (q.len != 1 + 2 * ec_cas[t].field || q.p[0] != 0x04)
		return HOSTCERT_ERR_CA_KEY;
	if (get_string(sig, &stype) != 0 || get_string(sig, &inner) != 0 ||
	    sig->left != 0 || !span_is(&stype, ec_cas[t].type))
		return HOSTCERT_ERR_SIGNATURE;
	in.p = inner.p;
	in.left = inner.len;
	if (get_mpint(&in, &r) != 0 || get_mpint(&in, &s) != 0 || in.left != 0 ||
	    r.len == 0 || s.len == 0 || r.len > ec_cas[t].field ||
	    s.len > ec_cas[t].field)
		return HOSTCERT_ERR_SIGNATURE;
	rc = HOSTCERT_ERR_SIGNATURE;
	if ((br = BN_bin2bn(r.p, (int)r.len, NULL)) == NULL ||
	    (bs = BN_bin2bn(s.p, (int)s.len, NULL)) == NULL ||
	    (es = ECDSA_SIG_new()) == NULL || ECDSA_SIG_set0(es, br, bs) != 1)
		goto out;
	br = bs = NULL;		/* es owns them */
	if ((dl = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    ec_cas[t].group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q.p,
	    q.len) != 1 || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((key = key_from("EC", params)) == NULL) {
		rc = HOSTCERT_ERR_CA_KEY;
		goto out;
	}
	rc = digest_verify(c, key, ec_cas[t].md, der, (size_t)dl);
out:
	EVP_PKEY_free(key);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	BN_free(br);
	BN_free(bs);
	ERR_clear_error();
	return rc;
}

int
hostcert_verify(const struct hostcert *c)
{
	struct rd ca = { c->ca_key.p, c->ca_key.len };
	struct rd sig = { c->signature.p, c->signature.len };
	struct hostcert_span type;
	size_t t;

	if (get_string(&ca, &type) != 0)
		return HOSTCERT_ERR_FORMAT;
	if (span_is(&type, "ssh-ed25519"))
		return verify_ed25519(c, &ca, &sig);
	if (span_is(&type, "ssh-rsa"))
		return verify_rsa(c, &ca, &sig);
	for (t = 0; t < sizeof(ec_cas) / sizeof(ec_cas[0]); t++)
		if (span_is(&type, ec_cas[t].type))
			return verify_ecdsa(c, t, &ca, &sig);
	return HOSTCERT_ERR_CA_TYPE;
}

/* ---- the rules ----------------------------------------------------------- */


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
		if (sshconf_match_glob(name, (const char *)pr.p, pr.len, 0))
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
	case HOSTCERT_ERR_SIG_ALG:
		return "CA signature algorithm ssh-rsa (SHA-1) refused, as by ssh";
	case HOSTCERT_ERR_CA_KEY:
		return "CA key unusable (RSA under 1024 bits, bad ECDSA point)";
	}
	return "unknown error";
}
