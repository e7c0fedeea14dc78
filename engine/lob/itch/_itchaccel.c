/* Optional C accelerator for engine.lob.itch: the frame indexer and the replay's per-message apply loop.
 *
 * `index` does what reader._scan does (frame starts, reading only the low length byte) and also collects the
 * type bytes and checks every frame's length against its type; the caller re-runs the numpy `_validate` whenever
 * a check fails, so every error keeps its exact text and offset. `apply` does what Reconstructor.run does (with
 * its own timestamp check) DIRECTLY on the Reconstructor's dicts, the ItchBooks' level dicts and heaps (heapq's
 * own push/pop), so books and counters are identical. It holds no book state of its own.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------ frame indexer */

static PyObject *
itch_index(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "index(buf, pos, limit, expected) takes 4 arguments");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view, exp;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[3], &exp, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    PyObject *result = NULL;
    int64_t *offs = NULL;
    uint8_t *types = NULL;
    if (exp.len != 256 || pos < 0) {
        PyErr_SetString(PyExc_ValueError, "index(): expected must be 256 bytes and pos >= 0");
        goto done;
    }
    const uint8_t *b = (const uint8_t *)view.buf;
    const uint8_t *want = (const uint8_t *)exp.buf;
    Py_ssize_t size = view.len;
    if (limit > size - 1)  /* every read below stays inside the buffer */
        limit = size - 1;
    Py_ssize_t cap = (limit >= pos ? (limit - pos) / 16 : 0) + 64, n = 0;
    offs = PyMem_Malloc((size_t)cap * sizeof(int64_t));
    types = PyMem_Malloc((size_t)cap);
    if (offs == NULL || types == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int ok = 1;
    Py_ssize_t q = pos + 1;  /* the low length byte, as in reader._scan */
    /* reader._scan's unrolled part takes 8 frames at a time while q <= fast_end, even past `limit`: same here, so
     * the blocks are the same too */
    Py_ssize_t fast_end = size - 8 * 257 - 2 < limit ? size - 8 * 257 - 2 : limit;
    while (q <= limit) {
        int burst = q <= fast_end ? 8 : 1;
        if (n + burst > cap) {
            cap *= 2;
            int64_t *o2 = PyMem_Realloc(offs, (size_t)cap * sizeof(int64_t));
            if (o2 == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            offs = o2;
            uint8_t *t2 = PyMem_Realloc(types, (size_t)cap);
            if (t2 == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            types = t2;
        }
        for (int k = 0; k < burst; k++) {
            Py_ssize_t off = q - 1;
            Py_ssize_t tp = off + 2 < size - 1 ? off + 2 : size - 1;  /* clamped like _validate */
            uint8_t t = b[tp];
            unsigned len = ((unsigned)b[off] << 8) | b[off + 1];
            if (want[t] == 0 || len != want[t])
                ok = 0;
            offs[n] = off;
            types[n] = t;
            n++;
            q += (Py_ssize_t)b[q] + 2;
        }
    }
    PyObject *o = PyByteArray_FromStringAndSize((const char *)offs, n * (Py_ssize_t)sizeof(int64_t));
    PyObject *t = o ? PyByteArray_FromStringAndSize((const char *)types, n) : NULL;
    if (t != NULL)
        result = Py_BuildValue("(NNnO)", o, t, q - 1, ok ? Py_True : Py_False);
    else
        Py_XDECREF(o);
done:
    PyMem_Free(offs);
    PyMem_Free(types);
    PyBuffer_Release(&exp);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------ apply loop */

static PyTypeObject *BookType;
static PyObject *HeapPush, *HeapPop;
enum { S_BIDS, S_ASKS, S_BIDHEAP, S_ASKHEAP, S_COUNT };
static const char *SlotNames[S_COUNT] = {"bids", "asks", "_bid_heap", "_ask_heap"};
static Py_ssize_t Off[S_COUNT];
#define SLOT(book, k) (*(PyObject **)((char *)(book) + Off[k]))

static Py_ssize_t
member_offset(PyTypeObject *cls, const char *name)  /* offset of a __slots__ member defined by cls, or -1 */
{
    PyObject *d = PyDict_GetItemString(cls->tp_dict, name);
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)
        || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX
        || ((PyMemberDescrObject *)d)->d_common.d_type != cls) {
        PyErr_Format(PyExc_TypeError, "install(): %s is not a __slots__ member of %s", name, cls->tp_name);
        return -1;
    }
    return ((PyMemberDescrObject *)d)->d_member->offset;
}

static PyObject *
itch_install(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyType_Check(args[0]) || !PyCallable_Check(args[1]) || !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "install(ItchBook, heappush, heappop)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    for (int k = 0; k < S_COUNT; k++)
        if ((Off[k] = member_offset(cls, SlotNames[k])) < 0)
            return NULL;
    Py_INCREF(cls);
    Py_XSETREF(BookType, cls);
    Py_INCREF(args[1]);
    Py_XSETREF(HeapPush, args[1]);
    Py_INCREF(args[2]);
    Py_XSETREF(HeapPop, args[2]);
    Py_RETURN_NONE;
}

static inline uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

typedef struct {
    int64_t adds, execs, exec_sh, cancels, cancel_sh, deletes, replaces, trades, trade_sh;
    int64_t unknown, dup, crossed, negative, regress, skipped;
} Tally;

/* Per-locate running timestamp maxima, loaded from and written back to the Reconstructor's `_locate_ts`. One per
 * call, not static: `book_for` runs Python code, so another thread may enter `apply` meanwhile. */
typedef struct {
    int64_t ts[65536];
    uint8_t seen[65536];  /* 1: loaded from the dict, 2: changed here */
    uint16_t touched[65536];
} TsState;

static PyObject *
book_side(PyObject *book, int k)  /* borrowed; k is a slot index; dicts/lists checked by the caller's use */
{
    if (!Py_IS_TYPE(book, BookType)) {
        PyErr_SetString(PyExc_TypeError, "apply(): a book is not an ItchBook");
        return NULL;
    }
    PyObject *v = SLOT(book, k);
    if (v == NULL || (k < S_BIDHEAP ? !PyDict_CheckExact(v) : !PyList_CheckExact(v))) {
        PyErr_SetString(PyExc_TypeError, "apply(): unexpected ItchBook state");
        return NULL;
    }
    return v;
}

static PyObject *
level_of(PyObject *lvs, PyObject *px)  /* borrowed lvs[px] (a dict), or NULL with KeyError/TypeError */
{
    PyObject *lv = PyDict_GetItemWithError(lvs, px);
    if (lv == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, px);
        return NULL;
    }
    if (!PyDict_CheckExact(lv)) {
        PyErr_SetString(PyExc_TypeError, "apply(): a price level is not a dict");
        return NULL;
    }
    return lv;
}

static int
take_off(PyObject *book, int buy, PyObject *px, PyObject *ref)  /* del lv[ref]; drop the level when empty */
{
    PyObject *lvs = book_side(book, buy ? S_BIDS : S_ASKS);
    if (lvs == NULL)
        return -1;
    PyObject *lv = level_of(lvs, px);
    if (lv == NULL || PyDict_DelItem(lv, ref) < 0)
        return -1;
    if (PyDict_GET_SIZE(lv) == 0 && PyDict_DelItem(lvs, px) < 0)
        return -1;
    return 0;
}

static int
heap_top(PyObject *h, long long *top)  /* h[0] as an integer; IndexError when empty (as Python would) */
{
    if (PyList_GET_SIZE(h) == 0) {
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return -1;
    }
    *top = PyLong_AsLongLong(PyList_GET_ITEM(h, 0));
    return (*top == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
pop_stale(PyObject *h, PyObject *opp, int negated, long long *best)  /* heappop until h[0] is a live level */
{
    for (;;) {
        long long top;
        if (heap_top(h, &top) < 0)
            return -1;
        PyObject *key = PyLong_FromLongLong(negated ? -top : top);
        if (key == NULL)
            return -1;
        int has = PyDict_Contains(opp, key);
        Py_DECREF(key);
        if (has < 0)
            return -1;
        if (has) {
            *best = negated ? -top : top;
            return 0;
        }
        PyObject *r = PyObject_CallOneArg(HeapPop, h);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
}

/* Rest `ref` on `book` (the common tail of A, F and U); returns 1 when the book is left crossed, -1 on error. */
static int
rest(PyObject *orders, PyObject *book, int buy, PyObject *ref, long long price, uint32_t shares, Tally *c)
{
    PyObject *px = PyLong_FromLongLong(price);
    PyObject *sh = PyLong_FromUnsignedLong(shares);
    PyObject *rec = (px && sh) ? PyTuple_Pack(3, book, buy ? Py_True : Py_False, px) : NULL;
    int rc = -1;
    if (rec == NULL)
        goto out;
    /* (book, buy, price) cannot be part of a reference cycle (a book never refers to its order records), so the
     * cyclic GC need not track the hundreds of thousands of them that rest at once (it spent ~25 % of the time) */
    PyObject_GC_UnTrack(rec);
    /* one lookup in the common case: insert unless the ref is resting already */
    PyObject *o = PyDict_SetDefault(orders, ref, rec);
    if (o == NULL)
        goto out;
    if (o != rec) {  /* duplicate ref: the older order leaves its book, then the new record replaces it */
        if (!PyTuple_CheckExact(o) || PyTuple_GET_SIZE(o) != 3) {
            PyErr_SetString(PyExc_TypeError, "apply(): unexpected order record");
            goto out;
        }
        c->dup++;
        if (take_off(PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1) == Py_True, PyTuple_GET_ITEM(o, 2), ref) < 0)
            goto out;
        if (PyDict_SetItem(orders, ref, rec) < 0)
            goto out;
    }
    PyObject *lvs = book_side(book, buy ? S_BIDS : S_ASKS);
    PyObject *heap = lvs ? book_side(book, buy ? S_BIDHEAP : S_ASKHEAP) : NULL;
    if (heap == NULL)
        goto out;
    PyObject *found = PyDict_GetItemWithError(lvs, px);
    if (found == NULL) {
        if (PyErr_Occurred())
            goto out;
        PyObject *lv = PyDict_New();
        if (lv == NULL)
            goto out;
        int bad = PyDict_SetItem(lv, ref, sh) < 0 || PyDict_SetItem(lvs, px, lv) < 0;
        Py_DECREF(lv);
        if (bad)
            goto out;
        PyObject *key = PyLong_FromLongLong(buy ? -price : price);
        if (key == NULL)
            goto out;
        PyObject *r = PyObject_CallFunctionObjArgs(HeapPush, heap, key, NULL);
        Py_DECREF(key);
        if (r == NULL)
            goto out;
        Py_DECREF(r);
    } else {
        if (!PyDict_CheckExact(found)) {
            PyErr_SetString(PyExc_TypeError, "apply(): a price level is not a dict");
            goto out;
        }
        if (PyDict_SetItem(found, ref, sh) < 0)
            goto out;
    }
    PyObject *opp = book_side(book, buy ? S_ASKS : S_BIDS);
    PyObject *oheap = opp ? book_side(book, buy ? S_ASKHEAP : S_BIDHEAP) : NULL;
    if (oheap == NULL)
        goto out;
    rc = 0;
    if (PyDict_GET_SIZE(opp)) {
        long long best;
        if (pop_stale(oheap, opp, !buy, &best) < 0)
            rc = -1;
        else
            rc = buy ? price > best : best > price;
    }
out:
    Py_XDECREF(px);
    Py_XDECREF(sh);
    Py_XDECREF(rec);
    return rc;
}

/* skipped_symbol when the locate is known and has no book, else unknown_refs (as Reconstructor.run). */
static int
count_missing(PyObject *by_locate, PyObject *loc, Tally *c)
{
    PyObject *b = PyDict_GetItemWithError(by_locate, loc);
    if (b == NULL && PyErr_Occurred())
        return -1;
    if (b == Py_None)
        c->skipped++;
    else
        c->unknown++;
    return 0;
}

static const uint8_t FrameLen[256] = {
    ['A'] = 36, ['F'] = 40, ['E'] = 31, ['C'] = 36, ['X'] = 23, ['D'] = 19, ['U'] = 35, ['P'] = 44, ['R'] = 39,
};

/* One book message at type byte `m`; 0 ok, -1 error. */
static int
apply_one(PyObject *orders, PyObject *by_locate, PyObject *book_for, PyObject *bufobj, const uint8_t *b,
          Py_ssize_t m, uint8_t t, uint16_t locv, Tally *c)
{
    int rc = -1;
    PyObject *loc = NULL, *ref = NULL, *o = NULL, *book = NULL;
    if (t == 'P') {
        c->trades++;
        c->trade_sh += (int64_t)be(b + m + 20, 4);
        return 0;
    }
    if ((loc = PyLong_FromLong(locv)) == NULL)
        return -1;
    if (t == 'R') {
        PyObject *r = PyObject_CallFunction(book_for, "OOni", loc, bufobj, m, 11);
        Py_DECREF(loc);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return 0;
    }
    if ((ref = PyLong_FromUnsignedLongLong(be(b + m + 11, 8))) == NULL)
        goto out;
    if (t == 'A' || t == 'F' || t == 'U') {
        int buy;
        long long price;
        uint32_t shares;
        if (t == 'U') {
            o = PyDict_GetItemWithError(orders, ref);
            if (o == NULL) {
                rc = PyErr_Occurred() ? -1 : count_missing(by_locate, loc, c);
                goto out;
            }
            if (!PyTuple_CheckExact(o) || PyTuple_GET_SIZE(o) != 3) {
                PyErr_SetString(PyExc_TypeError, "apply(): unexpected order record");
                o = NULL;
                goto out;
            }
            Py_INCREF(o);
            if (PyDict_DelItem(orders, ref) < 0)
                goto out;
            c->replaces++;
            book = PyTuple_GET_ITEM(o, 0);
            Py_INCREF(book);
            buy = PyTuple_GET_ITEM(o, 1) == Py_True;
            if (take_off(book, buy, PyTuple_GET_ITEM(o, 2), ref) < 0)
                goto out;
            Py_SETREF(ref, PyLong_FromUnsignedLongLong(be(b + m + 19, 8)));
            if (ref == NULL)
                goto out;
            shares = (uint32_t)be(b + m + 27, 4);
            price = (long long)be(b + m + 31, 4);
        } else {
            book = PyDict_GetItemWithError(by_locate, loc);
            if (book == NULL) {
                if (PyErr_Occurred())
                    goto out;
                book = PyObject_CallFunction(book_for, "OOni", loc, bufobj, m, 24);
                if (book == NULL)
                    goto out;
            } else {
                Py_INCREF(book);
            }
            if (book == Py_None) {
                c->skipped++;
                rc = 0;
                goto out;
            }
            c->adds++;
            buy = b[m + 19] == 'B';
            shares = (uint32_t)be(b + m + 20, 4);
            price = (long long)be(b + m + 32, 4);
        }
        int crossed = rest(orders, book, buy, ref, price, shares, c);
        if (crossed < 0)
            goto out;
        c->crossed += crossed;
        rc = 0;
        goto out;
    }
    /* E, C, X, D */
    o = PyDict_GetItemWithError(orders, ref);
    if (o == NULL) {
        rc = PyErr_Occurred() ? -1 : count_missing(by_locate, loc, c);
        goto out;
    }
    if (!PyTuple_CheckExact(o) || PyTuple_GET_SIZE(o) != 3) {
        PyErr_SetString(PyExc_TypeError, "apply(): unexpected order record");
        o = NULL;
        goto out;
    }
    Py_INCREF(o);
    PyObject *px = PyTuple_GET_ITEM(o, 2);
    PyObject *lvs = book_side(PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1) == Py_True ? S_BIDS : S_ASKS);
    PyObject *lv = lvs ? level_of(lvs, px) : NULL;
    if (lv == NULL)
        goto out;
    if (t == 'D') {
        c->deletes++;
    } else {
        long long shares = (long long)be(b + m + 19, 4);
        if (t == 'X') {
            c->cancels++;
            c->cancel_sh += shares;
        } else {
            c->execs++;
            c->exec_sh += shares;
        }
        PyObject *cur = PyDict_GetItemWithError(lv, ref);
        if (cur == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, ref);
            goto out;
        }
        long long left = PyLong_AsLongLong(cur);
        if (left == -1 && PyErr_Occurred())
            goto out;
        left -= shares;
        if (left > 0) {
            PyObject *v = PyLong_FromLongLong(left);
            if (v == NULL)
                goto out;
            int bad = PyDict_SetItem(lv, ref, v) < 0;
            Py_DECREF(v);
            rc = bad ? -1 : 0;
            goto out;
        }
        if (left < 0)
            c->negative++;
    }
    if (PyDict_DelItem(lv, ref) < 0)
        goto out;
    if (PyDict_GET_SIZE(lv) == 0 && PyDict_DelItem(lvs, px) < 0)
        goto out;
    if (PyDict_DelItem(orders, ref) < 0)
        goto out;
    rc = 0;
out:
    Py_XDECREF(loc);
    Py_XDECREF(ref);
    Py_XDECREF(o);
    Py_XDECREF(book);
    return rc;
}

static int
load_ts(PyObject *locate_ts, TsState *st)
{
    PyObject *k, *v;
    Py_ssize_t i = 0;
    while (PyDict_Next(locate_ts, &i, &k, &v)) {
        long kk = PyLong_AsLong(k);
        long long vv = PyLong_AsLongLong(v);
        if (PyErr_Occurred())
            return -1;
        if (kk < 0 || kk > 65535) {
            PyErr_SetString(PyExc_ValueError, "apply(): locate out of range");
            return -1;
        }
        st->ts[kk] = vv;
        st->seen[kk] = 1;
    }
    return 0;
}

static PyObject *
itch_apply(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (BookType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "apply(): install() was not called");
        return NULL;
    }
    if (nargs != 8 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) || !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "apply(orders, by_locate, locate_ts, book_for, buf, offsets, types, first_ts)");
        return NULL;
    }
    PyObject *orders = args[0], *by_locate = args[1], *locate_ts = args[2], *book_for = args[3];
    PyObject *bufobj = args[4];
    int have_first = args[7] != Py_None;
    long long first = 0;
    if (have_first && (first = PyLong_AsLongLong(args[7])) == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view, ov, tv;
    if (PyObject_GetBuffer(bufobj, &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[5], &ov, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (PyObject_GetBuffer(args[6], &tv, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&ov);
        PyBuffer_Release(&view);
        return NULL;
    }
    PyObject *result = NULL;
    TsState *st = NULL;
    Tally c;
    memset(&c, 0, sizeof c);
    Py_ssize_t n = tv.len, ntouched = 0;
    const uint8_t *b = (const uint8_t *)view.buf, *types = (const uint8_t *)tv.buf;
    const int64_t *offs = (const int64_t *)ov.buf;
    int err = 0;
    if (ov.len != n * 8 || ov.itemsize != 8 || tv.itemsize != 1) {
        PyErr_SetString(PyExc_ValueError, "apply(): offsets must be int64 and as many as the uint8 types");
        goto release;
    }
    st = PyMem_Calloc(1, sizeof(TsState));
    if (st == NULL) {
        PyErr_NoMemory();
        goto release;
    }
    if (load_ts(locate_ts, st) < 0)
        goto release;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t t = types[i];
        if (FrameLen[t] == 0)
            continue;
        int64_t off = offs[i];
        if (off < 0 || off + 2 + FrameLen[t] > view.len) {
            PyErr_SetString(PyExc_ValueError, "apply(): frame outside the buffer");
            err = 1;
            break;
        }
        Py_ssize_t m = (Py_ssize_t)off + 2;
        uint16_t loc = (uint16_t)be(b + m + 1, 2);
        long long ts = (long long)be(b + m + 5, 6);
        if (!have_first) {
            have_first = 1;
            first = ts;
        }
        long long last = st->seen[loc] ? st->ts[loc] : -1;
        if (ts < last) {
            c.regress++;
        } else {
            if (st->seen[loc] != 2)
                st->touched[ntouched++] = loc;
            st->ts[loc] = ts;
            st->seen[loc] = 2;
        }
        if (apply_one(orders, by_locate, book_for, bufobj, b, m, t, loc, &c) < 0) {
            err = 1;
            break;
        }
    }
    /* write the running maxima back (first-change order, as Reconstructor.run inserts them), even after an error */
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    for (Py_ssize_t k = 0; k < ntouched; k++) {
        uint16_t loc = st->touched[k];
        PyObject *key = PyLong_FromLong(loc), *val = PyLong_FromLongLong(st->ts[loc]);
        int bad = key == NULL || val == NULL || PyDict_SetItem(locate_ts, key, val) < 0;
        Py_XDECREF(key);
        Py_XDECREF(val);
        if (bad) {
            if (et == NULL)
                PyErr_Fetch(&et, &ev, &tb);
            PyErr_Clear();
            err = 1;
        }
    }
    PyErr_Restore(et, ev, tb);
    if (!err) {
        PyObject *fst = have_first ? PyLong_FromLongLong(first) : Py_NewRef(Py_None);
        if (fst != NULL)
            result = Py_BuildValue("(N(LLLLLLLLLLLLLLL))", fst, c.adds, c.execs, c.exec_sh, c.cancels,
                                   c.cancel_sh, c.deletes, c.replaces, c.trades, c.trade_sh, c.unknown, c.dup,
                                   c.crossed, c.negative, c.regress, c.skipped);
    }
release:
    PyMem_Free(st);
    PyBuffer_Release(&tv);
    PyBuffer_Release(&ov);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef ModuleMethods[] = {
    {"index", (PyCFunction)(void (*)(void))itch_index, METH_FASTCALL,
     "index(buf, pos, limit, expected) -> (offsets int64 bytearray, types uint8 bytearray, next, all_valid)"},
    {"install", (PyCFunction)(void (*)(void))itch_install, METH_FASTCALL,
     "install(ItchBook, heappush, heappop): bind the book layout and heapq"},
    {"apply", (PyCFunction)(void (*)(void))itch_apply, METH_FASTCALL,
     "apply(orders, by_locate, locate_ts, book_for, buf, offsets, types, first_ts) -> (first_ts, counters)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef ItchAccelModule = {
    PyModuleDef_HEAD_INIT, "engine.lob.itch._itchaccel",
    "C frame indexer and replay apply loop over the pure-Python Reconstructor's own data structures.", -1,
    ModuleMethods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__itchaccel(void)
{
    return PyModule_Create(&ItchAccelModule);
}
