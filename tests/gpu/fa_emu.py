#!/usr/bin/env python3
# tests/gpu/fa_emu.py - emulates one warp of core/cuda/k_attn_fa.cu on the CPU:
# its loads, online softmax and P V with the register layouts the PTX ISA
# documents for mma.m16n8k16 and ldmatrix.m8n8.trans, against a plain
# softmax-attention reference. Run it after changing the kernel's index math:
# it checks the kernel against the documented layouts (not the hardware).
# Small sizes (pure Python): head dim 24 padded to 32, 100 keys (2 tiles),
# a random key mask.
import math, random
random.seed(1)
DP, HD, BK = 32, 24, 64
KV = 100
Q = [[random.uniform(-1,1) if d < HD else 0.0 for d in range(DP)] for r in range(16)]
Kf = [[random.uniform(-1,1) for d in range(HD)] for k in range(KV)]
Vf = [[random.uniform(-1,1) for d in range(HD)] for k in range(KV)]
mask = [random.random() < 0.7 for k in range(KV)]
scale = 1/math.sqrt(HD); sl2 = scale*1.4426950408889634

def mma(C, A, B):  # C[lane][4], A[lane] = 4 pairs, B[lane] = 2 pairs
    Am = [[None]*16 for _ in range(16)]; Bm = [[None]*8 for _ in range(16)]
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        a = A[lane]
        Am[g][2*t], Am[g][2*t+1] = a[0]; Am[g+8][2*t], Am[g+8][2*t+1] = a[1]
        Am[g][2*t+8], Am[g][2*t+9] = a[2]; Am[g+8][2*t+8], Am[g+8][2*t+9] = a[3]
        b = B[lane]
        Bm[2*t][g], Bm[2*t+1][g] = b[0]; Bm[2*t+8][g], Bm[2*t+9][g] = b[1]
    D = [[sum(Am[i][k]*Bm[k][j] for k in range(16)) for j in range(8)] for i in range(16)]
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        c = C[lane]
        c[0] += D[g][2*t]; c[1] += D[g][2*t+1]; c[2] += D[g+8][2*t]; c[3] += D[g+8][2*t+1]

ld32 = lambda row, col: (row[col], row[col+1])
KC, NT, ST = DP//16, DP//8, BK//8
qa = [[None]*KC for _ in range(32)]
for lane in range(32):
    g, t = lane >> 2, lane & 3
    for kc in range(KC):
        qa[lane][kc] = [ld32(Q[g], kc*16+2*t), ld32(Q[g+8], kc*16+2*t), ld32(Q[g], kc*16+2*t+8), ld32(Q[g+8], kc*16+2*t+8)]
o = [[[0.0]*4 for n in range(NT)] for lane in range(32)]
m0 = [-math.inf]*32; m1 = [-math.inf]*32; l0 = [0.0]*32; l1 = [0.0]*32
for k0 in range(0, KV, BK):
    Ks = [[(Kf[k0+j][d] if k0+j < KV and d < HD else 0.0) for d in range(DP)] for j in range(BK)]
    Vt = [[(Vf[k0+j][d] if k0+j < KV and d < HD else 0.0) for j in range(BK)] for d in range(DP)]
    keep = [k0+j < KV and mask[k0+j] for j in range(BK)]
    s = [[[0.0]*4 for j in range(ST)] for lane in range(32)]
    for j in range(ST):
        for kc in range(KC):
            A = [qa[lane][kc] for lane in range(32)]
            B = []
            for lane in range(32):
                g, t = lane >> 2, lane & 3
                kr = Ks[8*j+g]
                B.append([ld32(kr, kc*16+2*t), ld32(kr, kc*16+2*t+8)])
            mma([s[lane][j] for lane in range(32)], A, B)
    mx0 = [-math.inf]*32; mx1 = [-math.inf]*32
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        for j in range(ST):
            c = 8*j + 2*t
            sj = s[lane][j]
            sj[0] = sj[0]*sl2 if keep[c] else -math.inf
            sj[1] = sj[1]*sl2 if keep[c+1] else -math.inf
            sj[2] = sj[2]*sl2 if keep[c] else -math.inf
            sj[3] = sj[3]*sl2 if keep[c+1] else -math.inf
            mx0[lane] = max(mx0[lane], sj[0], sj[1]); mx1[lane] = max(mx1[lane], sj[2], sj[3])
    for x in (1, 2):
        mx0 = [max(mx0[l], mx0[l ^ x]) for l in range(32)]
        mx1 = [max(mx1[l], mx1[l ^ x]) for l in range(32)]
    for lane in range(32):
        mn0 = max(m0[lane], mx0[lane]); mn1 = max(m1[lane], mx1[lane])
        al0 = 1.0 if mn0 == -math.inf else 2**(m0[lane]-mn0)
        al1 = 1.0 if mn1 == -math.inf else 2**(m1[lane]-mn1)
        m0[lane], m1[lane] = mn0, mn1
        l0[lane] *= al0; l1[lane] *= al1
        for j in range(ST):
            sj = s[lane][j]
            sj[0] = 0.0 if mn0 == -math.inf else 2**(sj[0]-mn0)
            sj[1] = 0.0 if mn0 == -math.inf else 2**(sj[1]-mn0)
            sj[2] = 0.0 if mn1 == -math.inf else 2**(sj[2]-mn1)
            sj[3] = 0.0 if mn1 == -math.inf else 2**(sj[3]-mn1)
            l0[lane] += sj[0]+sj[1]; l1[lane] += sj[2]+sj[3]
        for n in range(NT):
            o[lane][n][0] *= al0; o[lane][n][1] *= al0; o[lane][n][2] *= al1; o[lane][n][3] *= al1
    for kk in range(BK//16):
        A = []
        for lane in range(32):
            sl = s[lane]
            A.append([(sl[2*kk][0], sl[2*kk][1]), (sl[2*kk][2], sl[2*kk][3]), (sl[2*kk+1][0], sl[2*kk+1][1]), (sl[2*kk+1][2], sl[2*kk+1][3])])
        Vs = [[Vt[d][j] for d in range(DP)] for j in range(BK)]  # row-major V tile
        for n in range(0, NT, 2):
            # ldmatrix.x4.trans: lane l supplies row address of matrix l//8, row l%8
            addr = []
            for l in range(32):
                key = (l & 7) + ((l >> 3) & 1) * 8
                dim = (l >> 4) * 8
                addr.append((16*kk + key, 8*n + dim))
            regs = [[None]*4 for _ in range(32)]
            for mtx in range(4):
                rows = [addr[8*mtx + r] for r in range(8)]
                M = [[Vs[rows[r][0]][rows[r][1] + c] for c in range(8)] for r in range(8)]
                for lane in range(32):
                    r, w = lane >> 2, lane & 3
                    regs[lane][mtx] = (M[2*w][r], M[2*w+1][r])  # .trans
            B0 = [[regs[l][0], regs[l][1]] for l in range(32)]
            B1 = [[regs[l][2], regs[l][3]] for l in range(32)]
            mma([o[lane][n] for lane in range(32)], A, B0)
            mma([o[lane][n+1] for lane in range(32)], A, B1)
for x in (1, 2):
    l0 = [l0[l] + l0[l ^ x] for l in range(32)]
    l1 = [l1[l] + l1[l ^ x] for l in range(32)]
out = [[None]*HD for r in range(16)]
for lane in range(32):
    g, t = lane >> 2, lane & 3
    for n in range(NT):
        c = 8*n + 2*t
        for (r, li, e0) in ((g, l0[lane], 0), (g+8, l1[lane], 2)):
            for e in (0, 1):
                if c+e < HD:
                    out[r][c+e] = o[lane][n][e0+e] / li if li > 0 else 0.0
# reference
err = 0
for r in range(16):
    sc = [sum(Q[r][d]*Kf[k][d] for d in range(HD))*scale if mask[k] else -math.inf for k in range(KV)]
    m = max(sc); p = [math.exp(v-m) for v in sc]; z = sum(p)
    for d in range(HD):
        ref = sum(p[k]*Vf[k][d] for k in range(KV))/z
        err = max(err, abs(ref - out[r][d]))
print("max abs err", err)
raise SystemExit(0 if err < 1e-9 else 1)
