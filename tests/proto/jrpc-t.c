/*
 * jrpc-t.c - tests of the JSON-RPC message model (proto/jrpc.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jrpc.h"
#include "tests/tap.h"

struct valid_case {
	const char *text;
	enum jrpc_kind kind;
	const char *id;       /* the id printed by cJSON; NULL when absent */
	const char *method;
	int params;           /* params expected */
	int code;             /* error responses */
};

static const struct valid_case valid[] = {
	{ "{\"id\":1,\"method\":\"initialize\",\"params\":{\"clientInfo\":"
	  "{\"name\":\"codex-ssh-test\",\"version\":\"0.1\"}}}",
	  JRPC_REQUEST, "1", "initialize", 1, 0 },
	{ "{\"method\":\"initialized\"}",
	  JRPC_NOTIFICATION, NULL, "initialized", 0, 0 },
	{ "{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":"
	  "\"t-1\",\"turnId\":\"1\",\"itemId\":\"msg-1\",\"delta\":\"Hel\"},"
	  "\"emittedAtMs\":1760000000000}",
	  JRPC_NOTIFICATION, NULL, "item/agentMessage/delta", 1, 0 },
	{ "{\"id\":0,\"method\":\"item/commandExecution/requestApproval\","
	  "\"params\":{\"threadId\":\"t-1\",\"command\":\"echo hi\"}}",
	  JRPC_REQUEST, "0", "item/commandExecution/requestApproval", 1, 0 },
	{ "{\"id\":0,\"result\":{\"decision\":\"accept\"}}",
	  JRPC_RESPONSE, "0", NULL, 0, 0 },
	{ "{\"id\":\"abc\",\"result\":null}",
	  JRPC_RESPONSE, "\"abc\"", NULL, 0, 0 },
	{ "{\"id\":7,\"result\":[]}",
	  JRPC_RESPONSE, "7", NULL, 0, 0 },
	{ "{\"id\":1,\"error\":{\"code\":-32600,\"message\":\"Not initialized\"}}",
	  JRPC_ERROR_RESPONSE, "1", NULL, 0, -32600 },
	{ "{\"id\":2,\"error\":{\"code\":-32001,\"message\":"
	  "\"Server overloaded; retry later.\"}}",
	  JRPC_ERROR_RESPONSE, "2", NULL, 0, -32001 },
	{ "{\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse error\","
	  "\"data\":{\"at\":3}}}",
	  JRPC_ERROR_RESPONSE, "null", NULL, 0, -32700 },
	{ "{\"id\":1,\"error\":{\"code\":-2147483648,\"message\":\"\"}}",
	  JRPC_ERROR_RESPONSE, "1", NULL, 0, -2147483647 - 1 },
	{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"params\":[1,2]}",
	  JRPC_REQUEST, "3", "x", 1, 0 },
	{ " \t\r\n{\"id\":-5,\"method\":\"m\"} \r\n",
	  JRPC_REQUEST, "-5", "m", 0, 0 },
	{ "{\"id\":9007199254740992,\"method\":\"m\"}",
	  JRPC_REQUEST, NULL, "m", 0, 0 },   /* id checked below */
	{ "{\"id\":1.0,\"method\":\"m\"}",
	  JRPC_REQUEST, "1", "m", 0, 0 },
	{ "{\"id\":-0,\"method\":\"m\"}",
	  JRPC_REQUEST, NULL, "m", 0, 0 },
	{ "{\"id\":2,\"method\":\"m\",\"result\":1}",
	  JRPC_REQUEST, "2", "m", 0, 0 },
	{ "{\"id\":null,\"method\":\"m\"}",
	  JRPC_REQUEST, "null", "m", 0, 0 },
	{ "{\"id\":\"\",\"method\":\"\"}",
	  JRPC_REQUEST, "\"\"", "", 0, 0 },
	{ "{\"method\":\"m\",\"unknown\":[{}],\"Id\":5,\"METHOD\":1}",
	  JRPC_NOTIFICATION, NULL, "m", 0, 0 },
	{ "{\"id\":\"x\",\"method\":\"caf\\u00e9\",\"params\":{}}",
	  JRPC_REQUEST, "\"x\"", "caf\xc3\xa9", 1, 0 },
	{ "{\"id\":4,\"method\":\"codex-ssh/status\"}",
	  JRPC_REQUEST, "4", "codex-ssh/status", 0, 0 },
	/* UTF-8: every length, each boundary of the valid ranges */
	{ "{\"id\":\"caf\xc3\xa9\",\"method\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"}",
	  JRPC_REQUEST, "\"caf\xc3\xa9\"", "\xe2\x82\xac\xf0\x9f\x98\x80", 0, 0 },
	{ "{\"method\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
	  "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f\"}",
	  JRPC_NOTIFICATION, NULL, "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
	  "\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f", 0, 0 },
	{ "{\"id\":5,\"method\":\"m\",\"params\":{\"\xe6\x97\xa5\xe6\x9c\xac\":"
	  "[\"\xef\xbb\xbf\",\"\\ud83d\\ude00\"]}}",
	  JRPC_REQUEST, "5", "m", 1, 0 },
	{ "{\"id\":0,\"result\":{\"text\":\"\xce\xbb \xe2\x86\x92 \xf0\x9d\x94\xb8\"}}",
	  JRPC_RESPONSE, "0", NULL, 0, 0 },
	/* What Codex's app server sends its exec-servers: null is no params. */
	{ "{\"id\":4,\"method\":\"environment/status\",\"params\":null}",
	  JRPC_REQUEST, "4", "environment/status", 0, 0 },
	{ "{\"method\":\"n\",\"params\":null}",
	  JRPC_NOTIFICATION, NULL, "n", 0, 0 },
};

struct reject_case {
	const char *text;
	size_t len;           /* 0: strlen(text) */
	int ret;
	int code;
	const char *reason;   /* must occur in rej.message */
	const char *id;       /* rej.id printed by cJSON, or NULL */
};

static const struct reject_case rejects[] = {
	/* not JSON */
	{ "", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR, "empty", NULL },
	{ " \r\n\t", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR, "empty", NULL },
	{ "{", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR, "invalid JSON", NULL },
	{ "{\"id\":1,}", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR,
	  "invalid JSON at byte", NULL },
	{ "nul", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR, "invalid JSON", NULL },
	{ "{\"id\":1,\"method\":\"m\"} x", 0, PROTO_ERR_JSON,
	  JRPC_PARSE_ERROR, "after the JSON value at byte 22", NULL },
	{ "{\"id\":1,\"method\":\"m\"}{}", 0, PROTO_ERR_JSON,
	  JRPC_PARSE_ERROR, "after the JSON value", NULL },
	{ "{\"method\":\"a\x01\"}", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR,
	  "control character 0x01 at byte 12", NULL },
	{ "\0{}", 3, PROTO_ERR_JSON, JRPC_PARSE_ERROR,
	  "control character 0x00 at byte 0", NULL },
	{ "{\"method\":\"m\"}\0", 15, PROTO_ERR_JSON, JRPC_PARSE_ERROR,
	  "control character 0x00", NULL },
	{ "{\"method\":\"m\"}\f", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR,
	  "control character 0x0c", NULL },
	/* JSON, but not a message */
	{ "[]", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "batch requests are not supported", NULL },
	{ "[{\"id\":1,\"method\":\"m\"}]", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "batch requests are not supported", NULL },
	{ "1", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object", NULL },
	{ "\"s\"", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object", NULL },
	{ "null", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object", NULL },
	{ "true", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object", NULL },
	{ "{\"id\":1.5,\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\" must be an integer, a string or null, "
	  "not a fractional number", NULL },
	{ "{\"id\":{},\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\" must be an integer, a string or null, "
	  "not an object", NULL },
	{ "{\"id\":[1],\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\" must be an integer, a string or null, "
	  "not an array", NULL },
	{ "{\"id\":true,\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\" must be an integer, a string or null, "
	  "not a boolean", NULL },
	{ "{\"id\":1e300,\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\" must be an integer within", NULL },
	{ "{\"id\":-9007199254740994,\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\" must be an integer within", NULL },
	{ "{\"id\":1e400,\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\"", NULL },
	{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"m\"}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"",
	  "1" },
	{ "{\"jsonrpc\":2,\"id\":\"q\",\"method\":\"m\"}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST, "\"jsonrpc\"", "\"q\"" },
	{ "{\"jsonrpc\":\"2.0 \",\"method\":\"m\"}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST, "\"jsonrpc\"", NULL },
	{ "{\"id\":1,\"method\":5}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"method\" must be a string, not a number",
	  "1" },
	{ "{\"id\":1,\"method\":null}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"method\" must be a string, not null", "1" },
	{ "{\"method\":\"m\",\"params\":\"x\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST,
	  "\"params\" must be an object or an array, not a string", NULL },
	{ "{\"id\":1,\"method\":\"m\",\"params\":3}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"params\"", "1" },
	{ "{\"id\":1,\"method\":\"m\",\"params\":false}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"params\" must be an object or an array, "
	  "not a boolean", "1" },
	{ "{\"id\":1}", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "no \"method\", \"result\" or \"error\"", "1" },
	{ "{}", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "no \"method\"", NULL },
	{ "{\"id\":1,\"result\":1,\"error\":{\"code\":1,\"message\":\"m\"}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "both \"result\" and \"error\"", NULL },
	{ "{\"result\":1}", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "response has no \"id\"", NULL },
	{ "{\"error\":{\"code\":1,\"message\":\"x\"}}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "response has no \"id\"", NULL },
	{ "{\"id\":1,\"error\":\"x\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"error\" must be an object, not a string",
	  NULL },
	{ "{\"id\":1,\"error\":{\"message\":\"x\"}}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"error\" has no \"code\"", NULL },
	{ "{\"id\":1,\"error\":{\"code\":\"1\",\"message\":\"x\"}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"error.code\" must be an integer, not a string", NULL },
	{ "{\"id\":1,\"error\":{\"code\":1.5,\"message\":\"x\"}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"error.code\" must be a 32-bit integer", NULL },
	{ "{\"id\":1,\"error\":{\"code\":2147483648,\"message\":\"x\"}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"error.code\" must be a 32-bit integer", NULL },
	{ "{\"id\":1,\"error\":{\"code\":-2147483649,\"message\":\"x\"}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"error.code\" must be a 32-bit integer", NULL },
	{ "{\"id\":1,\"error\":{\"code\":1}}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"error\" has no \"message\"", NULL },
	{ "{\"id\":1,\"error\":{\"code\":1,\"message\":2}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"error.message\" must be a string, not a number", NULL },
	{ "{\"id\":1,\"error\":{\"code\":1,\"code\":2,\"message\":\"x\"}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "duplicate member \"error.code\"", NULL },
	{ "{\"id\":1,\"id\":2,\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "duplicate member \"id\"", NULL },
	{ "{\"id\":1,\"method\":\"a\",\"method\":\"b\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "duplicate member \"method\"", "1" },
	/* the shapes a client may send instead of a message */
	{ "[1,2]", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "batch requests are not supported", NULL },
	{ " [ ] \n", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "batch requests are not supported", NULL },
	{ "[{\"id\":1,\"method\":\"m\"},{\"id\":2,\"method\":\"m\"}]", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "batch requests are not supported", NULL },
	{ "\"hello\"", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object, not a string", NULL },
	{ "42", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object, not a number", NULL },
	{ "-1.5e3", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object, not a number", NULL },
	{ "false", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object, not a boolean", NULL },
	{ " null ", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "message must be a JSON object, not null", NULL },
	{ "{\"id\":9,\"method\":5}", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"method\" must be a string, not a number", "9" },
	{ "{\"id\":\"x\",\"method\":true}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"method\" must be a string, not a boolean",
	  "\"x\"" },
	{ "{\"method\":[\"m\"]}", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"method\" must be a string, not an array", NULL },
	{ "{\"id\":{\"a\":1},\"method\":\"x\",\"params\":{}}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "\"id\" must be an integer, a string or null, not an object", NULL },
	{ "{\"id\":[],\"method\":\"x\",\"params\":5}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"id\" must be", NULL },
	{ "{\"id\":3,\"method\":\"x\",\"params\":5}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST,
	  "\"params\" must be an object or an array, not a number", "3" },
	{ "{\"id\":4}", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "no \"method\", \"result\" or \"error\"", "4" },
	{ "{\"id\":\"s\",\"params\":{}}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "no \"method\", \"result\" or \"error\"",
	  "\"s\"" },
	{ "{\"id\":null}", 0, PROTO_ERR_INVALID, JRPC_INVALID_REQUEST,
	  "no \"method\"", "null" },
	{ "{\"id\":2,\"method\":\"m\",\"jsonrpc\":\"2.1\"}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"",
	  "2" },
	{ "{\"id\":8,\"params\":{},\"params\":[]}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "duplicate member \"params\"", "8" },
	{ "{\"id\":1,\"id\":\"1\",\"method\":\"m\"}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "duplicate member \"id\"", NULL },
	{ "{\"id\":1.5,\"method\":\"a\",\"method\":\"b\"}", 0,
	  PROTO_ERR_INVALID, JRPC_INVALID_REQUEST, "\"id\" must be", NULL },
	/* malformed answers to server requests: their id is not echoed */
	{ "{\"id\":5,\"result\":1,\"result\":2}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "duplicate member \"result\"", NULL },
	{ "{\"id\":6,\"error\":{\"code\":1}}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"error\" has no \"message\"", NULL },
	{ "{\"id\":7,\"error\":null}", 0, PROTO_ERR_INVALID,
	  JRPC_INVALID_REQUEST, "\"error\" must be an object, not null", NULL },
	/* a control byte before anything else, and after a multibyte character */
	{ "\x1b[0m", 0, PROTO_ERR_JSON, JRPC_PARSE_ERROR,
	  "control character 0x1b at byte 0", NULL },
	{ "{\"method\":\"\xc3\xa9\x7f\x1f\"}", 0, PROTO_ERR_JSON,
	  JRPC_PARSE_ERROR, "control character 0x1f at byte 14", NULL },
};

#define NVALID (sizeof(valid) / sizeof(valid[0]))
#define NREJECT (sizeof(rejects) / sizeof(rejects[0]))

/* Returns a malloc'd copy of exactly len bytes, so overreads are caught. */
static char *
exact_copy(const char *text, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		bail("out of memory");
	if (len > 0)
		memcpy(p, text, len);
	return p;
}

static int
parse_exact(const char *text, size_t len, struct jrpc_msg *msg,
    struct jrpc_reject *rej)
{
	char *copy = exact_copy(text, len);
	int r;

	r = jrpc_parse(copy, len, msg, rej);
	free(copy);
	return r;
}

/* Printed form of a cJSON value, in a static buffer (for comparisons). */
static const char *
printed(const cJSON *v)
{
	static char out[256];
	char *s;

	if (v == NULL)
		return NULL;
	if ((s = cJSON_PrintUnformatted(v)) == NULL)
		bail("out of memory");
	strncpy(out, s, sizeof(out) - 1);
	out[sizeof(out) - 1] = '\0';
	cJSON_free(s);
	return out;
}

static void
test_valid(void)
{
	struct jrpc_msg msg;
	struct jrpc_reject rej;
	const struct valid_case *c;
	size_t i;
	int r;

	for (i = 0; i < NVALID; i++) {
		c = &valid[i];
		r = parse_exact(c->text, strlen(c->text), &msg, &rej);
		if (!is_int(r, 0, "valid %zu parses", i)) {
			diag("    %s: %s", c->text, rej.message);
			cJSON_Delete(rej.id);
			continue;
		}
		ok(msg.kind == c->kind && msg.root != NULL &&
		    (c->method == NULL ? msg.method == NULL :
		    msg.method != NULL && strcmp(msg.method, c->method) == 0) &&
		    (msg.params != NULL) == c->params &&
		    (c->kind == JRPC_RESPONSE) == (msg.result != NULL) &&
		    (c->kind == JRPC_ERROR_RESPONSE) == (msg.error != NULL) &&
		    (c->kind == JRPC_NOTIFICATION) == (msg.id == NULL) &&
		    msg.error_code == c->code,
		    "valid %zu is a %s as expected", i, jrpc_kind_name(c->kind));
		if (c->id != NULL)
			is_str(printed(msg.id), c->id, "valid %zu id", i);
		ok(rej.id == NULL && rej.code == 0, "valid %zu leaves no reject", i);
		jrpc_msg_free(&msg);
		ok(msg.root == NULL, "valid %zu freed", i);
	}

	/* The ids cJSON would print in another form. */
	r = jrpc_parse(valid[13].text, strlen(valid[13].text), &msg, &rej);
	ok(r == 0 && cJSON_IsNumber(msg.id) &&
	    msg.id->valuedouble == 9007199254740992.0, "id 2^53 accepted");
	jrpc_msg_free(&msg);
	r = jrpc_parse(valid[15].text, strlen(valid[15].text), &msg, &rej);
	ok(r == 0 && cJSON_IsNumber(msg.id) && msg.id->valuedouble == 0,
	    "id -0 accepted");
	jrpc_msg_free(&msg);
}

static void
test_rejects(void)
{
	struct jrpc_msg msg, sentinel;
	struct jrpc_reject rej;
	const struct reject_case *c;
	size_t i, len;
	int r;

	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (i = 0; i < NREJECT; i++) {
		c = &rejects[i];
		len = c->len != 0 ? c->len : strlen(c->text);
		msg = sentinel;
		r = parse_exact(c->text, len, &msg, &rej);
		is_int(r, c->ret, "reject %zu returns %s", i,
		    proto_strerror(c->ret));
		is_int(rej.code, c->code, "reject %zu code", i);
		if (!ok(strstr(rej.message, c->reason) != NULL,
		    "reject %zu reason names the problem", i))
			diag("    got \"%s\", want \"%s\"", rej.message,
			    c->reason);
		is_str(printed(rej.id), c->id, "reject %zu id recovered", i);
		ok(memcmp(&msg, &sentinel, sizeof(msg)) == 0,
		    "reject %zu leaves msg untouched", i);
		cJSON_Delete(rej.id);
	}
}

/* A malformed UTF-8 sequence and where in it the error is. */
struct utf8_case {
	const char *bytes;
	size_t at;            /* offset of the reported byte within bytes */
	const char *why;
};

static const struct utf8_case bad_utf8[] = {
	{ "\x80", 0, "unexpected continuation byte" },
	{ "\xbf", 0, "unexpected continuation byte" },
	{ "\xc3\xa9\x80", 2, "unexpected continuation byte" },
	{ "\xc0\xaf", 0, "overlong encoding" },
	{ "\xc1\xbf", 0, "overlong encoding" },
	{ "\xc0\x80", 0, "overlong encoding" },
	{ "\xe0\x80\xaf", 0, "overlong encoding" },
	{ "\xe0\x9f\xbf", 0, "overlong encoding" },
	{ "\xf0\x80\x80\xaf", 0, "overlong encoding" },
	{ "\xf0\x8f\xbf\xbf", 0, "overlong encoding" },
	{ "\xed\xa0\x80", 0, "UTF-16 surrogate" },
	{ "\xed\xbf\xbf", 0, "UTF-16 surrogate" },
	{ "\xe2\x82\xac\xed\xa0\xbd\xed\xb8\x80", 3, "UTF-16 surrogate" },
	{ "\xf4\x90\x80\x80", 0, "above U+10FFFF" },
	{ "\xf4\xbf\xbf\xbf", 0, "above U+10FFFF" },
	{ "\xf5\x80\x80\x80", 0, "above U+10FFFF" },
	{ "\xf7\xbf\xbf\xbf", 0, "above U+10FFFF" },
	{ "\xf8\x88\x80\x80\x80", 0, "a byte UTF-8 never uses" },
	{ "\xfc\x84\x80\x80\x80\x80", 0, "a byte UTF-8 never uses" },
	{ "\xfe", 0, "a byte UTF-8 never uses" },
	{ "\xff", 0, "a byte UTF-8 never uses" },
	{ "\xc3", 0, "truncated sequence" },
	{ "\xe2\x82", 0, "truncated sequence" },
	{ "\xf0\x9f\x98", 0, "truncated sequence" },
	{ "\xe2\x28\xa1", 0, "truncated sequence" },
	{ "\xf0\x9f\x98\x28", 0, "truncated sequence" },
	{ "a\xc3\xa9\xc3", 3, "truncated sequence" },
};

/* Where a bad sequence goes: between prefix and suffix. */
static const struct {
	const char *where, *prefix, *suffix;
} utf8_places[] = {
	{ "at the start", "", "{\"id\":1,\"method\":\"m\"}" },
	{ "in a string", "{\"id\":1,\"method\":\"m\",\"params\":{\"s\":\"x",
	  "y\"}}" },
	{ "in a key", "{\"id\":1,\"method\":\"m\",\"params\":{\"", "\":1}}" },
	{ "in the id", "{\"id\":\"", "\",\"method\":\"m\"}" },
	{ "in the method", "{\"id\":2,\"method\":\"", "\"}" },
	{ "at the end", "{\"id\":1,\"method\":\"m\"}", "" },
};

/*
 * Each malformed sequence in each place is a parse error naming the byte, with
 * no id (one inside the id must not be echoed) and msg untouched.
 */
static void
test_utf8(void)
{
	struct jrpc_msg msg, sentinel;
	struct jrpc_reject rej;
	char text[256], want[128];
	size_t i, k, pl, bl, sl;
	int r;

	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		for (k = 0; k < sizeof(utf8_places) / sizeof(utf8_places[0]); k++) {
			pl = strlen(utf8_places[k].prefix);
			bl = strlen(bad_utf8[i].bytes);
			sl = strlen(utf8_places[k].suffix);
			if (pl + bl + sl > sizeof(text))
				bail("utf8 case %zu too long", i);
			memcpy(text, utf8_places[k].prefix, pl);
			memcpy(text + pl, bad_utf8[i].bytes, bl);
			memcpy(text + pl + bl, utf8_places[k].suffix, sl);
			snprintf(want, sizeof(want), "invalid UTF-8 at byte %zu (0x%02x): ",
			    pl + bad_utf8[i].at,
			    (unsigned char)bad_utf8[i].bytes[bad_utf8[i].at]);
			msg = sentinel;
			r = parse_exact(text, pl + bl + sl, &msg, &rej);
			if (!ok(r == PROTO_ERR_JSON && rej.code == JRPC_PARSE_ERROR &&
			    rej.id == NULL && strstr(rej.message, want) != NULL &&
			    strstr(rej.message, bad_utf8[i].why) != NULL &&
			    memcmp(&msg, &sentinel, sizeof(msg)) == 0,
			    "bad UTF-8 %zu %s: %s", i, utf8_places[k].where,
			    bad_utf8[i].why))
				diag("    got %d \"%s\", want \"%s%s\"", r,
				    rej.message, want, bad_utf8[i].why);
			cJSON_Delete(rej.id);
		}
	}
}

/*
 * Every proper prefix of a message must fail to parse (or, where only trailing
 * whitespace was cut, give the same message); it must never crash or change kind.
 */
static void
test_truncated(void)
{
	struct jrpc_msg msg;
	struct jrpc_reject rej;
	size_t i, n, len, bad, valid_prefixes;
	int r;

	for (i = 0; i < NVALID; i++) {
		len = strlen(valid[i].text);
		bad = 0;
		valid_prefixes = 0;
		for (n = 0; n < len; n++) {
			r = parse_exact(valid[i].text, n, &msg, &rej);
			if (r == 0) {
				valid_prefixes++;
				if (msg.kind != valid[i].kind)
					bad++;
				jrpc_msg_free(&msg);
			} else {
				if (r != PROTO_ERR_JSON ||
				    rej.code != JRPC_PARSE_ERROR)
					bad++;
				cJSON_Delete(rej.id);
			}
		}
		ok(bad == 0, "valid %zu: %zu prefixes, %zu parse (same kind)",
		    i, len, valid_prefixes);
	}
}

static char *
nested(size_t depth)
{
	const char *head = "{\"id\":1,\"method\":\"m\",\"params\":";
	size_t hl = strlen(head), i;
	char *s = malloc(hl + 2 * depth + 2);

	if (s == NULL)
		bail("out of memory");
	memcpy(s, head, hl);
	for (i = 0; i < depth; i++) {
		s[hl + i] = '[';
		s[hl + depth + i] = ']';
	}
	s[hl + 2 * depth] = '}';
	s[hl + 2 * depth + 1] = '\0';
	return s;
}

static void
test_nesting(void)
{
	struct jrpc_msg msg;
	struct jrpc_reject rej;
	char *s;
	int r;

	s = nested(900);
	r = jrpc_parse(s, strlen(s), &msg, &rej);
	ok(r == 0 && msg.kind == JRPC_REQUEST, "params nested 900 deep parse");
	if (r == 0)
		jrpc_msg_free(&msg);
	free(s);

	s = nested(100000);
	r = jrpc_parse(s, strlen(s), &msg, &rej);
	ok(r == PROTO_ERR_JSON && rej.code == JRPC_PARSE_ERROR &&
	    rej.id == NULL, "params nested 100000 deep are refused");
	free(s);
}

struct text_case {
	const char *id;       /* JSON of the id, or NULL */
	int code;
	const char *message;
	const char *data;     /* JSON, or NULL */
	const char *want;
};

static const struct text_case error_texts[] = {
	{ NULL, JRPC_PARSE_ERROR, "parse error", NULL,
	  "{\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse error\"}}" },
	{ "null", JRPC_INVALID_REQUEST, "message too large", NULL,
	  "{\"id\":null,\"error\":{\"code\":-32600,"
	  "\"message\":\"message too large\"}}" },
	{ "7", JRPC_METHOD_NOT_FOUND, "method \"x\" not found\n", NULL,
	  "{\"id\":7,\"error\":{\"code\":-32601,"
	  "\"message\":\"method \\\"x\\\" not found\\n\"}}" },
	{ "\"a\\\"b\"", JRPC_OVERLOADED, "", NULL,
	  "{\"id\":\"a\\\"b\",\"error\":{\"code\":-32001,\"message\":\"\"}}" },
	{ "9007199254740992", 0, "m", NULL,
	  "{\"id\":9007199254740992,\"error\":{\"code\":0,\"message\":\"m\"}}" },
	{ "-9007199254740992", 1, "m", NULL,
	  "{\"id\":-9007199254740992,\"error\":{\"code\":1,\"message\":\"m\"}}" },
	{ "-0", -2147483647 - 1, "caf\xc3\xa9", NULL,
	  "{\"id\":0,\"error\":{\"code\":-2147483648,"
	  "\"message\":\"caf\xc3\xa9\"}}" },
	{ "3", JRPC_INTERNAL_ERROR, "boom", "{\"k\":[1,true,null]}",
	  "{\"id\":3,\"error\":{\"code\":-32603,\"message\":\"boom\","
	  "\"data\":{\"k\":[1,true,null]}}}" },
	{ "\"r\"", JRPC_INVALID_PARAMS, "bad", "\"detail\"",
	  "{\"id\":\"r\",\"error\":{\"code\":-32602,\"message\":\"bad\","
	  "\"data\":\"detail\"}}" },
};

static cJSON *
parse_or_null(const char *json)
{
	cJSON *v;

	if (json == NULL)
		return NULL;
	if ((v = cJSON_Parse(json)) == NULL)
		bail("bad test JSON %s", json);
	return v;
}

static int
same_id(const cJSON *got, const cJSON *want)
{
	if (want == NULL || cJSON_IsNull(want))
		return cJSON_IsNull(got);
	return cJSON_Compare(got, want, 1);
}

static void
test_error_text(void)
{
	const struct text_case *c;
	struct jrpc_msg msg;
	struct jrpc_reject rej;
	const cJSON *m;
	cJSON *id, *data;
	char *s;
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(error_texts) / sizeof(error_texts[0]); i++) {
		c = &error_texts[i];
		id = parse_or_null(c->id);
		data = parse_or_null(c->data);
		len = 0;
		s = jrpc_error_text(id, c->code, c->message, data, &len);
		if (!is_str(s, c->want, "error text %zu", i)) {
			cJSON_Delete(id);
			cJSON_Delete(data);
			free(s);
			continue;
		}
		is_int((long long)len, (long long)strlen(s),
		    "error text %zu length", i);
		r = parse_exact(s, len, &msg, &rej);
		m = r == 0 ? cJSON_GetObjectItemCaseSensitive(msg.error,
		    "message") : NULL;
		ok(r == 0 && msg.kind == JRPC_ERROR_RESPONSE &&
		    msg.error_code == c->code && same_id(msg.id, id) &&
		    cJSON_IsString(m) && strcmp(m->valuestring, c->message) == 0 &&
		    (data == NULL ? cJSON_GetObjectItemCaseSensitive(msg.error,
		    "data") == NULL : cJSON_Compare(data,
		    cJSON_GetObjectItemCaseSensitive(msg.error, "data"), 1)),
		    "error text %zu parses back", i);
		if (r == 0)
			jrpc_msg_free(&msg);
		else
			cJSON_Delete(rej.id);
		free(s);
		cJSON_Delete(id);
		cJSON_Delete(data);
	}
	s = jrpc_error_text(NULL, 1, "x", NULL, NULL);
	is_str(s, "{\"id\":null,\"error\":{\"code\":1,\"message\":\"x\"}}",
	    "error text without a length pointer");
	free(s);
}

static void
test_result_text(void)
{
	static const struct {
		const char *id, *result, *want;
	} cases[] = {
		{ "3", "{\"a\":1}", "{\"id\":3,\"result\":{\"a\":1}}" },
		{ NULL, "null", "{\"id\":null,\"result\":null}" },
		{ "\"s\"", "[1,\"two\",{}]", "{\"id\":\"s\",\"result\":[1,\"two\",{}]}" },
		{ "0", "{\"sessions\":[],\"version\":\"1\"}",
		  "{\"id\":0,\"result\":{\"sessions\":[],\"version\":\"1\"}}" },
	};
	struct jrpc_msg msg;
	struct jrpc_reject rej;
	cJSON *id, *res;
	char *s;
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		id = parse_or_null(cases[i].id);
		res = parse_or_null(cases[i].result);
		s = jrpc_result_text(id, res, &len);
		if (is_str(s, cases[i].want, "result text %zu", i)) {
			r = parse_exact(s, len, &msg, &rej);
			ok(r == 0 && msg.kind == JRPC_RESPONSE &&
			    same_id(msg.id, id) &&
			    cJSON_Compare(msg.result, res, 1),
			    "result text %zu parses back", i);
			if (r == 0)
				jrpc_msg_free(&msg);
			else
				cJSON_Delete(rej.id);
		}
		free(s);
		cJSON_Delete(id);
		cJSON_Delete(res);
	}
}

/* An allocator for cJSON that fails the fail_at'th call. */
static long alloc_calls, fail_at = -1;

static void *
failing_malloc(size_t n)
{
	if (alloc_calls++ == fail_at)
		return NULL;
	return malloc(n);
}

static void
test_nomem(void)
{
	cJSON_Hooks hooks = { failing_malloc, free };
	struct jrpc_msg msg;
	struct jrpc_reject rej;
	const char *bad = "{\"id\":\"abc\",\"method\":5}";
	const char *good = "{\"id\":1,\"method\":\"m\",\"params\":{\"a\":[1]}}";
	cJSON *id, *data;
	char *s;
	long k;
	int r, odd = 0, nomem = 0;

	id = cJSON_CreateString("id");
	data = cJSON_CreateObject();
	if (id == NULL || data == NULL ||
	    cJSON_AddNumberToObject(data, "n", 1) == NULL)
		bail("out of memory");
	cJSON_InitHooks(&hooks);
	for (k = 0; k < 100; k++) {
		alloc_calls = 0;
		fail_at = k;
		r = jrpc_parse(bad, strlen(bad), &msg, &rej);
		if (r == PROTO_ERR_NOMEM)
			nomem++;
		else if (r == PROTO_ERR_INVALID)
			odd += rej.id == NULL || !cJSON_IsString(rej.id);
		else if (r != PROTO_ERR_JSON)
			odd++;
		cJSON_Delete(rej.id);
		r = jrpc_parse(good, strlen(good), &msg, &rej);
		if (r == 0)
			jrpc_msg_free(&msg);
		else if (r != PROTO_ERR_JSON)
			odd++;
		s = jrpc_error_text(id, 1, "m", data, NULL);
		if (s != NULL && strcmp(s, "{\"id\":\"id\",\"error\":{\"code\":1,"
		    "\"message\":\"m\",\"data\":{\"n\":1}}}") != 0)
			odd++;
		free(s);
		s = jrpc_result_text(id, data, NULL);
		if (s != NULL &&
		    strcmp(s, "{\"id\":\"id\",\"result\":{\"n\":1}}") != 0)
			odd++;
		free(s);
		if (alloc_calls <= k)
			break;
	}
	fail_at = -1;
	cJSON_InitHooks(NULL);
	ok(odd == 0 && nomem > 0 && k < 100,
	    "allocation failures are reported, never half-done (%ld points)", k);
	cJSON_Delete(id);
	cJSON_Delete(data);
}

static void
test_misc(void)
{
	struct jrpc_msg msg;

	is_str(jrpc_kind_name(JRPC_REQUEST), "request", "kind name request");
	is_str(jrpc_kind_name(JRPC_NOTIFICATION), "notification",
	    "kind name notification");
	is_str(jrpc_kind_name(JRPC_RESPONSE), "response", "kind name response");
	is_str(jrpc_kind_name(JRPC_ERROR_RESPONSE), "error response",
	    "kind name error response");
	is_str(jrpc_kind_name((enum jrpc_kind)0), "unknown", "kind name other");
	memset(&msg, 0, sizeof(msg));
	jrpc_msg_free(&msg);
	jrpc_msg_free(NULL);
	ok(1, "jrpc_msg_free takes a zeroed msg and NULL");
}

int
main(void)
{
	plan_lazy();
	test_valid();
	test_rejects();
	test_utf8();
	test_truncated();
	test_nesting();
	test_error_text();
	test_result_text();
	test_nomem();
	test_misc();
	return done_testing();
}
