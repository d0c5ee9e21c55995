/* Compiled inference pass of the learned model (screener.model.kernel calls it; features.py
 * stays the definition and the reference the tests compare with).
 *
 * Why C: numpy built, per n-gram order and batch, several uint64 hash temporaries, a mask and
 * a gathered copy of one 32-byte weight row per n-gram (~126 a message: ~4 MB per 1,000
 * messages, from an 8 MB table) before np.add.reduceat summed them. Those temporaries evicted
 * the cache the rest of the engine needs. Here each n-gram is hashed and its row read in place.
 *
 * dense(codes, starts, order, salt, bits, table, out, counts, digits)
 *   `features.ngrams` of one order, summed: for message i (n-gram positions
 *   [min(starts[i], c), min(starts[i + 1], c)), c = len(codes) - order + 1, the last up to c),
 *   every n-gram without SEP adds its row table[bucket] to out[i]; counts[i] += how many.
 *   digits: read every digit as '0' first (`features._digits_as_zero`).
 * sparse(codes, starts, order, salt, bits, table, out, counts, plain)
 *   `features.sparse_ngrams` summed the way LinearModel's numpy path does: n-grams holding a
 *   code other than `plain` add their rows; the all-`plain` ones are counted, and their one
 *   row added once as count x row.
 *   codes uint32[len]; starts int64[n], non-decreasing within [0, len]; salt a uint64;
 *   table float32[rows, width] with 2^bits <= rows (so every bucket is a row);
 *   out writable float32[n, width]; counts writable int64[n].
 marks(raw, fold, word, symbol, plain, out, other): the per-character part of
 *   `features.marks` (see `py_marks`).
 *
 * Exactness (same float32 bits as numpy, pinned by tests/unit/test_model_kernel.py):
 * np.add.reduceat(rows, starts, axis=0) is NOT a sequential sum: each segment is its first row
 * plus numpy's pairwise sum of the rest (8 interleaved partial sums per block of up to 128
 * rows, split in halves beyond; numpy's FLOAT_pairwise_sum), so `pairwise` below is that
 * algorithm. The segment then goes into out in float32 (`total += ...`); the count x row term
 * is numpy's int64 x float32 -> float64 product added to the float32 total in float64 and
 * rounded once (`total += counts[:, None] * row`). No fused multiply-add may be used there.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define SEP 0x0A
#define MAX_ORDER 16
#define MAX_WIDTH 64
#define STEP 0x100000001B3ULL       /* features._STEP */
#define MIX 0x9E3779B97F4A7C15ULL   /* features._MIX */

typedef struct {
    const uint32_t *codes;
    Py_ssize_t len;
    const int64_t *starts;
    Py_ssize_t n;
    int order, bits, digits;
    uint64_t salt;
    int64_t plain; /* -1: dense */
    const float *table;
    Py_ssize_t width;
    float *out;
    int64_t *counts;
} job_t;

/* numpy's FLOAT_pairwise_sum over the rows b[0..n), column by column, into res[0..w).
 * Defined twice: for 8-wide rows (the `make model` model: 6 classes padded to 8), where the
 * constant width lets the compiler keep the 8 partial sums in vector registers (measured:
 * ~2x less than the generic loops), and for any width. */
#define PAIRWISE(NAME, WIDTH)                                                                 \
    static void NAME(const float *T, Py_ssize_t w_, const int32_t *b, Py_ssize_t n,          \
                     float *res) {                                                            \
        const Py_ssize_t w = WIDTH;                                                           \
        if (n < 8) {                                                                          \
            for (Py_ssize_t c = 0; c < w; c++) res[c] = 0.0f;                                 \
            for (Py_ssize_t i = 0; i < n; i++) {                                              \
                const float *row = T + (Py_ssize_t)b[i] * w;                                  \
                for (Py_ssize_t c = 0; c < w; c++) res[c] += row[c];                          \
            }                                                                                 \
        } else if (n <= 128) {                                                                \
            float r[8][MAX_WIDTH];                                                            \
            Py_ssize_t i;                                                                     \
            for (int k = 0; k < 8; k++)                                                       \
                memcpy(r[k], T + (Py_ssize_t)b[k] * w, sizeof(float) * (size_t)w);            \
            for (i = 8; i < n - (n % 8); i += 8)                                              \
                for (int k = 0; k < 8; k++) {                                                 \
                    const float *row = T + (Py_ssize_t)b[i + k] * w;                          \
                    for (Py_ssize_t c = 0; c < w; c++) r[k][c] += row[c];                     \
                }                                                                             \
            for (Py_ssize_t c = 0; c < w; c++)                                                \
                res[c] = ((r[0][c] + r[1][c]) + (r[2][c] + r[3][c])) +                        \
                         ((r[4][c] + r[5][c]) + (r[6][c] + r[7][c]));                         \
            for (; i < n; i++) {                                                              \
                const float *row = T + (Py_ssize_t)b[i] * w;                                  \
                for (Py_ssize_t c = 0; c < w; c++) res[c] += row[c];                          \
            }                                                                                 \
        } else {                                                                              \
            Py_ssize_t n2 = n / 2;                                                            \
            float right[MAX_WIDTH];                                                           \
            n2 -= n2 % 8;                                                                     \
            NAME(T, w_, b, n2, res);                                                          \
            NAME(T, w_, b + n2, n - n2, right);                                               \
            for (Py_ssize_t c = 0; c < w; c++) res[c] += right[c];                            \
        }                                                                                     \
    }
PAIRWISE(pairwise8, 8)
PAIRWISE(pairwise_any, w_)

#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* The n-grams at positions [lo, hi): listed buckets into buf (each row prefetched as its bucket
 * is known), the all-plain ones (sparse) counted into *plain_count; returns how many listed.
 * Inlined with a constant order, digits and sparse (see `fill`): profiled, this loop was most
 * of the kernel's time when the window was re-read per n-gram with a run-time order. A window
 * holds a SEP iff the last SEP seen up to its end is inside it; the same for a non-plain code. */
INLINE Py_ssize_t fill_k(const job_t *j, Py_ssize_t lo, Py_ssize_t hi, int32_t *buf,
                         int64_t *plain_count, const int order, const int digits,
                         const int sparse) {
    const uint32_t *c = j->codes;
    const uint32_t plain = (uint32_t)j->plain;
    const int shift = 64 - j->bits;
    const uint64_t salt = j->salt;
    const Py_ssize_t width = j->width;
    Py_ssize_t m = 0, last_sep = lo - 1, last_odd = lo - 1;
    int64_t pc = 0;
    /* the first window's codes before its end (all inside the codes: lo < hi <= count) */
    for (Py_ssize_t q = lo; lo < hi && q < lo + order - 1; q++) {
        if (c[q] == SEP) last_sep = q;
        if (c[q] != plain) last_odd = q;
    }
    for (Py_ssize_t p = lo; p < hi; p++) {
        uint32_t end = c[p + order - 1];
        if (end == SEP) last_sep = p + order - 1;
        if (sparse && end != plain) last_odd = p + order - 1;
        if (last_sep >= p) continue;
        if (sparse && last_odd < p) {
            pc++;
            continue;
        }
        uint64_t h = 0;
        for (int k = 0; k < order; k++) {
            uint32_t v = c[p + k];
            if (digits && v - (uint32_t)'0' <= 9u) v = (uint32_t)'0';
            h = k ? (h * STEP) ^ v : v;
        }
        int32_t b = (int32_t)(((h + salt) * MIX) >> shift);
        /* the row is wanted once this message is summed, after the next one is hashed
         * (in the engine A/B, 1.11-1.13 us a message with it, 1.24-1.29 without; issuing
         * these prefetches one per row summed instead, spread out, was 1.11-1.18) */
        __builtin_prefetch(j->table + (Py_ssize_t)b * width);
        buf[m++] = b;
    }
    *plain_count = pc;
    return m;
}

/* Message i's n-grams (`fill_k`), dispatched to a copy with constant parameters. */
static Py_ssize_t fill(const job_t *j, Py_ssize_t i, int32_t *buf, int64_t *pc) {
    Py_ssize_t count = j->len - j->order + 1;
    if (count < 0) count = 0;
    Py_ssize_t lo = j->starts[i] < count ? j->starts[i] : count;
    Py_ssize_t hi = i + 1 < j->n && j->starts[i + 1] < count ? j->starts[i + 1] : count;
    if (j->plain >= 0) switch (j->order) {
        case 1: return fill_k(j, lo, hi, buf, pc, 1, 0, 1);
        case 2: return fill_k(j, lo, hi, buf, pc, 2, 0, 1);
        default: return fill_k(j, lo, hi, buf, pc, j->order, 0, 1);
        }
    if (j->digits) switch (j->order) {
        case 1: return fill_k(j, lo, hi, buf, pc, 1, 1, 0);
        case 2: return fill_k(j, lo, hi, buf, pc, 2, 1, 0);
        case 3: return fill_k(j, lo, hi, buf, pc, 3, 1, 0);
        default: return fill_k(j, lo, hi, buf, pc, j->order, 1, 0);
        }
    switch (j->order) {
    case 1: return fill_k(j, lo, hi, buf, pc, 1, 0, 0);
    case 2: return fill_k(j, lo, hi, buf, pc, 2, 0, 0);
    case 3: return fill_k(j, lo, hi, buf, pc, 3, 0, 0);
    default: return fill_k(j, lo, hi, buf, pc, j->order, 0, 0);
    }
}

static void run(const job_t *j, int32_t *bufs, Py_ssize_t cap) {
    Py_ssize_t w = j->width, m[2] = {0, 0};
    int64_t pc[2] = {0, 0};
    float seg[MAX_WIDTH], prow[MAX_WIDTH];
    if (j->plain >= 0) { /* the all-plain n-gram's bucket (`features._plain_bucket`) */
        uint64_t h = (uint64_t)j->plain;
        for (int k = 1; k < j->order; k++) h = (h * STEP) ^ (uint64_t)j->plain;
        h = (h + j->salt) * MIX;
        memcpy(prow, j->table + (Py_ssize_t)(h >> (64 - j->bits)) * w, sizeof(float) * w);
    }
    if (j->n > 0) m[0] = fill(j, 0, bufs, &pc[0]);
    for (Py_ssize_t i = 0; i < j->n; i++) {
        int cur = (int)(i & 1);
        const int32_t *b = bufs + cur * cap;
        /* hash the next message first: its rows' fetches overlap this message's sums */
        if (i + 1 < j->n) m[!cur] = fill(j, i + 1, bufs + (!cur) * cap, &pc[!cur]);
        if (m[cur] > 0) {
            memcpy(seg, j->table + (Py_ssize_t)b[0] * w, sizeof(float) * w);
            float rest[MAX_WIDTH];
            if (w == 8)
                pairwise8(j->table, w, b + 1, m[cur] - 1, rest);
            else
                pairwise_any(j->table, w, b + 1, m[cur] - 1, rest);
            for (Py_ssize_t c = 0; c < w; c++) seg[c] += rest[c];
        } else {
            for (Py_ssize_t c = 0; c < w; c++) seg[c] = 0.0f;
        }
        float *o = j->out + i * w;
        for (Py_ssize_t c = 0; c < w; c++) o[c] += seg[c];
        if (j->plain >= 0) {
            double k = (double)pc[cur];
            for (Py_ssize_t c = 0; c < w; c++) {
                double prod = k * (double)prow[c];
                o[c] = (float)((double)o[c] + prod);
            }
        }
        j->counts[i] += m[cur] + pc[cur];
    }
}

/* A numpy array (any buffer) of the given item kind, ndim, C-contiguous; writable if asked. */
static int get(PyObject *obj, Py_buffer *v, const char *what, char kind, Py_ssize_t size,
               int ndim, int writable) {
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT |
                                       (writable ? PyBUF_WRITABLE : 0)) < 0)
        return 0;
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    int ok = v->itemsize == size && v->ndim == ndim && f[1] == '\0' &&
             (*f == kind || (kind == 'q' && (*f == 'l' || *f == 'q') && size == 8) ||
              (kind == 'I' && *f == 'L' && sizeof(long) == 4));
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s: want a C-contiguous %d-D array of %c (%zd bytes)",
                     what, ndim, kind, size);
        PyBuffer_Release(v);
        return 0;
    }
    return 1;
}

static PyObject *call(PyObject *args, int sparse) {
    PyObject *oc, *os, *osalt, *ot, *oo, *on;
    Py_buffer bc = {0}, bs = {0}, bt = {0}, bo = {0}, bn = {0};
    long long flag;
    job_t j;
    int ok = 0;
    memset(&j, 0, sizeof j);
    if (!PyArg_ParseTuple(args, "OOiOiOOOL", &oc, &os, &j.order, &osalt, &j.bits, &ot, &oo, &on,
                          &flag))
        return NULL;
    j.salt = PyLong_AsUnsignedLongLong(osalt); /* raises for a negative or too large salt */
    if (PyErr_Occurred()) return NULL;
    if (!get(oc, &bc, "codes", 'I', 4, 1, 0) || !get(os, &bs, "starts", 'q', 8, 1, 0) ||
        !get(ot, &bt, "table", 'f', 4, 2, 0) || !get(oo, &bo, "out", 'f', 4, 2, 1) ||
        !get(on, &bn, "counts", 'q', 8, 1, 1))
        goto done;
    j.codes = bc.buf;
    j.len = bc.shape[0];
    j.starts = bs.buf;
    j.n = bs.shape[0];
    j.table = bt.buf;
    j.width = bt.shape[1];
    j.out = bo.buf;
    j.counts = bn.buf;
    j.digits = sparse ? 0 : flag != 0;
    j.plain = sparse ? flag : -1;
    if (j.order < 1 || j.order > MAX_ORDER) {
        PyErr_Format(PyExc_ValueError, "order must be in 1..%d", MAX_ORDER);
        goto done;
    }
    if (j.bits < 1 || j.bits > 31 || ((Py_ssize_t)1 << j.bits) > bt.shape[0]) {
        PyErr_SetString(PyExc_ValueError, "bits must be in 1..31 with 2^bits <= table rows");
        goto done;
    }
    if (j.width < 1 || j.width > MAX_WIDTH) {
        PyErr_Format(PyExc_ValueError, "table width must be in 1..%d", MAX_WIDTH);
        goto done;
    }
    if (bo.shape[0] != j.n || bo.shape[1] != j.width || bn.shape[0] != j.n) {
        PyErr_SetString(PyExc_ValueError, "out must be (messages, width), counts (messages,)");
        goto done;
    }
    if (sparse && (flag < 0 || flag > 0xFFFFFFFFLL)) {
        PyErr_SetString(PyExc_ValueError, "plain must be a uint32 code");
        goto done;
    }
    Py_ssize_t count = j.len - j.order + 1, cap = 1;
    if (count < 0) count = 0;
    for (Py_ssize_t i = 0; i < j.n; i++) {
        if (j.starts[i] < (i ? j.starts[i - 1] : 0) || j.starts[i] > j.len) {
            PyErr_SetString(PyExc_ValueError, "starts must be non-decreasing within the codes");
            goto done;
        }
        Py_ssize_t lo = j.starts[i] < count ? j.starts[i] : count;
        Py_ssize_t hi = i + 1 < j.n && j.starts[i + 1] < count ? j.starts[i + 1] : count;
        if (hi - lo > cap) cap = hi - lo;
    }
    /* two buffers of a message's buckets: the one being summed, the next one being hashed */
    int32_t *bufs = PyMem_RawMalloc(sizeof(int32_t) * 2 * (size_t)cap);
    if (!bufs) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS;
    run(&j, bufs, cap);
    Py_END_ALLOW_THREADS;
    PyMem_RawFree(bufs);
    ok = 1;
done:
    PyBuffer_Release(&bc);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bn);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* marks(raw, fold, word, symbol, plain, out, other) -> how many `other` positions
 *   `features.marks` but for astral symbols: out[i] = plain where folding leaves raw[i]
 *   unchanged, else raw[i]; an unchanged non-word character keeps its code if symbol[code]
 *   (a table of the Unicode categories S*, `kernel.BMP_SYMBOLS`) says it is a symbol, and one
 *   beyond the table goes to `other`, in order, for Python to ask its category.
 *   Why: as numpy this was five passes and four temporaries over the batch plus a sort of the
 *   non-word characters (np.unique), ~0.25 us a message of the ~0.35 marks cost.
 *   raw uint32[len]; fold uint32[K]; word bool[K]; symbol bool[S]; out writable uint32[len];
 *   other writable int64[len]. A code outside the fold or word table raises. */
static PyObject *py_marks(PyObject *self, PyObject *args) {
    PyObject *orw, *ofo, *owo, *osy, *oout, *oot;
    Py_buffer br = {0}, bf = {0}, bw = {0}, bs = {0}, bo = {0}, bt = {0};
    long long plain;
    Py_ssize_t m = 0, bad = -1;
    if (!PyArg_ParseTuple(args, "OOOOLOO", &orw, &ofo, &owo, &osy, &plain, &oout, &oot))
        return NULL;
    if (!get(orw, &br, "raw", 'I', 4, 1, 0) || !get(ofo, &bf, "fold", 'I', 4, 1, 0) ||
        !get(owo, &bw, "word", '?', 1, 1, 0) || !get(osy, &bs, "symbol", '?', 1, 1, 0) ||
        !get(oout, &bo, "out", 'I', 4, 1, 1) ||
        !get(oot, &bt, "other", 'q', 8, 1, 1))
        goto done;
    Py_ssize_t len = br.shape[0], nf = bf.shape[0], nw = bw.shape[0], ns = bs.shape[0];
    if (bo.shape[0] != len || bt.shape[0] != len || plain < 0 || plain > 0xFFFFFFFFLL) {
        PyErr_SetString(PyExc_ValueError, "out and other must be as long as raw; plain a code");
        goto done;
    }
    const uint32_t *raw = br.buf, *fold = bf.buf;
    const uint8_t *word = bw.buf, *symbol = bs.buf;
    uint32_t *out = bo.buf;
    int64_t *other = bt.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < len; i++) {
        uint32_t r = raw[i];
        if (r >= (uint64_t)nf || r >= (uint64_t)nw) {
            bad = i;
            break;
        }
        if (fold[r] != r) {
            out[i] = r;
        } else {
            out[i] = (uint32_t)plain;
            if (word[r]) continue;
            if (r >= (uint64_t)ns)
                other[m++] = i;
            else if (symbol[r])
                out[i] = r;
        }
    }
    Py_END_ALLOW_THREADS;
    if (bad >= 0)
        PyErr_Format(PyExc_ValueError, "raw[%zd] is outside the folding tables", bad);
done:
    PyBuffer_Release(&br);
    PyBuffer_Release(&bf);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bt);
    if (PyErr_Occurred()) return NULL;
    return PyLong_FromSsize_t(m);
}

static PyObject *py_dense(PyObject *self, PyObject *args) { return call(args, 0); }
static PyObject *py_sparse(PyObject *self, PyObject *args) { return call(args, 1); }

static PyMethodDef methods[] = {
    {"dense", py_dense, METH_VARARGS, "Add one order's n-gram weight rows per message."},
    {"sparse", py_sparse, METH_VARARGS, "dense, the all-plain n-grams counted, added once."},
    {"marks", py_marks, METH_VARARGS, "Codes of `features.marks` before the symbol check."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ngrams", NULL, -1, methods};

PyMODINIT_FUNC PyInit__ngrams(void) { return PyModule_Create(&module); }
