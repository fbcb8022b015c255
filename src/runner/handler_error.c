/* handler_error.c - a handler's failure, for the status and for the DLQ. */
#include "buildconf.h"
#include "runner/handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void handler_error_set(struct handler_error *e, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof e->detail, fmt, ap);
	va_end(ap);
	/* The summary is the shorter: it keeps the start. */
	n = strnlen(e->detail, sizeof e->summary - 1);
	memcpy(e->summary, e->detail, n);
	e->summary[n] = '\0';
}
