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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define BUCKETS 10
#define GRACE 2
#define RING (BUCKETS + GRACE)
#define WORDS 2
#define NONE (INT64_MIN / 4)

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

static PyObject *update(PyObject *self, PyObject *args) {
    Py_buffer head, cells, slots, buckets, amounts, out;
    int distinct, write;
    if (!PyArg_ParseTuple(args, "w*w*y*y*y*w*pp", &head, &cells, &slots, &buckets, &amounts,
                          &out, &distinct, &write))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = slots.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t capacity = head.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t width = distinct ? WORDS : 1; /* words per bucket */
    Py_ssize_t cell = distinct ? sizeof(uint64_t) : sizeof(uint32_t);
    int64_t *heads = NULL;
    uint64_t *rows = NULL;
    map_t map = {NULL, NULL, 0};
    if (buckets.len != slots.len || cells.len != capacity * RING * width * cell ||
        amounts.len != n * width * cell ||
        out.len != n * width * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "update: buffer sizes do not match");
        goto done;
    }
    const int64_t *s = slots.buf, *b = buckets.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0 || s[i] >= capacity) {
            PyErr_SetString(PyExc_IndexError, "update: slot out of range");
            goto done;
        }
    /* working rows, widened to uint64 words: counts wrap at 32 bits as numpy's uint32 do */
    heads = PyMem_Malloc(sizeof(int64_t) * (n ? n : 1));
    rows = PyMem_Malloc(sizeof(uint64_t) * RING * width * (n ? n : 1));
    if (!heads || !rows || map_init(&map, n) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *hs = head.buf;
    uint32_t *c32 = cells.buf;
    uint64_t *c64 = cells.buf;
    const uint32_t *a32 = amounts.buf;
    const uint64_t *a64 = amounts.buf;
    int64_t *o64 = out.buf;
    uint64_t *ob = out.buf;
    int64_t used = 0, late = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t slot = s[i], bkt = b[i];
        int64_t k = map_get(&map, slot, used);
        if (k < 0) { /* first event of this slot in the batch: copy its stored row */
            k = used++;
            heads[k] = hs[slot];
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
        int64_t lo = bkt - BUCKETS + 1 > h - RING + 1 ? bkt - BUCKETS + 1 : h - RING + 1;
        int64_t hi = bkt < h ? bkt : h;
        if (distinct) {
            uint64_t w0 = 0, w1 = 0;
            for (int64_t x = lo; x <= hi; x++) {
                w0 |= row[ring_pos(x) * WORDS];
                w1 |= row[ring_pos(x) * WORDS + 1];
            }
            ob[i * WORDS] = w0;
            ob[i * WORDS + 1] = w1;
        } else {
            int64_t sum = 0;
            for (int64_t x = lo; x <= hi; x++) sum += (int64_t)row[ring_pos(x)];
            o64[i] = sum;
        }
    }
    if (write) {
        for (int64_t i = 0; i <= map.mask; i++) {
            int64_t slot = map.keys[i];
            if (slot < 0) continue;
            int64_t k = map.vals[i];
            hs[slot] = heads[k];
            for (int x = 0; x < RING * width; x++) {
                if (distinct)
                    c64[slot * RING * width + x] = rows[k * RING * width + x];
                else
                    c32[slot * RING + x] = (uint32_t)rows[k * RING + x];
            }
        }
    }
    result = PyLong_FromLongLong(late);
done:
    PyMem_Free(heads);
    PyMem_Free(rows);
    map_free(&map);
    PyBuffer_Release(&head);
    PyBuffer_Release(&cells);
    PyBuffer_Release(&slots);
    PyBuffer_Release(&buckets);
    PyBuffer_Release(&amounts);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"update", update, METH_VARARGS,
     "update(head, cells, slots, buckets, amounts, out, distinct, write) -> late events"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rings", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rings(void) { return PyModule_Create(&module); }
