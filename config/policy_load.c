/*
 * policy_load.c - cm_policy_load(): read the file, parse it (ytree.c),
 * apply the schema (policy_schema.c through schema.c), and derive what
 * the accessors give from a valid configuration.
 *
 * File-level messages (no key):
 *   FILE:1:1: cannot read the file: STRERROR
 *   FILE:1:1: file too large (more than 1048576 bytes)
 *   FILE:1:1: empty file, expected a mapping with the keys milter, ...
 *   FILE:L:C: expected a mapping at the top level, got a sequence
 *   FILE:L:C: LIBYAML PROBLEM (LIBYAML CONTEXT at line L2, column C2)
 *             for YAML syntax errors; the part in parentheses only when
 *             libyaml gives a context
 * and from the YAML reader (ytree.c):
 *   FILE:L:C: key 'k': duplicate key (first defined at line N, column M)
 *   FILE:L:C: YAML anchors are not supported: 'a'
 *   FILE:L:C: YAML aliases are not supported: 'a'
 *   FILE:L:C: YAML tags are not supported: 'tag:yaml.org,2002:str'
 *   FILE:L:C: only one YAML document is supported
 *   FILE:L:C: NUL characters are not supported in a value
 *   FILE:L:C: nesting too deep (at most 32 levels)
 *   FILE:L:C: too many keys in a mapping (at most 1000)
 *   FILE:L:C: too many entries in a sequence (at most 10000)
 * All messages of one load are sorted by line and column.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errlist.h"
#include "policy_int.h"
#include "ytree.h"

#define FILE_MAX (1024 * 1024)

/* Read PATH into a new buffer; CM_EIO with errno, CM_ETOOLONG, CM_ENOMEM. */
static cm_status
read_file(const char *path, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0, cap = 8192;
	char *buf;

	if (fd < 0)
		return CM_EIO;
	buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return CM_ENOMEM;
	}
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *nb;

			if (cap > FILE_MAX) {
				free(buf);
				close(fd);
				return CM_ETOOLONG;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				close(fd);
				return CM_ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			free(buf);
			close(fd);
			errno = e;
			return CM_EIO;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > FILE_MAX) {
		free(buf);
		return CM_ETOOLONG;
	}
	*out = buf;
	*outlen = len;
	return CM_OK;
}

/* Derived values of a valid configuration. */
static bool
finish(cm_policy *p)
{
	p->addr.fold_local_case = p->c.addresses.fold_local_case;
	p->addr.subaddr_sep = p->c.addresses.subaddress_separator;
	p->addr.local_octets = !p->c.addresses.unicode_local_part;
	p->addr.route_local =
	    (cm_addr_route)p->c.addresses.routed_local_part;
	if (!cm_ntype_derive(p))
		return false;
	if (p->c.log.present) {
		const char *kf = p->c.log.key_file;

		if (kf == NULL || *kf == '\0') {
			size_t n = strlen(p->c.database.path) + sizeof("/declog.key");
			char *d = cm_arena_alloc(p->arena, n);

			if (d == NULL)
				return false;
			snprintf(d, n, "%s%sdeclog.key", p->c.database.path,
			    p->c.database.path[strlen(p->c.database.path) - 1] ==
			    '/' ? "" : "/");
			kf = d;
		}
		p->log_key_file = kf;
	}
	for (int i = 0; i < NTMPL; i++)
		if (cm_tmpl_compile(p->c.templates.text[i], &p->tmpl[i], NULL) !=
		    CM_OK)
			return false;
	return true;
}


cm_status
cm_policy_load(const char *path, cm_policy **out, cm_errlist *errs)
{
	cm_errlist *el = errs;
	cm_arena *tree = NULL;
	cm_policy *p = NULL;
	cm_ynode *root = NULL;
	char *buf = NULL;
	size_t len = 0, start, offered;
	cm_status st, ret;
	cm_sch_ctx ctx;

	*out = NULL;
	if (el == NULL && (el = cm_errlist_new()) == NULL)
		return CM_ENOMEM;
	start = cm_errlist_count(el);
	offered = cm_errlist_offered(el);

	st = read_file(path, &buf, &len);
	if (st != CM_OK) {
		if (st == CM_EIO) {
			int e = errno;

			ret = cm_errlist_add_at(el, 1, 1, "%s:1:1: cannot read "
			    "the file: %s", path, strerror(e)) == CM_OK ?
			    CM_EIO : CM_ENOMEM;
		} else if (st == CM_ETOOLONG) {
			ret = cm_errlist_add_at(el, 1, 1, "%s:1:1: file too "
			    "large (more than %d bytes)", path, FILE_MAX) ==
			    CM_OK ? CM_EINVAL : CM_ENOMEM;
		} else {
			ret = st;
		}
		goto done;
	}

	ret = CM_ENOMEM;
	if ((tree = cm_arena_new()) == NULL)
		goto done;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto done;
	if ((p->arena = cm_arena_new()) == NULL)
		goto done;

	st = cm_ytree_parse(buf, len, path, tree, el, &root);
	if (st == CM_ENOMEM)
		goto done;
	memset(&ctx, 0, sizeof(ctx));
	ctx.fname = path;
	ctx.arena = p->arena;
	ctx.errs = el;
	if (root == NULL && st == CM_OK) {
		cm_sch_error_at(&ctx, 1, 1, "empty file, expected a mapping "
		    "with the keys %s", cm_policy_schema_keys);
	} else if (root != NULL && root->kind != CM_YN_MAP) {
		cm_sch_error_at(&ctx, root->line, root->col, "expected a "
		    "mapping with the keys %s at the top level, got %s",
		    cm_policy_schema_keys, cm_ytree_kind_name(root));
	} else if (root != NULL) {
		cm_sch_apply(&ctx, cm_policy_schema, root, &p->c);
	}
	if (ctx.oom)
		goto done;
	if (cm_errlist_offered(el) != offered) {
		ret = CM_EINVAL;
		goto done;
	}
	if (!finish(p))
		goto done;
	cm_pdstamp_digest(buf, len, p->digest);
	*out = p;
	p = NULL;
	ret = CM_OK;
done:
	cm_errlist_sort_from(el, start);
	if (ret != CM_OK && ret != CM_ENOMEM && cm_errlist_offered(el) ==
	    offered)
		ret = CM_ENOMEM;	/* an error that could not be recorded */
	cm_policy_free(p);
	cm_arena_free(tree);
	free(buf);
	if (el != errs)
		cm_errlist_free(el);
	return ret;
}

void
cm_policy_free(cm_policy *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < NTMPL; i++)
		cm_tmpl_free(p->tmpl[i]);
	cm_arena_free(p->arena);
	free(p);
}
