/*
 * jrpc.h - the JSON-RPC 2.0 message model, as the Codex app server speaks it.
 *
 * Codex omits "jsonrpc":"2.0" on the wire; it is accepted if present (any other
 * value is rejected). Ids are integers, strings or null. Errors are returned, never
 * printed.
 */
#ifndef CXS_PROTO_JRPC_H
#define CXS_PROTO_JRPC_H

#include <stddef.h>
#include <cJSON.h>
#include "proto/err.h"

/* Standard and Codex error codes. */
#define JRPC_PARSE_ERROR      -32700
#define JRPC_INVALID_REQUEST  -32600
#define JRPC_METHOD_NOT_FOUND -32601
#define JRPC_INVALID_PARAMS   -32602
#define JRPC_INTERNAL_ERROR   -32603
#define JRPC_OVERLOADED       -32001

enum jrpc_kind {
	JRPC_REQUEST = 1,      /* id + method */
	JRPC_NOTIFICATION,     /* method, no id */
	JRPC_RESPONSE,         /* id + result */
	JRPC_ERROR_RESPONSE    /* id + error{code,message[,data]} */
};

/*
 * A parsed message. Every pointer points into root, which the message owns;
 * jrpc_msg_free() releases it. Absent members are NULL.
 */
struct jrpc_msg {
	enum jrpc_kind kind;
	cJSON *root;          /* the whole object */
	const cJSON *id;      /* number, string or null; NULL for a notification */
	const char *method;   /* requests and notifications */
	const cJSON *params;  /* object or array, if present */
	const cJSON *result;  /* responses */
	const cJSON *error;   /* error responses: the error object */
	int error_code;       /* error responses: error.code */
};

/*
 * Why a text was rejected: code is JRPC_PARSE_ERROR (not JSON) or
 * JRPC_INVALID_REQUEST (JSON, but not a valid message); message is a precise static
 * or bounded reason; id is the request's id when one could be recovered (a copy the
 * caller frees with cJSON_Delete), else NULL (reply with id null).
 */
struct jrpc_reject {
	int code;
	char message[160];
	cJSON *id;
};

/*
 * Parses len bytes of text (need not be NUL-terminated) as one JSON-RPC message.
 * Returns 0 and fills *msg, or PROTO_ERR_JSON / PROTO_ERR_INVALID and fills *rej
 * (*msg untouched). PROTO_ERR_NOMEM on allocation failure.
 *
 * PROTO_ERR_JSON (code JRPC_PARSE_ERROR, rej->id always NULL): empty text, not
 * one JSON value, data after it, nesting deeper than cJSON's limit, a raw
 * control byte other than tab/LF/CR, or malformed UTF-8 anywhere (stray or
 * missing continuation bytes, overlongs, surrogates, above U+10FFFF): the
 * message says what and at which byte (0-based).
 *
 * PROTO_ERR_INVALID (code JRPC_INVALID_REQUEST): JSON that is not one message
 * object: an array (a batch: unsupported, one rejection for all of it), a
 * scalar, a duplicated member, "jsonrpc" other than "2.0", an id that is not a
 * string, null or integer within +-2^53, "method" not a string, "params" not an
 * object or array, no "method"/"result"/"error", a response without an id or
 * with both "result" and "error", or a bad "error" object. rej->id is the
 * message's id when that id is itself valid and unique, unless the message has
 * "result" or "error" and no "method": a response's id is in the server's
 * numbering, so it is never offered.
 */
int jrpc_parse(const char *text, size_t len, struct jrpc_msg *msg,
    struct jrpc_reject *rej) PROTO_WUR PROTO_NONNULL(1, 3, 4);

/* Frees what msg owns (msg itself is caller storage); safe on a zeroed msg. */
void jrpc_msg_free(struct jrpc_msg *msg);

/*
 * Builds the wire text of an error reply {"id":ID,"error":{"code":C,"message":M}}
 * (no "jsonrpc" member, no newline). id may be NULL for null; data may be NULL.
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL on allocation
 * failure. *lenp, if non-NULL, gets its length.
 */
char *jrpc_error_text(const cJSON *id, int code, const char *message,
    const cJSON *data, size_t *lenp) PROTO_WUR PROTO_NONNULL(3);

/*
 * Builds the wire text of a result reply {"id":ID,"result":RESULT}; same ownership
 * as jrpc_error_text(). result is not consumed.
 */
char *jrpc_result_text(const cJSON *id, const cJSON *result, size_t *lenp)
    PROTO_WUR PROTO_NONNULL(2);

/* Returns a static name of a kind ("request", ...). */
const char *jrpc_kind_name(enum jrpc_kind kind);

#endif
