/* The records of a Kafka record batch (magic 2), packed in one call (screener.kafka.packed).
 *
 * pack(pairs, start, max_bytes) -> (records bytes, count)
 *   From pairs[start:] (a list of (key, value) tuples, each bytes or None), as many records
 *   as fit a batch of `max_bytes` with its 61-byte header (the first always fits, however
 *   large), in order, each as aiokafka's DefaultRecordBatchBuilder.append writes it: length,
 *   attributes 0, timestamp delta 0 (one timestamp for the batch), offset delta = its index,
 *   key, value (zigzag varint lengths, -1 for None) and no headers. The same bytes.
 *
 * Why C: the behaviour state's changelog is most of what a worker writes (one record per user
 * and campaign band a commit interval touched, ~68,000 a second at 35,000 events/s), and a
 * Python call per record into aiokafka's builder was ~35 ms of each 1 s flush on the event
 * loop, where every review item waited (bench pipeline's p99).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define HEADER 61

static inline Py_ssize_t varint_size(int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    Py_ssize_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

static inline char *put_varint(char *p, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *p++ = (char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    *p++ = (char)z;
    return p;
}

/* a key or value: its bytes and length (-1: None); 0 on success */
static int field(PyObject *o, const char **buf, Py_ssize_t *len) {
    if (o == Py_None) {
        *buf = NULL;
        *len = -1;
        return 0;
    }
    if (!PyBytes_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "pack: keys and values must be bytes or None");
        return -1;
    }
    *buf = PyBytes_AS_STRING(o);
    *len = PyBytes_GET_SIZE(o);
    return 0;
}

static int pair(PyObject *pairs, Py_ssize_t i, const char **k, Py_ssize_t *kl, const char **v,
                Py_ssize_t *vl) {
    PyObject *t = PyList_GET_ITEM(pairs, i);
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2) {
        PyErr_SetString(PyExc_TypeError, "pack: each record must be a (key, value) tuple");
        return -1;
    }
    return field(PyTuple_GET_ITEM(t, 0), k, kl) || field(PyTuple_GET_ITEM(t, 1), v, vl);
}

/* the record's body size (after its length varint) */
static inline Py_ssize_t body_size(Py_ssize_t offset, Py_ssize_t kl, Py_ssize_t vl) {
    return 1 + 1 + varint_size(offset) + varint_size(kl) + (kl > 0 ? kl : 0) + varint_size(vl) +
           (vl > 0 ? vl : 0) + 1;
}

static PyObject *pack(PyObject *self, PyObject *args) {
    PyObject *pairs;
    Py_ssize_t start, max_bytes;
    if (!PyArg_ParseTuple(args, "O!nn", &PyList_Type, &pairs, &start, &max_bytes)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(pairs);
    if (start < 0 || start > n) {
        PyErr_SetString(PyExc_IndexError, "pack: start out of range");
        return NULL;
    }
    /* first pass: how many fit, and their bytes */
    Py_ssize_t used = HEADER, total = 0, count = 0;
    for (Py_ssize_t i = start; i < n; i++) {
        const char *k, *v;
        Py_ssize_t kl, vl;
        if (pair(pairs, i, &k, &kl, &v, &vl)) return NULL;
        Py_ssize_t body = body_size(count, kl, vl);
        Py_ssize_t need = body + varint_size(body);
        if (count > 0 && used + need > max_bytes) break;
        used += need;
        total += need;
        count++;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (!out) return NULL;
    char *p = PyBytes_AS_STRING(out);
    for (Py_ssize_t j = 0; j < count; j++) {
        const char *k, *v;
        Py_ssize_t kl, vl;
        if (pair(pairs, start + j, &k, &kl, &v, &vl)) { /* cannot fail: checked above */
            Py_DECREF(out);
            return NULL;
        }
        p = put_varint(p, body_size(j, kl, vl));
        *p++ = 0;              /* attributes */
        p = put_varint(p, 0);  /* timestamp delta */
        p = put_varint(p, j);  /* offset delta */
        p = put_varint(p, kl);
        if (kl > 0) {
            memcpy(p, k, (size_t)kl);
            p += kl;
        }
        p = put_varint(p, vl);
        if (vl > 0) {
            memcpy(p, v, (size_t)vl);
            p += vl;
        }
        p = put_varint(p, 0); /* headers */
    }
    return Py_BuildValue("(Nn)", out, count);
}

static PyMethodDef methods[] = {
    {"pack", pack, METH_VARARGS, "pack(pairs, start, max_bytes) -> (records, count)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_records", NULL, -1, methods};

PyMODINIT_FUNC PyInit__records(void) { return PyModule_Create(&module); }
