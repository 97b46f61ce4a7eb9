/* SPDX-License-Identifier: MIT */
/*
 * modules/vae3d/vae3d.h - internals of the vae3d decoder module, shared by
 * its files (never installed, never seen by the host).
 *
 * The module holds two latent decoders:
 *  - the Stable Diffusion kl-f8 VAE decoder (spec/models.md §2), 2-D;
 *  - the Open-Sora 1.2 temporal VAE (§5), causal 3-D, decoder and encoder;
 * and composes them as Open-Sora 1.2's video pipeline.
 *
 * The architecture (channel counts, levels, blocks) is read from the shapes
 * in the weights file at configure time, so the same code serves the real
 * checkpoints and the small golden-test models. Every weight is a "param"
 * in one flat table; layers refer to params by index, and a device's loaded
 * weights are just the table's device pointers.
 */
#ifndef VAE3D_H
#define VAE3D_H

#include <stdint.h>

#include <tetri/tetri.h>

#define VAE_WHO "vae3d"
#define VAE_MAX_LEVELS 8
#define VAE_MAX_BLOCKS 8
#define VAE_KEY_MAX 160

/* One weight tensor, possibly the concatenation of several file tensors (fused qkv). */
struct vae_param {
	char key[VAE_KEY_MAX];      /* first source key, for messages */
	struct ts_tensor src[3];    /* host views into the mapped file */
	int n_src;
	int64_t numel;
	int64_t tap_rows, taps;     /* > 0: stored on the device tap-major, [taps, tap_rows] */
	int phases;                 /* 3x3 after nearest x2: stored as [4 phases][4 taps][rows] */
};

struct vae_params {
	const struct ts_host *host;
	struct ts_st *st;
	const char *prefix;         /* prepended to every key */
	struct vae_param *p;
	int n, cap;
};

/* Layers: params by index into struct vae_params (-1 = absent). */
struct vae_conv {
	int w, b;
	int c_in, c_out, kt, kh, kw, st;
	int taps;                   /* 3x3 (x3) with tap-major weights: one GEMM per tap */
	int phases;                 /* the conv after a nearest x2 upsampling, by output phase */
};

struct vae_norm {
	int w, b;
	int c;
};

struct vae_res {
	struct vae_norm n1, n2;
	struct vae_conv c1, c2, sc; /* sc.w < 0: identity shortcut */
};

struct vae_attn {
	struct vae_norm n;
	int qkv_w, qkv_b, proj_w, proj_b;
	int c;
};

/* SD kl-f8 decoder. Levels are indexed as ldm: 0 = full resolution. */
struct sd_level {
	int n_blocks;
	struct vae_res block[VAE_MAX_BLOCKS];
	int has_attn;
	struct vae_attn attn[VAE_MAX_BLOCKS];
	int has_up;
	struct vae_conv up;
};

/* SD kl-f8 encoder (ldm Encoder + quant_conv). Levels: 0 = full resolution. */
struct sd_enc_level {
	int n_blocks;
	struct vae_res block[VAE_MAX_BLOCKS];
	int has_attn;
	struct vae_attn attn[VAE_MAX_BLOCKS];
	int has_down;
	struct vae_conv down;       /* 3x3, stride 2, after a (0, 1, 0, 1) zero pad */
};

struct sd_enc {
	int present, in_ch, moments;
	struct vae_conv conv_in, conv_out, quant;
	int n_levels;
	struct sd_enc_level lv[VAE_MAX_LEVELS];
	struct vae_res mid1, mid2;
	struct vae_attn mid_attn;
	struct vae_norm norm_out;
};

struct sd_arch {
	int dec_present;            /* the file may hold only the encoder */
	struct sd_enc enc;
	int z_ch, out_ch;
	struct vae_conv post_quant, conv_in, conv_out;
	struct vae_res mid1, mid2;
	struct vae_attn mid_attn;
	int n_levels;
	struct sd_level lv[VAE_MAX_LEVELS];
	struct vae_norm norm_out;
	float eps;
	int groups;
};

/* Open-Sora 1.2 temporal VAE (VAE_Temporal). Levels: 0 = finest. */
struct tv_level {
	int n_blocks;
	struct vae_res block[VAE_MAX_BLOCKS];
	int has_time;               /* conv_blocks.<i> exists: x2 in time */
	struct vae_conv tconv;
};

struct tv_half {
	int present;
	struct vae_conv conv_in, conv_out, quant; /* decoder: conv1, conv_out, post_quant_conv */
	int n_res;
	struct vae_res res[VAE_MAX_BLOCKS];
	int n_levels;
	struct tv_level lv[VAE_MAX_LEVELS];
	struct vae_norm norm;
};

struct tv_arch {
	struct tv_half dec, enc;
	int z_ch, io_ch;
	int time_factor;            /* 2^(temporal levels) */
	float eps;
	int groups;
};

/* Tracing of intermediates (tests): called with a device buffer after each named stage. */
typedef void (*vae_trace_fn)(void *arg, const char *name, const void *dev_buf, int ndim,
			     const int64_t *shape);

/* A device activation [n, c, t, h, w] (t = 1 for 2-D). */
struct vt {
	void *p;
	int64_t n, c, t, h, w;
};

static inline int64_t vt_numel(const struct vt *x)
{
	return x->n * x->c * x->t * x->h * x->w;
}

#define VAE_POOL 4

/* Everything one forward pass needs. */
struct vctx {
	const struct ts_host *host;
	struct ts_dev *dev;
	const struct ts_ops *ops;
	void *const *w;             /* device pointers of the param table */
	size_t esize;               /* bytes per device element */
	int groups;
	float eps;
	vae_trace_fn trace;
	void *trace_arg;
	uint64_t cur_bytes, peak_bytes; /* activations allocated through vt_alloc, pool included */
	/*
	 * Freed activations kept for the next one of the same size. The CPU
	 * backend's allocator now caches freed blocks itself (with or without
	 * this pool a 512 px decode takes the same CPU time there); the pool
	 * stays for backends whose alloc/free are costly: the CUDA backend's
	 * free waits for the device and then calls cudaFree. Off
	 * (pool_max = 0) when a memory budget must hold exactly.
	 */
	int pool_max, n_pool;
	void *pool_p[VAE_POOL];
	int64_t pool_n[VAE_POOL];
};

enum vae_kind { VAE_SD = 0, VAE_TEMPORAL = 1, VAE_OPENSORA = 2 };

/* A configured decoder ([model X] section with module = vae3d). */
struct vae_dec {
	const struct ts_host *host;
	enum vae_kind kind;
	struct ts_st *st, *st_t;      /* SD file, temporal file (may be the same) */
	struct vae_params sd_ps, tv_ps;
	struct sd_arch sd;
	struct tv_arch tv;
	int groups, tv_groups;        /* GroupNorm groups: SD VAE, temporal VAE */
	float sd_eps, tv_eps;         /* GroupNorm eps: 1e-6 (SD), 1e-5 (temporal) */
	float latent_scale;           /* SD latents are divided by it before decoding */
	float shift[16], scale[16];   /* Open-Sora: z * scale + shift before the temporal VAE */
	int frames, micro_frames;     /* video frames wanted (0 = all); frames per chunk */
	uint64_t budget;              /* device bytes when the caller passes 0 (0 = none) */
	vae_trace_fn trace;           /* intermediates (run-case, tests), or NULL */
	void *trace_arg;
};

/* Per-device weights: the device copies of each param table (NULL when absent). */
struct vae_weights {
	void **sd, **tv;
};

/* params.c */
void vae_params_init(struct vae_params *ps, const struct ts_host *host, struct ts_st *st,
		     const char *prefix);
void vae_params_fini(struct vae_params *ps);
int vae_has(struct vae_params *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vae_ndim(struct vae_params *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vae_param(struct vae_params *ps, int ndim, const int64_t *shape, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int vae_param_fused(struct vae_params *ps, const char *const keys[3], int64_t rows,
		    int64_t cols);
int vae_conv_load(struct vae_params *ps, struct vae_conv *cv, int bias, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int vae_norm_load(struct vae_params *ps, struct vae_norm *n, int c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void vae_conv_plain(struct vae_params *ps, struct vae_conv *cv, int stride);
void vae_conv_upsampler(struct vae_params *ps, struct vae_conv *cv);
void vae_conv_untap(struct vae_params *ps, struct vae_conv *cv);
int vae_conv_expect(struct vae_params *ps, const struct vae_conv *cv, int c_in, int c_out,
		    int k, const char *what);
void **vae_params_upload(struct vae_params *ps, struct ts_dev *dev);
void vae_params_free(struct vae_params *ps, struct ts_dev *dev, void **w);

/* convtap.c */
int vae_conv_taps(struct vctx *cx, const struct vae_conv *cv, const struct vt *x, struct vt *y);
int vae_upconv_run(struct vctx *cx, const struct vae_conv *cv, const struct vt *x, struct vt *y);

/* layers.c */
int vt_alloc(struct vctx *cx, struct vt *x, int64_t n, int64_t c, int64_t t, int64_t h,
	     int64_t w);
void vt_free(struct vctx *cx, struct vt *x);
void vae_ctx_fini(struct vctx *cx);
void *vt_at(const struct vctx *cx, const void *p, int64_t off);
void vae_trace(struct vctx *cx, const struct vt *x, int ndim, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int vae_conv_run(struct vctx *cx, const struct vae_conv *cv, const struct vt *x, struct vt *y);
int vae_norm_silu(struct vctx *cx, const struct vae_norm *n, const struct vt *x, struct vt *y);
int vae_res_run(struct vctx *cx, const struct vae_res *r, struct vt *x);
int vae_attn_run(struct vctx *cx, const struct vae_attn *a, struct vt *x);
int vae_upsample2d(struct vctx *cx, const struct vae_conv *cv, struct vt *x);
int vae_depth_to_time(struct vctx *cx, struct vt *x);
int vae_conv_step(struct vctx *cx, const struct vae_conv *cv, struct vt *x);
int vae_res_load(struct vae_params *ps, struct vae_res *r, int temporal, const char *sc_name,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int vae_attn_load(struct vae_params *ps, struct vae_attn *a, const char *const names[5],
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* sd.c */
int sd_arch_read(struct vae_params *ps, struct sd_arch *a);
int sd_decode_run(struct vctx *cx, const struct sd_arch *a, struct vt *x);
double sd_decode_macs(const struct sd_arch *a, int64_t h, int64_t w);
uint64_t sd_decode_bytes(const struct sd_arch *a, int64_t n, int64_t h, int64_t w);

/* sdenc.c */
int sd_enc_read(struct vae_params *ps, struct sd_enc *e);
int sd_encode_run(struct vctx *cx, const struct sd_enc *e, struct vt *x);

/* temporal.c */
int tv_arch_read(struct vae_params *ps, struct tv_arch *a);
int tv_decode_run(struct vctx *cx, const struct tv_arch *a, struct vt *x, int64_t num_frames);
int tv_encode_run(struct vctx *cx, const struct tv_arch *a, struct vt *x);
double tv_decode_macs(const struct tv_arch *a, int64_t t, int64_t h, int64_t w);
uint64_t tv_decode_bytes(const struct tv_arch *a, int64_t n, int64_t t, int64_t h, int64_t w);

/* decode.c */
void vae_ctx_init(struct vctx *cx, const struct vae_dec *d, struct ts_dev *dev, void **w,
		  int temporal);
int vae_upload(struct vctx *cx, struct vt *x, const float *src, int64_t n, int64_t c, int64_t t,
	       int64_t h, int64_t w);
int vae_download(struct vctx *cx, const struct vt *x, float *dst);
int vae_decode(void *dec, struct ts_dev *dev, void *weights, const struct ts_tensor *latent,
	       uint64_t mem_budget, struct ts_tensor *out);
int vae_encode(void *dec, struct ts_dev *dev, void *weights, const struct ts_tensor *pixels,
	       uint64_t mem_budget, struct ts_tensor *out);
int vae_sd_images(struct vae_dec *d, struct ts_dev *dev, void **w, const float *lat, int64_t n,
		  int64_t h, int64_t wd, float scale, uint64_t budget, float *out);

/* band.c */
int vae_sd_banded(struct vctx *cx, const struct sd_arch *a, const float *lat, int64_t h,
		  int64_t w, uint64_t budget, float *out);

/* runcase.c */
int vae_run_case(void *dec, struct ts_dev *dev, void *weights, struct ts_st *st,
		 int (*emit)(void *arg, const struct ts_tensor *t), void *arg);

/* config.c */
extern const struct ts_key vae_keys[];
int vae_configure_as(const struct ts_host *host, const struct ts_section *sec, void **out,
		     const char *forced);
void vae_release(void *dec);
int vae_open(const struct ts_host *host, const char *path, const char *tpath, struct vae_dec **out);

#endif /* VAE3D_H */
