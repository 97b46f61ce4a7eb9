/* SPDX-License-Identifier: MIT */
/*
 * tetri/abi.h - the header every struct that crosses a .so boundary starts with.
 *
 * Rules (DESIGN.md §3, docs/modules.md):
 *  - magic names the struct kind; the host refuses a struct of the wrong kind.
 *  - major must equal the host's TS_ABI_MAJOR: a major bump may change any layout.
 *  - minor must be <= the host's TS_ABI_MINOR: minor bumps only append fields.
 *  - size is sizeof() at the module's build time; the host reads an optional
 *    field only when size covers it (TS_ABI_HAS()).
 */
#ifndef TETRI_ABI_H
#define TETRI_ABI_H

#include <stddef.h>
#include <stdint.h>

#define TS_ABI_MAJOR 1
#define TS_ABI_MINOR 0

/* Struct kinds. Four ASCII letters, so a hexdump of a bad struct is readable. */
#define TS_FOURCC(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TS_MAGIC_MODULE  TS_FOURCC('T', 'S', 'M', 'D') /* struct ts_module */
#define TS_MAGIC_MODEL   TS_FOURCC('T', 'S', 'M', 'O') /* struct ts_model_ops */
#define TS_MAGIC_DECODER TS_FOURCC('T', 'S', 'D', 'E') /* struct ts_decoder_ops */
#define TS_MAGIC_POLICY  TS_FOURCC('T', 'S', 'P', 'O') /* struct ts_policy_ops */
#define TS_MAGIC_BACKEND TS_FOURCC('T', 'S', 'B', 'E') /* struct ts_backend_ops */

/**
 * struct ts_abi_hdr - first member of every struct that crosses the ABI.
 * @magic: TS_MAGIC_* of the struct kind.
 * @major: TS_ABI_MAJOR the struct was compiled against.
 * @minor: TS_ABI_MINOR the struct was compiled against.
 * @size:  sizeof the whole struct at build time.
 * @flags: kind-specific flags (0 unless the kind documents some).
 */
struct ts_abi_hdr {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	uint32_t size;
	uint32_t flags;
};

/* Initialiser for the header of a struct of type @type and kind @magic. */
#define TS_ABI_HDR(magic_, type_)                                     \
	{ .magic = (magic_), .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR, \
	  .size = (uint32_t)sizeof(type_), .flags = 0 }

/* True when the struct at @p (whose first member is hdr) is large enough to hold @field. */
#define TS_ABI_HAS(p, type_, field) \
	((p)->hdr.size >= offsetof(type_, field) + sizeof(((type_ *)0)->field))

/*
 * The ABI signature: facts about the build that must agree between host and
 * module beyond the version numbers. Tokens separated by spaces:
 *   "tetri-abi/1 ptr64 le backend=any cuda=0"
 * ptrNN: pointer size; le/be: byte order; backend=any for modules that only
 * compute through the host's op table (every model module), or the backend a
 * module drives directly; cuda=N: CUDA major the module was compiled against
 * (0 = none). The host compares token by token and names the first difference.
 */
#ifndef TS_MODULE_BACKEND
#define TS_MODULE_BACKEND "any"
#endif
#ifndef TS_MODULE_CUDA_MAJOR
#define TS_MODULE_CUDA_MAJOR "0"
#endif
#define TS_STR_(x) #x
#define TS_STR(x) TS_STR_(x)
#if UINTPTR_MAX == 0xffffffffffffffffu
#define TS_ABI_PTR "ptr64"
#else
#define TS_ABI_PTR "ptr32"
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TS_ABI_ENDIAN "be"
#else
#define TS_ABI_ENDIAN "le"
#endif
#define TS_ABI_SIGNATURE                                                      \
	"tetri-abi/" TS_STR(TS_ABI_MAJOR) " " TS_ABI_PTR " " TS_ABI_ENDIAN       \
	" backend=" TS_MODULE_BACKEND " cuda=" TS_MODULE_CUDA_MAJOR

/* Symbol visibility: modules are built with -fvisibility=hidden; only this is exported. */
#define TS_EXPORT __attribute__((visibility("default")))

#endif /* TETRI_ABI_H */
