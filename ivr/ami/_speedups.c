/*
 * ivr.ami._speedups: the plain-message fast path of ivr/ami/protocol.py in C.
 *
 * parse_run(buf, pos, end, limit) -> (new_pos, [headers, ...])
 *
 * Takes the complete AMI messages of buf[pos:end] that are "plain": every line is
 * `Name: value` ended by CRLF, the name is printable ASCII with no space or colon,
 * the message (from its first line to the CRLF before its blank line) is at most
 * `limit` bytes, and it is not a legacy `Response: Follows`. For each it returns the
 * header list [(name, value), ...] exactly as the per-line rule in protocol.py reads
 * it: name = text before the first ':', value = the rest with one leading space
 * removed, decoded as UTF-8 with replacement. Blank lines before a message are
 * skipped, as the line path skips them. At the first message that is not plain
 * (malformed line, bare LF, odd name, oversized, Follows) it stops at that
 * message's first line and returns what it took so far: the Python paths take that
 * message. It never looks past `end`, so a message cut by the end is left alone.
 *
 * Header names repeat all day long (Event, Privilege, Channel, ...): one shared str
 * per name comes from a small bounded cache instead of a new object per header.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define NAME_SLOTS 1024      /* power of two */
#define NAME_MAX_CACHED 512  /* bounded: names come from the wire */
#define NAME_MAX_LEN 48

typedef struct {
    Py_ssize_t len;
    unsigned int hash;
    char bytes[NAME_MAX_LEN];
    PyObject *str; /* NULL = empty slot */
} name_slot;

static name_slot names[NAME_SLOTS];
static int names_used = 0;

static unsigned int
name_hash(const char *s, Py_ssize_t n)
{
    unsigned int h = 2166136261u; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* New reference to the str for an ASCII name, shared through the cache when possible. */
static PyObject *
name_str(const char *s, Py_ssize_t n)
{
    if (n > NAME_MAX_LEN) {
        return PyUnicode_DecodeASCII(s, n, "strict");
    }
    unsigned int h = name_hash(s, n);
    unsigned int i = h & (NAME_SLOTS - 1);
    for (;;) {
        name_slot *slot = &names[i];
        if (slot->str == NULL) {
            PyObject *str = PyUnicode_DecodeASCII(s, n, "strict");
            if (str == NULL || names_used >= NAME_MAX_CACHED) {
                return str;
            }
            slot->len = n;
            slot->hash = h;
            memcpy(slot->bytes, s, (size_t)n);
            Py_INCREF(str);
            slot->str = str;
            names_used++;
            return str;
        }
        if (slot->hash == h && slot->len == n && memcmp(slot->bytes, s, (size_t)n) == 0) {
            Py_INCREF(slot->str);
            return slot->str;
        }
        i = (i + 1) & (NAME_SLOTS - 1);
    }
}

/* A name the per-line rule accepts and that needs no Unicode care: printable ASCII,
 * no space, no colon (the rule's name is the text before the first colon). */
static int
plain_name(const unsigned char *s, Py_ssize_t n)
{
    if (n == 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* Characters str.strip() removes, restricted to ASCII. */
static int
py_space(unsigned char c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

/* True if a first header `Response: <value>` may be a legacy Follows (the Python
 * paths decide): value.strip().lower() == "follows", or a non-ASCII value. */
static int
maybe_follows(const unsigned char *v, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] >= 0x80) {
            return 1;
        }
    }
    while (n > 0 && py_space(v[0])) {
        v++;
        n--;
    }
    while (n > 0 && py_space(v[n - 1])) {
        n--;
    }
    return n == 7 && strncasecmp((const char *)v, "follows", 7) == 0;
}

static PyObject *
parse_run(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer view;
    Py_ssize_t pos, end, limit;
    if (!PyArg_ParseTuple(args, "y*nnn:parse_run", &view, &pos, &end, &limit)) {
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    if (end > view.len) {
        end = view.len;
    }
    if (pos < 0) {
        pos = 0;
    }
    PyObject *messages = PyList_New(0);
    PyObject *headers = NULL;
    if (messages == NULL) {
        goto error;
    }
    while (pos < end) {
        /* one message from pos */
        Py_ssize_t start = -1; /* its first header line */
        Py_ssize_t p = pos;
        for (;;) {
            const unsigned char *nl = memchr(buf + p, '\n', (size_t)(end - p));
            if (nl == NULL) {
                goto stop; /* cut by the end */
            }
            Py_ssize_t lf = nl - buf;
            if (lf == p || buf[lf - 1] != '\r') {
                goto stop; /* a bare LF: the line path frames it */
            }
            Py_ssize_t cr = lf - 1;
            if (cr == p) { /* blank line */
                if (headers == NULL) {
                    pos = p = lf + 1; /* before any header: skipped */
                    continue;
                }
                if (PyList_Append(messages, headers) < 0) {
                    goto error;
                }
                Py_CLEAR(headers);
                pos = lf + 1;
                break;
            }
            if (start < 0) {
                start = p;
            }
            if (cr - start > limit) {
                goto stop; /* oversized: the line path drops it */
            }
            const unsigned char *colon = memchr(buf + p, ':', (size_t)(cr - p));
            if (colon == NULL || !plain_name(buf + p, colon - (buf + p))) {
                goto stop; /* malformed line or odd name */
            }
            Py_ssize_t v = colon - buf + 1;
            if (v < cr && buf[v] == ' ') {
                v++;
            }
            if (headers == NULL) {
                if (colon - (buf + p) == 8 && strncasecmp((const char *)buf + p, "response", 8) == 0 &&
                    maybe_follows(buf + v, cr - v)) {
                    goto stop; /* legacy Response: Follows */
                }
                headers = PyList_New(0);
                if (headers == NULL) {
                    goto error;
                }
            }
            PyObject *key = name_str((const char *)buf + p, colon - (buf + p));
            if (key == NULL) {
                goto error;
            }
            PyObject *value = PyUnicode_DecodeUTF8((const char *)buf + v, cr - v, "replace");
            if (value == NULL) {
                Py_DECREF(key);
                goto error;
            }
            PyObject *pair = PyTuple_New(2);
            if (pair == NULL) {
                Py_DECREF(key);
                Py_DECREF(value);
                goto error;
            }
            PyTuple_SET_ITEM(pair, 0, key);
            PyTuple_SET_ITEM(pair, 1, value);
            int rc = PyList_Append(headers, pair);
            Py_DECREF(pair);
            if (rc < 0) {
                goto error;
            }
            p = lf + 1;
        }
    }
stop:
    Py_XDECREF(headers); /* a message not taken: the Python paths take it from pos */
    PyBuffer_Release(&view);
    {
        PyObject *result = Py_BuildValue("(nN)", pos, messages);
        return result;
    }
error:
    Py_XDECREF(headers);
    Py_XDECREF(messages);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse_run", parse_run, METH_VARARGS,
     "parse_run(buf, pos, end, limit) -> (new_pos, [headers, ...]): the plain AMI messages of "
     "buf[pos:end], stopping at the first one the Python paths must take."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "ivr.ami._speedups", "C fast path of the AMI parser (see ivr/ami/protocol.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module_def);
}
