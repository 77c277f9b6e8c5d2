/* The key map: (table, key route) -> the latest unit writing it, open addressing with backward-shift deletion (sched.c's). */
#include "sink/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- (table, key route) -> the latest unit writing it ---- */

struct keymap {
	uint64_t *keys;             /* 0: empty */
	struct sink_unit **vals;
	size_t mask, n;
};

struct keymap *keymap_new(void)
{
	struct keymap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->mask = 1023;
	m->keys = calloc(m->mask + 1, sizeof(*m->keys));
	m->vals = calloc(m->mask + 1, sizeof(*m->vals));
	if (!m->keys || !m->vals) {
		free(m->keys);
		free(m->vals);
		free(m);
		return NULL;
	}
	return m;
}

void keymap_free(struct keymap *m)
{
	if (m == NULL)
		return;
	free(m->keys);
	free(m->vals);
	free(m);
}

uint64_t key_of(const struct stable *tab, uint64_t route)
{
	uint64_t h = route ^ ((uint64_t)(tab->idx + 1) * 0x9e3779b97f4a7c15ULL);

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return h ? h : 1;
}

static size_t keymap_slot(const struct keymap *m, uint64_t key)
{
	size_t i = (size_t)key & m->mask;

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & m->mask;
	return i;
}

static bool keymap_grow(struct keymap *m)
{
	struct keymap big = { NULL, NULL, m->mask * 2 + 1, 0 };
	size_t i, j;

	big.keys = calloc(big.mask + 1, sizeof(*big.keys));
	big.vals = calloc(big.mask + 1, sizeof(*big.vals));
	if (!big.keys || !big.vals) {
		free(big.keys);
		free(big.vals);
		return false;
	}
	for (i = 0; i <= m->mask; i++)
		if (m->keys[i]) {
			j = keymap_slot(&big, m->keys[i]);
			big.keys[j] = m->keys[i];
			big.vals[j] = m->vals[i];
		}
	free(m->keys);
	free(m->vals);
	m->keys = big.keys;
	m->vals = big.vals;
	m->mask = big.mask;
	return true;
}

/* Stores u for key; returns the unit stored before (NULL: none). When out of
 * memory nothing is stored and *ok is false: the caller orders by other means. */
struct sink_unit *keymap_swap(struct keymap *m, uint64_t key, struct sink_unit *u, bool *ok)
{
	struct sink_unit *old;
	size_t i;

	if ((m->n + 1) * 2 > m->mask + 1 && !keymap_grow(m)) {
		*ok = false;
		i = keymap_slot(m, key);
		return m->keys[i] ? m->vals[i] : NULL;
	}
	i = keymap_slot(m, key);
	old = m->keys[i] ? m->vals[i] : NULL;
	if (!m->keys[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = u;
	return old;
}

struct sink_unit *sched_key_last(struct sink *s, const struct stable *tab, uint64_t route)
{
	size_t i = keymap_slot(s->keys, key_of(tab, route));

	return s->keys->keys[i] ? s->keys->vals[i] : NULL;
}

/* Removes key if it still names u (backward-shift deletion). */
void keymap_drop(struct keymap *m, uint64_t key, const struct sink_unit *u)
{
	size_t i = keymap_slot(m, key), j, home;

	if (!m->keys[i] || m->vals[i] != u)
		return;
	m->n--;
	for (;;) {
		m->keys[i] = 0;
		m->vals[i] = NULL;
		j = i;
		for (;;) {
			j = (j + 1) & m->mask;
			if (!m->keys[j])
				return;
			home = (size_t)m->keys[j] & m->mask;
			/* can the entry at j move to the hole at i? */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		i = j;
	}
}
