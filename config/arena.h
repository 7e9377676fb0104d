/*
 * arena.h - a region allocator (prefix cm_arena_).
 *
 * Everything a loaded policy owns (strings, arrays) comes from one arena
 * and is released at once by cm_arena_free().  Not thread-safe while
 * allocating; the memory handed out may be read from any thread.
 */
#ifndef CM_ARENA_H
#define CM_ARENA_H

#include <stddef.h>

typedef struct cm_arena cm_arena;

cm_arena *cm_arena_new(void);			/* NULL on out of memory */
void cm_arena_free(cm_arena *a);		/* NULL is ignored */
/* LEN zeroed bytes aligned for any type; NULL on out of memory. */
void *cm_arena_alloc(cm_arena *a, size_t len);
/* NMEMB * SIZE zeroed bytes, NULL on overflow or out of memory. */
void *cm_arena_calloc(cm_arena *a, size_t nmemb, size_t size);
/* A NUL-terminated copy of the LEN bytes at S; NULL on out of memory. */
char *cm_arena_strndup(cm_arena *a, const char *s, size_t len);
char *cm_arena_strdup(cm_arena *a, const char *s);

#endif
