/* Compiled inner loop of the PDQ multi-index search (screener.banks.fast builds the tables).
 *
 * Why C: a numpy multi-index search at radius 31 spends its time in per-call overhead and in
 * random gathers of candidate rows (~3,500 look-ups/s on 1M). Here each chunk's table is CSR
 * (starts[value] .. starts[value + 1]) over entries that carry, inline and in bucket order, 128
 * bits of the bank hash taken from the half that does NOT hold the chunk. A random candidate is
 * ~64 bits away on those 128 bits and a match at most `radius`, so nearly every candidate is
 * rejected from memory read sequentially, and only survivors touch the full bank row.
 *
 * search(queries, radius, words, chunks, best, dist)
 *   queries: (q, 4) uint64, word 0 = the first 64 bits (big-endian bit order within a word)
 *   words:   (n, 4) uint64 bank rows
 *   chunks:  sequence of (start_bit, length, wa, wb, masks int64[], starts int32[2^len + 1],
 *            ids int32[n], inline uint64[n, 2] = rows[ids][:, (wa, wb)])
 *   best, dist: writable int64[q]: nearest row (lowest on ties) and its distance, or -1, -1
 * Exactness rests on the caller's chunk plan (general pigeonhole, see mih.py); this file only
 * enumerates what the plan says, and the inline filter never rejects a row within radius
 * (a partial distance is a lower bound of the full one).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_CHUNKS 64

typedef struct {
    int start, length, wa, wb;
    Py_ssize_t nmasks;
    const int64_t *masks;
    const int32_t *starts;
    const int32_t *ids;
    const uint64_t *inl;
} chunk_t;

static inline uint64_t chunk_value(const uint64_t *w, int start, int length) {
    int word = start / 64, off = start % 64;
    uint64_t v;
    if (off + length <= 64) {
        v = w[word] >> (64 - off - length);
    } else { /* spans two words: the low bits of one, the high bits of the next */
        int low = off + length - 64;
        v = (w[word] << low) | (w[word + 1] >> (64 - low));
    }
    return v & ((length == 64) ? ~(uint64_t)0 : (((uint64_t)1 << length) - 1));
}

/* popcount: with the POPCNT instruction where the CPU has it (chosen at load time on x86-64,
 * where the baseline ABI lacks it and the generic fallback is several times slower). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define CLONES
#endif

typedef struct {
    int32_t lo, hi;
} span_t;

/* Stage 1 of a query: every probed bucket's bounds (from the small, cached offset tables), and
 * a prefetch of its first lines, so the next query's DRAM misses overlap this one's scan. */
static void spans_of(const uint64_t *qw, const chunk_t *chunks, int nchunks, span_t *out) {
    for (int c = 0; c < nchunks; c++) {
        const chunk_t *ch = &chunks[c];
        uint64_t v = chunk_value(qw, ch->start, ch->length);
        for (Py_ssize_t m = 0; m < ch->nmasks; m++, out++) {
            uint64_t key = v ^ (uint64_t)ch->masks[m];
            out->lo = ch->starts[key];
            out->hi = ch->starts[key + 1];
            const char *p = (const char *)(ch->inl + 2 * (Py_ssize_t)out->lo);
            const char *end = (const char *)(ch->inl + 2 * (Py_ssize_t)out->hi);
            for (; p < end; p += 64) __builtin_prefetch(p);
        }
    }
}

CLONES static void search_all(const uint64_t *Q, Py_ssize_t nq, int radius, const uint64_t *W,
                              const chunk_t *chunks, int nchunks, span_t *spans,
                              Py_ssize_t nspans, int64_t *best_out, int64_t *dist_out) {
    if (nq > 0) spans_of(Q, chunks, nchunks, spans);
    for (Py_ssize_t q = 0; q < nq; q++) {
        const uint64_t *qw = Q + 4 * q;
        span_t *cur = spans + (q % 2) * nspans;
        if (q + 1 < nq) spans_of(qw + 4, chunks, nchunks, spans + ((q + 1) % 2) * nspans);
        int64_t best = -1;
        int bd = radius; /* accept rows at distance <= bd; tightened as matches are found */
        for (int c = 0; c < nchunks && !(best >= 0 && bd == 0); c++) {
            const chunk_t *ch = &chunks[c];
            uint64_t qa = qw[ch->wa], qb = qw[ch->wb];
            for (Py_ssize_t m = 0; m < ch->nmasks; m++, cur++) {
                int32_t lo = cur->lo, hi = cur->hi;
                const uint64_t *e = ch->inl + 2 * (Py_ssize_t)lo;
                for (int32_t j = lo; j < hi; j++, e += 2) {
                    int d = __builtin_popcountll(e[0] ^ qa) + __builtin_popcountll(e[1] ^ qb);
                    if (d > bd) continue;
                    int64_t id = ch->ids[j];
                    if (id == best) continue; /* met again in another chunk: known distance */
                    const uint64_t *r = W + 4 * id;
                    int full = __builtin_popcountll(r[0] ^ qw[0]) +
                               __builtin_popcountll(r[1] ^ qw[1]) +
                               __builtin_popcountll(r[2] ^ qw[2]) +
                               __builtin_popcountll(r[3] ^ qw[3]);
                    if (full < bd || (full == bd && (best < 0 || id < best))) {
                        bd = full;
                        best = id;
                    }
                }
            }
        }
        if (best >= 0 && bd == 0) {
            /* stopped early at distance 0: a lower row at distance 0 can only be an exact
             * duplicate, in the same chunk-0 bucket */
            const chunk_t *ch = &chunks[0];
            uint64_t key = chunk_value(qw, ch->start, ch->length);
            for (int32_t j = ch->starts[key]; j < ch->starts[key + 1]; j++) {
                int64_t id = ch->ids[j];
                const uint64_t *r = W + 4 * id;
                if (id < best && r[0] == qw[0] && r[1] == qw[1] && r[2] == qw[2] &&
                    r[3] == qw[3])
                    best = id;
            }
        }
        best_out[q] = best;
        dist_out[q] = best >= 0 ? bd : -1;
    }
}

/* Many queries at once: chunk by chunk, the (probe key, query) pairs are counting-sorted by
 * key, so the chunk's table is read in address order (a stream the hardware prefetches)
 * instead of one random bucket per probe. Same answers as search_all: every candidate of
 * every probe is seen, the nearest kept, the lowest row on ties. */
CLONES static void search_sorted(const uint64_t *Q, Py_ssize_t nq, int radius,
                                 const uint64_t *W, const chunk_t *chunks, int nchunks,
                                 int32_t *pairs, int32_t *count, int *bd, int64_t *best) {
    for (Py_ssize_t q = 0; q < nq; q++) {
        bd[q] = radius;
        best[q] = -1;
    }
    for (int c = 0; c < nchunks; c++) {
        const chunk_t *ch = &chunks[c];
        Py_ssize_t slots = (Py_ssize_t)1 << ch->length;
        memset(count, 0, sizeof(int32_t) * (size_t)(slots + 1));
        for (Py_ssize_t q = 0; q < nq; q++) {
            uint64_t v = chunk_value(Q + 4 * q, ch->start, ch->length);
            for (Py_ssize_t m = 0; m < ch->nmasks; m++) count[(v ^ (uint64_t)ch->masks[m]) + 1]++;
        }
        for (Py_ssize_t k = 0; k < slots; k++) count[k + 1] += count[k];
        for (Py_ssize_t q = 0; q < nq; q++) {
            uint64_t v = chunk_value(Q + 4 * q, ch->start, ch->length);
            for (Py_ssize_t m = 0; m < ch->nmasks; m++)
                pairs[count[v ^ (uint64_t)ch->masks[m]]++] = (int32_t)q;
        }
        /* now count[k] is the end of key k's pairs (and the start of key k + 1's) */
        int32_t prev = 0;
        for (Py_ssize_t k = 0; k < slots; k++) {
            int32_t end = count[k];
            int32_t lo = ch->starts[k], hi = ch->starts[k + 1];
            if (k + 16 < slots) /* ~4 KB ahead of the scan: the stream arrives in time */
                __builtin_prefetch(ch->inl + 2 * (Py_ssize_t)ch->starts[k + 16]);
            for (int32_t p = prev; p < end && lo < hi; p++) {
                int32_t q = pairs[p];
                const uint64_t *qw = Q + 4 * (Py_ssize_t)q;
                uint64_t qa = qw[ch->wa], qb = qw[ch->wb];
                int b = bd[q];
                int64_t bq = best[q];
                const uint64_t *e = ch->inl + 2 * (Py_ssize_t)lo;
                for (int32_t j = lo; j < hi; j++, e += 2) {
                    int d = __builtin_popcountll(e[0] ^ qa) + __builtin_popcountll(e[1] ^ qb);
                    if (d > b) continue;
                    int64_t id = ch->ids[j];
                    if (id == bq) continue; /* met again: skip its (cache-missing) row */
                    const uint64_t *r = W + 4 * id;
                    int full = __builtin_popcountll(r[0] ^ qw[0]) +
                               __builtin_popcountll(r[1] ^ qw[1]) +
                               __builtin_popcountll(r[2] ^ qw[2]) +
                               __builtin_popcountll(r[3] ^ qw[3]);
                    if (full < b || (full == b && (bq < 0 || id < bq))) {
                        b = full;
                        bq = id;
                    }
                }
                bd[q] = b;
                best[q] = bq;
            }
            prev = end;
        }
    }
    for (Py_ssize_t q = 0; q < nq; q++)
        if (best[q] < 0) bd[q] = -1;
}

static int need(Py_buffer *b, Py_ssize_t bytes, const char *what) {
    if (b->len < bytes) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, need %zd", what, b->len, bytes);
        return 0;
    }
    return 1;
}

static PyObject *py_search(PyObject *self, PyObject *args) {
    Py_buffer qb = {0}, wb = {0}, bestb = {0}, distb = {0};
    Py_buffer bufs[MAX_CHUNKS][4];
    chunk_t chunks[MAX_CHUNKS];
    int radius, nchunks = 0, ok = 0, sorted_ = 1;
    PyObject *seq = NULL, *list;
    memset(bufs, 0, sizeof bufs);
    if (!PyArg_ParseTuple(args, "y*iy*Ow*w*|p", &qb, &radius, &wb, &list, &bestb, &distb,
                          &sorted_))
        return NULL;
    Py_ssize_t nq = qb.len / 32, n = wb.len / 32;
    seq = PySequence_Fast(list, "chunks must be a sequence");
    if (!seq) goto done;
    if (PySequence_Fast_GET_SIZE(seq) > MAX_CHUNKS) {
        PyErr_SetString(PyExc_ValueError, "too many chunks");
        goto done;
    }
    if (!need(&bestb, nq * 8, "best") || !need(&distb, nq * 8, "dist")) goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        chunk_t *ch = &chunks[i];
        PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyArg_ParseTuple(t, "iiiiy*y*y*y*", &ch->start, &ch->length, &ch->wa, &ch->wb,
                              &bufs[i][0], &bufs[i][1], &bufs[i][2], &bufs[i][3]))
            goto done;
        nchunks = i + 1;
        if (ch->length < 1 || ch->length > 30 || ch->start < 0 || ch->start + ch->length > 256 ||
            ch->wa < 0 || ch->wa > 3 || ch->wb < 0 || ch->wb > 3) {
            PyErr_SetString(PyExc_ValueError, "bad chunk geometry");
            goto done;
        }
        ch->nmasks = bufs[i][0].len / 8;
        ch->masks = bufs[i][0].buf;
        ch->starts = bufs[i][1].buf;
        ch->ids = bufs[i][2].buf;
        ch->inl = bufs[i][3].buf;
        Py_ssize_t slots = (Py_ssize_t)1 << ch->length;
        if (!need(&bufs[i][1], (slots + 1) * 4, "starts") || !need(&bufs[i][2], n * 4, "ids") ||
            !need(&bufs[i][3], n * 16, "inline"))
            goto done;
        for (Py_ssize_t m = 0; m < ch->nmasks; m++)
            if (ch->masks[m] < 0 || ch->masks[m] >= slots) {
                PyErr_SetString(PyExc_ValueError, "mask outside the chunk");
                goto done;
            }
        if (ch->starts[slots] > n || ch->starts[0] != 0) {
            PyErr_SetString(PyExc_ValueError, "starts do not fit the bank");
            goto done;
        }
    }
    Py_ssize_t nspans = 0, maxmasks = 1;
    int maxlen = 0;
    for (int i = 0; i < nchunks; i++) {
        nspans += chunks[i].nmasks;
        if (chunks[i].nmasks > maxmasks) maxmasks = chunks[i].nmasks;
        if (chunks[i].length > maxlen) maxlen = chunks[i].length;
    }
    Py_ssize_t slots = (Py_ssize_t)1 << maxlen;
    /* sorted when the probes cover the tables densely enough that streaming them wins */
    if (sorted_ && maxlen <= 20 && nq * maxmasks >= slots / 2) {
        int32_t *pairs = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(nq * maxmasks));
        int32_t *count = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(slots + 1));
        int *bd = PyMem_RawMalloc(sizeof(int) * (size_t)nq);
        if (!pairs || !count || !bd) {
            PyMem_RawFree(pairs);
            PyMem_RawFree(count);
            PyMem_RawFree(bd);
            PyErr_NoMemory();
            goto done;
        }
        int64_t *best = bestb.buf, *dist = distb.buf;
        Py_BEGIN_ALLOW_THREADS;
        search_sorted(qb.buf, nq, radius, wb.buf, chunks, nchunks, pairs, count, bd, best);
        for (Py_ssize_t q = 0; q < nq; q++) dist[q] = bd[q];
        Py_END_ALLOW_THREADS;
        PyMem_RawFree(pairs);
        PyMem_RawFree(count);
        PyMem_RawFree(bd);
    } else {
        span_t *spans = PyMem_RawMalloc(sizeof(span_t) * 2 * (size_t)(nspans ? nspans : 1));
        if (!spans) {
            PyErr_NoMemory();
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS;
        search_all(qb.buf, nq, radius, wb.buf, chunks, nchunks, spans, nspans, bestb.buf,
                   distb.buf);
        Py_END_ALLOW_THREADS;
        PyMem_RawFree(spans);
    }
    ok = 1;
done:
    for (int i = 0; i < nchunks; i++)
        for (int k = 0; k < 4; k++)
            if (bufs[i][k].obj) PyBuffer_Release(&bufs[i][k]);
    Py_XDECREF(seq);
    PyBuffer_Release(&qb);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&bestb);
    PyBuffer_Release(&distb);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"search", py_search, METH_VARARGS, "Exact radius search over CSR chunk tables."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_mih", NULL, -1, methods};

PyMODINIT_FUNC PyInit__mih(void) { return PyModule_Create(&module); }
