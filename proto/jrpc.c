/*
 * jrpc.c - classifies JSON-RPC messages and builds the replies the tunnel writes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jrpc.h"

/*
 * Integer ids are kept within +-2^53: beyond that a double cannot hold every
 * integer, so a reply built from the parsed value could carry a different id.
 */
#define JRPC_ID_MAX 9007199254740992.0

/* The members a message is classified by; anything else is ignored. */
enum {
	M_JSONRPC,
	M_ID,
	M_METHOD,
	M_PARAMS,
	M_RESULT,
	M_ERROR,
	M_COUNT
};
static const char *const msg_members[M_COUNT] = {
	"jsonrpc", "id", "method", "params", "result", "error"
};

enum {
	E_CODE,
	E_MESSAGE,
	E_DATA,
	E_COUNT
};
static const char *const error_members[E_COUNT] = {
	"code", "message", "data"
};

static void reject(struct jrpc_reject *, int, const char *, ...)
    PROTO_PRINTF(3, 4);

static void
reject(struct jrpc_reject *rej, int code, const char *fmt, ...)
{
	va_list ap;

	rej->code = code;
	va_start(ap, fmt);
	vsnprintf(rej->message, sizeof(rej->message), fmt, ap);
	va_end(ap);
}

static const char *
type_name(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "an object";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	return "an unknown value";
}

/* Without libm: NaN and infinities fail the range test, so the cast is defined. */
static int
is_integral(double d, double limit)
{
	return d >= -limit && d <= limit && d == (double)(long long)d;
}

/*
 * Collects the first of each member of obj named in names[] into out[] and
 * returns the index of the first name seen twice, or -1. A duplicate is refused
 * by the caller: cJSON would silently pick the first, the backend may not.
 */
static int
collect(const cJSON *obj, const char *const *names, size_t n,
    const cJSON **out)
{
	const cJSON *c;
	size_t i;
	int dup = -1;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	for (c = obj->child; c != NULL; c = c->next) {
		if (c->string == NULL)
			continue;
		for (i = 0; i < n; i++) {
			if (strcmp(c->string, names[i]) != 0)
				continue;
			if (out[i] == NULL)
				out[i] = c;
			else if (dup < 0)
				dup = (int)i;
			break;
		}
	}
	return dup;
}

static int
check_id(const cJSON *id, struct jrpc_reject *rej)
{
	double d;

	if (cJSON_IsString(id) || cJSON_IsNull(id))
		return 0;
	if (!cJSON_IsNumber(id)) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"id\" must be an integer, a string or null, not %s",
		    type_name(id));
		return -1;
	}
	d = id->valuedouble;
	if (is_integral(d, JRPC_ID_MAX))
		return 0;
	if (d >= -JRPC_ID_MAX && d <= JRPC_ID_MAX)
		reject(rej, JRPC_INVALID_REQUEST, "\"id\" must be an integer, "
		    "a string or null, not a fractional number");
	else
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"id\" must be an integer within +-2^53");
	return -1;
}

static int
check_error(const cJSON *err, int *codep, struct jrpc_reject *rej)
{
	const cJSON *m[E_COUNT];
	int dup;

	if (!cJSON_IsObject(err)) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"error\" must be an object, not %s", type_name(err));
		return -1;
	}
	if ((dup = collect(err, error_members, E_COUNT, m)) >= 0) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "duplicate member \"error.%s\"", error_members[dup]);
		return -1;
	}
	if (m[E_CODE] == NULL) {
		reject(rej, JRPC_INVALID_REQUEST, "\"error\" has no \"code\"");
		return -1;
	}
	if (!cJSON_IsNumber(m[E_CODE])) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"error.code\" must be an integer, not %s",
		    type_name(m[E_CODE]));
		return -1;
	}
	if (!is_integral(m[E_CODE]->valuedouble, 2147483648.0) ||
	    m[E_CODE]->valuedouble == 2147483648.0) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"error.code\" must be a 32-bit integer");
		return -1;
	}
	if (m[E_MESSAGE] == NULL) {
		reject(rej, JRPC_INVALID_REQUEST, "\"error\" has no \"message\"");
		return -1;
	}
	if (!cJSON_IsString(m[E_MESSAGE])) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"error.message\" must be a string, not %s",
		    type_name(m[E_MESSAGE]));
		return -1;
	}
	*codep = (int)m[E_CODE]->valuedouble;
	return 0;
}

/* Validates root and fills msg; on failure fills rej (code and message only). */
static int
classify(cJSON *root, struct jrpc_msg *msg, struct jrpc_reject *rej,
    const cJSON **idp)
{
	const cJSON *m[M_COUNT];
	int code = 0, dup;

	*idp = NULL;
	if (cJSON_IsArray(root)) {
		/* One error for the whole batch, as JSON-RPC 2.0 (6) has for []. */
		reject(rej, JRPC_INVALID_REQUEST, "batch requests are not "
		    "supported: send one message at a time");
		return -1;
	}
	if (!cJSON_IsObject(root)) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "message must be a JSON object, not %s", type_name(root));
		return -1;
	}
	if ((dup = collect(root, msg_members, M_COUNT, m)) == M_ID) {
		reject(rej, JRPC_INVALID_REQUEST, "duplicate member \"id\"");
		return -1;
	}

	/* A valid id is worth recovering before any later check fails. */
	if (m[M_ID] != NULL) {
		if (check_id(m[M_ID], rej) != 0)
			return -1;
		/*
		 * A response's id belongs to the server's numbering: echoing it
		 * would look like an answer to the client's own request.
		 */
		if (m[M_METHOD] != NULL ||
		    (m[M_RESULT] == NULL && m[M_ERROR] == NULL))
			*idp = m[M_ID];
	}
	if (dup >= 0) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "duplicate member \"%s\"", msg_members[dup]);
		return -1;
	}
	if (m[M_JSONRPC] != NULL && (!cJSON_IsString(m[M_JSONRPC]) ||
	    strcmp(m[M_JSONRPC]->valuestring, "2.0") != 0)) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"jsonrpc\" must be \"2.0\" when present");
		return -1;
	}
	if (m[M_METHOD] != NULL && !cJSON_IsString(m[M_METHOD])) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"method\" must be a string, not %s",
		    type_name(m[M_METHOD]));
		return -1;
	}
	/* "params": null counts as absent: Codex's app server sends it to its
	 * exec-servers (environment/info, environment/status), and they take
	 * it. */
	if (m[M_PARAMS] != NULL && cJSON_IsNull(m[M_PARAMS]))
		m[M_PARAMS] = NULL;
	if (m[M_PARAMS] != NULL && !cJSON_IsObject(m[M_PARAMS]) &&
	    !cJSON_IsArray(m[M_PARAMS])) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "\"params\" must be an object or an array, not %s",
		    type_name(m[M_PARAMS]));
		return -1;
	}

	memset(msg, 0, sizeof(*msg));
	msg->root = root;
	msg->id = m[M_ID];
	msg->params = m[M_PARAMS];
	if (m[M_METHOD] != NULL) {
		msg->kind = m[M_ID] != NULL ? JRPC_REQUEST : JRPC_NOTIFICATION;
		msg->method = m[M_METHOD]->valuestring;
		return 0;
	}
	if (m[M_RESULT] == NULL && m[M_ERROR] == NULL) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "message has no \"method\", \"result\" or \"error\"");
		return -1;
	}
	if (m[M_RESULT] != NULL && m[M_ERROR] != NULL) {
		reject(rej, JRPC_INVALID_REQUEST,
		    "response has both \"result\" and \"error\"");
		return -1;
	}
	if (m[M_ID] == NULL) {
		reject(rej, JRPC_INVALID_REQUEST, "response has no \"id\"");
		return -1;
	}
	if (m[M_RESULT] != NULL) {
		msg->kind = JRPC_RESPONSE;
		msg->result = m[M_RESULT];
		return 0;
	}
	if (check_error(m[M_ERROR], &code, rej) != 0)
		return -1;
	msg->kind = JRPC_ERROR_RESPONSE;
	msg->error = m[M_ERROR];
	msg->error_code = code;
	return 0;
}

/*
 * Returns the length of the UTF-8 sequence at p (n > 0 bytes left), or 0 with
 * *why set. Only the shortest encoding of a Unicode scalar value is valid (RFC
 * 3629): overlongs, surrogates (ED A0..BF) and anything above U+10FFFF are
 * malformed like a stray or missing continuation byte. The first continuation
 * byte's range is what rules them out, so it is narrowed per lead byte.
 */
static size_t
utf8_len(const unsigned char *p, size_t n, const char **why)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	const char *narrowed = "malformed sequence";
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc0) {
		*why = "unexpected continuation byte";
		return 0;
	}
	if (c < 0xc2) {
		*why = "overlong encoding";
		return 0;
	}
	if (c < 0xe0)
		need = 1;
	else if (c < 0xf0) {
		need = 2;
		if (c == 0xe0) {
			lo = 0xa0;
			narrowed = "overlong encoding";
		} else if (c == 0xed) {
			hi = 0x9f;
			narrowed = "UTF-16 surrogate";
		}
	} else if (c < 0xf5) {
		need = 3;
		if (c == 0xf0) {
			lo = 0x90;
			narrowed = "overlong encoding";
		} else if (c == 0xf4) {
			hi = 0x8f;
			narrowed = "code point above U+10FFFF";
		}
	} else {
		*why = c < 0xf8 ? "code point above U+10FFFF" :
		    "a byte UTF-8 never uses";
		return 0;
	}
	for (i = 1; i <= need; i++) {
		if (i >= n || (p[i] & 0xc0) != 0x80) {
			*why = "truncated sequence";
			return 0;
		}
		if (i == 1 && (p[1] < lo || p[1] > hi)) {
			*why = narrowed;
			return 0;
		}
	}
	return need + 1;
}

/*
 * cJSON skips any byte up to 0x20 as whitespace, keeps raw control bytes in
 * strings and copies any byte above 0x7f; JSON allows neither control bytes nor
 * malformed UTF-8, so both are refused before cJSON sees them. A backend (or a
 * client reading our error replies, which echo ids) need not cope with them.
 */
static int
check_bytes(const char *text, size_t len, struct jrpc_reject *rej)
{
	const unsigned char *p = (const unsigned char *)text;
	const char *why = NULL;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] >= 0x20 && p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] < 0x20) {
			if (p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
				reject(rej, JRPC_PARSE_ERROR,
				    "control character 0x%02x at byte %zu", p[i], i);
				return -1;
			}
			i++;
			continue;
		}
		if ((n = utf8_len(p + i, len - i, &why)) == 0) {
			reject(rej, JRPC_PARSE_ERROR,
			    "invalid UTF-8 at byte %zu (0x%02x): %s", i, p[i], why);
			return -1;
		}
		i += n;
	}
	return 0;
}

static int
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
jrpc_parse(const char *text, size_t len, struct jrpc_msg *msg,
    struct jrpc_reject *rej)
{
	struct jrpc_msg parsed;
	const cJSON *id = NULL;
	const char *end = NULL;
	cJSON *root = NULL;
	size_t i;
	int r = PROTO_ERR_JSON;

	rej->code = 0;
	rej->message[0] = '\0';
	rej->id = NULL;

	if (check_bytes(text, len, rej) != 0)
		goto out;
	for (i = 0; i < len && is_json_space(text[i]); i++)
		;
	if (i == len) {
		reject(rej, JRPC_PARSE_ERROR, "empty message");
		goto out;
	}
	/*
	 * cJSON's require_null_terminated flag wants a NUL inside the length, so
	 * the end of the value is checked here instead.
	 */
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root == NULL) {
		reject(rej, JRPC_PARSE_ERROR, "invalid JSON at byte %zu",
		    end != NULL && end >= text ? (size_t)(end - text) : 0);
		goto out;
	}
	for (i = (size_t)(end - text); i < len; i++) {
		if (!is_json_space(text[i])) {
			reject(rej, JRPC_PARSE_ERROR,
			    "unexpected data after the JSON value at byte %zu", i);
			goto out;
		}
	}
	r = PROTO_ERR_INVALID;
	if (classify(root, &parsed, rej, &id) != 0) {
		if (id != NULL && (rej->id = cJSON_Duplicate(id, 1)) == NULL)
			r = PROTO_ERR_NOMEM;
		goto out;
	}
	*msg = parsed;
	root = NULL;
	r = 0;
 out:
	cJSON_Delete(root);
	return r;
}

void
jrpc_msg_free(struct jrpc_msg *msg)
{
	if (msg == NULL)
		return;
	cJSON_Delete(msg->root);
	memset(msg, 0, sizeof(*msg));
}

/*
 * Returns the JSON text of id: a literal, num (integers are printed exactly, which
 * cJSON does not do above 1e15) or a cJSON-printed string stored in *printed.
 */
static const char *
id_text(const cJSON *id, char *num, size_t numlen, char **printed)
{
	double d;

	*printed = NULL;
	if (id == NULL || cJSON_IsNull(id))
		return "null";
	if (cJSON_IsNumber(id) && is_integral(id->valuedouble, JRPC_ID_MAX)) {
		d = id->valuedouble;
		snprintf(num, numlen, "%.0f", d == 0 ? 0.0 : d);
		return num;
	}
	*printed = cJSON_PrintUnformatted(id);
	return *printed;
}

/* Concatenates n strings into one malloc'd string. */
static char *
concat(const char *const *parts, size_t n, size_t *lenp)
{
	size_t i, len = 0, l;
	char *s, *p;

	for (i = 0; i < n; i++)
		len += strlen(parts[i]);
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (p = s, i = 0; i < n; i++) {
		l = strlen(parts[i]);
		memcpy(p, parts[i], l);
		p += l;
	}
	*p = '\0';
	if (lenp != NULL)
		*lenp = len;
	return s;
}

char *
jrpc_error_text(const cJSON *id, int code, const char *message,
    const cJSON *data, size_t *lenp)
{
	char num[32], codetext[16];
	char *idprinted = NULL, *msgtext = NULL, *datatext = NULL, *out = NULL;
	const char *idtext;
	const char *parts[9];
	cJSON *m = NULL;
	size_t n = 0;

	if ((idtext = id_text(id, num, sizeof(num), &idprinted)) == NULL)
		goto out;
	if ((m = cJSON_CreateString(message)) == NULL ||
	    (msgtext = cJSON_PrintUnformatted(m)) == NULL)
		goto out;
	if (data != NULL && (datatext = cJSON_PrintUnformatted(data)) == NULL)
		goto out;
	snprintf(codetext, sizeof(codetext), "%d", code);
	parts[n++] = "{\"id\":";
	parts[n++] = idtext;
	parts[n++] = ",\"error\":{\"code\":";
	parts[n++] = codetext;
	parts[n++] = ",\"message\":";
	parts[n++] = msgtext;
	if (datatext != NULL) {
		parts[n++] = ",\"data\":";
		parts[n++] = datatext;
	}
	parts[n++] = "}}";
	out = concat(parts, n, lenp);
 out:
	cJSON_free(idprinted);
	cJSON_free(msgtext);
	cJSON_free(datatext);
	cJSON_Delete(m);
	return out;
}

char *
jrpc_result_text(const cJSON *id, const cJSON *result, size_t *lenp)
{
	char num[32];
	char *idprinted = NULL, *restext = NULL, *out = NULL;
	const char *idtext;
	const char *parts[5];

	if ((idtext = id_text(id, num, sizeof(num), &idprinted)) == NULL)
		goto out;
	if ((restext = cJSON_PrintUnformatted(result)) == NULL)
		goto out;
	parts[0] = "{\"id\":";
	parts[1] = idtext;
	parts[2] = ",\"result\":";
	parts[3] = restext;
	parts[4] = "}";
	out = concat(parts, 5, lenp);
 out:
	cJSON_free(idprinted);
	cJSON_free(restext);
	return out;
}

const char *
jrpc_kind_name(enum jrpc_kind kind)
{
	switch (kind) {
	case JRPC_REQUEST:
		return "request";
	case JRPC_NOTIFICATION:
		return "notification";
	case JRPC_RESPONSE:
		return "response";
	case JRPC_ERROR_RESPONSE:
		return "error response";
	}
	return "unknown";
}
