/* jsoncanon.c - canonical JSON text: object members sorted by key (byte
 * order), no white space, so that equal documents hash equally. */
#include "buildconf.h"
#include "json/jsoncanon.h"

#include <stdlib.h>
#include <string.h>

#include "json/jsondoc.h"

void jsoncanon_write(json_object *v, struct sbuf *b)
{
	switch (json_object_get_type(v)) {
	case json_type_object: {
		size_t n = (size_t)json_object_object_length(v), i = 0;
		const char **keys = calloc(n + 1, sizeof *keys);

		if (!keys) {
			b->failed = true;
			return;
		}
		json_object_object_foreach(v, key, val) {
			(void)val;
			keys[i++] = key;
		}
		for (size_t a = 1; a < n; a++)
			for (size_t z = a; z > 0 && strcmp(keys[z - 1], keys[z]) > 0; z--) {
				const char *t = keys[z];

				keys[z] = keys[z - 1];
				keys[z - 1] = t;
			}
		sbuf_putc(b, '{');
		for (i = 0; i < n; i++) {
			if (i)
				sbuf_putc(b, ',');
			sbuf_json_string(b, keys[i]);
			sbuf_putc(b, ':');
			jsoncanon_write(json_object_object_get(v, keys[i]), b);
		}
		sbuf_putc(b, '}');
		free(keys);
		break;
	}
	case json_type_array:
		sbuf_putc(b, '[');
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i)
				sbuf_putc(b, ',');
			jsoncanon_write(json_object_array_get_idx(v, i), b);
		}
		sbuf_putc(b, ']');
		break;
	case json_type_null:
		sbuf_puts(b, "null");
		break;
	default:
		sbuf_puts(b, jsondoc_compact(v));
		break;
	}
}
