/* arena.c - a region allocator: a list of chunks freed at once. */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define CHUNK_MIN 4096
#define ALIGN alignof(max_align_t)

struct chunk {
	struct chunk *next;
	size_t size;		/* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct cm_arena {
	struct chunk *head;
};

cm_arena *
cm_arena_new(void)
{
	return calloc(1, sizeof(cm_arena));
}

void
cm_arena_free(cm_arena *a)
{
	struct chunk *c, *n;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

void *
cm_arena_alloc(cm_arena *a, size_t len)
{
	struct chunk *c = a->head;
	size_t need, size;
	void *p;

	if (len == 0)
		len = 1;
	if (len > SIZE_MAX - ALIGN - sizeof(struct chunk))
		return NULL;
	need = (len + ALIGN - 1) & ~(ALIGN - 1);
	if (c == NULL || c->size - c->used < need) {
		size = need > CHUNK_MIN ? need : CHUNK_MIN;
		c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->size = size;
		c->used = 0;
		if (a->head != NULL && need > CHUNK_MIN) {
			/* a big block: keep filling the current chunk */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, len);
	return p;
}

void *
cm_arena_calloc(cm_arena *a, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	return cm_arena_alloc(a, nmemb * size);
}

char *
cm_arena_strndup(cm_arena *a, const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX)
		return NULL;
	p = cm_arena_alloc(a, len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
cm_arena_strdup(cm_arena *a, const char *s)
{
	return cm_arena_strndup(a, s, strlen(s));
}
