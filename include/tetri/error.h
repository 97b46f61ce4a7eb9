/* SPDX-License-Identifier: MIT */
/*
 * tetri/error.h - error codes shared by the host and modules.
 *
 * Functions return 0 on success or a negative TS_E* code. The place that
 * knows why something failed logs the reason; callers only propagate.
 */
#ifndef TETRI_ERROR_H
#define TETRI_ERROR_H

enum ts_err {
	TS_OK = 0,
	TS_EINVAL = -1,    /* bad argument, config value or request field */
	TS_ENOMEM = -2,    /* host or device allocation failed */
	TS_ENOENT = -3,    /* no such file, key, model, module or request */
	TS_EIO = -4,       /* read/write failed, truncated file */
	TS_EABI = -5,      /* module/ABI mismatch (magic, version, size, signature) */
	TS_EEXIST = -6,    /* duplicate name */
	TS_EBUSY = -7,     /* resource in use, queue full */
	TS_ENODEV = -8,    /* no such device, backend not available */
	TS_EDEVICE = -9,   /* a device failed (CUDA error, injected fault) */
	TS_ECOMM = -10,    /* a collective failed (NCCL error, group broken) */
	TS_ENOTSUP = -11,  /* operation not supported by this backend/module */
	TS_ERANGE = -12,   /* value out of range, shape mismatch */
	TS_ECANCELED = -13,/* request cancelled */
	TS_ETIMEDOUT = -14,/* deadline or wait exceeded */
	TS_EFORMAT = -15,  /* malformed file (safetensors, CSV, ini, JSON) */
	TS_ERR_COUNT_ = 16
};

/* Human-readable name of an error code; never NULL. */
static inline const char *ts_strerror(int err)
{
	static const char *const names[TS_ERR_COUNT_] = {
		"success", "invalid argument", "out of memory", "not found",
		"I/O error", "ABI mismatch", "already exists", "busy",
		"no such device", "device failure", "communication failure",
		"not supported", "out of range", "cancelled", "timed out",
		"malformed file",
	};
	if (err > 0 || -err >= TS_ERR_COUNT_)
		return "unknown error";
	return names[-err];
}

#endif /* TETRI_ERROR_H */
