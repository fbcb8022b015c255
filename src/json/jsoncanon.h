/* jsoncanon.h - canonical JSON text, for hashing documents whose member
 * order carries no meaning (aggregate definitions' rules hash). */
#ifndef EVSTORE_JSONCANON_H
#define EVSTORE_JSONCANON_H

#include <json-c/json.h>
#include "base/sbuf.h"

/* Appends v to b as canonical JSON: object members sorted by key, compact,
 * strings escaped as sbuf_json_string does, numbers in the spelling they
 * were parsed with (1.5e3 and 1500.0 stay different). Borrows v. On allocation
 * failure b->failed is set. */
void jsoncanon_write(json_object *v, struct sbuf *b);

#endif
