/*
 * boot.c - the client's half of the bootstrap: send the script, follow its
 * answers, upload a build when asked. The script's half is remote.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "bootstrap/boot.h"
#include "bootstrap/marker.h"

#define ANSWER_TIMEOUT_MS 30000     /* a login shell with slow rc files */
#define VERIFY_TIMEOUT_MS 60000     /* hashing and installing after an upload */
#define UPLOAD_MAX (64u << 20)
#define CHUNK (32 * 1024)
#define TAG_LEN 24


static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
boot_script_line(const char *script, const char *name, const char *tag,
    const char *version)
{
	const char *p;
	size_t n = 64 + strlen(name) + strlen(tag) + strlen(version);
	char *line, *q;

	/* Every ' becomes '\'' inside the single-quoted argument. */
	for (p = script; *p != '\0'; p++)
		n += *p == '\'' ? 4 : 1;
	if ((line = malloc(n)) == NULL)
		return NULL;
	q = line + sprintf(line, "exec /bin/sh -c '");
	for (p = script; *p != '\0'; p++) {
		if (*p == '\'') {
			memcpy(q, "'\\''", 4);
			q += 4;
		} else
			*q++ = *p;
	}
	sprintf(q, "' %s %s %s\n", name, tag, version);
	return line;
}

/* A fresh random marker tag. */
static void
new_tag(char tag[TAG_LEN + 1])
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789";
	size_t i;

	for (i = 0; i < TAG_LEN; i++)
		tag[i] = alnum[randombytes_uniform(sizeof(alnum) - 1)];
	tag[TAG_LEN] = '\0';
}

static const char *
norm_arch(const char *arch)
{
	if (strcmp(arch, "amd64") == 0 || strcmp(arch, "x86_64") == 0)
		return "x86_64";
	if (strcmp(arch, "arm64") == 0 || strcmp(arch, "aarch64") == 0)
		return "aarch64";
	return arch;
}

int
boot_find_build(const char *const *dirs, const char *os, const char *arch,
    char *path, size_t pathlen)
{
	char low[32];
	size_t i;
	FILE *f;

	for (i = 0; i + 1 < sizeof(low) && os[i] != '\0'; i++)
		low[i] = (char)(os[i] >= 'A' && os[i] <= 'Z' ? os[i] - 'A' + 'a' : os[i]);
	low[i] = '\0';
	for (; dirs != NULL && *dirs != NULL; dirs++) {
		snprintf(path, pathlen, "%s/%s-%s/codex-subsystem", *dirs, low,
		    norm_arch(arch));
		if ((f = fopen(path, "rb")) != NULL) {
			fclose(f);
			return 0;
		}
	}
	return -1;
}

/* The bootstrap's conversation: the decoder, the I/O and what to say. */
struct boot {
	const struct boot_io *io;
	const struct boot_opts *o;
	struct marker_dec *dec;
	char *err;
	size_t errlen;
	char last_noise[160];        /* the last line of noise, for messages */
};

/* Keeps the last line of noise for messages (and shows it with -v). */
static void
note_noise(struct boot *b, const struct marker_event *ev)
{
	if (b->o->verbose)
		fprintf(stderr, "codex-connect: %s: %.*s\n", b->o->host, (int)ev->len,
		    ev->noise);
	snprintf(b->last_noise, sizeof(b->last_noise), "%.*s",
	    (int)(ev->len < sizeof(b->last_noise) - 1 ? ev->len :
	    sizeof(b->last_noise) - 1), ev->noise);
}

/*
 * Why the channel ended early: its exit status, what it printed on stderr, else
 * the last line it printed on stdout (a ForceCommand's output, say).
 */
static int
boot_eof(struct boot *b, const char *when)
{
	char tail[400] = "", st[200] = "";
	struct marker_event ev;
	uint8_t buf[4096];
	int n, r;

	/* What the channel printed and we did not read yet (a ForceCommand may
	 * have answered and closed before our script even went out). */
	if (b->dec != NULL) {
		while ((n = b->io->read(b->io->ctx, buf, sizeof(buf), 200)) > 0 &&
		    marker_dec_feed(b->dec, buf, (size_t)n) == 0)
			while (marker_dec_next(b->dec, &ev) == 1)
				if (ev.kind == MARKER_EV_NOISE)
					note_noise(b, &ev);
		while ((r = marker_dec_finish(b->dec, &ev)) == 1)
			if (ev.kind == MARKER_EV_NOISE)
				note_noise(b, &ev);
	}

	if (b->io->errtail != NULL)
		b->io->errtail(b->io->ctx, tail, sizeof(tail));
	if (b->io->exit_note != NULL)
		b->io->exit_note(b->io->ctx, st, sizeof(st));
	if (tail[0] == '\0' && b->last_noise[0] != '\0')
		snprintf(tail, sizeof(tail), "it printed \"%s\" (is a ForceCommand or "
		    "a command= in authorized_keys running instead of the shell?)",
		    b->last_noise);
	snprintf(b->err, b->errlen, "the bootstrap on %s ended %s%s%s%s", b->o->host,
	    when, st, tail[0] ? ": " : " (run with -v to see the remote shell's "
	    "output)", tail);
	return BOOT_ERR_IO;
}

/*
 * Starts a conversation: a fresh tag and decoder, and script sent as the line
 * that hands it to /bin/sh with args ("VERSION [MODE]"). 0, or an error with err
 * set (b->dec may then need freeing).
 */
static int
boot_start(struct boot *b, const char *script, const char *name, const char *args)
{
	char tag[TAG_LEN + 1], *line;
	int r;

	new_tag(tag);
	if ((b->dec = marker_dec_new(tag, NULL)) == NULL ||
	    (line = boot_script_line(script, name, tag, args)) == NULL) {
		snprintf(b->err, b->errlen, "out of memory");
		return BOOT_ERR_NOMEM;
	}
	r = b->io->write(b->io->ctx, line, strlen(line)) != 0 ?
	    boot_eof(b, "at once") : 0;
	free(line);
	return r;
}

/* Reads until the next answer; noise is shown with -v. 0, or an error. */
static int
boot_answer(struct boot *b, struct marker_event *ev, int timeout_ms)
{
	uint8_t buf[4096];
	int64_t deadline = now_ms() + timeout_ms;
	int r, n;

	for (;;) {
		while ((r = marker_dec_next(b->dec, ev)) == 1) {
			if (ev->kind == MARKER_EV_ANSWER)
				return 0;
			note_noise(b, ev);
		}
		if (r < 0) {
			snprintf(b->err, b->errlen, "the bootstrap on %s: %s", b->o->host,
			    marker_dec_reason(b->dec));
			return BOOT_ERR_PROTOCOL;
		}
		if (now_ms() >= deadline) {
			snprintf(b->err, b->errlen, "the bootstrap on %s did not answer "
			    "within %d s (a login shell waiting for input? run with -v)",
			    b->o->host, timeout_ms / 1000);
			return BOOT_ERR_PROTOCOL;
		}
		n = b->io->read(b->io->ctx, buf, sizeof(buf), (int)(deadline - now_ms()));
		if (n == BOOT_IO_TIMEOUT)
			continue;
		if (n <= 0)
			return boot_eof(b, "before it answered");
		if (marker_dec_feed(b->dec, buf, (size_t)n) != 0) {
			snprintf(b->err, b->errlen, "the bootstrap on %s: %s", b->o->host,
			    marker_dec_reason(b->dec));
			return BOOT_ERR_PROTOCOL;
		}
	}
}

/* Answers the script with one line: WORD A C. */
static int
say_line(struct boot *b, const char *word, const char *a, const char *c)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s %s %s\n", word, a, c);

	if (b->io->write(b->io->ctx, line, (size_t)n) != 0)
		return boot_eof(b, "while we answered it");
	return 0;
}

static void
human(double v, char *out, size_t outlen)
{
	if (v >= 1024.0 * 1024.0)
		snprintf(out, outlen, "%.1f MiB", v / (1024.0 * 1024.0));
	else
		snprintf(out, outlen, "%.0f KiB", v / 1024.0);
}

/* Sends the build; a progress bar on a terminal, one line otherwise. */
static int
upload(struct boot *b, const uint8_t *data, size_t len)
{
	int64_t t0 = now_ms(), last = 0, now;
	char done[32], total[32];
	size_t off = 0, n;
	double secs;

	human((double)len, total, sizeof(total));
	while (off < len) {
		n = len - off < CHUNK ? len - off : CHUNK;
		if (b->io->write(b->io->ctx, data + off, n) != 0) {
			if (b->o->progress)
				fputc('\n', stderr);
			return boot_eof(b, "during the upload");
		}
		off += n;
		now = now_ms();
		if (b->o->progress && (now - last >= 100 || off == len)) {
			secs = (double)(now - t0) / 1000.0;
			human((double)off, done, sizeof(done));
			fprintf(stderr, "\rcodex-connect: uploading codex-subsystem to %s: "
			    "%s of %s (%3.0f%%) %.1f MB/s ", b->o->host, done, total,
			    100.0 * (double)off / (double)len,
			    secs > 0 ? (double)off / secs / 1e6 : 0.0);
			last = now;
		}
	}
	secs = (double)(now_ms() - t0) / 1000.0;
	if (b->o->progress)
		fputc('\n', stderr);
	else
		fprintf(stderr, "codex-connect: uploaded codex-subsystem %s (%s) to %s in "
		    "%.1f s\n", b->o->version, total, b->o->host, secs);
	return 0;
}

/* Reads a whole build into memory; NULL with err set. */
static uint8_t *
read_build(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long sz;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) <= 0 ||
	    (size_t)sz > UPLOAD_MAX || fseek(f, 0, SEEK_SET) != 0 ||
	    (data = malloc((size_t)sz)) == NULL ||
	    fread(data, 1, (size_t)sz, f) != (size_t)sz) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    errno ? strerror(errno) : "bad size");
		free(data);
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)sz;
	return data;
}

/* The answer FAIL WHAT REASON...: what the user reads, with a way on. */
static int
remote_failed(struct boot *b, const struct marker_event *ev)
{
	const char *what = ev->argc > 0 ? ev->argv[0] : "?";
	const char *why = ev->args;

	/* args starts with WHAT and a space */
	if (strlen(why) > strlen(what))
		why += strlen(what) + 1;
	snprintf(b->err, b->errlen, "cannot start codex-subsystem on %s: %s%s",
	    b->o->host, why, strcmp(what, "dir") == 0 ? " (fix the directory, or ask "
	    "the admin to run `sudo codex-subsystem register`)" : "");
	return BOOT_ERR_REMOTE;
}

/* Takes the plain app server instead, saying so once. 0 or an error. */
static int
use_appserver(struct boot *b, const char *why)
{
	if (b->o->no_appserver || (b->o->mode && strcmp(b->o->mode, "run") != 0)) {
		snprintf(b->err, b->errlen, "%s", why);
		return BOOT_ERR_NOBUILD;
	}
	fprintf(stderr, "codex-connect: %s; running `codex app-server` on %s through "
	    "its login shell instead: plain mode, so no resume after a dropped link and "
	    "no compression\n", why, b->o->host);
	return b->io->write(b->io->ctx, "APPSERVER\n", 10) == 0 ? 0 :
	    boot_eof(b, "while we answered it");
}

int
boot_run(const struct boot_io *io, const struct boot_opts *o, uint8_t **rest,
    size_t *restlen, int *plain, char *err, size_t errlen)
{
	struct boot b = { io, o, NULL, err, errlen, "" };
	struct marker_event ev;
	char os[64] = "", arch[64] = "", path[4200];
	unsigned char md[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1], size[32], vm[96];
	const uint8_t *p;
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	snprintf(vm, sizeof(vm), "%s %s", o->version, o->mode ? o->mode : "run");
	if ((r = boot_start(&b, boot_remote_script, "cxs-boot", vm)) != 0)
		goto out;
	for (;;) {
		if ((r = boot_answer(&b, &ev, data != NULL ? VERIFY_TIMEOUT_MS :
		    ANSWER_TIMEOUT_MS)) != 0)
			goto out;
		if (strcmp(ev.word, "HELLO") == 0 && ev.argc >= 2) {
			snprintf(os, sizeof(os), "%s", ev.argv[0]);
			snprintf(arch, sizeof(arch), "%s", ev.argv[1]);
		} else if (strcmp(ev.word, "EXEC") == 0) {
			*plain = ev.argc > 0 && strcmp(ev.argv[0], "app-server") == 0;
			len = marker_dec_rest(b.dec, &p);
			if ((*rest = malloc(len + 1)) == NULL) {
				r = BOOT_ERR_NOMEM;
				goto out;
			}
			memcpy(*rest, p, len);
			*restlen = len;
			r = 0;
			goto out;
		} else if (strcmp(ev.word, "INSTALLED") == 0 ||
		    strcmp(ev.word, "REMOVED") == 0) {
			if (o->result != NULL)
				snprintf(o->result, o->resultlen, "%s", ev.args);
			r = 0;
			goto out;
		} else if (strcmp(ev.word, "FAIL") == 0) {
			r = remote_failed(&b, &ev);
			goto out;
		} else if (strcmp(ev.word, "FALLBACK") == 0) {
			/* codex-subsystem cannot run there; the app server may. */
			char why[900];

			PROTO_IGNORE(remote_failed(&b, &ev));
			snprintf(why, sizeof(why), "%s", err);
			if ((r = use_appserver(&b, why)) != 0)
				goto out;
			free(data);
			data = NULL;
		} else if (strcmp(ev.word, "NEED") == 0) {
			if (boot_find_build(o->build_dirs, os, arch, path, sizeof(path)) != 0) {
				char why[300];

				snprintf(why, sizeof(why), "%s has no codex-subsystem %s and "
				    "this codex-connect carries no build for %s %s", o->host,
				    o->version, os, arch);
				if ((r = use_appserver(&b, why)) != 0) {
					PROTO_IGNORE(say_line(&b, "NONE", os, arch));
					goto out;
				}
				continue;
			}
			if ((data = read_build(path, &len, err, errlen)) == NULL) {
				PROTO_IGNORE(say_line(&b, "NONE", os, arch));
				r = BOOT_ERR_NOBUILD;
				goto out;
			}
			crypto_hash_sha256(md, data, len);
			sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
			snprintf(size, sizeof(size), "%zu", len);
			if ((r = say_line(&b, "UPLOAD", size, hex)) != 0)
				goto out;
		} else if (strcmp(ev.word, "READY") == 0 && data != NULL) {
			/* Tests: prove that a corrupted upload is refused. */
			if (getenv("CODEX_CONNECT_TEST_CORRUPT_UPLOAD") != NULL)
				data[len / 2] ^= 0x01;
			if ((r = upload(&b, data, len)) != 0)
				goto out;
		} else {
			snprintf(err, errlen, "the bootstrap on %s said %s, which this "
			    "codex-connect does not understand", o->host, ev.word);
			r = BOOT_ERR_PROTOCOL;
			goto out;
		}
	}
out:
	free(data);
	marker_dec_free(b.dec);
	return r;
}

int
boot_ask(const struct boot_io *io, const struct boot_opts *o, const char *script,
    const char *name, void (*on_answer)(void *ctx, const struct marker_event *ev),
    void *ctx, char *err, size_t errlen)
{
	struct boot b = { io, o, NULL, err, errlen, "" };
	struct marker_event ev;
	int r;

	if ((r = boot_start(&b, script, name, o->version)) == 0)
		while ((r = boot_answer(&b, &ev, ANSWER_TIMEOUT_MS)) == 0 &&
		    strcmp(ev.word, "DONE") != 0)
			on_answer(ctx, &ev);
	marker_dec_free(b.dec);
	return r;
}
