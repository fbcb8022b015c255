/* sqlfile.c - the "-- on TYPE" / "-- truncate" projection file parser: a
 * small lexer that knows quotes, dollar quotes and comments, enough to
 * split statements on ';' the way psql does. */
#include "buildconf.h"
#include "subs/sqlfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/sbuf.h"
#include "pg/db.h"

static void sqlfile_err(char *err, size_t errlen, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void sqlfile_err(char *err, size_t errlen, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "line %d: %s", line, msg);
}

static void section_free(struct sqlfile_section *s)
{
	for (size_t i = 0; i < s->n_statements; i++)
		free(s->statements[i]);
	free(s->statements);
	free(s->event_type);
	memset(s, 0, sizeof *s);
}

void sqlfile_free(struct sqlfile *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_sections; i++)
		section_free(&f->sections[i]);
	free(f->sections);
	section_free(&f->truncate);
	memset(f, 0, sizeof *f);
}

const struct sqlfile_section *sqlfile_find(const struct sqlfile *f, const char *event_type)
{
	for (size_t i = 0; i < f->n_sections; i++)
		if (strcmp(f->sections[i].event_type, event_type) == 0)
			return &f->sections[i];
	return NULL;
}

/* True when [p, end) holds only whitespace and comments. */
static bool sqlfile_blank(const char *p, const char *end)
{
	while (p < end) {
		if (isspace((unsigned char)*p)) {
			p++;
		} else if (p + 1 < end && p[0] == '-' && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
		} else if (p + 1 < end && p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			if (!e || e >= end)
				return true;
			p = e + 2;
		} else {
			return false;
		}
	}
	return true;
}

/* Adds the statement [p, end) (trimmed) to s unless it is blank. */
static bool section_add(struct sqlfile_section *s, const char *p, const char *end)
{
	char **arr, *copy;

	if (sqlfile_blank(p, end))
		return true;
	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	copy = strndup(p, (size_t)(end - p));
	arr = copy ? realloc(s->statements, (s->n_statements + 1) * sizeof *arr) : NULL;
	if (!arr) {
		free(copy);
		return false;
	}
	s->statements = arr;
	s->statements[s->n_statements++] = copy;
	return true;
}

/* A section header on the line starting at p: sets *type to a new string
 * for "-- on TYPE", to NULL with *is_truncate for "-- truncate". Returns 0
 * when the line is no header, 1 when it is, -1 for "-- on" without a type. */
static int sqlfile_header(const char *p, char **type, bool *is_truncate)
{
	const char *q, *e;

	*type = NULL;
	*is_truncate = false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (p[0] != '-' || p[1] != '-')
		return 0;
	p += 2;
	while (*p == ' ' || *p == '\t')
		p++;
	for (e = p; *e && *e != '\n'; e++)
		;
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	if ((size_t)(e - p) == 8 && strncmp(p, "truncate", 8) == 0) {
		*is_truncate = true;
		return 1;
	}
	if (strncmp(p, "on", 2) != 0 || (p + 2 < e && p[2] != ' ' && p[2] != '\t'))
		return 0;
	if (p + 2 == e)
		return -1;
	q = p + 2;
	while (*q == ' ' || *q == '\t')
		q++;
	for (const char *c = q; c < e; c++)
		if (isspace((unsigned char)*c))
			return 0; /* "-- on the other hand ..." is a comment */
	*type = strndup(q, (size_t)(e - q));
	return *type ? 1 : -1;
}

static bool sql_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* When p starts a string, a quoted identifier, a comment or a dollar
 * quote, returns the character after it (a line comment ends before its
 * newline); p itself when it starts none of them; NULL when it is not
 * closed, with *what naming it for the message ("string", "dollar quote
 * $tag$", ...; what has room for 96 bytes). text is the whole text, to
 * tell "$tag$" from the "$" inside a name such as a$b. Block comments nest,
 * as in PostgreSQL. */
static const char *sql_skip_opaque(const char *text, const char *p, char *what, size_t whatlen)
{
	if (*p == '\'' || *p == '"') {
		const char *q = p + 1;

		for (;; q++) {
			if (!*q) {
				snprintf(what, whatlen, "%s", *p == '\'' ? "string" : "quoted identifier");
				return NULL;
			}
			if (*q == *p && q[1] == *p)
				q++; /* a doubled quote */
			else if (*q == *p)
				return q + 1;
		}
	}
	if (p[0] == '-' && p[1] == '-')
		return p + strcspn(p, "\n");
	if (p[0] == '/' && p[1] == '*') {
		int depth = 1;

		for (p += 2; *p; p++) {
			if (p[0] == '/' && p[1] == '*') {
				depth++;
				p++;
			} else if (p[0] == '*' && p[1] == '/' && --depth == 0) {
				return p + 2;
			} else if (p[0] == '*' && p[1] == '/') {
				p++;
			}
		}
		snprintf(what, whatlen, "/* comment");
		return NULL;
	}
	if (*p == '$' && !isdigit((unsigned char)p[1]) && (p == text || !sql_ident_char(p[-1]))) {
		const char *t = p + 1;
		size_t tl;

		while (*t && *t != '$' && sql_ident_char(*t))
			t++;
		if (*t != '$')
			return p;
		tl = (size_t)(t - p) + 1;
		for (const char *c = t + 1; (c = strchr(c, '$')) != NULL; c++)
			if (strncmp(c, p, tl) == 0)
				return c + tl;
		snprintf(what, whatlen, "dollar quote %.*s", tl > 64 ? 64 : (int)tl, p);
		return NULL;
	}
	return p;
}

bool sqlfile_param_only_jsonb(const char *sql)
{
	const char *p = sql;
	char what[96];
	bool any = false;

	if (strchr(sql, '\\'))
		return false; /* E'' strings: not worth understanding here */
	while (*p) {
		const char *q = sql_skip_opaque(sql, p, what, sizeof what);

		if (!q)
			return false;
		if (q != p) {
			p = q;
		} else if (sql_ident_char(*p) && *p != '$') {
			while (sql_ident_char(*p))
				p++; /* "a$1" is a name, not a parameter */
		} else if (*p == '$' && isdigit((unsigned char)p[1])) {
			for (q = p + 1; isdigit((unsigned char)*q); q++)
				;
			if (q - p == 2 && p[1] == '1') {
				q += strspn(q, " \t\r\n");
				if (q[0] != ':' || q[1] != ':')
					return false;
				q += 2;
				q += strspn(q, " \t\r\n");
				if (strncasecmp(q, "jsonb", 5) != 0 || sql_ident_char(q[5]) ||
				    q[5] == '[' || q[5] == '.')
					return false;
				any = true;
				q += 5;
			}
			p = q;
		} else {
			p++;
		}
	}
	return any;
}

/* Closes the current section: its pending statement, and it must hold one. */
static bool section_close(struct sqlfile_section *cur, const char *stmt, const char *p,
			  int header_line, char *err, size_t errlen)
{
	if (!cur)
		return true;
	if (!section_add(cur, stmt, p)) {
		sqlfile_err(err, errlen, header_line, "out of memory");
		return false;
	}
	if (cur->n_statements == 0) {
		sqlfile_err(err, errlen, header_line, "section '%s' has no statement",
			    cur->event_type ? cur->event_type : "truncate");
		return false;
	}
	return true;
}

enum es_status sqlfile_parse(const char *text, struct sqlfile *out, char *err, size_t errlen)
{
	struct sqlfile_section *cur = NULL;
	const char *p = text, *stmt = text, *q;
	char what[96];
	int line = 1, header_line = 0;
	bool at_line_start = true;

	memset(out, 0, sizeof *out);
	while (*p) {
		if (at_line_start) {
			char *type;
			bool trunc;
			int h = sqlfile_header(p, &type, &trunc);

			if (h < 0) {
				sqlfile_err(err, errlen, line, "'-- on' needs an event type");
				goto fail;
			}
			if (h > 0) {
				if (!cur && !sqlfile_blank(stmt, p)) {
					free(type);
					sqlfile_err(err, errlen, line, "statement before the first section");
					goto fail;
				}
				if (!section_close(cur, stmt, p, header_line, err, errlen)) {
					free(type);
					goto fail;
				}
				if (trunc) {
					if (out->truncate.event_type || out->truncate.n_statements ||
					    cur == &out->truncate) {
						sqlfile_err(err, errlen, line, "'-- truncate' appears twice");
						goto fail;
					}
					cur = &out->truncate;
				} else {
					struct sqlfile_section *arr;

					if (sqlfile_find(out, type)) {
						sqlfile_err(err, errlen, line, "'-- on %s' appears twice", type);
						free(type);
						goto fail;
					}
					arr = realloc(out->sections, (out->n_sections + 1) * sizeof *arr);
					if (!arr) {
						free(type);
						sqlfile_err(err, errlen, line, "out of memory");
						goto fail;
					}
					out->sections = arr;
					cur = &arr[out->n_sections++];
					memset(cur, 0, sizeof *cur);
					cur->event_type = type;
				}
				header_line = line;
				while (*p && *p != '\n')
					p++;
				stmt = p;
				continue;
			}
		}
		at_line_start = false;
		if (*p == '\n') {
			line++;
			at_line_start = true;
			p++;
		} else if ((q = sql_skip_opaque(text, p, what, sizeof what)) != p) {
			if (!q) {
				sqlfile_err(err, errlen, line, "unterminated %s", what);
				goto fail;
			}
			for (; p < q; p++)
				line += *p == '\n';
		} else if (*p == ';') {
			if (!cur) {
				sqlfile_err(err, errlen, line, "statement before the first section");
				goto fail;
			}
			if (!section_add(cur, stmt, p)) {
				sqlfile_err(err, errlen, line, "out of memory");
				goto fail;
			}
			stmt = ++p;
		} else {
			p++;
		}
	}
	if (!cur && !sqlfile_blank(stmt, p)) {
		sqlfile_err(err, errlen, line, "statement before the first section");
		goto fail;
	}
	if (!section_close(cur, stmt, p, header_line, err, errlen))
		goto fail;
	if (out->n_sections == 0) {
		sqlfile_err(err, errlen, line, "no '-- on EventType' section");
		goto fail;
	}
	out->line_count = line;
	return ES_OK;
fail:
	sqlfile_free(out);
	return ES_EINVAL;
}

enum es_status sqlfile_load(const char *path, struct sqlfile *out, char *err, size_t errlen)
{
	struct sbuf b = SBUF_INIT;
	char buf[8192], msg[256];
	FILE *fp = fopen(path, "r");
	enum es_status rc = ES_EINVAL;
	size_t n;

	memset(out, 0, sizeof *out);
	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
		sbuf_append(&b, buf, n);
	if (ferror(fp) || b.failed) {
		snprintf(err, errlen, "%s: cannot read", path);
		goto out;
	}
	if (memchr(sbuf_cstr(&b), '\0', b.len)) {
		snprintf(err, errlen, "%s: contains a NUL byte", path);
		goto out;
	}
	rc = sqlfile_parse(sbuf_cstr(&b), out, msg, sizeof msg);
	if (rc != ES_OK)
		snprintf(err, errlen, "%s: %s", path, msg);
out:
	if (fp)
		fclose(fp);
	sbuf_free(&b);
	return rc;
}

enum es_status sqlfile_prepare(struct db *db, const struct sqlfile *f, const char *prefix,
			       size_t *section, size_t *index)
{
	char name[96];

	for (size_t s = 0; s < f->n_sections; s++) {
		for (size_t i = 0; i < f->sections[s].n_statements; i++) {
			const char *sql = f->sections[s].statements[i];
			/* jsonb when the statement only ever casts $1 to it: one
			 * parse of the event instead of one per cast. */
			const enum db_type type = sqlfile_param_only_jsonb(sql) ? DB_TYPE_JSONB
										 : DB_TYPE_JSON;
			enum es_status rc;

			snprintf(name, sizeof name, "%s_%zu_%zu", prefix, s, i);
			rc = db_prepare_named(db, name, sql, 1, &type);
			if (rc != ES_OK) {
				*section = s;
				*index = i;
				return rc;
			}
		}
	}
	return ES_OK;
}
