/*
 * fuzz-jrpc.c - parses the input as one JSON-RPC message. A valid message must
 * survive cJSON's re-serialisation with its kind intact, and every reply built
 * from a message or a rejection must parse back as what it claims to be.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/jrpc.h"
#include "tests/fuzz/fuzz.h"

static int
acceptable_id(const cJSON *id)
{
	return cJSON_IsNumber(id) || cJSON_IsString(id) || cJSON_IsNull(id);
}

static void
check_shape(const struct jrpc_msg *m)
{
	switch (m->kind) {
	case JRPC_REQUEST:
	case JRPC_NOTIFICATION:
		if (m->method == NULL || m->result != NULL || m->error != NULL ||
		    (m->kind == JRPC_REQUEST) != (m->id != NULL))
			abort();
		break;
	case JRPC_RESPONSE:
		if (m->id == NULL || m->result == NULL || m->error != NULL ||
		    m->method != NULL)
			abort();
		break;
	case JRPC_ERROR_RESPONSE:
		if (m->id == NULL || m->error == NULL || m->result != NULL ||
		    m->method != NULL)
			abort();
		break;
	default:
		abort();
	}
	if (m->id != NULL && !acceptable_id(m->id))
		abort();
	if (m->params != NULL && !cJSON_IsObject(m->params) &&
	    !cJSON_IsArray(m->params))
		abort();
}

/* Parses a reply we built and checks it is the error or result it should be. */
static void
check_reply(char *text, size_t len, const cJSON *id, enum jrpc_kind kind,
    int code)
{
	struct jrpc_msg m;
	struct jrpc_reject rej;

	if (text == NULL)
		abort();
	if (strlen(text) != len ||
	    jrpc_parse(text, len, &m, &rej) != 0 || m.kind != kind ||
	    (kind == JRPC_ERROR_RESPONSE && m.error_code != code))
		abort();
	if (id == NULL || cJSON_IsNull(id)) {
		if (!cJSON_IsNull(m.id))
			abort();
	} else if (!cJSON_Compare(m.id, id, 1))
		abort();
	jrpc_msg_free(&m);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jrpc_msg msg, again;
	struct jrpc_reject rej;
	char *text;
	size_t len;
	int r;

	r = jrpc_parse((const char *)data, size, &msg, &rej);
	if (r != 0) {
		if (memchr(rej.message, '\0', sizeof(rej.message)) == NULL ||
		    rej.message[0] == '\0')
			abort();
		if (!(r == PROTO_ERR_JSON && rej.code == JRPC_PARSE_ERROR &&
		    rej.id == NULL) &&
		    !(r == PROTO_ERR_INVALID && rej.code == JRPC_INVALID_REQUEST))
			abort();
		if (rej.id != NULL && !acceptable_id(rej.id))
			abort();
		text = jrpc_error_text(rej.id, rej.code, rej.message, NULL, &len);
		check_reply(text, len, rej.id, JRPC_ERROR_RESPONSE, rej.code);
		cJSON_Delete(rej.id);
		return 0;
	}
	check_shape(&msg);

	if ((text = cJSON_PrintUnformatted(msg.root)) == NULL)
		abort();
	if (jrpc_parse(text, strlen(text), &again, &rej) != 0 ||
	    again.kind != msg.kind ||
	    (msg.method != NULL && strcmp(msg.method, again.method) != 0) ||
	    again.error_code != msg.error_code ||
	    (again.params == NULL) != (msg.params == NULL))
		abort();
	jrpc_msg_free(&again);
	cJSON_free(text);

	if (msg.kind == JRPC_RESPONSE) {
		text = jrpc_result_text(msg.id, msg.result, &len);
		check_reply(text, len, msg.id, JRPC_RESPONSE, 0);
	} else if (msg.kind == JRPC_REQUEST) {
		text = jrpc_error_text(msg.id, JRPC_METHOD_NOT_FOUND,
		    msg.method, msg.params, &len);
		check_reply(text, len, msg.id, JRPC_ERROR_RESPONSE,
		    JRPC_METHOD_NOT_FOUND);
	}
	jrpc_msg_free(&msg);
	return 0;
}
