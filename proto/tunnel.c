/*
 * tunnel.c - the client's end of a framed session; see tunnel.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tunnel.h"

#define MAX_JUNK (64u * 1024u)

struct tunnel {
	struct tunnel_opts o;
	char backend[64];
	char attached[256];       /* the last WELCOME's note */
	struct frame_dec *dec;
	struct frame_enc *enc;
	struct journal *j;        /* our messages until acknowledged */
	int connected;
	int welcomed;
	int seen_magic;
	size_t magic_have;
	size_t junk;
	int has_session;
	uint8_t token[FRAME_TOKEN_LEN];
	uint64_t in_next;         /* next expected server seq */
	uint64_t ack_sent;
	uint64_t send_next;       /* next of ours to put on the wire */
	int failed;
};

struct tunnel *
tunnel_new(const struct tunnel_opts *opts)
{
	struct tunnel *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->o = *opts;
	if (opts->backend != NULL) {
		size_t n = strlen(opts->backend);

		if (n >= sizeof(t->backend))
			goto fail;
		memcpy(t->backend, opts->backend, n + 1);
	}
	t->o.backend = t->backend;
	t->o.journal.spill_dir = NULL;
	if (t->o.max_message == 0)
		t->o.max_message = FRAME_DEFAULT_MAX_MESSAGE;
	t->dec = frame_dec_new(t->o.max_message);
	t->enc = frame_enc_new();
	t->j = journal_new(&t->o.journal, 1);
	if (t->dec == NULL || t->enc == NULL || t->j == NULL)
		goto fail;
	t->in_next = 1;
	t->send_next = 1;
	return t;
fail:
	tunnel_free(t);
	return NULL;
}

void
tunnel_free(struct tunnel *t)
{
	if (t == NULL)
		return;
	frame_dec_free(t->dec);
	frame_enc_free(t->enc);
	journal_free(t->j);
	memset(t->token, 0, sizeof(t->token));
	free(t);
}

int
tunnel_connect(struct tunnel *t, struct buf *out)
{
	struct frame_info hi;
	size_t mark = buf_len(out);
	int r;

	tunnel_disconnected(t);
	memset(&hi, 0, sizeof(hi));
	hi.version = FRAME_PROTOCOL_VERSION;
	hi.min_version = FRAME_PROTOCOL_VERSION;
	hi.features = t->o.features;
	hi.max_message = t->o.max_message;
	memcpy(hi.backend, t->backend, sizeof(hi.backend));
	if (t->has_session) {
		hi.has_token = 1;
		memcpy(hi.token, t->token, FRAME_TOKEN_LEN);
		hi.next = t->in_next;
	}
	if ((r = frame_put_magic(out)) != 0 || (r = frame_put_hello(out, &hi)) != 0) {
		buf_unput(out, buf_len(out) - mark);
		return r;
	}
	t->connected = 1;
	return 0;
}

void
tunnel_disconnected(struct tunnel *t)
{
	frame_dec_reset(t->dec);
	PROTO_IGNORE(frame_dec_set_zlib(t->dec, 0));
	PROTO_IGNORE(frame_enc_set_zlib(t->enc, 0));
	t->connected = 0;
	t->welcomed = 0;
	t->seen_magic = 0;
	t->magic_have = 0;
	t->junk = 0;
	t->failed = 0;
}

int
tunnel_feed(struct tunnel *t, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i = 0;

	if (!t->seen_magic) {
		for (; i < len && !t->seen_magic; i++) {
			if (p[i] == (uint8_t)FRAME_MAGIC[t->magic_have]) {
				if (++t->magic_have == FRAME_MAGIC_LEN)
					t->seen_magic = 1;
				continue;
			}
			/* The magic's bytes are all distinct: restart the match. */
			t->junk += t->magic_have + 1;
			t->magic_have = p[i] == (uint8_t)FRAME_MAGIC[0] ? 1 : 0;
			if (t->magic_have)
				t->junk--;
			if (t->junk > MAX_JUNK)
				return PROTO_ERR_INVALID;
		}
		if (!t->seen_magic)
			return 0;
	}
	if (i == len)
		return 0;
	return frame_dec_feed(t->dec, p + i, len - i);
}

static int
fail(struct tunnel *t, struct buf *out, struct tunnel_event *ev, unsigned code,
    const char *why)
{
	size_t n = strlen(why);

	if (n > FRAME_MAX_REASON)
		n = FRAME_MAX_REASON;
	PROTO_IGNORE(frame_put_error(out, code, why));
	t->failed = 1;
	memset(ev, 0, sizeof(*ev));
	ev->type = TUNNEL_EV_ERROR;
	ev->code = code;
	memcpy(ev->reason, why, n);
	ev->reason[n] = '\0';
	return PROTO_ERR_INVALID;
}

static void
set_reason(struct tunnel_event *ev, const char *r)
{
	size_t n = strlen(r);

	if (n > FRAME_MAX_REASON)
		n = FRAME_MAX_REASON;
	memcpy(ev->reason, r, n);
	ev->reason[n] = '\0';
}

int
tunnel_next(struct tunnel *t, struct buf *out, struct tunnel_event *ev)
{
	struct frame f;
	int r;

	if (t->failed)
		return PROTO_ERR_INVALID;
	if (!t->seen_magic)
		return 0;
	for (;;) {
		r = frame_dec_next(t->dec, &f);
		if (r == 0)
			return 0;
		if (r < 0)
			return fail(t, out, ev, frame_dec_code(t->dec), frame_dec_reason(t->dec));
		if (!t->welcomed && f.type != FRAME_WELCOME && f.type != FRAME_ERROR &&
		    f.type != FRAME_CLOSE)
			return fail(t, out, ev, FRAME_CODE_PROTOCOL,
			    "the server's first frame must be WELCOME");
		memset(ev, 0, sizeof(*ev));
		switch (f.type) {
		case FRAME_WELCOME:
			if (t->welcomed)
				return fail(t, out, ev, FRAME_CODE_PROTOCOL, "second WELCOME");
			if (f.u.info.version != FRAME_PROTOCOL_VERSION)
				return fail(t, out, ev, FRAME_CODE_VERSION,
				    "the server chose a version we did not offer");
			if (!f.u.info.has_token)
				return fail(t, out, ev, FRAME_CODE_PROTOCOL, "WELCOME without a token");
			if (t->has_session && (!f.u.info.resumed ||
			    memcmp(t->token, f.u.info.token, FRAME_TOKEN_LEN) != 0))
				return fail(t, out, ev, FRAME_CODE_PROTOCOL,
				    "the server started a new session instead of resuming");
			if (journal_can_replay(t->j, f.u.info.next) != 0)
				return fail(t, out, ev, FRAME_CODE_RESUME,
				    "resume impossible: the server needs messages we no "
				    "longer hold");
			PROTO_IGNORE(journal_ack(t->j, f.u.info.next));
			t->send_next = f.u.info.next;
			memcpy(t->token, f.u.info.token, FRAME_TOKEN_LEN);
			t->has_session = 1;
			t->welcomed = 1;
			t->ack_sent = t->in_next;
			if ((f.u.info.features & FRAME_FEAT_ZLIB) &&
			    (t->o.features & FRAME_FEAT_ZLIB)) {
				if (frame_enc_set_zlib(t->enc, 1) != 0 ||
				    frame_dec_set_zlib(t->dec, 1) != 0)
					return fail(t, out, ev, FRAME_CODE_INTERNAL,
					    "cannot start compression");
			}
			ev->type = TUNNEL_EV_WELCOME;
			ev->resumed = f.u.info.resumed;
			snprintf(t->attached, sizeof(t->attached), "%s", f.u.info.attached);
			ev->attached = t->attached;
			return 1;
		case FRAME_DATA:
			if (f.u.data.seq < t->in_next)
				continue; /* already delivered before the cut */
			if (f.u.data.seq > t->in_next) {
				char why[128];

				snprintf(why, sizeof(why), "message %llu arrived, expected %llu",
				    (unsigned long long)f.u.data.seq,
				    (unsigned long long)t->in_next);
				return fail(t, out, ev, FRAME_CODE_PROTOCOL, why);
			}
			t->in_next++;
			ev->type = TUNNEL_EV_MESSAGE;
			ev->msg = f.u.data.msg;
			ev->len = f.u.data.len;
			ev->seq = f.u.data.seq;
			return 1;
		case FRAME_ACK:
			if (f.u.ack_next > t->send_next)
				return fail(t, out, ev, FRAME_CODE_PROTOCOL,
				    "ACK beyond what was sent");
			PROTO_IGNORE(journal_ack(t->j, f.u.ack_next));
			continue;
		case FRAME_PING:
			PROTO_IGNORE(frame_put_pong(out, f.u.ping.opaque, f.u.ping.len));
			continue;
		case FRAME_PONG:
			ev->type = TUNNEL_EV_PONG;
			return 1;
		case FRAME_ERROR:
		case FRAME_CLOSE:
			ev->type = f.type == FRAME_ERROR ? TUNNEL_EV_ERROR : TUNNEL_EV_CLOSE;
			ev->code = f.u.error.code;
			set_reason(ev, f.u.error.reason);
			/* These end the session for good; other errors may be retried. */
			if (f.type == FRAME_CLOSE || ev->code == FRAME_CODE_RESUME ||
			    ev->code == FRAME_CODE_UNKNOWN_SESSION ||
			    ev->code == FRAME_CODE_EXPIRED ||
			    ev->code == FRAME_CODE_BACKEND_FAILED)
				t->has_session = 0;
			t->failed = 1;
			return 1;
		default:
			return fail(t, out, ev, FRAME_CODE_PROTOCOL, "unexpected HELLO");
		}
	}
}

int
tunnel_send(struct tunnel *t, const void *msg, size_t len)
{
	if (len > t->o.max_message)
		return PROTO_ERR_TOO_LARGE;
	return journal_append(t->j, msg, len);
}

int
tunnel_flush(struct tunnel *t, struct buf *out, size_t high)
{
	struct frame_chunk fc;
	const uint8_t *msg;
	size_t len;
	int r;

	if (!t->connected || !t->welcomed || t->failed)
		return 0;
	/* Acks ride in front of our own DATA, or go alone once 64 are owed; the
	 * caller sends the rest with tunnel_ack() within 100 ms (PROTOCOL.md 3.1).
	 * An ACK per read would double the packets a turn costs. */
	if (tunnel_ack_owed(t) >= 64 || (t->send_next < journal_next_seq(t->j) &&
	    t->in_next != t->ack_sent))
		PROTO_IGNORE(tunnel_ack(t, out));
	while (buf_len(out) < high) {
		/* A chunk taken from the encoder must fit: it cannot be put back. */
		if (buf_avail(out) < FRAME_MAX + 32)
			break;
		if (frame_enc_busy(t->enc)) {
			if ((r = frame_enc_chunk(t->enc, &fc)) < 0)
				return r;
			if (buf_put(out, fc.hdr, fc.hdrlen) != 0 ||
			    buf_put(out, fc.payload, fc.paylen) != 0)
				return PROTO_ERR_TOO_LARGE;
			if (r == 0)
				t->send_next++;
			continue;
		}
		if (t->send_next >= journal_next_seq(t->j))
			break;
		if ((r = journal_get(t->j, t->send_next, &msg, &len)) != 0)
			return r;
		if ((r = frame_enc_begin(t->enc, t->send_next, msg, len, 1)) != 0)
			return r;
	}
	return 0;
}

int
tunnel_sent_all(const struct tunnel *t)
{
	return !frame_enc_busy(t->enc) && t->send_next >= journal_next_seq(t->j);
}

uint64_t
tunnel_ack_owed(const struct tunnel *t)
{
	return t->welcomed ? t->in_next - t->ack_sent : 0;
}

int
tunnel_ack(struct tunnel *t, struct buf *out)
{
	int r;

	if (!t->connected || !t->welcomed || t->failed || t->in_next == t->ack_sent)
		return 0;
	if ((r = frame_put_ack(out, t->in_next)) == 0)
		t->ack_sent = t->in_next;
	return r;
}

int
tunnel_ping(struct tunnel *t, struct buf *out, uint64_t cookie)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(cookie >> (56 - 8 * i));
	return frame_put_ping(out, b, sizeof(b));
}

int
tunnel_close(struct tunnel *t, struct buf *out)
{
	return frame_put_close(out, FRAME_CODE_NORMAL, "client closed the session");
}

int tunnel_welcomed(const struct tunnel *t) { return t->welcomed; }
int tunnel_has_session(const struct tunnel *t) { return t->has_session; }
uint64_t tunnel_next_expected(const struct tunnel *t) { return t->in_next; }

size_t
tunnel_unacked(const struct tunnel *t)
{
	return journal_count(t->j);
}

int
tunnel_full(const struct tunnel *t)
{
	return journal_full(t->j);
}

int
tunnel_token(const struct tunnel *t, uint8_t token[FRAME_TOKEN_LEN])
{
	if (!t->has_session)
		return PROTO_ERR_ARG;
	memcpy(token, t->token, FRAME_TOKEN_LEN);
	return 0;
}

void
tunnel_adopt(struct tunnel *t, const uint8_t token[FRAME_TOKEN_LEN], uint64_t next)
{
	memcpy(t->token, token, FRAME_TOKEN_LEN);
	t->has_session = 1;
	t->in_next = next;
}
