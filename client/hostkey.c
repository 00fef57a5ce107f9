/*
 * hostkey.c - the server's host key against known_hosts, with
 * StrictHostKeyChecking as ssh(1) applies it (accept-new included, which
 * libssh 0.10 does not know), and messages that say which file and line
 * disagree and how to fix it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libssh/libssh.h>

#include "client/hostkey.h"
#include "client/prompt.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/sshopt.h"

#define MAX_KNOWN_LINE		(64 * 1024)

/* The names ssh(1) shows for key types. */
static const char *
key_type_name(const ssh_key key)
{
	enum ssh_keytypes_e t = ssh_key_type(key);

	switch (t) {
	case SSH_KEYTYPE_ED25519:
		return "ED25519";
	case SSH_KEYTYPE_ECDSA:
	case SSH_KEYTYPE_ECDSA_P256:
	case SSH_KEYTYPE_ECDSA_P384:
	case SSH_KEYTYPE_ECDSA_P521:
		return "ECDSA";
	case SSH_KEYTYPE_RSA:
	case SSH_KEYTYPE_RSA1:
		return "RSA";
	case SSH_KEYTYPE_DSS:
		return "DSA";
	case SSH_KEYTYPE_SK_ED25519:
		return "ED25519-SK";
	case SSH_KEYTYPE_SK_ECDSA:
		return "ECDSA-SK";
	default:
		break;
	}
	return ssh_key_type_to_char(t) != NULL ? ssh_key_type_to_char(t) : "unknown";
}

/*
 * Finds the first line of file with an entry for x->hostport that explains the
 * verdict: a key of the same type but different (CHANGED) or a key of another
 * type (OTHER). Matching is libssh's own ssh_known_hosts_parse_line(), so hashed
 * |1|salt|hash entries and patterns match exactly as they did for the verdict.
 * Returns the line number (from 1) and the recorded key's type, or 0.
 */
static int
find_known_line(struct ctx *x, const char *file, const ssh_key key,
    int changed, const char **type)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, found = 0;

	if (file == NULL || (f = fopen(file, "re")) == NULL)
		return 0;
	while (!found && (len = getline(&line, &cap, f)) != -1) {
		struct ssh_knownhosts_entry *e = NULL;
		char *p = line;
		int same;

		lineno++;
		if (len > MAX_KNOWN_LINE)
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		/* Comments, blanks, and @cert-authority/@revoked markers. */
		if (*p == '\0' || *p == '#' || *p == '@')
			continue;
		if (ssh_known_hosts_parse_line(x->hostport, p, &e) != SSH_OK ||
		    e == NULL || e->publickey == NULL) {
			ssh_knownhosts_entry_free(e);
			continue;
		}
		same = ssh_key_type(e->publickey) == ssh_key_type(key);
		if (changed ? (same && ssh_key_cmp(e->publickey, key,
		    SSH_KEY_CMP_PUBLIC) != 0) : !same) {
			found = lineno;
			*type = key_type_name(e->publickey);
		}
		ssh_knownhosts_entry_free(e);
	}
	free(line);
	fclose(f);
	return found;
}

/* The user's file first, as libssh reads it first. */
static int
locate_known(struct ctx *x, const ssh_key key, int changed, const char **file,
    const char **type)
{
	int line;

	*type = "unknown";
	*file = x->known_hosts;
	if ((line = find_known_line(x, x->known_hosts, key, changed, type)) != 0)
		return line;
	if ((line = find_known_line(x, x->global_known_hosts, key, changed,
	    type)) != 0) {
		*file = x->global_known_hosts;
		return line;
	}
	return 0;
}

static int
refuse_changed(struct ctx *x, const ssh_key key, const char *fp)
{
	const char *file, *otype;
	char at[PATH_MAX + 32];
	int line = locate_known(x, key, 1, &file, &otype);

	if (line != 0)
		snprintf(at, sizeof(at), "%s:%d", file, line);
	else
		snprintf(at, sizeof(at), "%s", file != NULL ? file : "known_hosts");
	noticef(x,
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "The %s host key that %s presented is not the one recorded for it.\n"
	    "Someone may be intercepting this connection (a man-in-the-middle\n"
	    "attack), or the host's key may have been replaced on purpose.\n"
	    "Key presented by the host: %s %s\n"
	    "Key on record:             %s key in %s\n"
	    "Check the new fingerprint with the host's administrator. If the\n"
	    "change is legitimate, remove the old entry with\n"
	    "  ssh-keygen -f \"%s\" -R \"%s\"\n"
	    "and connect again. Nothing was sent to the host.",
	    key_type_name(key), x->hostport, key_type_name(key), fp, otype, at,
	    file != NULL ? file : "~/.ssh/known_hosts", x->hostport);
	errf(x->err, x->errlen, "host key verification failed: the host key of "
	    "%s has changed (offending %s key in %s); refusing to connect",
	    x->hostport, otype, at);
	return SSHCONN_ERR_HOSTKEY;
}

static int
refuse_other(struct ctx *x, const ssh_key key, const char *fp)
{
	const char *file, *otype;
	char at[PATH_MAX + 32];
	int line = locate_known(x, key, 0, &file, &otype);

	if (line != 0)
		snprintf(at, sizeof(at), "%s:%d", file, line);
	else
		snprintf(at, sizeof(at), "%s", file != NULL ? file : "known_hosts");
	noticef(x,
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "%s presented a host key of type %s (%s), but the key on\n"
	    "record for it is of another type (%s key in %s), and the host no\n"
	    "longer offers that type. This may be an attack, or the host's\n"
	    "configuration changed. Check with the host's administrator; if the\n"
	    "change is legitimate, remove the old entry with\n"
	    "  ssh-keygen -f \"%s\" -R \"%s\"\n"
	    "and connect again. Nothing was sent to the host.",
	    x->hostport, key_type_name(key), fp, otype, at,
	    file != NULL ? file : "~/.ssh/known_hosts", x->hostport);
	errf(x->err, x->errlen, "host key verification failed: %s presented "
	    "a host key of type %s, but the key on record for it is of type %s "
	    "(%s); refusing to connect", x->hostport, key_type_name(key), otype,
	    at);
	return SSHCONN_ERR_HOSTKEY;
}

static void
remember_host(struct ctx *x, const ssh_key key, const char *fp)
{
	if (ssh_session_update_known_hosts(x->c->session) != SSH_OK) {
		noticef(x, "Warning: could not add the host key of %s to %s: %s",
		    x->hostport, x->known_hosts != NULL ? x->known_hosts :
		    "known_hosts", sess_error(x));
		return;
	}
	noticef(x, "Warning: Permanently added '%s' (%s %s) to the list of "
	    "known hosts in %s.", x->hostport, key_type_name(key), fp,
	    x->known_hosts != NULL ? x->known_hosts : "known_hosts");
}

static int
unknown_host(struct ctx *x, int strict, const ssh_key key, const char *fp)
{
	char prompt[1024], answer[MAX_ANSWER];
	int tries;

	if (strict == SSHOPT_STRICT_NO || strict == SSHOPT_STRICT_ACCEPT_NEW) {
		remember_host(x, key, fp);
		return 0;
	}
	if (strict == SSHOPT_STRICT_YES) {
		errf(x->err, x->errlen, "host key verification failed: no host key "
		    "is known for %s (%s %s) and StrictHostKeyChecking=yes; add "
		    "it to %s first", x->hostport, key_type_name(key), fp,
		    x->known_hosts != NULL ? x->known_hosts : "known_hosts");
		return SSHCONN_ERR_HOSTKEY;
	}
	snprintf(prompt, sizeof(prompt),
	    "The host '%s' is not known: no key for it is in your\n"
	    "known_hosts files, so its identity cannot be checked.\n"
	    "%s key fingerprint is %s.\n"
	    "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
	    x->hostport, key_type_name(key), fp);
	for (tries = 0; tries < 3; tries++) {
		if (prompt_ask(x, prompt, 1, answer, sizeof(answer)) != 0) {
			errf(x->err, x->errlen, "host key verification failed: "
			    "no host key is known for %s (%s %s) and %s; check "
			    "the fingerprint, then connect once from a terminal "
			    "or with -o StrictHostKeyChecking=accept-new",
			    x->hostport, key_type_name(key), fp, x->batch ?
			    "BatchMode forbids asking" :
			    "there is no terminal to ask on (or the question was "
			    "cancelled)");
			return SSHCONN_ERR_HOSTKEY;
		}
		if (strcasecmp(answer, "yes") == 0 || strcmp(answer, fp) == 0) {
			remember_host(x, key, fp);
			return 0;
		}
		if (strcasecmp(answer, "no") == 0)
			break;
		if (strncmp(answer, "SHA256:", 7) == 0) {
			noticef(x, "That fingerprint does not match the host's.");
			snprintf(prompt, sizeof(prompt), "Please type 'yes', 'no' "
			    "or the fingerprint: ");
			continue;
		}
		snprintf(prompt, sizeof(prompt), "Please type 'yes', 'no' or the "
		    "fingerprint: ");
	}
	errf(x->err, x->errlen, "host key verification failed: the host key of "
	    "%s (%s %s) was not accepted", x->hostport, key_type_name(key), fp);
	return SSHCONN_ERR_HOSTKEY;
}

int
hostkey_verify(struct ctx *x, int strict)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;
	int rc;

	if (ssh_get_server_publickey(x->c->session, &key) != SSH_OK ||
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != 0 ||
	    (fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
	    hlen)) == NULL) {
		errf(x->err, x->errlen, "%s: cannot read the host key: %s",
		    x->hostport, sess_error(x));
		rc = SSHCONN_ERR_PROTOCOL;
		goto out;
	}
	debugf(x, "Server host key: %s %s", key_type_name(key), fp);
	switch (ssh_session_is_known_server(x->c->session)) {
	case SSH_KNOWN_HOSTS_OK:
		debugf(x, "Host '%s' is known and matches the %s host key.",
		    x->hostport, key_type_name(key));
		rc = 0;
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
		rc = refuse_changed(x, key, fp);
		break;
	case SSH_KNOWN_HOSTS_OTHER:
		rc = refuse_other(x, key, fp);
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		rc = unknown_host(x, strict, key, fp);
		break;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		errf(x->err, x->errlen, "host key verification failed: cannot "
		    "check the host key of %s against %s: %s", x->hostport,
		    x->known_hosts != NULL ? x->known_hosts : "known_hosts",
		    sess_error(x));
		rc = SSHCONN_ERR_HOSTKEY;
		break;
	}
out:
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}
