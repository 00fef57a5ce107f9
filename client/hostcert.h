/*
 * hostcert.h - OpenSSH host certificates (PROTOCOL.certkeys), decoded and
 * judged without libssh: libssh 0.10 cannot negotiate certificate host key
 * algorithms, so client/hostkey.c fetches the host's certificate separately
 * (ssh-keyscan -c) and checks it here as OpenSSH's sshkey_cert_check_host()
 * does. The certificate is public data: it only vouches for the key the host
 * proved in the key exchange once its embedded key equals that key, its CA
 * signature verifies, and a known_hosts @cert-authority line names the CA.
 *
 * The wire format (every length checked against the bytes present):
 *   string  certificate type   ("ssh-ed25519-cert-v01@openssh.com", ...)
 *   string  nonce
 *   ...     the key's fields    (ed25519: string pk; ecdsa: string curve,
 *                                string Q; rsa: mpint e, mpint n)
 *   uint64  serial
 *   uint32  type                (1 user, 2 host)
 *   string  key id
 *   string  valid principals    (packed strings)
 *   uint64  valid after, uint64 valid before (seconds since the epoch)
 *   string  critical options    (packed name, data pairs)
 *   string  extensions          (the same)
 *   string  reserved
 *   string  signature key       (a public key blob: the CA)
 *   string  signature           (signed: everything before this field)
 * and nothing after it.
 */
#ifndef CXS_CLIENT_HOSTCERT_H
#define CXS_CLIENT_HOSTCERT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

#define HOSTCERT_MAX_LEN	(16 * 1024)	/* a certificate blob */
#define HOSTCERT_MAX_PRINCIPALS	256
#define HOSTCERT_TYPE_USER	1
#define HOSTCERT_TYPE_HOST	2

/* Errors: negative, named by hostcert_strerror(). */
#define HOSTCERT_ERR_FORMAT	-1	/* truncated, bad length, trailing bytes */
#define HOSTCERT_ERR_TYPE	-2	/* not a certificate type we know */
#define HOSTCERT_ERR_TOOBIG	-3	/* over HOSTCERT_MAX_LEN or a limit */
#define HOSTCERT_ERR_CA_TYPE	-4	/* CA key type we cannot verify */
#define HOSTCERT_ERR_SIGNATURE	-5	/* the CA signature does not verify */
#define HOSTCERT_ERR_SIG_ALG	-6	/* ssh-rsa (SHA-1): ssh refuses it too */
#define HOSTCERT_ERR_CA_KEY	-7	/* RSA < 1024 bits, ECDSA point invalid */

/* A byte range inside the blob given to hostcert_parse(). */
struct hostcert_span {
	const uint8_t *p;
	size_t len;
};

/* A decoded certificate. Every span points into the blob it was parsed
 * from, which must outlive it; nothing here is to be freed. */
struct hostcert {
	struct hostcert_span certtype;	/* "ssh-ed25519-cert-v01@openssh.com" */
	const char *plaintype;		/* static: "ssh-ed25519", ... */
	struct hostcert_span keyfields;	/* the key's fields as on the wire */
	uint64_t serial;
	uint32_t type;			/* HOSTCERT_TYPE_* or anything else */
	struct hostcert_span key_id;
	struct hostcert_span principals;	/* packed strings, all checked */
	size_t nprincipals;
	uint64_t valid_after;
	uint64_t valid_before;
	struct hostcert_span critical;	/* packed pairs, all checked */
	size_t ncritical;
	struct hostcert_span extensions;
	struct hostcert_span ca_key;	/* the signature key blob */
	struct hostcert_span ca_type;	/* its first string */
	struct hostcert_span signature;	/* the signature field's contents */
	size_t signed_len;		/* bytes covered by the signature */
};

/*
 * Decodes the len bytes at blob into *out. Returns 0, or HOSTCERT_ERR_FORMAT,
 * _TYPE or _TOOBIG; on error *out is untouched. Does not check the signature.
 */
int hostcert_parse(const uint8_t *blob, size_t len, struct hostcert *out)
    PROTO_WUR PROTO_NONNULL(3);

/*
 * Checks the CA signature of c (parsed from blob) as OpenSSH does, with
 * ssh(1)'s default CASignatureAlgorithms. CAs: ssh-ed25519; ssh-rsa
 * (1024..16384 bits) signing with rsa-sha2-256 or rsa-sha2-512;
 * ecdsa-sha2-nistp256/384/521 signing with their own type. Returns 0 when it
 * verifies; HOSTCERT_ERR_CA_TYPE for another CA type; HOSTCERT_ERR_SIG_ALG
 * for an ssh-rsa (SHA-1) signature; HOSTCERT_ERR_CA_KEY for an RSA modulus
 * out of bounds or an ECDSA point not on its curve; HOSTCERT_ERR_FORMAT for a
 * malformed CA key; HOSTCERT_ERR_SIGNATURE for a malformed signature, one of
 * another algorithm than the CA's, or one that does not verify.
 */
int hostcert_verify(const struct hostcert *c) PROTO_WUR PROTO_NONNULL(1);

/*
 * sshkey_cert_check_host() of OpenSSH: a host certificate, valid at now
 * (valid_after <= now < valid_before), with a principal list that one
 * principal of (a * ? pattern, as OpenSSH matches host certificate
 * principals) matches name, and no critical option. Returns 0, or -1 with
 * *reason set to OpenSSH's wording (a static string).
 */
int hostcert_check(const struct hostcert *c, const char *name, uint64_t now,
    const char **reason) PROTO_WUR PROTO_NONNULL(1, 2, 4);

/*
 * The plain public key blob of the certified key (string plaintype, then the
 * key's fields), as libssh exports the host key, into buf. Returns its
 * length, or 0 when it does not fit in buflen.
 */
size_t hostcert_plain_key(const struct hostcert *c, uint8_t *buf,
    size_t buflen) PROTO_WUR PROTO_NONNULL(1, 2);

/* "ssh-ed25519" for the CA type span of c, into buf (NUL-terminated,
 * truncated to buflen); returns buf. */
const char *hostcert_ca_type(const struct hostcert *c, char *buf,
    size_t buflen) PROTO_NONNULL(1, 2);

/* A short description of a HOSTCERT_ERR_* code (static). */
const char *hostcert_strerror(int err);

#endif
