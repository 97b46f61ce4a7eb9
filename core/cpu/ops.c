// SPDX-License-Identifier: MIT
/* core/cpu/ops.c - the CPU backend's op table (float32 storage). */
#include "cpu.h"

const struct ts_ops ts_cpu_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_OPS, struct ts_ops),
	.dtype = TS_F32,
	.gemm = ts_cpu_gemm,
	.attention = ts_cpu_attention,
	.conv = ts_cpu_conv,
	.layer_norm = ts_cpu_layer_norm,
	.rms_norm = ts_cpu_rms_norm,
	.group_norm = ts_cpu_group_norm,
	.layer_norm_modulate = ts_cpu_layer_norm_modulate,
	.gated_residual = ts_cpu_gated_residual,
	.activation = ts_cpu_activation,
	.softmax = ts_cpu_softmax,
	.rope = ts_cpu_rope,
	.upsample_nearest = ts_cpu_upsample_nearest,
	.embedding = ts_cpu_embedding,
	.add = ts_cpu_add,
	.mul = ts_cpu_mul,
	.axpby = ts_cpu_axpby,
	.add_row = ts_cpu_add_row,
	.permute = ts_cpu_permute,
	.copy2d = ts_cpu_copy2d,
	.fill = ts_cpu_fill,
};
