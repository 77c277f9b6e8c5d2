/* Binding an extended-protocol statement's parameters (insert.h): the statement's copy with each $n replaced by its value. */
#include "protocol/insert.h"

#include <stdlib.h>
#include <string.h>

#include "common/pool.h"

/* Bytes a string needs in the bound copy's arena (NUL included). */
static size_t text_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *copy_text(char **at, const char *s, size_t n)
{
	char *d = *at;

	if (s == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	*at += n + 1;
	return d;
}

static bool in_block(const struct ins_stmt *st, const char *name)
{
	return name == NULL || (name >= st->names && name < st->names + st->names_len);
}

/* Whether the template's names all lie in its one block of names (the parser
 * writes them first): then they are copied with one memcpy, no strlen. */
static bool names_block(const struct ins_stmt *st)
{
	if (st->names == NULL || !in_block(st, st->schema.name) || !in_block(st, st->table.name))
		return false;
	for (int i = 0; i < st->ncols; i++)
		if (!in_block(st, st->cols[i].name))
			return false;
	return true;
}

static const char *moved(const struct ins_stmt *tmpl, const char *name, const char *to)
{
	return name ? to + (name - tmpl->names) : NULL;
}

bool ins_bind(const struct ins_stmt *tmpl, const struct ins_param *params, int nparams,
	      struct ins_stmt *out)
{
	size_t nv = (size_t)tmpl->nrows * (size_t)tmpl->nvals, text = 0, i;
	const struct ins_value *v;
	struct ins_value *w;
	char *arena, *at;
	bool block = names_block(tmpl);

	memset(out, 0, sizeof(*out));
	if (tmpl->nparams > nparams)
		return false;
	if (block) {
		text += tmpl->names_len;
	} else {
		text += text_size(tmpl->schema.name) + text_size(tmpl->table.name);
		for (i = 0; i < (size_t)tmpl->ncols; i++)
			text += text_size(tmpl->cols[i].name);
	}
	for (i = 0; i < nv; i++) {
		v = &tmpl->values[i];
		if (v->kind == INS_PARAM) {
			if (params[v->param - 1].text)
				text += params[v->param - 1].len + 1;
		} else if (v->text) {
			text += v->len + 1;
		}
		text += text_size(v->cast);
	}
	size_t size = (size_t)tmpl->ncols * sizeof(struct ins_name) + nv * sizeof(struct ins_value) + text + 1;

	arena = pool_alloc(size);       /* (one per Bind) */
	if (arena == NULL)
		return false;
	*out = *tmpl;
	out->nparams = 0;
	out->arena = arena;
	out->arena_len = size;
	out->cols = tmpl->ncols ? (struct ins_name *)(void *)arena : NULL;
	out->values = (struct ins_value *)(void *)(arena + (size_t)tmpl->ncols * sizeof(struct ins_name));
	at = (char *)(out->values + nv);
	if (block) {
		memcpy(at, tmpl->names, tmpl->names_len);
		out->schema.name = moved(tmpl, tmpl->schema.name, at);
		out->table.name = moved(tmpl, tmpl->table.name, at);
		for (i = 0; i < (size_t)tmpl->ncols; i++) {
			out->cols[i] = tmpl->cols[i];
			out->cols[i].name = moved(tmpl, tmpl->cols[i].name, at);
		}
		out->names = at;
		out->names_len = tmpl->names_len;
		at += tmpl->names_len;
	} else {
		out->names = NULL;
		out->names_len = 0;
		out->schema.name = copy_text(&at, tmpl->schema.name, text_size(tmpl->schema.name) - 1);
		out->table.name = copy_text(&at, tmpl->table.name, text_size(tmpl->table.name) - 1);
		for (i = 0; i < (size_t)tmpl->ncols; i++) {
			out->cols[i] = tmpl->cols[i];
			out->cols[i].name = copy_text(&at, tmpl->cols[i].name, text_size(tmpl->cols[i].name) - 1);
		}
	}
	for (i = 0; i < nv; i++) {
		v = &tmpl->values[i];
		w = &out->values[i];
		*w = *v;
		if (v->kind == INS_PARAM) {
			const struct ins_param *pp = &params[v->param - 1];

			w->kind = pp->text ? INS_STRING : INS_NULL;
			w->text = copy_text(&at, pp->text, pp->len);
			w->len = pp->text ? pp->len : 0;
			w->typoid = pp->typoid;
			w->param = 0;
		} else {
			w->text = copy_text(&at, v->text, v->len);
		}
		w->cast = copy_text(&at, v->cast, text_size(v->cast) - 1);
	}
	return true;
}
