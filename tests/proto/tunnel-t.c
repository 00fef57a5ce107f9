/*
 * tunnel-t - the client end of a framed session against a scripted server built
 * from the frame codec: handshake, junk before the magic, in-order delivery,
 * duplicates after a resume, gaps, acks and retransmission of unacked messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/tunnel.h"
#include "tests/tap.h"

static struct tunnel *
new_tunnel(unsigned features)
{
	struct tunnel_opts o;
	struct tunnel *t;

	memset(&o, 0, sizeof(o));
	o.features = features;
	o.backend = "fake";
	o.journal.mem_max = 1u << 20;
	t = tunnel_new(&o);
	if (t == NULL)
		bail("tunnel_new");
	return t;
}

/* The server side: decodes what the client wrote (after the magic). */
struct srv {
	struct frame_dec *dec;
	struct frame_enc *enc;
	struct buf *out;
	int seen_magic;
};

static void
srv_init(struct srv *s)
{
	s->dec = frame_dec_new(0);
	s->enc = frame_enc_new();
	s->out = buf_new(1u << 24);
	s->seen_magic = 0;
	if (s->dec == NULL || s->enc == NULL || s->out == NULL)
		bail("srv_init");
}

static void
srv_free(struct srv *s)
{
	frame_dec_free(s->dec);
	frame_enc_free(s->enc);
	buf_free(s->out);
}

/* Feeds the client's bytes to the server decoder. */
static void
srv_take(struct srv *s, struct buf *from_client)
{
	const uint8_t *p = buf_ptr(from_client);
	size_t n = buf_len(from_client);

	if (!s->seen_magic) {
		if (n < FRAME_MAGIC_LEN || memcmp(p, FRAME_MAGIC, FRAME_MAGIC_LEN) != 0)
			bail("client did not start with the magic");
		p += FRAME_MAGIC_LEN;
		n -= FRAME_MAGIC_LEN;
		s->seen_magic = 1;
	}
	if (frame_dec_feed(s->dec, p, n) != 0)
		bail("srv feed");
	buf_reset(from_client);
}

static int
srv_next(struct srv *s, struct frame *f)
{
	return frame_dec_next(s->dec, f);
}

static void
srv_welcome(struct srv *s, const uint8_t *token, uint64_t next, int resumed)
{
	struct frame_info wi;

	memset(&wi, 0, sizeof(wi));
	wi.version = 1;
	wi.has_token = 1;
	memcpy(wi.token, token, FRAME_TOKEN_LEN);
	wi.next = next;
	wi.resumed = resumed;
	if (frame_put_magic(s->out) != 0 || frame_put_welcome(s->out, &wi) != 0)
		bail("welcome");
}

static void
srv_data(struct srv *s, uint64_t seq, const char *msg)
{
	if (frame_put_data(s->enc, s->out, seq, msg, strlen(msg), 0) != 0)
		bail("data");
}

/* Hands the server's output to the client. */
static void
cli_take(struct tunnel *t, struct srv *s)
{
	if (tunnel_feed(t, buf_ptr(s->out), buf_len(s->out)) != 0)
		bail("tunnel_feed");
	buf_reset(s->out);
}

int
main(void)
{
	struct tunnel *t;
	struct tunnel_event ev;
	struct buf *out = buf_new(1u << 24);
	struct srv s;
	struct frame f;
	uint8_t token[FRAME_TOKEN_LEN], tok2[FRAME_TOKEN_LEN];
	int r, i, n;

	plan_lazy();
	memset(token, 0xab, sizeof(token));

	/* 1. handshake, with a login shell's noise before the server's magic */
	t = new_tunnel(FRAME_FEAT_ZLIB);
	srv_init(&s);
	ok(tunnel_connect(t, out) == 0, "connect writes magic and HELLO");
	srv_take(&s, out);
	r = srv_next(&s, &f);
	ok(r == 1 && f.type == FRAME_HELLO, "server sees HELLO");
	ok(r == 1 && !f.u.info.has_token && f.u.info.version == 1 &&
	    (f.u.info.features & FRAME_FEAT_ZLIB) &&
	    strcmp(f.u.info.backend, "fake") == 0, "HELLO: new session, zlib, backend");
	ok(tunnel_send(t, "{\"id\":1}", 8) == 0, "queue a message before WELCOME");
	ok(tunnel_flush(t, out, 1u << 20) == 0 && buf_len(out) == 0,
	    "nothing is sent before WELCOME");
	if (tunnel_feed(t, "Welcome to devbox!\n\0cx", 22) != 0)
		bail("feed noise");
	ok(tunnel_next(t, out, &ev) == 0, "noise and a partial magic are not events");
	buf_reset(s.out);
	srv_welcome(&s, token, 1, 0);
	/* skip the magic's first 3 bytes, already fed above */
	if (tunnel_feed(t, buf_ptr(s.out) + 3, buf_len(s.out) - 3) != 0)
		bail("feed");
	buf_reset(s.out);
	r = tunnel_next(t, out, &ev);
	ok(r == 1 && ev.type == TUNNEL_EV_WELCOME && !ev.resumed, "WELCOME after noise");
	ok(tunnel_has_session(t) && tunnel_token(t, tok2) == 0 &&
	    memcmp(tok2, token, sizeof(token)) == 0, "token kept");

	/* 2. queued message goes out now */
	ok(tunnel_flush(t, out, 1u << 20) == 0 && buf_len(out) > 0, "flush sends");
	srv_take(&s, out);
	r = srv_next(&s, &f);
	ok(r == 1 && f.type == FRAME_DATA && f.u.data.seq == 1 &&
	    f.u.data.len == 8 && memcmp(f.u.data.msg, "{\"id\":1}", 8) == 0,
	    "server gets message 1");

	/* 3. server messages in order, then a duplicate, then a gap */
	srv_data(&s, 1, "{\"method\":\"a\"}");
	srv_data(&s, 2, "{\"method\":\"b\"}");
	srv_data(&s, 1, "{\"method\":\"a\"}");
	cli_take(t, &s);
	r = tunnel_next(t, out, &ev);
	ok(r == 1 && ev.type == TUNNEL_EV_MESSAGE && ev.seq == 1, "message 1");
	r = tunnel_next(t, out, &ev);
	ok(r == 1 && ev.type == TUNNEL_EV_MESSAGE && ev.seq == 2 &&
	    ev.len == 14 && memcmp(ev.msg, "{\"method\":\"b\"}", 14) == 0, "message 2");
	ok(tunnel_next(t, out, &ev) == 0, "duplicate of 1 dropped silently");
	is_int((long long)tunnel_next_expected(t), 3, "next expected is 3");
	ok(tunnel_flush(t, out, 1u << 20) == 0 && buf_len(out) == 0,
	    "flush with nothing to send does not ack 2 messages on its own");
	is_int((long long)tunnel_ack_owed(t), 2, "2 acks owed");
	ok(tunnel_ack(t, out) == 0, "tunnel_ack");
	srv_take(&s, out);
	r = srv_next(&s, &f);
	ok(r == 1 && f.type == FRAME_ACK && f.u.ack_next == 3, "client acks 3");
	is_int((long long)tunnel_ack_owed(t), 0, "nothing owed after the ack");

	/* 4. unacked messages are resent after a resume; acked ones are not */
	ok(tunnel_send(t, "{\"id\":2}", 8) == 0 && tunnel_send(t, "{\"id\":3}", 8) == 0,
	    "queue 2 and 3");
	ok(tunnel_flush(t, out, 1u << 20) == 0, "send 2 and 3");
	buf_reset(out);  /* the link dies: these bytes never arrive */
	is_int((long long)tunnel_unacked(t), 3, "1, 2, 3 unacked");
	tunnel_disconnected(t);
	srv_free(&s);
	srv_init(&s);
	ok(tunnel_connect(t, out) == 0, "reconnect");
	srv_take(&s, out);
	r = srv_next(&s, &f);
	ok(r == 1 && f.type == FRAME_HELLO && f.u.info.has_token &&
	    memcmp(f.u.info.token, token, sizeof(token)) == 0 && f.u.info.next == 3,
	    "resume HELLO carries token and next=3");
	srv_welcome(&s, token, 2, 1);  /* the server had message 1 only */
	srv_data(&s, 2, "{\"method\":\"b\"}");   /* retransmitted duplicate */
	srv_data(&s, 3, "{\"method\":\"c\"}");
	cli_take(t, &s);
	r = tunnel_next(t, out, &ev);
	ok(r == 1 && ev.type == TUNNEL_EV_WELCOME && ev.resumed, "resumed");
	r = tunnel_next(t, out, &ev);
	ok(r == 1 && ev.type == TUNNEL_EV_MESSAGE && ev.seq == 3,
	    "retransmitted 2 dropped, 3 delivered");
	ok(tunnel_flush(t, out, 1u << 20) == 0, "flush after resume");
	srv_take(&s, out);
	n = 0;
	while ((r = srv_next(&s, &f)) == 1)
		if (f.type == FRAME_DATA)
			n += (int)f.u.data.seq;
	is_int(n, 5, "client resent exactly 2 and 3");

	/* 5. a gap is a protocol error */
	srv_data(&s, 7, "{}");
	cli_take(t, &s);
	r = tunnel_next(t, out, &ev);
	ok(r < 0 && ev.type == TUNNEL_EV_ERROR && ev.code == FRAME_CODE_PROTOCOL &&
	    strstr(ev.reason, "expected 4") != NULL, "gap reported: %s", ev.reason);
	ok(tunnel_next(t, out, &ev) < 0, "error is sticky");
	tunnel_free(t);
	srv_free(&s);

	/* 6. resume refused: the session is gone */
	t = new_tunnel(0);
	srv_init(&s);
	tunnel_adopt(t, token, 5);
	buf_reset(out);
	ok(tunnel_connect(t, out) == 0, "connect with an adopted session");
	srv_take(&s, out);
	r = srv_next(&s, &f);
	ok(r == 1 && f.u.info.has_token && f.u.info.next == 5, "adopted token sent");
	if (frame_put_magic(s.out) != 0 ||
	    frame_put_error(s.out, FRAME_CODE_UNKNOWN_SESSION, "unknown session") != 0)
		bail("error");
	cli_take(t, &s);
	r = tunnel_next(t, out, &ev);
	ok(r == 1 && ev.type == TUNNEL_EV_ERROR && ev.code == FRAME_CODE_UNKNOWN_SESSION,
	    "unknown session reported");
	ok(!tunnel_has_session(t), "session forgotten");
	tunnel_free(t);
	srv_free(&s);

	/* 7. too much junk before the magic */
	t = new_tunnel(0);
	buf_reset(out);
	ok(tunnel_connect(t, out) == 0, "connect");
	{
		char *junk = malloc(70000);

		memset(junk, 'x', 70000);
		ok(tunnel_feed(t, junk, 70000) != 0, "70000 bytes of noise refused");
		free(junk);
	}
	tunnel_free(t);

	/* 8. many messages with compression both ways */
	t = new_tunnel(FRAME_FEAT_ZLIB);
	srv_init(&s);
	buf_reset(out);
	ok(tunnel_connect(t, out) == 0, "connect (zlib)");
	srv_take(&s, out);
	PROTO_IGNORE(srv_next(&s, &f));
	srv_welcome(&s, token, 1, 0);
	{
		struct frame_info wi;

		/* welcome again with zlib on: rebuild */
		buf_reset(s.out);
		memset(&wi, 0, sizeof(wi));
		wi.version = 1;
		wi.has_token = 1;
		wi.features = FRAME_FEAT_ZLIB;
		memcpy(wi.token, token, FRAME_TOKEN_LEN);
		wi.next = 1;
		if (frame_put_magic(s.out) != 0 || frame_put_welcome(s.out, &wi) != 0 ||
		    frame_enc_set_zlib(s.enc, 1) != 0 || frame_dec_set_zlib(s.dec, 1) != 0)
			bail("zlib welcome");
	}
	for (i = 1; i <= 2000; i++) {
		char m[128];

		snprintf(m, sizeof(m), "{\"method\":\"item/agentMessage/delta\","
		    "\"params\":{\"delta\":\"d%d \"}}", i);
		if (frame_put_data(s.enc, s.out, (uint64_t)i, m, strlen(m), 1) != 0)
			bail("zdata");
	}
	cli_take(t, &s);
	n = 0;
	while ((r = tunnel_next(t, out, &ev)) == 1) {
		char m[128];

		if (ev.type != TUNNEL_EV_MESSAGE)
			continue;
		snprintf(m, sizeof(m), "{\"method\":\"item/agentMessage/delta\","
		    "\"params\":{\"delta\":\"d%d \"}}", n + 1);
		if (ev.len == strlen(m) && memcmp(ev.msg, m, ev.len) == 0)
			n++;
	}
	is_int(n, 2000, "2000 compressed messages in order");
	tunnel_free(t);
	srv_free(&s);

	buf_free(out);
	return done_testing();
}
