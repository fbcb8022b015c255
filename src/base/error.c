/* error.c - names for status codes. */
#include "buildconf.h"
#include "base/error.h"

const char *es_status_name(enum es_status st)
{
	switch (st) {
	case ES_OK: return "ok";
	case ES_EINVAL: return "invalid";
	case ES_ENOTFOUND: return "not_found";
	case ES_ECONFLICT: return "conflict";
	case ES_EDUPLICATE: return "duplicate";
	case ES_ESTATE: return "invalid_state";
	case ES_ETOOLARGE: return "too_large";
	case ES_EVALIDATION: return "validation";
	case ES_EUNAVAILABLE: return "unavailable";
	case ES_ERETRY: return "retry";
	case ES_EMOVED: return "moved";
	case ES_EDB: return "db";
	case ES_ENOMEM: return "nomem";
	case ES_EINTERNAL: return "internal";
	}
	return "unknown";
}
