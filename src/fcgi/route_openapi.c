/* route_openapi.c - GET /openapi.yaml: the API's contract (doc/openapi.yaml,
 * embedded at build time by build-aux/embed-text.sh), open to anyone, so
 * clients and code generators fetch the description of the very build they
 * talk to. */
#include "buildconf.h"

#include <stddef.h>

#include "fcgi/routes.h"

/* src/fcgi/openapi_data.c, generated. */
extern const char openapi_yaml[];
extern const size_t openapi_yaml_len;

/* RFC 9512's media type for YAML. */
#define HTTP_CT_YAML "application/yaml"

void route_openapi(struct route_ctx *ctx)
{
	struct http_resp *resp = ctx->resp;

	resp->status = 200;
	resp->content_type = HTTP_CT_YAML;
	sbuf_append(&resp->body, openapi_yaml, openapi_yaml_len);
}
