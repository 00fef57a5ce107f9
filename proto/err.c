#include "proto/err.h"

const char *
proto_strerror(int err)
{
	switch (err) {
	case PROTO_OK: return "success";
	case PROTO_ERR_NOMEM: return "out of memory";
	case PROTO_ERR_INCOMPLETE: return "incomplete input";
	case PROTO_ERR_TOO_LARGE: return "too large";
	case PROTO_ERR_INVALID: return "invalid input";
	case PROTO_ERR_ARG: return "invalid argument";
	case PROTO_ERR_ZLIB: return "compression error";
	case PROTO_ERR_IO: return "input/output error";
	case PROTO_ERR_FULL: return "buffer full";
	case PROTO_ERR_RESUME: return "resume impossible";
	case PROTO_ERR_JSON: return "not valid JSON";
	case PROTO_ERR_LINE_TOO_LONG: return "line too long";
	default: return "unknown error";
	}
}
