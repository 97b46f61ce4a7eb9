/* SPDX-License-Identifier: MIT */
/*
 * core/cuda/cuda_priv.h - what the CUDA backend's files share: the device and
 * communicator structs, the error-mapping macros, and the extern "C" kernel
 * launchers that the C files call. Included from C (gcc) and CUDA (nvcc).
 */
#ifndef TS_CUDA_PRIV_H
#define TS_CUDA_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <tetri/backend.h>
#include <tetri/error.h>
#include <tetri/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Attention kernels (bf16; fp32 storage always uses SIMT): register-resident
 * mma.sync (k_attn_fa.cu), WMMA through shared memory, or plain FMAs.
 */
enum ts_cuda_attn { TS_ATTN_SIMT = 0, TS_ATTN_WMMA = 1, TS_ATTN_FA = 2 };

/* Storage dtype of a backend instance: index into the kernels' template switch. */
enum ts_cuda_dt { TS_CUDA_F32 = 0, TS_CUDA_BF16 = 1 };

struct ts_cuda_gemm_plan; /* gemm.c: cached cuBLASLt descriptors and algorithm */

#define TS_CUDA_GEMM_CACHE 64

/**
 * struct ts_dev - one GPU. base must stay first (backend.h routes by it).
 * @stream: every op of this device runs on it, so program order is kept.
 * @lt_ws: cuBLASLt workspace (GEMMs on @stream only, so one is enough).
 * @scratch: grow-only buffer for conv's im2col columns and embedding ids;
 *           grows only when a larger op than any before arrives.
 */
struct ts_dev {
	struct ts_dev_base base;
	struct ts_backend *be;
	int ordinal;
	enum ts_dtype dtype;
	enum ts_cuda_dt dt;
	char kind[64];
	cudaStream_t stream;
	cublasHandle_t blas;
	cublasLtHandle_t lt;
	void *lt_ws;
	size_t lt_ws_bytes;
	void *scratch;
	size_t scratch_bytes;
	struct ts_cuda_gemm_plan *plans[TS_CUDA_GEMM_CACHE];
	unsigned plan_clock;
	int attn_smem_ok; /* large-smem attention kernels configured */
	int attn_kind;    /* enum ts_cuda_attn: TS_CUDA_ATTN=fa|wmma|simt, fa by default */
	struct cudaDeviceProp prop;
};

struct ts_backend {
	const struct ts_host *host;
	int n;
	struct ts_dev *devs[];
};

/**
 * struct ts_comm - an NCCL communicator over a device set: one ncclComm_t per
 * member, created together by ncclCommInitAll. The calling thread's bound
 * device (bind_thread) selects which member's comm a collective uses.
 */
struct ts_comm {
	int n;
	struct ts_dev **devs;   /* [n], ascending pool order */
	ncclComm_t *nccl;       /* [n] */
	float **barrier_buf;    /* [n] one device float each, for barrier */
};

/* Logging through the host of the live backend instance (set by create). */
extern const struct ts_host *ts_cuda_host;
void ts_cuda_log(enum ts_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int ts_cuda_err(cudaError_t e, const char *call, const char *file, int line);
int ts_cublas_err(cublasStatus_t s, const char *call, const char *file, int line);
int ts_nccl_err(ncclResult_t r, const char *call, const char *file, int line);

/* Each evaluates @call once and yields 0 or a TS_E* code, logging the call site on failure. */
#define TS_CU(call) ts_cuda_err((call), #call, __FILE__, __LINE__)
#define TS_CUBLAS(call) ts_cublas_err((call), #call, __FILE__, __LINE__)
#define TS_NCCL(call) ts_nccl_err((call), #call, __FILE__, __LINE__)
/* After a kernel launch: a bad configuration shows up here, not at the launch. */
#define TS_CU_LAUNCHED() ts_cuda_err(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

/* Bad arguments to an op: log which op and why, return TS_EINVAL. */
#define TS_CUDA_BAD(op, fmt, ...) \
	(ts_cuda_log(TS_LOG_ERROR, "%s: " fmt, (op), ##__VA_ARGS__), TS_EINVAL)

/* Make @dev current on this thread (cheap when it already is). */
int ts_cuda_use(struct ts_dev *dev);
/* Forget which device is current on this thread (after a library switched it). */
void ts_cuda_forget_current(void);
/* The device bound to this thread by bind_thread, or NULL. */
struct ts_dev *ts_cuda_bound(void);
/* Grow-only per-device scratch of at least @bytes (stream-ordered use only). */
void *ts_cuda_scratch(struct ts_dev *dev, size_t bytes);

size_t ts_cuda_dt_size(enum ts_cuda_dt dt);

/* gemm.c */
int ts_cuda_gemm(struct ts_dev *dev, const struct ts_gemm *g);
void ts_cuda_gemm_cache_free(struct ts_dev *dev);

/* attn_big.c: head_dim > 128, through cuBLAS and a chunk of the score matrix */
int ts_cuda_attention_big(struct ts_dev *dev, const struct ts_attention *a);

/* conv.c */
int ts_cuda_conv(struct ts_dev *dev, const struct ts_conv *c);

/* ops.c */
const struct ts_ops *ts_cuda_ops(struct ts_dev *dev);

/* coll.c */
extern const struct ts_coll_ops ts_cuda_coll;
int ts_cuda_comm_create(struct ts_backend *be, struct ts_dev *const *devs, int n,
			struct ts_comm **out, size_t *bytes_out);
void ts_cuda_comm_destroy(struct ts_comm *comm);

/*
 * Kernel launchers (k_*.cu). They enqueue on @st and return the launch's
 * cudaError_t; shapes were validated by the caller. @dt selects float or bf16.
 */
/* k_elem.cu */
cudaError_t ts_k_activation(cudaStream_t st, int dt, void *y, const void *x, int64_t n, int act);
cudaError_t ts_k_fill(cudaStream_t st, int dt, void *y, float v, int64_t n);
cudaError_t ts_k_binary(cudaStream_t st, int dt, void *y, const void *a, const void *b, int64_t n,
			int mul);
cudaError_t ts_k_axpby(cudaStream_t st, int dt, void *y, float alpha, const void *x, float beta,
		       int64_t n);
cudaError_t ts_k_add_row(cudaStream_t st, int dt, void *y, const void *x, const void *v,
			 int64_t batch, int64_t n);
/*
 * Epilogue of a rows x cols matrix (row stride ld), in place:
 * y = act(beta * y + bias), bias[cols] (or bias[rows] when @bias_per_row), may
 * be NULL; beta == 0 writes y without reading it.
 */
cudaError_t ts_k_bias_act(cudaStream_t st, int dt, void *y, int64_t ld, int64_t rows, int64_t cols,
			  float beta, const void *bias, int bias_per_row, int act);
cudaError_t ts_k_copy2d(cudaStream_t st, int dt, void *y, int64_t ldy, const void *x, int64_t ldx,
			int64_t rows, int64_t cols);
cudaError_t ts_k_permute(cudaStream_t st, int dt, void *y, const void *x, int ndim,
			 const int64_t *shape, const int *perm);
cudaError_t ts_k_upsample(cudaStream_t st, int dt, void *y, const void *x, int64_t nc, int64_t t,
			  int64_t h, int64_t w, int ft, int fh, int fw);
cudaError_t ts_k_embedding(cudaStream_t st, int dt, void *y, const void *table, int64_t dim,
			   const int64_t *ids_dev, int64_t n);
cudaError_t ts_k_im2col(cudaStream_t st, int dt, void *col, const void *x, const struct ts_conv *c,
			int64_t t_out, int64_t h_out, int64_t w_out, int64_t p0, int64_t pn);

/* k_norm.cu */
cudaError_t ts_k_layer_norm(cudaStream_t st, int dt, void *y, const void *x, const void *w,
			    const void *b, int64_t rows, int64_t cols, float eps);
cudaError_t ts_k_rms_norm(cudaStream_t st, int dt, void *y, const void *x, const void *w,
			  int64_t rows, int64_t cols, float eps);

cudaError_t ts_k_ln_modulate(cudaStream_t st, int dt, void *y, const void *x, const void *shift,
			     const void *scale, int64_t batch, int64_t tokens, int64_t dim,
			     int64_t mod_stride, float eps);
cudaError_t ts_k_gated_residual(cudaStream_t st, int dt, void *x, const void *r, const void *gate,
				int64_t batch, int64_t tokens, int64_t dim, int64_t gate_stride);
cudaError_t ts_k_softmax(cudaStream_t st, int dt, void *y, const void *x, int64_t rows,
			 int64_t cols);
/*
 * p (storage dtype) = softmax of each row of fp32 @s over keys with
 * mask[col] != 0 (every key when @mask is NULL); an all-masked row is zeros.
 */
cudaError_t ts_k_softmax_masked(cudaStream_t st, int dt, void *p, const float *s, int64_t rows,
				int64_t cols, const uint8_t *mask);
cudaError_t ts_k_rope(cudaStream_t st, int dt, void *x, const void *freqs, int64_t n_freq,
		      int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim,
		      int64_t tok_stride, int64_t batch_stride);

/* k_gnorm.cu: @scratch holds ts_k_group_norm_scratch() bytes. */
size_t ts_k_group_norm_scratch(int64_t n, int64_t c, int64_t spatial, int groups);
cudaError_t ts_k_group_norm(cudaStream_t st, int dt, void *y, const void *x, const void *w,
			    const void *b, int64_t n, int64_t c, int64_t spatial, int groups,
			    float eps, void *scratch);

/* k_attn.cu */
cudaError_t ts_k_attention(cudaStream_t st, int dt, const struct ts_attention *a, int kind);
/* Raise the dynamic shared-memory limit of the large attention kernels (once per device). */
cudaError_t ts_k_attention_setup(void);
/* k_attn_fa.cu: @sl2 = scale * log2(e); @vec: 16-byte loads are safe (see k_attn.cu). */
cudaError_t ts_k_attention_fa(cudaStream_t st, const struct ts_attention *a, float sl2, int vec);
cudaError_t ts_k_attention_fa_setup(void);

#ifdef __cplusplus
}
#endif

#endif /* TS_CUDA_PRIV_H */
