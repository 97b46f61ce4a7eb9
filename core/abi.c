// SPDX-License-Identifier: MIT
/*
 * core/abi.c - checks of struct ts_abi_hdr and of the ABI signature string,
 * shared by the loader (module descriptors) and the host API (ops tables a
 * module registers). The first failed check is the one reported: a module
 * built for another major probably has a different magic layout too, and
 * naming magic first keeps "this is not a tetri struct at all" distinct
 * from "this is one, but from another version".
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <config.h> /* the build's TS_HAVE_CUDA, TS_CUDA_MAJOR (build/config.h) */

#include "log.h"
#include "registry.h"

#define WHO "loader"

static void fourcc_text(uint32_t v, char out[5])
{
	for (int i = 0; i < 4; i++) {
		unsigned char c = (unsigned char)(v >> (8 * i));

		out[i] = isprint(c) ? (char)c : '?';
	}
	out[4] = '\0';
}

int ts_abi_check(const char *file, const char *what, const struct ts_abi_hdr *hdr,
		 uint32_t magic, size_t min_size)
{
	char got[5], want[5];

	if (hdr->magic != magic) {
		fourcc_text(hdr->magic, got);
		fourcc_text(magic, want);
		ts_err(WHO, "%s: %s magic 0x%08x ('%s'), host expects 0x%08x ('%s')", file, what,
		       hdr->magic, got, magic, want);
		return TS_EABI;
	}
	if (hdr->major != TS_ABI_MAJOR) {
		ts_err(WHO, "%s: %s built for ABI major %u (ABI %u.%u), host has ABI major %u (ABI %u.%u)",
		       file, what, hdr->major, hdr->major, hdr->minor, TS_ABI_MAJOR, TS_ABI_MAJOR,
		       TS_ABI_MINOR);
		return TS_EABI;
	}
	if (hdr->minor > TS_ABI_MINOR) {
		ts_err(WHO, "%s: %s built for ABI minor %u (ABI %u.%u), newer than the host's minor %u (ABI %u.%u)",
		       file, what, hdr->minor, hdr->major, hdr->minor, TS_ABI_MINOR, TS_ABI_MAJOR,
		       TS_ABI_MINOR);
		return TS_EABI;
	}
	if (hdr->size < min_size) {
		ts_err(WHO, "%s: %s size %u, host needs at least %zu", file, what, hdr->size, min_size);
		return TS_EABI;
	}
	return 0;
}

/* Does the host accept the module's value of one token ("backend=cuda")? */
static int token_ok(const char *mod, size_t mlen, const char *host, size_t hlen)
{
	static const char *const backends[] = {
		"backend=any", "backend=cpu", "backend=sim",
#ifdef TS_HAVE_CUDA
		"backend=cuda",
#endif
		NULL,
	};
	char cuda[32];

	if (mlen == hlen && !memcmp(mod, host, mlen))
		return 1;
	if (!strncmp(host, "backend=", 8)) {
		for (int i = 0; backends[i]; i++)
			if (strlen(backends[i]) == mlen && !memcmp(mod, backends[i], mlen))
				return 1;
		return 0;
	}
	if (!strncmp(host, "cuda=", 5)) {
		/* A module that does not touch CUDA fits any host; one that does needs our major. */
		snprintf(cuda, sizeof(cuda), "cuda=%d", TS_CUDA_MAJOR);
		return (mlen == 6 && !memcmp(mod, "cuda=0", 6)) ||
		       (strlen(cuda) == mlen && !memcmp(mod, cuda, mlen));
	}
	return 0;
}

int ts_abi_check_signature(const char *file, const char *sig)
{
	const char *host = TS_ABI_SIGNATURE;
	const char *m = sig, *h = host;
	int n = 1;

	if (!sig) {
		ts_err(WHO, "%s: module has no ABI signature, host has '%s'", file, host);
		return TS_EABI;
	}
	for (;; n++) {
		size_t ml, hl;

		m += strspn(m, " ");
		h += strspn(h, " ");
		ml = strcspn(m, " ");
		hl = strcspn(h, " ");
		if (!ml && !hl)
			return 0;
		if (!ml || !hl || !token_ok(m, ml, h, hl)) {
			ts_err(WHO, "%s: ABI signature token %d: module '%.*s', host '%.*s' (module '%s', host '%s')",
			       file, n, ml ? (int)ml : 6, ml ? m : "(none)", hl ? (int)hl : 6,
			       hl ? h : "(none)", sig, host);
			return TS_EABI;
		}
		m += ml;
		h += hl;
	}
}
