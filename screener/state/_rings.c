/* Compiled per-event loop of the windowed counters (screener.state.windows.Series).
 *
 * Why C: a batch's window reads and writes are a few dozen numpy calls per series (sort by
 * key, ring masks, gathers, scatters), each costing microseconds of call overhead whatever the
 * batch size; profiled on `screener bench engine`, they were about a third of what behaviour
 * signals added to screening. Here the reference semantics (`Series._sequential`: one event at
 * a time, in arrival order) run directly, O(RING) per event, in one call per series.
 *
 * update(head, cells, slots, buckets, amounts, out, distinct, write) -> late events
 *   head:    writable int64[capacity]                     (NONE: an empty row)
 *   cells:   writable uint32[capacity * RING] (counts) or uint64[capacity * RING * WORDS]
 *   slots, buckets: int64[n]
 *   amounts: uint32[n] (counts) or uint64[n * WORDS] (distinct bitmaps)
 *   out:     writable int64[n] (counts: the window's sum) or uint64[n * WORDS] (distinct: the
 *            window's OR; Python turns it into an estimate, so the float maths stays numpy's)
 *   write:   0 — nothing is stored (rows touched are worked on in private copies)
 *
 * stage(head, cells, slots, buckets, amounts, out, distinct, st_slots, st_heads, st_rows, need)
 *     -> (late events, rows staged)
 *   `update` with write=0 that also hands back the private rows it ended with: the slots
 *   touched (st_slots int64[n], in order of first event), their heads (st_heads int64[n]) and
 *   rows (st_rows, cells' dtype, RING (x WORDS) per slot). Why: the engine reads a batch's
 *   values before its verdicts exist and the state stores the batch afterwards; storing the
 *   staged rows then (`Series.commit`) is a copy, where running the loop again to write was
 *   half of what the windows cost per batch (profiled on `screener bench engine`).
 *   need: uint8[n] (the window is summed only where set, `out` is 0 elsewhere: most events
 *   are stored but never read, see screener/rules/pregate.py) or empty (everywhere).
 *
 * commit(head, cells, st_slots, st_heads, st_rows, distinct): store staged rows (what
 *   numpy's `cells[slots] = rows` does, without its fancy-index machinery: ~4x less).
 *
 * minhash(codes, starts, ends, messages, mul, keys, has)
 *   Campaign band keys (screener.campaigns.signatures: `shingles_of` + `minhash_bands`, the
 *   same values) for the sorted `messages`: each message's 3-gram hashes, their K = BANDS x
 *   ROWS multiply-shift minima, banded. Why C: numpy made a (3-grams, K) matrix and reduced it
 *   per message, ~1.3 ms of a 1,000-message batch; here it is one pass, no matrix.
 *   codes uint32[], starts/ends int64[total messages], messages int64[m], mul uint64[K],
 *   keys writable uint64[total * BANDS] (rows of messages with a signature are set),
 *   has writable uint8[total] (1: enough 3-grams for a signature).
 *
 * crc_bits(values, out)
 *   Distinct-value bitmaps (screener.state.bits.bits_of_each, the same bits): for each item of
 *   the list `values` (str, or None: no bit), CRC-32 of its UTF-8 (surrogatepass), mixed, sets
 *   one bit of its row of `out` (writable uint64[n * WORDS], zeroed by the caller). Why C: the
 *   Python generator (encode + zlib.crc32 per value, then numpy) was ~0.6 us a value, and a
 *   chat batch takes two per event (conversation, sender); profiled at ~2 ms per 1,000 events.
 *
 * ix_get(table, queries, out) / ix_put(table, keys, vals, seqs, used) -> added /
 * ix_del(table, keys) -> removed
 *   An open-addressing hash index of uint64 keys (campaign band keys) to int64 slots, in a
 *   numpy array the caller owns (screener.state.intindex.IntIndex): int64[cap, 3] cells of
 *   (key, slot or -1 = empty, insertion number), cap a power of two kept at most half full;
 *   linear probing, backward-shift deletion (no tombstones); the insertion numbers keep the
 *   order of a dict.
 *   Why C: a batch looks up ~2,000 band keys, most of them new; as a dict of Python ints that
 *   was ~1.3 ms of a 1,000-message batch (boxing, hashing, scattered entries).
 *
 * sparse_encode(last, slots, series[, keys]) -> list of bytes, or of (key, bytes) with keys
 *   The changelog's version 2 records of `slots` (screener.state.sparse.encode_many: the same
 *   bytes); `series`: a list of (kind, seconds, distinct, head int64[capacity], cells) in the
 *   store's order; last: int64[capacity]; keys: a list of one object per slot. Why C: a 1 s commit interval at ~35,000 events a
 *   second flushes ~68,000 records, and numpy's encoding took ~80 ms of it on the event loop
 *   in one piece (a dozen array calls per series, per store, per partition, plus a bytes slice
 *   per record): the p99 of every record behind that batch.
 *
 * changelog_keys(keys, dirty, prefix, kept, skip=0, mask=2**64-1) -> list of bytes
 *   The changelog keys (screener.state.codec.key_bytes, after `prefix`) of the slots in
 *   `dirty` (int64[m]) that still hold a key in the store's list `keys` (str: UTF-8; int: `#`
 *   and 8 bytes big-endian); the slots kept are written to `kept` (writable int64[m]), in
 *   order. Why C: two list comprehensions and a concatenation per key were ~30 ms of the
 *   flush above, more than the encoding. A worker's one store tags each key with its
 *   partition (screener.state.partitioned): `skip` drops the first bytes of a str key's UTF-8
 *   and `mask` is and-ed into an int key, so the changelog gets the key untagged.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#define BUCKETS 10
#define GRACE 2
#define RING (BUCKETS + GRACE)
#define WORDS 2
#define NONE (INT64_MIN / 4)

/* Prefetching: a batch's events hit rows scattered over a large store (a row is 48 bytes of
 * counts or 192 of bitmaps; ~50,000 users and ~65,000 band keys on `screener bench engine`
 * are tens of MB), so each event waited for memory. Asking for the row PREFETCH events
 * ahead lets those waits overlap; the values are the same (a prefetch is only a hint). */
#define PREFETCH 8

static inline void prefetch_row(const char *base, Py_ssize_t bytes, int write) {
    for (Py_ssize_t off = 0; off < bytes; off += 64) {
        if (write)
            __builtin_prefetch(base + off, 1);
        else
            __builtin_prefetch(base + off, 0);
    }
}

/* Python's floor modulo (buckets of events before 1970 are negative) */
static inline int64_t ring_pos(int64_t b) {
    int64_t r = b % RING;
    return r < 0 ? r + RING : r;
}

typedef struct {
    int64_t *keys;  /* slot, or -1 */
    int64_t *vals;  /* scratch row index */
    int64_t mask;
} map_t;

static int map_init(map_t *m, Py_ssize_t n) {
    int64_t size = 16;
    while (size < 2 * (int64_t)n) size <<= 1;
    m->keys = PyMem_Malloc(sizeof(int64_t) * size);
    m->vals = PyMem_Malloc(sizeof(int64_t) * size);
    if (!m->keys || !m->vals) return -1;
    for (int64_t i = 0; i < size; i++) m->keys[i] = -1;
    m->mask = size - 1;
    return 0;
}

static void map_free(map_t *m) {
    PyMem_Free(m->keys);
    PyMem_Free(m->vals);
}

/* the scratch index of `slot`, or -1 after reserving `fresh` for it */
static int64_t map_get(map_t *m, int64_t slot, int64_t fresh) {
    uint64_t h = ((uint64_t)slot * 0x9E3779B97F4A7C15ULL) >> 17;
    for (int64_t i = (int64_t)(h & (uint64_t)m->mask);; i = (i + 1) & m->mask) {
        if (m->keys[i] == slot) return m->vals[i];
        if (m->keys[i] == -1) {
            m->keys[i] = slot;
            m->vals[i] = fresh;
            return -1;
        }
    }
}

/* the loop both entry points share; staging buffers NULL: `update` (write-back if `write`) */
/* Every function below takes its arrays as buffers and must release each one on return. */
static void release(int n, ...) {
    va_list buffers;
    va_start(buffers, n);
    for (int i = 0; i < n; i++) PyBuffer_Release(va_arg(buffers, Py_buffer *));
    va_end(buffers);
}

static PyObject *run(Py_buffer *head, Py_buffer *cells, Py_buffer *slots, Py_buffer *buckets,
                     Py_buffer *amounts, Py_buffer *out, int distinct, int write,
                     Py_buffer *st_slots, Py_buffer *st_heads, Py_buffer *st_rows,
                     Py_buffer *need) {
    PyObject *result = NULL;
    Py_ssize_t n = slots->len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t capacity = head->len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t width = distinct ? WORDS : 1; /* words per bucket */
    Py_ssize_t cell = distinct ? sizeof(uint64_t) : sizeof(uint32_t);
    int64_t *heads = NULL, *firsts = NULL;
    uint64_t *rows = NULL;
    map_t map = {NULL, NULL, 0};
    if (buckets->len != slots->len || cells->len != capacity * RING * width * cell ||
        amounts->len != n * width * cell ||
        out->len != n * width * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "update: buffer sizes do not match");
        goto done;
    }
    if (st_slots != NULL &&
        (st_slots->len != n * (Py_ssize_t)sizeof(int64_t) || st_heads->len != st_slots->len ||
         st_rows->len != n * RING * width * cell)) {
        PyErr_SetString(PyExc_ValueError, "stage: staging buffer sizes do not match");
        goto done;
    }
    const uint8_t *wanted = need != NULL && need->len ? need->buf : NULL;
    if (wanted != NULL && need->len != n) {
        PyErr_SetString(PyExc_ValueError, "stage: need mask size does not match");
        goto done;
    }
    const int64_t *s = slots->buf, *b = buckets->buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0 || s[i] >= capacity) {
            PyErr_SetString(PyExc_IndexError, "update: slot out of range");
            goto done;
        }
    /* working rows, widened to uint64 words: counts wrap at 32 bits as numpy's uint32 do */
    heads = PyMem_Malloc(sizeof(int64_t) * (n ? n : 1));
    firsts = PyMem_Malloc(sizeof(int64_t) * (n ? n : 1));
    rows = PyMem_Malloc(sizeof(uint64_t) * RING * width * (n ? n : 1));
    if (!heads || !firsts || !rows || map_init(&map, n) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *hs = head->buf;
    uint32_t *c32 = cells->buf;
    uint64_t *c64 = cells->buf;
    const uint32_t *a32 = amounts->buf;
    const uint64_t *a64 = amounts->buf;
    int64_t *o64 = out->buf;
    uint64_t *ob = out->buf;
    int64_t used = 0, late = 0;
    Py_ssize_t row_bytes = RING * width * cell;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t slot = s[i], bkt = b[i];
        if (i + PREFETCH < n) {
            __builtin_prefetch(&hs[s[i + PREFETCH]], 0);
            prefetch_row((const char *)cells->buf + s[i + PREFETCH] * row_bytes, row_bytes, 0);
        }
        int64_t k = map_get(&map, slot, used);
        if (k < 0) { /* first event of this slot in the batch: copy its stored row */
            k = used++;
            firsts[k] = slot;
            heads[k] = hs[slot];
            /* an empty row (head NONE) is zeroed whole below before any use: its cells are
               not read (most campaign band keys are new: profiled, reading their rows, cold
               in memory, was a good part of staging them) */
            if (heads[k] != NONE)
                for (int x = 0; x < RING * width; x++)
                    rows[k * RING * width + x] =
                        distinct ? c64[slot * RING * width + x] : c32[slot * RING + x];
        }
        uint64_t *row = rows + k * RING * width;
        int64_t h = heads[k];
        if (h == NONE || bkt > h) {
            int64_t steps = h == NONE ? RING : (bkt - h < RING ? bkt - h : RING);
            for (int64_t x = bkt - steps + 1; x <= bkt; x++)
                for (Py_ssize_t w = 0; w < width; w++) row[ring_pos(x) * width + w] = 0;
            h = heads[k] = bkt;
        }
        if (bkt > h - RING) {
            int64_t p = ring_pos(bkt);
            if (distinct) {
                row[p * WORDS] |= a64[i * WORDS];
                row[p * WORDS + 1] |= a64[i * WORDS + 1];
            } else {
                row[p] = (uint32_t)(row[p] + a32[i]);
            }
        } else {
            late++;
        }
        if (wanted != NULL && !wanted[i]) { /* stored, never read: no window to sum */
            if (distinct)
                ob[i * WORDS] = ob[i * WORDS + 1] = 0;
            else
                o64[i] = 0;
            continue;
        }
        int64_t lo = bkt - BUCKETS + 1 > h - RING + 1 ? bkt - BUCKETS + 1 : h - RING + 1;
        int64_t hi = bkt < h ? bkt : h;
        int64_t p = lo <= hi ? ring_pos(lo) : 0; /* walked forward: no modulo per bucket */
        if (distinct) {
            uint64_t w0 = 0, w1 = 0;
            for (int64_t x = lo; x <= hi; x++, p = p + 1 == RING ? 0 : p + 1) {
                w0 |= row[p * WORDS];
                w1 |= row[p * WORDS + 1];
            }
            ob[i * WORDS] = w0;
            ob[i * WORDS + 1] = w1;
        } else {
            int64_t sum = 0;
            for (int64_t x = lo; x <= hi; x++, p = p + 1 == RING ? 0 : p + 1)
                sum += (int64_t)row[p];
            o64[i] = sum;
        }
    }
    if (write) {
        for (int64_t k = 0; k < used; k++) {
            int64_t slot = firsts[k];
            hs[slot] = heads[k];
            for (int x = 0; x < RING * width; x++) {
                if (distinct)
                    c64[slot * RING * width + x] = rows[k * RING * width + x];
                else
                    c32[slot * RING + x] = (uint32_t)rows[k * RING + x];
            }
        }
    }
    if (st_slots != NULL) { /* hand the private rows back, in cells' own dtype */
        int64_t *ss = st_slots->buf, *sh = st_heads->buf;
        uint32_t *r32 = st_rows->buf;
        uint64_t *r64 = st_rows->buf;
        for (int64_t k = 0; k < used; k++) {
            ss[k] = firsts[k];
            sh[k] = heads[k];
            for (int x = 0; x < RING * width; x++) {
                if (distinct)
                    r64[k * RING * width + x] = rows[k * RING * width + x];
                else
                    r32[k * RING + x] = (uint32_t)rows[k * RING + x];
            }
        }
        result = Py_BuildValue("(LL)", (long long)late, (long long)used);
    } else {
        result = PyLong_FromLongLong(late);
    }
done:
    PyMem_Free(heads);
    PyMem_Free(firsts);
    PyMem_Free(rows);
    map_free(&map);
    return result;
}

static PyObject *update(PyObject *self, PyObject *args) {
    Py_buffer head, cells, slots, buckets, amounts, out;
    int distinct, write;
    if (!PyArg_ParseTuple(args, "w*w*y*y*y*w*pp", &head, &cells, &slots, &buckets, &amounts,
                          &out, &distinct, &write))
        return NULL;
    PyObject *result = run(&head, &cells, &slots, &buckets, &amounts, &out, distinct, write,
                           NULL, NULL, NULL, NULL);
    release(6, &head, &cells, &slots, &buckets, &amounts, &out);
    return result;
}

static PyObject *stage(PyObject *self, PyObject *args) {
    Py_buffer head, cells, slots, buckets, amounts, out, st_slots, st_heads, st_rows, need;
    int distinct;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*pw*w*w*y*", &head, &cells, &slots, &buckets,
                          &amounts, &out, &distinct, &st_slots, &st_heads, &st_rows, &need))
        return NULL;
    PyObject *result = run(&head, &cells, &slots, &buckets, &amounts, &out, distinct, 0,
                           &st_slots, &st_heads, &st_rows, &need);
    release(10, &need, &head, &cells, &slots, &buckets, &amounts, &out, &st_slots, &st_heads,
            &st_rows);
    return result;
}

static PyObject *commit(PyObject *self, PyObject *args) {
    Py_buffer head, cells, st_slots, st_heads, st_rows;
    int distinct;
    if (!PyArg_ParseTuple(args, "w*w*y*y*y*p", &head, &cells, &st_slots, &st_heads, &st_rows,
                          &distinct))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t capacity = head.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t row = RING * (distinct ? WORDS * sizeof(uint64_t) : sizeof(uint32_t));
    Py_ssize_t m = st_slots.len / (Py_ssize_t)sizeof(int64_t);
    if (cells.len != capacity * row || st_heads.len != st_slots.len || st_rows.len != m * row) {
        PyErr_SetString(PyExc_ValueError, "commit: buffer sizes do not match");
        goto done;
    }
    const int64_t *ss = st_slots.buf, *sh = st_heads.buf;
    for (Py_ssize_t k = 0; k < m; k++)
        if (ss[k] < 0 || ss[k] >= capacity) {
            PyErr_SetString(PyExc_IndexError, "commit: slot out of range");
            goto done;
        }
    int64_t *hs = head.buf;
    char *dst = cells.buf;
    const char *src = st_rows.buf;
    for (Py_ssize_t k = 0; k < m; k++) {
        if (k + PREFETCH < m) {
            __builtin_prefetch(&hs[ss[k + PREFETCH]], 1);
            prefetch_row(dst + ss[k + PREFETCH] * row, row, 1);
        }
        hs[ss[k]] = sh[k];
        memcpy(dst + ss[k] * row, src + k * row, (size_t)row);
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    release(5, &head, &cells, &st_slots, &st_heads, &st_rows);
    return result;
}

#define BANDS 8
#define ROWS 3
#define K (BANDS * ROWS)
#define MIN_SHINGLES 6

static PyObject *minhash(PyObject *self, PyObject *args) {
    Py_buffer codes, starts, ends, messages, mul, keys, has;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*", &codes, &starts, &ends, &messages, &mul,
                          &keys, &has))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t ncodes = codes.len / (Py_ssize_t)sizeof(uint32_t);
    Py_ssize_t total = starts.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t m = messages.len / (Py_ssize_t)sizeof(int64_t);
    if (ends.len != starts.len || mul.len != K * (Py_ssize_t)sizeof(uint64_t) ||
        keys.len != total * BANDS * (Py_ssize_t)sizeof(uint64_t) || has.len != total) {
        PyErr_SetString(PyExc_ValueError, "minhash: buffer sizes do not match");
        goto done;
    }
    const uint32_t *c = codes.buf;
    const int64_t *st = starts.buf, *en = ends.buf, *msg = messages.buf;
    const uint64_t *mu = mul.buf;
    uint64_t *out = keys.buf;
    uint8_t *ok = has.buf;
    for (Py_ssize_t j = 0; j < m; j++) {
        int64_t i = msg[j];
        if (i < 0 || i >= total) {
            PyErr_SetString(PyExc_IndexError, "minhash: message out of range");
            goto done;
        }
        int64_t lo = st[i], count = en[i] - lo - 2;
        if (count < 0) count = 0;
        if (count > 0 && (lo < 0 || lo + count + 2 > ncodes)) {
            PyErr_SetString(PyExc_IndexError, "minhash: message outside the codes");
            goto done;
        }
        ok[i] = count >= MIN_SHINGLES;
        if (!ok[i]) continue;
        uint64_t mins[K];
        for (int k = 0; k < K; k++) mins[k] = UINT64_MAX;
        for (int64_t p = lo; p < lo + count; p++) {
            /* signatures.shingles' hash (uint64 arithmetic wraps as numpy's does) */
            uint64_t h = ((uint64_t)c[p] * 0x100000001B3ULL) ^ ((uint64_t)c[p + 1] * 0x9E3779B1ULL) ^
                         (uint64_t)c[p + 2];
            h *= 0xFF51AFD7ED558CCDULL;
            h ^= h >> 33;
            for (int k = 0; k < K; k++) {
                uint64_t v = (h * mu[k]) >> 32;
                if (v < mins[k]) mins[k] = v;
            }
        }
        for (int b = 0; b < BANDS; b++) {
            uint64_t band = mins[b * ROWS];
            for (int r = 1; r < ROWS; r++) band = (band * 0x100000001B3ULL) ^ mins[b * ROWS + r];
            out[i * BANDS + b] = band ^ ((uint64_t)b << 59);
        }
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    release(7, &codes, &starts, &ends, &messages, &mul, &keys, &has);
    return result;
}

/* zlib's CRC-32 (reflected, polynomial 0xEDB88320): bits restored from a changelog must mean
 * what Python's zlib.crc32 made them mean */
static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, Py_ssize_t n) {
    uint32_t c = 0xFFFFFFFFU;
    for (Py_ssize_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFU;
}

static PyObject *crc_bits(PyObject *self, PyObject *args) {
    PyObject *values;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "O!w*", &PyList_Type, &values, &out)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    if (out.len != n * WORDS * (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "crc_bits: buffer size does not match");
        goto done;
    }
    uint64_t *o = out.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        if (v == Py_None) continue;
        if (!PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "crc_bits: values must be str or None");
            goto done;
        }
        uint32_t crc;
        Py_ssize_t len;
        const char *utf8 = PyUnicode_AsUTF8AndSize(v, &len);
        if (utf8 != NULL) {
            crc = crc32_of((const unsigned char *)utf8, len);
        } else { /* lone surrogates: encoded as Python's "surrogatepass" does */
            PyErr_Clear();
            PyObject *raw = PyUnicode_AsEncodedString(v, "utf-8", "surrogatepass");
            if (raw == NULL) goto done;
            crc = crc32_of((const unsigned char *)PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
            Py_DECREF(raw);
        }
        /* bits.value_bits' mix */
        uint64_t h = ((uint64_t)crc * 0x9E3779B97F4A7C15ULL) >> 32;
        o[i * WORDS + (h >> 6) % WORDS] = 1ULL << (h & 63);
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&out);
    return result;
}

/* splitmix64's finaliser: band keys are hashes already, but any uint64 keys spread */
static inline uint64_t ix_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDULL;
    k ^= k >> 33;
    return k;
}

/* one cell of the table: a probe touches one cache line, not one per array */
typedef struct {
    uint64_t key;
    int64_t val; /* the slot; -1: an empty cell */
    int64_t seq; /* insertion number */
} ix_cell;

static ix_cell *ix_table(Py_buffer *table, int64_t *mask) {
    Py_ssize_t cap = table->len / (Py_ssize_t)sizeof(ix_cell);
    if (cap == 0 || (cap & (cap - 1)) != 0 || table->len != cap * (Py_ssize_t)sizeof(ix_cell)) {
        PyErr_SetString(PyExc_ValueError, "ix: the table is not a power-of-two size");
        return NULL;
    }
    *mask = cap - 1;
    return table->buf;
}

/* the cell holding `key`, or the empty cell where it would go */
static inline int64_t ix_find(const ix_cell *t, int64_t mask, uint64_t key) {
    int64_t i = (int64_t)(ix_hash(key) & (uint64_t)mask);
    while (t[i].val != -1 && t[i].key != key) i = (i + 1) & mask;
    return i;
}

static PyObject *ix_get(PyObject *self, PyObject *args) {
    Py_buffer table, queries, out;
    if (!PyArg_ParseTuple(args, "y*y*w*", &table, &queries, &out)) return NULL;
    PyObject *result = NULL;
    int64_t mask;
    const ix_cell *t = ix_table(&table, &mask);
    if (t == NULL) goto done;
    Py_ssize_t n = queries.len / (Py_ssize_t)sizeof(uint64_t);
    if (out.len != n * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "ix_get: buffer sizes do not match");
        goto done;
    }
    const uint64_t *q = queries.buf;
    int64_t *o = out.buf;
    for (Py_ssize_t j = 0; j < n; j++) {
        if (j + PREFETCH < n)
            __builtin_prefetch(&t[ix_hash(q[j + PREFETCH]) & (uint64_t)mask], 0);
        o[j] = t[ix_find(t, mask, q[j])].val;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    release(3, &table, &queries, &out);
    return result;
}

static PyObject *ix_put(PyObject *self, PyObject *args) {
    Py_buffer table, keys, vals, seqs;
    Py_ssize_t used; /* keys the table holds (the caller counts them: no O(table) scan) */
    if (!PyArg_ParseTuple(args, "w*y*y*y*n", &table, &keys, &vals, &seqs, &used)) return NULL;
    PyObject *result = NULL;
    int64_t mask;
    ix_cell *t = ix_table(&table, &mask);
    if (t == NULL) goto done;
    Py_ssize_t n = keys.len / (Py_ssize_t)sizeof(uint64_t), added = 0;
    if (vals.len != n * (Py_ssize_t)sizeof(int64_t) || seqs.len != vals.len) {
        PyErr_SetString(PyExc_ValueError, "ix_put: buffer sizes do not match");
        goto done;
    }
    const uint64_t *k = keys.buf;
    const int64_t *v = vals.buf, *sq = seqs.buf;
    for (Py_ssize_t j = 0; j < n; j++) {
        if (v[j] < 0) {
            PyErr_SetString(PyExc_ValueError, "ix_put: slots are not negative");
            goto done;
        }
        if (j + PREFETCH < n)
            __builtin_prefetch(&t[ix_hash(k[j + PREFETCH]) & (uint64_t)mask], 1);
        int64_t i = ix_find(t, mask, k[j]);
        if (t[i].val == -1) { /* a new key (an existing one keeps its place, as in a dict) */
            if (used + 1 > mask) { /* never full: probes must meet an empty cell */
                PyErr_SetString(PyExc_ValueError, "ix_put: the table is full");
                goto done;
            }
            t[i].key = k[j];
            t[i].seq = sq[j];
            added++;
            used++;
        }
        t[i].val = v[j];
    }
    result = PyLong_FromSsize_t(added);
done:
    release(4, &table, &keys, &vals, &seqs);
    return result;
}

static PyObject *ix_del(PyObject *self, PyObject *args) {
    Py_buffer table, keys;
    if (!PyArg_ParseTuple(args, "w*y*", &table, &keys)) return NULL;
    PyObject *result = NULL;
    int64_t mask;
    ix_cell *t = ix_table(&table, &mask);
    if (t == NULL) goto done;
    Py_ssize_t n = keys.len / (Py_ssize_t)sizeof(uint64_t), removed = 0;
    const uint64_t *k = keys.buf;
    for (Py_ssize_t j = 0; j < n; j++) {
        int64_t i = ix_find(t, mask, k[j]);
        if (t[i].val == -1) continue; /* absent */
        removed++;
        /* backward shift: pull later keys of the run into the hole unless their home lies
           in the cyclic range (hole, their cell], so every key stays reachable from home */
        for (int64_t h = (i + 1) & mask; t[h].val != -1; h = (h + 1) & mask) {
            int64_t home = (int64_t)(ix_hash(t[h].key) & (uint64_t)mask);
            int stays = i <= h ? (i < home && home <= h) : (i < home || home <= h);
            if (stays) continue;
            t[i] = t[h];
            i = h;
        }
        t[i].val = -1;
    }
    result = PyLong_FromSsize_t(removed);
done:
    release(2, &table, &keys);
    return result;
}

/* dict_get: out[i] = d[keys[i]] (an int) or -1 where absent; returns how many are absent.
   A str-keyed store's slots (user ids): numpy's fromiter over map(d.get, ...) paid a bound
   call and a boxed conversion per key, about half of the look-up. */
static PyObject *dict_get(PyObject *self, PyObject *args) {
    PyObject *d, *keys;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "O!O!w*", &PyDict_Type, &d, &PyList_Type, &keys, &out))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys), absent = 0;
    if (out.len != n * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "dict_get: buffer size does not match");
        goto done;
    }
    int64_t *o = out.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyDict_GetItemWithError(d, PyList_GET_ITEM(keys, i)); /* borrowed */
        if (v == NULL) {
            if (PyErr_Occurred()) goto done; /* an unhashable key */
            o[i] = -1;
            absent++;
            continue;
        }
        long long slot = PyLong_AsLongLong(v);
        if (slot == -1 && PyErr_Occurred()) goto done;
        o[i] = slot;
    }
    result = PyLong_FromSsize_t(absent);
done:
    PyBuffer_Release(&out);
    return result;
}

static inline void put_le(char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (char)(v >> (8 * i));
}

#define MAX_SERIES 32

/* sparse_encode(last, slots, series) -> list of bytes: see the top of this file. */
static PyObject *sparse_encode(PyObject *self, PyObject *args) {
    Py_buffer last, slots;
    PyObject *specs, *keys = Py_None;
    if (!PyArg_ParseTuple(args, "y*y*O!|O", &last, &slots, &PyList_Type, &specs, &keys))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = PyList_GET_SIZE(specs), got = 0;
    Py_buffer heads[MAX_SERIES], cells[MAX_SERIES];
    unsigned kinds[MAX_SERIES], seconds[MAX_SERIES];
    int distinct[MAX_SERIES];
    uint16_t *masks = NULL;
    Py_ssize_t capacity = last.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t m = slots.len / (Py_ssize_t)sizeof(int64_t);
    if (n > MAX_SERIES) {
        PyErr_SetString(PyExc_ValueError, "sparse_encode: too many series");
        goto done;
    }
    for (; got < n; got++) {
        if (!PyArg_ParseTuple(PyList_GET_ITEM(specs, got), "IIpy*y*", &kinds[got],
                              &seconds[got], &distinct[got], &heads[got], &cells[got]))
            goto done;
        Py_ssize_t row = RING * (distinct[got] ? WORDS * 8 : 4);
        if (heads[got].len != capacity * 8 || cells[got].len != capacity * row ||
            kinds[got] > 255) {
            got++;
            PyErr_SetString(PyExc_ValueError, "sparse_encode: buffer sizes do not match");
            goto done;
        }
    }
    if (keys != Py_None && (!PyList_Check(keys) || PyList_GET_SIZE(keys) != m)) {
        PyErr_SetString(PyExc_ValueError, "sparse_encode: keys must be a list, one per slot");
        goto done;
    }
    const int64_t *at = slots.buf;
    for (Py_ssize_t k = 0; k < m; k++)
        if (at[k] < 0 || at[k] >= capacity) {
            PyErr_SetString(PyExc_IndexError, "sparse_encode: slot out of range");
            goto done;
        }
    masks = PyMem_Malloc(sizeof(uint16_t) * (size_t)(m * n + 1));
    if (!masks) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyList_New(m);
    if (!result) goto done;
    const int64_t *lasts = last.buf;
    for (Py_ssize_t k = 0; k < m; k++) {
        int64_t slot = at[k];
        Py_ssize_t size = 12 + 15 * n;
        for (Py_ssize_t s = 0; s < n; s++) {
            uint16_t mask = 0;
            if (distinct[s]) {
                const uint64_t *c = (const uint64_t *)cells[s].buf + slot * RING * WORDS;
                for (int r = 0; r < RING; r++)
                    if (c[r * WORDS] | c[r * WORDS + 1]) mask |= (uint16_t)(1u << r);
                size += __builtin_popcount(mask) * WORDS * 8;
            } else {
                const uint32_t *c = (const uint32_t *)cells[s].buf + slot * RING;
                for (int r = 0; r < RING; r++)
                    if (c[r]) mask |= (uint16_t)(1u << r);
                size += __builtin_popcount(mask) * 4;
            }
            masks[k * n + s] = mask;
        }
        PyObject *record = PyBytes_FromStringAndSize(NULL, size);
        if (!record) {
            Py_CLEAR(result);
            goto done;
        }
        char *p = PyBytes_AS_STRING(record);
        memcpy(p, "SW2", 3);
        put_le(p + 3, (uint64_t)lasts[slot], 8);
        p[11] = (char)n;
        p += 12;
        for (Py_ssize_t s = 0; s < n; s++) {
            p[0] = (char)kinds[s];
            put_le(p + 1, seconds[s], 4);
            put_le(p + 5, (uint64_t)((const int64_t *)heads[s].buf)[slot], 8);
            put_le(p + 13, masks[k * n + s], 2);
            p += 15;
        }
        for (Py_ssize_t s = 0; s < n; s++) {
            uint16_t mask = masks[k * n + s];
            for (int r = 0; r < RING; r++) {
                if (!(mask & (1u << r))) continue;
                if (distinct[s]) {
                    const uint64_t *c = (const uint64_t *)cells[s].buf + (slot * RING + r) * WORDS;
                    put_le(p, c[0], 8);
                    put_le(p + 8, c[1], 8);
                    p += 16;
                } else {
                    put_le(p, ((const uint32_t *)cells[s].buf)[slot * RING + r], 4);
                    p += 4;
                }
            }
        }
        if (keys != Py_None) { /* (key, record) pairs: no zip of two lists afterwards */
            PyObject *pair = PyTuple_Pack(2, PyList_GET_ITEM(keys, k), record);
            Py_DECREF(record);
            if (!pair) {
                Py_CLEAR(result);
                goto done;
            }
            /* two bytes objects: nothing to collect through it, so out of the collector's
               lists at once (as CPython untracks such tuples lazily), or a flush's 68,000
               pairs are traversed by every young collection they cause (~8 ms measured) */
            PyObject_GC_UnTrack(pair);
            record = pair;
        }
        PyList_SET_ITEM(result, k, record);
    }
done:
    PyMem_Free(masks);
    for (Py_ssize_t s = 0; s < got; s++) {
        PyBuffer_Release(&heads[s]);
        PyBuffer_Release(&cells[s]);
    }
    release(2, &last, &slots);
    return result;
}

/* changelog_keys(keys, dirty, prefix, kept, skip, mask) -> list of bytes: see the top. */
static PyObject *changelog_keys(PyObject *self, PyObject *args) {
    PyObject *keys;
    Py_buffer dirty, prefix, kept;
    Py_ssize_t skip = 0;
    unsigned long long mask = ~0ULL;
    if (!PyArg_ParseTuple(args, "O!y*y*w*|nK", &PyList_Type, &keys, &dirty, &prefix, &kept,
                          &skip, &mask))
        return NULL;
    PyObject *result = NULL, *out = NULL;
    Py_ssize_t m = dirty.len / (Py_ssize_t)sizeof(int64_t), n = PyList_GET_SIZE(keys), count = 0;
    if (kept.len != dirty.len) {
        PyErr_SetString(PyExc_ValueError, "changelog_keys: buffer sizes do not match");
        goto done;
    }
    const int64_t *at = dirty.buf;
    int64_t *put = kept.buf;
    out = PyList_New(0);
    if (!out) goto done;
    for (Py_ssize_t k = 0; k < m; k++) {
        if (at[k] < 0 || at[k] >= n) {
            PyErr_SetString(PyExc_IndexError, "changelog_keys: slot out of range");
            goto done;
        }
        PyObject *key = PyList_GET_ITEM(keys, at[k]); /* borrowed */
        PyObject *raw;
        if (key == Py_None) continue; /* a slot freed since it changed */
        if (PyUnicode_Check(key)) {
            Py_ssize_t len;
            const char *utf8 = PyUnicode_AsUTF8AndSize(key, &len);
            if (!utf8) goto done;
            if (skip < 0 || skip > len) {
                PyErr_SetString(PyExc_ValueError, "changelog_keys: key shorter than its tag");
                goto done;
            }
            utf8 += skip;
            len -= skip;
            raw = PyBytes_FromStringAndSize(NULL, prefix.len + len);
            if (!raw) goto done;
            memcpy(PyBytes_AS_STRING(raw), prefix.buf, (size_t)prefix.len);
            memcpy(PyBytes_AS_STRING(raw) + prefix.len, utf8, (size_t)len);
        } else {
            unsigned long long v = PyLong_AsUnsignedLongLong(key);
            if (v == (unsigned long long)-1 && PyErr_Occurred()) goto done;
            v &= mask;
            raw = PyBytes_FromStringAndSize(NULL, prefix.len + 9);
            if (!raw) goto done;
            char *p = PyBytes_AS_STRING(raw);
            memcpy(p, prefix.buf, (size_t)prefix.len);
            p[prefix.len] = '#';
            for (int i = 0; i < 8; i++) p[prefix.len + 1 + i] = (char)(v >> (8 * (7 - i)));
        }
        int failed = PyList_Append(out, raw);
        Py_DECREF(raw);
        if (failed) goto done;
        put[count++] = at[k];
    }
    result = out;
    out = NULL;
done:
    Py_XDECREF(out);
    release(3, &dirty, &prefix, &kept);
    return result;
}

static PyMethodDef methods[] = {
    {"update", update, METH_VARARGS,
     "update(head, cells, slots, buckets, amounts, out, distinct, write) -> late events"},
    {"stage", stage, METH_VARARGS,
     "stage(head, cells, slots, buckets, amounts, out, distinct, st_slots, st_heads, st_rows,"
     " need)"
     " -> (late events, rows staged)"},
    {"commit", commit, METH_VARARGS, "commit(head, cells, st_slots, st_heads, st_rows, distinct)"},
    {"minhash", minhash, METH_VARARGS,
     "minhash(codes, starts, ends, messages, mul, keys, has): campaign band keys"},
    {"crc_bits", crc_bits, METH_VARARGS, "crc_bits(values, out): distinct-value bitmaps"},
    {"ix_get", ix_get, METH_VARARGS, "ix_get(table, queries, out): slots or -1"},
    {"ix_put", ix_put, METH_VARARGS, "ix_put(table, keys, vals, seqs, used) -> added"},
    {"ix_del", ix_del, METH_VARARGS, "ix_del(table, keys) -> removed"},
    {"dict_get", dict_get, METH_VARARGS, "dict_get(d, keys, out) -> absent: slots or -1"},
    {"sparse_encode", sparse_encode, METH_VARARGS,
     "sparse_encode(last, slots, series[, keys]) -> changelog records, version 2"},
    {"changelog_keys", changelog_keys, METH_VARARGS,
     "changelog_keys(keys, dirty, prefix, kept, skip=0, mask=~0) -> changelog keys of the slots"
     " holding one"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rings", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rings(void) {
    crc_init();
    return PyModule_Create(&module);
}
