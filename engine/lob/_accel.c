/* Optional C accelerator for engine.lob.Exchange: submit_limit, _match, cancel and reduce.
 *
 * It works DIRECTLY on the Python data structures the pure-Python Exchange keeps (order-record tuples in
 * `_orders`, level lists [total, live_count, deque, cache] in `_bids`/`_asks`, sorted price lists `_bpx`/`_apx`,
 * `_bbo`, the depth caches, the event log and the trade list), so every other method keeps working unchanged.
 * It must not hold any book state of its own. Anything outside the common case (FOK, self-trade prevention,
 * non-int arguments, unusual keywords) is handed back to the pure-Python method, which stays the reference.
 * Stop triggers after a trade are run by the Python `stops.process_triggers`, exactly as the Python path does.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

typedef __int128 i128;

/* Layout constants shared with engine/lob/types.py and record.py (checked by install()). */
enum { BUY = 0, SELL = 1 };
enum { GTC = 0, IOC = 1, FOK = 2 };
enum { ST_NEW = 0, ST_PARTIAL = 1, ST_FILLED = 2, ST_CANCELLED = 3 };
enum { R_SIDE, R_PRICE, R_ORIG, R_REM, R_TS, R_STATUS, R_EXT, R_LEN };
#define PRICE_MAX ((i128)INT64_MAX)
#define PRICE_MIN ((i128)INT64_MIN)
#define U64_MAX ((i128)UINT64_MAX)

/* ------------------------------------------------------------------ module globals (set by install) */

static PyTypeObject *ExchangeType;
static PyTypeObject *SubmitResultType;
static PyTypeObject *CancelResultType;
static PyTypeObject *DequeType;
static PyTypeObject *StopBookType;
static Py_ssize_t PendingOffset;
static PyObject *CancelResults;   /* dict rem -> shared CancelResult */
#define N_SHARED_CANCELS 1025
static PyObject *SharedCancels[N_SHARED_CANCELS];  /* CancelResults[0..1024] read once at install */
static PyObject *NotActive;       /* shared CancelResult(False, 0, "OrderNotActive") */
static PyObject *SideCodes;       /* dict text -> 0/1 */
static PyObject *SideNames[2];
static PyObject *StopsModule;
static PyObject *PySubmitLimit, *PyMatch, *PyCancel, *PyReduce;  /* the pure-Python reference methods */
static PyObject *EvReduce;        /* events.EV_REDUCE, the first item of a reduce event */
static PyCFunction DequeAppend, DequePopleft;

static PyObject *S_New, *S_Partial, *S_Filled, *S_Cancelled;
static PyObject *K_gtc, *K_off, *K_tif, *K_owner, *K_stp_policy, *K_log, *K_fire_stops;
static PyObject *K_buy, *K_sell;
static PyObject *K_pending, *K_process_triggers, *K_cancel, *K_append, *K_popleft;
static PyObject *EmptyTuple;
static PyObject *Int[4];

enum {
    O_orders, O_bids, O_asks, O_bpx, O_apx, O_bbo, O_bcache, O_acache, O_next_id, O_next_trade,
    O_trades, O_events, O_ltp, O_prev_px, O_absdiff, O_stops, O_COUNT
};
static const char *SlotNames[O_COUNT] = {
    "_orders", "_bids", "_asks", "_bpx", "_apx", "_bbo", "_bcache", "_acache", "_next_id", "_next_trade",
    "_trades", "_events", "_ltp", "_prev_px", "_absdiff", "_stops",
};
static Py_ssize_t Off[O_COUNT];

#define SLOT(self, k) (*(PyObject **)((char *)(self) + Off[k]))

static inline void
slot_set(PyObject *self, int k, PyObject *value)  /* steals value */
{
    PyObject **p = &SLOT(self, k);
    PyObject *old = *p;
    *p = value;
    Py_XDECREF(old);
}

static inline void
slot_set_none(PyObject *self, int k)
{
    slot_set(self, k, Py_NewRef(Py_None));
}

/* ------------------------------------------------------------------ integers */

static int as_i128_slow(PyObject *o, i128 *out);

/* Most book values are one-digit ints: read them inline (3.11 layout), anything else through the C API. */
static inline int
as_i128(PyObject *o, i128 *out)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyLong_CheckExact(o)) {
        Py_ssize_t size = Py_SIZE(o);
        if (size == 0) {
            *out = 0;
            return 0;
        }
        if (size == 1 || size == -1) {
            i128 d = ((PyLongObject *)o)->ob_digit[0];
            *out = size < 0 ? -d : d;
            return 0;
        }
    }
#endif
    return as_i128_slow(o, out);
}

static int
as_i128_slow(PyObject *o, i128 *out)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (!overflow) {
        *out = v;
        return 0;
    }
    unsigned char buf[16];
#if PY_VERSION_HEX >= 0x030D0000
    if (_PyLong_AsByteArray((PyLongObject *)o, buf, 16, 1, 1, 1) < 0)
#else
    if (_PyLong_AsByteArray((PyLongObject *)o, buf, 16, 1, 1) < 0)
#endif
        return -1;
    memcpy(out, buf, 16);  /* x86-64 / aarch64: little endian, same as the byte order asked for */
    return 0;
}

static PyObject *
from_i128(i128 v)
{
    if (v >= (i128)INT64_MIN && v <= (i128)INT64_MAX)
        return PyLong_FromLongLong((long long)v);
    if (v >= 0 && v <= (i128)UINT64_MAX)
        return PyLong_FromUnsignedLongLong((unsigned long long)v);
    unsigned char buf[16];
    memcpy(buf, &v, 16);
    return _PyLong_FromByteArray(buf, 16, 1, 1);
}

/* An exact int within [lo, hi]: 1 yes, 0 no (no error set). */
static int
exact_int_in(PyObject *o, i128 lo, i128 hi, i128 *out)
{
    if (!PyLong_CheckExact(o))
        return 0;
    if (as_i128(o, out) < 0) {
        PyErr_Clear();
        return 0;
    }
    return *out >= lo && *out <= hi;
}

static inline int
small_int_eq(PyObject *o, long v)  /* o == v for an int o; -1 on error */
{
    i128 x;
    if (as_i128(o, &x) < 0)
        return -1;
    return x == v;
}

/* ------------------------------------------------------------------ containers */

static inline PyObject *
list_last(PyObject *list)  /* borrowed; list non-empty */
{
    return PyList_GET_ITEM(list, PyList_GET_SIZE(list) - 1);
}

/* bisect over a sorted list of ints: right=0 bisect_left, right=1 bisect_right. */
static Py_ssize_t
bisect(PyObject *list, i128 key, int right)
{
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(list);
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        i128 v;
        if (as_i128(PyList_GET_ITEM(list, mid), &v) < 0)
            return -1;
        if (right ? (key < v) : (v < key))
            (right ? (hi = mid) : (lo = mid + 1));
        else
            (right ? (lo = mid + 1) : (hi = mid));
    }
    return lo;
}

static inline void
list_set(PyObject *list, Py_ssize_t i, PyObject *value)  /* steals value; i in range */
{
    PyObject *old = PyList_GET_ITEM(list, i);
    PyList_SET_ITEM(list, i, value);
    Py_XDECREF(old);
}

static int
list_del(PyObject *list, Py_ssize_t i)
{
    return PyList_SetSlice(list, i, i + 1, NULL);
}

static int
q_append(PyObject *q, PyObject *item)
{
    PyObject *r = Py_IS_TYPE(q, DequeType) ? DequeAppend(q, item) : PyObject_CallMethodOneArg(q, K_append, item);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int
q_popleft(PyObject *q)
{
    PyObject *r = Py_IS_TYPE(q, DequeType) ? DequePopleft(q, NULL) : PyObject_CallMethodNoArgs(q, K_popleft);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static PyObject *
new_deque1(PyObject *item)  /* deque((item,)) */
{
    PyObject *q = PyObject_CallNoArgs((PyObject *)DequeType);
    if (q != NULL && q_append(q, item) < 0)
        Py_CLEAR(q);
    return q;
}

/* A tuple of ints/None/str cannot be part of a cycle: stop the cyclic GC from scanning it (CPython would
 * untrack it itself at its first collection; doing it now keeps young collections small). */
static inline void
untrack(PyObject *t)
{
    PyObject_GC_UnTrack(t);  /* a no-op when already untracked */
}

/* list.append with the spare-capacity case inlined (the event log and trade lists grow by one per call). */
static inline int
list_append(PyObject *list, PyObject *item)
{
    PyListObject *l = (PyListObject *)list;
    Py_ssize_t n = Py_SIZE(l);
    if (n < l->allocated) {
        l->ob_item[n] = Py_NewRef(item);
        Py_SET_SIZE(l, n + 1);
        return 0;
    }
    return PyList_Append(list, item);
}

/* The record's price, remaining and timestamp objects are usually cold and are all touched next (read,
 * then increfed into the replacement record): start the loads together instead of one after another. */
static inline void
prefetch_record(PyObject *r)
{
    __builtin_prefetch(PyTuple_GET_ITEM(r, R_PRICE), 1);
    __builtin_prefetch(PyTuple_GET_ITEM(r, R_REM), 1);
    __builtin_prefetch(PyTuple_GET_ITEM(r, R_TS), 1);
}

static PyObject *
make_record(PyObject *side, PyObject *price, PyObject *orig, PyObject *rem, PyObject *ts, PyObject *status,
            PyObject *ext)
{
    PyObject *t = PyTuple_New(R_LEN);
    if (t == NULL)
        return NULL;
    PyTuple_SET_ITEM(t, R_SIDE, Py_NewRef(side));
    PyTuple_SET_ITEM(t, R_PRICE, Py_NewRef(price));
    PyTuple_SET_ITEM(t, R_ORIG, Py_NewRef(orig));
    PyTuple_SET_ITEM(t, R_REM, Py_NewRef(rem));
    PyTuple_SET_ITEM(t, R_TS, Py_NewRef(ts));
    PyTuple_SET_ITEM(t, R_STATUS, Py_NewRef(status));
    PyTuple_SET_ITEM(t, R_EXT, Py_NewRef(ext));
    if (ext == Py_None || !PyObject_GC_IsTracked(ext))
        untrack(t);
    return t;
}

/* Same record with a new remaining quantity and status (rem stolen). */
static PyObject *
replace_record(PyObject *r, PyObject *rem, int status)
{
    PyObject *t = PyTuple_New(R_LEN);
    if (t == NULL) {
        Py_DECREF(rem);
        return NULL;
    }
    PyTuple_SET_ITEM(t, R_SIDE, Py_NewRef(PyTuple_GET_ITEM(r, R_SIDE)));
    PyTuple_SET_ITEM(t, R_PRICE, Py_NewRef(PyTuple_GET_ITEM(r, R_PRICE)));
    PyTuple_SET_ITEM(t, R_ORIG, Py_NewRef(PyTuple_GET_ITEM(r, R_ORIG)));
    PyTuple_SET_ITEM(t, R_REM, rem);
    PyTuple_SET_ITEM(t, R_TS, Py_NewRef(PyTuple_GET_ITEM(r, R_TS)));
    PyTuple_SET_ITEM(t, R_STATUS, Py_NewRef(Int[status]));
    PyTuple_SET_ITEM(t, R_EXT, Py_NewRef(PyTuple_GET_ITEM(r, R_EXT)));
    PyObject *ext = PyTuple_GET_ITEM(r, R_EXT);
    if (ext == Py_None || !PyObject_GC_IsTracked(ext))
        untrack(t);
    return t;
}

/* tuple.__new__(cls, items): the result views are tuple subclasses without extra fields. */
static PyObject *
new_result(PyTypeObject *cls, Py_ssize_t n, PyObject **items)  /* items stolen (all non-NULL) */
{
    PyObject *r = cls->tp_alloc(cls, n);
    if (r == NULL) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(items[i]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(r, i, items[i]);
    return r;
}

static PyObject *
submit_result(PyObject *oid, PyObject *status, PyObject *trades, PyObject *filled, PyObject *resting,
              PyObject *cancelled)  /* filled/resting/cancelled stolen; oid/status/trades borrowed */
{
    PyObject *items[6] = {Py_NewRef(oid), Py_NewRef(status), Py_NewRef(trades), filled, resting,
                          cancelled};
    if (filled == NULL || resting == NULL || cancelled == NULL) {
        for (int i = 0; i < 6; i++)
            Py_XDECREF(items[i]);
        return NULL;
    }
    return new_result(SubmitResultType, 6, items);
}

/* ------------------------------------------------------------------ exchange state */

typedef struct {
    PyObject *orders, *bids, *asks, *bpx, *apx, *events, *trades;
    long long next_id, next_trade;
    PyObject *next_trade_obj;  /* the _next_trade object on entry: the first trade's id (borrowed) */
} State;

/* 1 when the slots hold what the Python __init__ puts there (else the caller falls back to Python). Slots that
 * are only written (the depth caches, _ltp) may be unset. */
static int
load_state(PyObject *self, State *st, int counters)
{
#define NEED(var, k, check) if ((var = SLOT(self, k)) == NULL || !check(var)) return 0;
    PyObject *bbo, *other;
    NEED(st->orders, O_orders, PyDict_CheckExact);
    NEED(st->bids, O_bids, PyDict_CheckExact);
    NEED(st->asks, O_asks, PyDict_CheckExact);
    NEED(st->bpx, O_bpx, PyList_CheckExact);
    NEED(st->apx, O_apx, PyList_CheckExact);
    NEED(st->events, O_events, PyList_CheckExact);
    NEED(st->trades, O_trades, PyList_CheckExact);
    NEED(bbo, O_bbo, PyTuple_CheckExact);
    if (PyTuple_GET_SIZE(bbo) != 2)
        return 0;
#define ANY(o) 1
    NEED(other, O_stops, ANY);
    NEED(other, O_prev_px, ANY);
    NEED(other, O_absdiff, ANY);
#undef ANY
#undef NEED
    if (!counters)
        return 1;
    PyObject *ni = SLOT(self, O_next_id), *nt = SLOT(self, O_next_trade);
    if (ni == NULL || nt == NULL || !PyLong_CheckExact(ni) || !PyLong_CheckExact(nt))
        return 0;
    i128 a, b;
    if (as_i128(ni, &a) < 0 || as_i128(nt, &b) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (a < 0 || b < 0 || a > INT64_MAX / 4 || b > INT64_MAX / 4)
        return 0;
    st->next_id = (long long)a;
    st->next_trade = (long long)b;
    st->next_trade_obj = nt;
    return 1;
}

/* The new order's id: the object in _next_id (equal value), which then advances. New reference. */
static PyObject *
take_next_id(PyObject *self, long long oid)
{
    PyObject *oid_obj = Py_NewRef(SLOT(self, O_next_id));
    PyObject *next = PyLong_FromLongLong(oid + 1);
    if (next == NULL) {
        Py_DECREF(oid_obj);
        return NULL;
    }
    slot_set(self, O_next_id, next);
    return oid_obj;
}

static int
set_counter(PyObject *self, int k, long long v)
{
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL)
        return -1;
    slot_set(self, k, o);
    return 0;
}

/* self._bbo = (b[-1] if b else None, -a[-1] if a else None) */
static int
same_end(PyObject *old, PyObject *px, int negate)  /* old == (px[-1] * sign, or None when px is empty)? */
{
    if (!PyList_GET_SIZE(px))
        return old == Py_None;
    if (old == Py_None || !PyLong_CheckExact(old))
        return 0;
    i128 a, b;
    if (as_i128(old, &a) < 0 || as_i128(list_last(px), &b) < 0) {
        PyErr_Clear();
        return 0;
    }
    return a == (negate ? -b : b);
}

static int
refresh_bbo(PyObject *self, State *st)
{
    PyObject *old = SLOT(self, O_bbo);
    if (same_end(PyTuple_GET_ITEM(old, 0), st->bpx, 0) && same_end(PyTuple_GET_ITEM(old, 1), st->apx, 1))
        return 0;
    PyObject *bid = PyList_GET_SIZE(st->bpx) ? Py_NewRef(list_last(st->bpx)) : Py_NewRef(Py_None);
    PyObject *ask;
    if (PyList_GET_SIZE(st->apx)) {
        i128 a;
        if (as_i128(list_last(st->apx), &a) < 0) {
            Py_DECREF(bid);
            return -1;
        }
        ask = from_i128(-a);
        if (ask == NULL) {
            Py_DECREF(bid);
            return -1;
        }
    }
    else {
        ask = Py_NewRef(Py_None);
    }
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(bid);
        Py_DECREF(ask);
        return -1;
    }
    PyTuple_SET_ITEM(t, 0, bid);
    PyTuple_SET_ITEM(t, 1, ask);
    untrack(t);
    slot_set(self, O_bbo, t);
    return 0;
}

/* self._bbo = (bid, old ask) or (old bid, ask): one side replaced (value borrowed). */
static int
set_bbo_side(PyObject *self, int side, PyObject *value)
{
    PyObject *old = SLOT(self, O_bbo);
    PyObject *t = PyTuple_New(2);
    if (t == NULL)
        return -1;
    PyTuple_SET_ITEM(t, side, Py_NewRef(value));
    PyTuple_SET_ITEM(t, 1 - side, Py_NewRef(PyTuple_GET_ITEM(old, 1 - side)));
    untrack(t);
    slot_set(self, O_bbo, t);
    return 0;
}

/* ------------------------------------------------------------------ resting */

/* lv[i] += delta for an int list item. */
static int
level_add(PyObject *lv, Py_ssize_t i, i128 delta)
{
    i128 v;
    if (as_i128(PyList_GET_ITEM(lv, i), &v) < 0)
        return -1;
    PyObject *o = from_i128(v + delta);
    if (o == NULL)
        return -1;
    list_set(lv, i, o);
    return 0;
}

static PyObject *
corrupt(const char *what)
{
    PyErr_Format(PyExc_RuntimeError, "order book corrupted: %s", what);
    return NULL;
}

/* Append a live order to the back of its level, creating the level. `fast` mirrors submit_limit's inlined
 * fast path (BBO side updated only when the new level is the best); otherwise Exchange._rest (BBO refreshed). */
static int
rest_order(PyObject *self, State *st, int s, PyObject *oid, PyObject *price_obj, i128 price, PyObject *rem_obj,
           i128 rem, int fast)
{
    PyObject *book = s == BUY ? st->bids : st->asks;
    PyObject *px = s == BUY ? st->bpx : st->apx;
    slot_set_none(self, s == BUY ? O_bcache : O_acache);
    PyObject *lv = PyDict_GetItemWithError(book, price_obj);
    if (lv != NULL) {
        if (!PyList_CheckExact(lv) || PyList_GET_SIZE(lv) < 3) {
            corrupt("level is not a list");
            return -1;
        }
        if (level_add(lv, 0, rem) < 0 || level_add(lv, 1, 1) < 0)
            return -1;
        return q_append(PyList_GET_ITEM(lv, 2), oid);
    }
    if (PyErr_Occurred())
        return -1;
    i128 key = s == BUY ? price : -price;
    int is_best = 1;
    if (PyList_GET_SIZE(px)) {
        i128 last;
        if (as_i128(list_last(px), &last) < 0)
            return -1;
        is_best = key > last;
    }
    PyObject *q = new_deque1(oid);
    if (q == NULL)
        return -1;
    PyObject *nlv = PyList_New(4);
    if (nlv == NULL) {
        Py_DECREF(q);
        return -1;
    }
    PyList_SET_ITEM(nlv, 0, Py_NewRef(rem_obj));
    PyList_SET_ITEM(nlv, 1, Py_NewRef(Int[1]));
    PyList_SET_ITEM(nlv, 2, q);
    PyList_SET_ITEM(nlv, 3, Py_NewRef(Py_None));
    int rc = PyDict_SetItem(book, price_obj, nlv);
    Py_DECREF(nlv);
    if (rc < 0)
        return -1;
    Py_ssize_t at = bisect(px, key, 1);
    if (at < 0)
        return -1;
    PyObject *key_obj = s == BUY ? Py_NewRef(price_obj) : from_i128(key);
    if (key_obj == NULL)
        return -1;
    rc = PyList_Insert(px, at, key_obj);
    Py_DECREF(key_obj);
    if (rc < 0)
        return -1;
    if (!fast)
        return refresh_bbo(self, st);
    return is_best ? set_bbo_side(self, s, price_obj) : 0;
}

/* ------------------------------------------------------------------ matching */

/* An int for an ask price (the list holds it negated); consecutive matches at one level share the object. */
static PyObject *NegCache;
static i128 NegCacheValue;

static PyObject *
neg_price(i128 best)
{
    if (NegCache == NULL || NegCacheValue != best) {
        PyObject *o = from_i128(best);
        if (o == NULL)
            return NULL;
        Py_XSETREF(NegCache, o);
        NegCacheValue = best;
    }
    return Py_NewRef(NegCache);
}

/* After trades: last trade price, then the stop cascade or (no stop pending) the |dp| history, as in Python. */
static int
after_trades(PyObject *self, PyObject *px_obj)
{
    slot_set(self, O_ltp, Py_NewRef(px_obj));
    PyObject *stops = SLOT(self, O_stops), *pending;
    if (Py_IS_TYPE(stops, StopBookType) && (pending = *(PyObject **)((char *)stops + PendingOffset)) != NULL)
        Py_INCREF(pending);
    else if ((pending = PyObject_GetAttr(stops, K_pending)) == NULL)
        return -1;
    int any = PyObject_IsTrue(pending);
    Py_DECREF(pending);
    if (any < 0)
        return -1;
    if (any) {
        PyObject *fn = PyObject_GetAttr(StopsModule, K_process_triggers);
        if (fn == NULL)
            return -1;
        PyObject *r = PyObject_CallOneArg(fn, self);
        Py_DECREF(fn);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return 0;
    }
    PyObject *prev = SLOT(self, O_prev_px);
    if (prev != Py_None) {
        i128 p, q;
        if (as_i128(px_obj, &p) < 0 || as_i128(prev, &q) < 0)
            return -1;
        PyObject *d = from_i128(p >= q ? p - q : q - p);
        if (d == NULL)
            return -1;
        int rc = q_append(SLOT(self, O_absdiff), d);
        Py_DECREF(d);
        if (rc < 0)
            return -1;
    }
    slot_set(self, O_prev_px, Py_NewRef(px_obj));
    return 0;
}

static PyObject *
make_trade(long long tid, PyObject *tid_obj, PyObject *best, PyObject *fill, PyObject *side_name,
           PyObject *oid_obj, long long oid, PyObject *roid)
{
    PyObject *t = PyTuple_New(7);
    if (t == NULL) {
        Py_DECREF(fill);
        return NULL;
    }
    PyObject *a = tid_obj != NULL ? Py_NewRef(tid_obj) : PyLong_FromLongLong(tid);
    PyObject *b = Py_NewRef(oid_obj), *c = PyLong_FromLongLong(oid + tid);
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, Py_NewRef(best));
    PyTuple_SET_ITEM(t, 2, fill);
    PyTuple_SET_ITEM(t, 3, Py_NewRef(side_name));
    PyTuple_SET_ITEM(t, 4, b);
    PyTuple_SET_ITEM(t, 5, Py_NewRef(roid));
    PyTuple_SET_ITEM(t, 6, c);
    if (a == NULL || b == NULL || c == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    untrack(t);
    return t;
}

/* Consume resting orders at one level (lv held by the caller). Returns 1 when the level emptied, 0 otherwise,
 * -1 on error. */
static int match_queue(State *st, PyObject *book, PyObject *opx, PyObject *lv, PyObject *q, PyObject *best_obj,
                       PyObject *side_name, PyObject *oid_obj, long long oid, long long *ntid, i128 *rem,
                       PyObject *trades);

static int
match_level(PyObject *self, State *st, PyObject *book, PyObject *opx, PyObject *lv, PyObject *best_obj,
            PyObject *side_name, PyObject *oid_obj, long long oid, long long *ntid, i128 *rem, PyObject *trades)
{
    (void)self;
    /* Own the queue: a finalizer run by a GC pass during an allocation must not be able to free it under us. */
    PyObject *q = Py_NewRef(PyList_GET_ITEM(lv, 2));
    int rc = match_queue(st, book, opx, lv, q, best_obj, side_name, oid_obj, oid, ntid, rem, trades);
    Py_DECREF(q);
    return rc;
}

static int
match_queue(State *st, PyObject *book, PyObject *opx, PyObject *lv, PyObject *q, PyObject *best_obj,
            PyObject *side_name, PyObject *oid_obj, long long oid, long long *ntid, i128 *rem, PyObject *trades)
{
    i128 total;
    long long count;
    if (as_i128(PyList_GET_ITEM(lv, 0), &total) < 0)
        return -1;
    count = PyLong_AsLongLong(PyList_GET_ITEM(lv, 1));
    if (count == -1 && PyErr_Occurred())
        return -1;
    int emptied = 0;
    for (;;) {
        PyObject *roid = PySequence_GetItem(q, 0);
        if (roid == NULL)
            return -1;
        PyObject *r = PyDict_GetItemWithError(st->orders, roid);
        if (r == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, roid);
            Py_DECREF(roid);
            return -1;
        }
        if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != R_LEN) {
            Py_DECREF(roid);
            corrupt("order record");
            return -1;
        }
        prefetch_record(r);
        int cancelled = small_int_eq(PyTuple_GET_ITEM(r, R_STATUS), ST_CANCELLED);
        if (cancelled < 0) {
            Py_DECREF(roid);
            return -1;
        }
        if (cancelled) {  /* cancelled earlier; dropped lazily */
            Py_DECREF(roid);
            if (q_popleft(q) < 0)
                return -1;
            continue;
        }
        i128 rr, fill;
        if (as_i128(PyTuple_GET_ITEM(r, R_REM), &rr) < 0) {
            Py_DECREF(roid);
            return -1;
        }
        PyObject *nrec;
        if (rr <= *rem) {
            fill = rr;
            nrec = replace_record(r, Py_NewRef(Int[0]), ST_FILLED);
            if (nrec != NULL && q_popleft(q) < 0)
                Py_CLEAR(nrec);
            count -= 1;
        }
        else {
            fill = *rem;
            PyObject *left = from_i128(rr - *rem);
            nrec = left == NULL ? NULL : replace_record(r, left, ST_PARTIAL);
        }
        if (nrec == NULL || PyDict_SetItem(st->orders, roid, nrec) < 0) {
            Py_XDECREF(nrec);
            Py_DECREF(roid);
            return -1;
        }
        Py_DECREF(nrec);
        total -= fill;
        PyObject *fill_obj = from_i128(fill);
        PyObject *tid_obj = *ntid == st->next_trade ? st->next_trade_obj : NULL;
        PyObject *t = fill_obj == NULL ? NULL
                                       : make_trade(*ntid, tid_obj, best_obj, fill_obj, side_name, oid_obj, oid, roid);
        Py_DECREF(roid);
        if (t == NULL)
            return -1;
        int rc = list_append(trades, t);
        Py_DECREF(t);
        if (rc < 0)
            return -1;
        *ntid += 1;
        *rem -= fill;
        if (!count) {
            if (PyDict_DelItem(book, best_obj) < 0 || list_del(opx, PyList_GET_SIZE(opx) - 1) < 0)
                return -1;
            emptied = 1;
            break;
        }
        if (!*rem)
            break;
    }
    PyObject *tot = from_i128(total), *cnt = PyLong_FromLongLong(count);
    if (tot == NULL || cnt == NULL) {
        Py_XDECREF(tot);
        Py_XDECREF(cnt);
        return -1;
    }
    list_set(lv, 0, tot);
    list_set(lv, 1, cnt);
    return emptied;
}

/* Exchange._match without FOK and without self-trade prevention (the caller checked both). */
static PyObject *
do_match(PyObject *self, State *st, int s, PyObject *price_obj, i128 price, PyObject *qty_obj, i128 qty,
         PyObject *ext, int tif, int log, int fire_stops)
{
    long long oid = st->next_id;
    PyObject *oid_obj = take_next_id(self, oid);
    if (oid_obj == NULL)
        return NULL;
    long long ts = oid + st->next_trade - 1;
    PyObject *opx = s == BUY ? st->apx : st->bpx;
    PyObject *book = s == BUY ? st->asks : st->bids;
    PyObject *trades = PyList_New(0);
    if (trades == NULL) {
        Py_DECREF(oid_obj);
        return NULL;
    }
    PyObject *result = NULL, *rec = NULL, *rem_obj = NULL;
    i128 rem = qty;
    if (rem && PyList_GET_SIZE(opx)) {
        long long ntid = st->next_trade;
        PyObject *side_name = SideNames[s];
        int err = 0;
        while (rem && PyList_GET_SIZE(opx)) {
            i128 key;
            if (as_i128(list_last(opx), &key) < 0) {
                err = 1;
                break;
            }
            i128 best = s == BUY ? -key : key;
            if (s == BUY ? best > price : best < price)
                break;
            PyObject *best_obj = s == BUY ? neg_price(best) : Py_NewRef(list_last(opx));
            if (best_obj == NULL) {
                err = 1;
                break;
            }
            PyObject *lv = PyDict_GetItemWithError(book, best_obj);
            if (lv == NULL || !PyList_CheckExact(lv) || PyList_GET_SIZE(lv) < 3) {
                if (lv == NULL && !PyErr_Occurred())
                    PyErr_SetObject(PyExc_KeyError, best_obj);
                else if (lv != NULL)
                    corrupt("level is not a list");
                Py_DECREF(best_obj);
                err = 1;
                break;
            }
            Py_INCREF(lv);  /* keep it alive while the level may be deleted from the book */
            int rc = match_level(self, st, book, opx, lv, best_obj, side_name, oid_obj, oid, &ntid, &rem, trades);
            Py_DECREF(lv);
            Py_DECREF(best_obj);
            if (rc < 0) {
                err = 1;
                break;
            }
        }
        if (set_counter(self, O_next_trade, ntid) < 0)
            err = 1;
        slot_set_none(self, s == BUY ? O_acache : O_bcache);
        if (err || refresh_bbo(self, st) < 0)
            goto error;
    }
    i128 filled = qty - rem;
    int status;
    rem_obj = rem == qty ? Py_NewRef(qty_obj) : from_i128(rem);
    if (rem_obj == NULL)
        goto error;
    if (rem && tif != GTC) {
        /* Leftovers of IOC/market never rest and are terminal (fixes reference bug B2). */
        status = ST_CANCELLED;
        result = submit_result(oid_obj, filled ? S_Partial : S_Cancelled, trades, from_i128(filled),
                               Py_NewRef(Int[0]), Py_NewRef(rem_obj));
    }
    else if (!rem) {
        status = ST_FILLED;
        result = submit_result(oid_obj, S_Filled, trades, Py_NewRef(qty_obj), Py_NewRef(Int[0]), Py_NewRef(Int[0]));
    }
    else {
        status = filled ? ST_PARTIAL : ST_NEW;
        if (rest_order(self, st, s, oid_obj, price_obj, price, rem_obj, rem, 0) < 0)
            goto error;
        result = submit_result(oid_obj, filled ? S_Partial : S_New, trades, from_i128(filled), Py_NewRef(rem_obj),
                               Py_NewRef(Int[0]));
    }
    if (result == NULL)
        goto error;
    PyObject *ts_obj = PyLong_FromLongLong(ts);
    if (ts_obj == NULL)
        goto error;
    rec = make_record(Int[s], price_obj, qty_obj, rem_obj, ts_obj, Int[status], ext);
    Py_DECREF(ts_obj);
    if (rec == NULL)
        goto error;
    if (PyDict_SetItem(st->orders, oid_obj, rec) < 0 || (log && list_append(st->events, rec) < 0))
        goto error;
    Py_ssize_t nt = PyList_GET_SIZE(trades);
    if (nt) {
        if (PyList_SetSlice(st->trades, PyList_GET_SIZE(st->trades), PyList_GET_SIZE(st->trades), trades) < 0)
            goto error;
        if (fire_stops) {
            PyObject *px_obj = PyTuple_GET_ITEM(PyList_GET_ITEM(trades, nt - 1), 1);
            if (after_trades(self, px_obj) < 0)
                goto error;
        }
    }
    Py_DECREF(rec);
    Py_DECREF(rem_obj);
    Py_DECREF(trades);
    Py_DECREF(oid_obj);
    return result;
error:
    Py_XDECREF(result);
    Py_XDECREF(rec);
    Py_XDECREF(rem_obj);
    Py_DECREF(trades);
    Py_DECREF(oid_obj);
    return NULL;
}

/* ------------------------------------------------------------------ fallbacks */

static PyObject *
fallback(PyObject *pyfunc, PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *bound = PyMethod_New(pyfunc, self);
    if (bound == NULL)
        return NULL;
    PyObject *r = PyObject_Vectorcall(bound, args, nargs, kwnames);
    Py_DECREF(bound);
    return r;
}

static int
str_is(PyObject *o, PyObject *interned)
{
    if (o == interned)
        return 1;
    return PyUnicode_CheckExact(o) && PyUnicode_Compare(o, interned) == 0;
}

/* ------------------------------------------------------------------ methods */

/* submit_limit(side, price, quantity, tif="gtc", *, owner=None, stp_policy="off") */
static PyObject *
ex_submit_limit(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    State st;
    PyObject *tif = nargs == 4 ? args[3] : NULL;
    if (nargs < 3 || nargs > 4)
        goto python;
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i), *value = args[nargs + i];
            if (str_is(name, K_owner) && value == Py_None)
                continue;
            if (str_is(name, K_stp_policy) && str_is(value, K_off))
                continue;
            if (str_is(name, K_tif) && tif == NULL) {
                tif = value;
                continue;
            }
            goto python;
        }
    }
    if (tif != NULL && !str_is(tif, K_gtc))
        goto python;
    int s;
    if (args[0] == K_buy)  /* the interned literals: same entries as SIDE_CODES["buy"/"sell"] */
        s = BUY;
    else if (args[0] == K_sell)
        s = SELL;
    else {
        PyObject *code = PyDict_GetItemWithError(SideCodes, args[0]);
        if (code == NULL) {
            PyErr_Clear();
            goto python;
        }
        s = small_int_eq(code, SELL);
    }
    i128 price, qty;
    if (s < 0 || !exact_int_in(args[1], PRICE_MIN, PRICE_MAX, &price) || !exact_int_in(args[2], 0, U64_MAX, &qty)
        || !load_state(self, &st, 1)) {
        PyErr_Clear();
        goto python;
    }
    PyObject *price_obj = args[1], *qty_obj = args[2];
    if (qty) {
        /* Fast path: a plain GTC order that does not cross simply rests at the back of its level. */
        PyObject *opx = s == BUY ? st.apx : st.bpx;
        int crosses = 0;
        if (PyList_GET_SIZE(opx)) {
            i128 key;
            if (as_i128(list_last(opx), &key) < 0)
                return NULL;
            crosses = s == BUY ? !(-key > price) : !(key < price);
        }
        if (!crosses) {
            long long oid = st.next_id;
            PyObject *ts_obj = PyLong_FromLongLong(oid + st.next_trade - 1);
            PyObject *oid_obj = ts_obj == NULL ? NULL : take_next_id(self, oid);
            if (oid_obj == NULL) {
                Py_XDECREF(ts_obj);
                return NULL;
            }
            PyObject *rec = make_record(Int[s], price_obj, qty_obj, qty_obj, ts_obj, Int[ST_NEW], Py_None);
            Py_DECREF(ts_obj);
            if (rec == NULL || list_append(st.events, rec) < 0 || PyDict_SetItem(st.orders, oid_obj, rec) < 0
                || rest_order(self, &st, s, oid_obj, price_obj, price, qty_obj, qty, 1) < 0) {
                Py_XDECREF(rec);
                Py_DECREF(oid_obj);
                return NULL;
            }
            Py_DECREF(rec);
            PyObject *items[6] = {oid_obj, Py_NewRef(S_New), Py_NewRef(EmptyTuple), Py_NewRef(Int[0]),
                                  Py_NewRef(qty_obj), Py_NewRef(Int[0])};
            return new_result(SubmitResultType, 6, items);
        }
    }
    return do_match(self, &st, s, price_obj, price, qty_obj, qty, Py_None, GTC, 1, 1);
python:
    return fallback(PySubmitLimit, self, args, nargs, kwnames);
}

/* _match(s, price, qty, ext, log=True, fire_stops=True) */
static PyObject *
ex_match(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    State st;
    int log = 1, fire_stops = 1;
    if (nargs < 4 || nargs > 6)
        goto python;
    PyObject *log_obj = nargs > 4 ? args[4] : NULL, *fire_obj = nargs > 5 ? args[5] : NULL;
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i), *value = args[nargs + i];
            if (str_is(name, K_log) && log_obj == NULL)
                log_obj = value;
            else if (str_is(name, K_fire_stops) && fire_obj == NULL)
                fire_obj = value;
            else
                goto python;
        }
    }
    i128 s, price, qty, tif = GTC, stp = 0;
    PyObject *ext = args[3];
    if (!exact_int_in(args[0], 0, 1, &s) || !exact_int_in(args[1], PRICE_MIN, PRICE_MAX, &price)
        || !exact_int_in(args[2], 0, U64_MAX, &qty))
        goto python;
    if (ext != Py_None) {
        if (!PyTuple_CheckExact(ext) || PyTuple_GET_SIZE(ext) != 4
            || !exact_int_in(PyTuple_GET_ITEM(ext, 0), GTC, FOK, &tif)
            || !exact_int_in(PyTuple_GET_ITEM(ext, 2), 0, 3, &stp))
            goto python;
        /* FOK needs the fillability pre-check, self-trade prevention its own loop: both stay in Python. */
        if (tif == FOK || (PyTuple_GET_ITEM(ext, 1) != Py_None && stp != 0))
            goto python;
    }
    if ((log_obj != NULL && (log = PyObject_IsTrue(log_obj)) < 0)
        || (fire_obj != NULL && (fire_stops = PyObject_IsTrue(fire_obj)) < 0))
        return NULL;
    if (!load_state(self, &st, 1))
        goto python;
    return do_match(self, &st, (int)s, args[1], price, args[2], qty, ext, (int)tif, log, fire_stops);
python:
    return fallback(PyMatch, self, args, nargs, kwnames);
}

/* cancel(order_id) */
static PyObject *
ex_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    State st;
    /* A non-int id (bool, float, ...) is normalised or refused by the Python method, never logged as is. */
    i128 id;
    if (nargs != 1 || kwnames != NULL || !exact_int_in(args[0], 0, U64_MAX, &id) || !load_state(self, &st, 0))
        return fallback(PyCancel, self, args, nargs, kwnames);
    PyObject *order_id = args[0];
    if (list_append(st.events, order_id) < 0)
        return NULL;
    PyObject *r = PyDict_GetItemWithError(st.orders, order_id);
    if (r == NULL) {
        if (PyErr_Occurred())
            return NULL;
        return PyObject_CallMethodOneArg(SLOT(self, O_stops), K_cancel, order_id);
    }
    if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != R_LEN)
        return corrupt("order record");
    prefetch_record(r);
    i128 status;
    if (as_i128(PyTuple_GET_ITEM(r, R_STATUS), &status) < 0)
        return NULL;
    if (status >= ST_FILLED)
        return Py_NewRef(NotActive);
    Py_INCREF(r);  /* replaced in the dict below; its items are still needed */
    PyObject *rem_obj = PyTuple_GET_ITEM(r, R_REM), *price_obj = PyTuple_GET_ITEM(r, R_PRICE);
    PyObject *res = NULL;
    i128 rem, price;
    int side = small_int_eq(PyTuple_GET_ITEM(r, R_SIDE), BUY);
    if (side < 0 || as_i128(rem_obj, &rem) < 0)
        goto done;
    side = side ? BUY : SELL;
    PyObject *nrec = replace_record(r, Py_NewRef(rem_obj), ST_CANCELLED);
    if (nrec == NULL)
        goto done;
    int rc = PyDict_SetItem(st.orders, order_id, nrec);
    Py_DECREF(nrec);
    if (rc < 0)
        goto done;
    slot_set_none(self, side == BUY ? O_bcache : O_acache);
    PyObject *book = side == BUY ? st.bids : st.asks;
    PyObject *px = side == BUY ? st.bpx : st.apx;
    PyObject *lv = PyDict_GetItemWithError(book, price_obj);
    if (lv == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, price_obj);
        goto done;
    }
    if (!PyList_CheckExact(lv) || PyList_GET_SIZE(lv) < 3) {
        corrupt("level is not a list");
        goto done;
    }
    int last = small_int_eq(PyList_GET_ITEM(lv, 1), 1);
    if (last < 0)
        goto done;
    if (last) {
        if (as_i128(price_obj, &price) < 0)  /* read late: the price object may still be loading */
            goto done;
        i128 key = side == BUY ? price : -price;
        if (PyDict_DelItem(book, price_obj) < 0)
            goto done;
        Py_ssize_t at = bisect(px, key, 0);
        if (at < 0 || list_del(px, at) < 0)
            goto done;
        int newbest = 1;
        if (PyList_GET_SIZE(px)) {
            i128 top;
            if (as_i128(list_last(px), &top) < 0)
                goto done;
            newbest = key > top;
        }
        if (newbest) {
            PyObject *v;
            if (!PyList_GET_SIZE(px))
                v = Py_NewRef(Py_None);
            else if (side == BUY)
                v = Py_NewRef(list_last(px));
            else {
                i128 top;
                if (as_i128(list_last(px), &top) < 0)
                    goto done;
                v = from_i128(-top);
            }
            if (v == NULL)
                goto done;
            rc = set_bbo_side(self, side, v);
            Py_DECREF(v);
            if (rc < 0)
                goto done;
        }
    }
    else if (level_add(lv, 1, -1) < 0 || level_add(lv, 0, -rem) < 0) {
        goto done;
    }
    if (rem >= 0 && rem < N_SHARED_CANCELS && SharedCancels[(int)rem] != NULL)
        res = SharedCancels[(int)rem];
    else
        res = PyDict_GetItemWithError(CancelResults, rem_obj);
    if (res != NULL) {
        Py_INCREF(res);
    }
    else if (!PyErr_Occurred()) {
        PyObject *items[3] = {Py_NewRef(Py_True), Py_NewRef(rem_obj), Py_NewRef(Py_None)};
        res = new_result(CancelResultType, 3, items);
    }
done:
    Py_DECREF(r);
    return res;
}

/* Exchange._take_off_book after the record update: both depth caches reset, the level loses the order (and is
 * dropped, with a BBO refresh, when it empties). */
static int
take_off_level(PyObject *self, State *st, int side, PyObject *price_obj, i128 rem)
{
    slot_set_none(self, O_bcache);
    slot_set_none(self, O_acache);
    PyObject *book = side == BUY ? st->bids : st->asks;
    PyObject *lv = PyDict_GetItemWithError(book, price_obj);
    if (lv == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, price_obj);
        return -1;
    }
    if (!PyList_CheckExact(lv) || PyList_GET_SIZE(lv) < 3) {
        corrupt("level is not a list");
        return -1;
    }
    if (level_add(lv, 1, -1) < 0 || level_add(lv, 0, -rem) < 0)
        return -1;
    int empty = small_int_eq(PyList_GET_ITEM(lv, 1), 0);
    if (empty <= 0)
        return empty;
    i128 price;
    if (as_i128(price_obj, &price) < 0)
        return -1;
    if (PyDict_DelItem(book, price_obj) < 0)
        return -1;
    PyObject *px = side == BUY ? st->bpx : st->apx;
    Py_ssize_t at = bisect(px, side == BUY ? price : -price, 0);
    if (at < 0 || list_del(px, at) < 0)
        return -1;
    return refresh_bbo(self, st);
}

/* reduce(order_id, quantity): the common case (an exact int quantity > 0, a resting order) in C; anything the
 * Python method would refuse is handed to it, so it raises exactly as it does. */
static PyObject *
ex_reduce(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    State st;
    i128 id, qty, status, rem, orig;
    if (nargs != 2 || kwnames != NULL || !exact_int_in(args[0], 0, U64_MAX, &id) || !load_state(self, &st, 0)
        || !exact_int_in(args[1], 1, U64_MAX, &qty))
        goto python;
    PyObject *order_id = args[0];
    PyObject *r = PyDict_GetItemWithError(st.orders, order_id);
    if (r == NULL) {
        PyErr_Clear();  /* unknown (or unhashable) id: Python raises the right error */
        goto python;
    }
    if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != R_LEN)
        return corrupt("order record");
    if (as_i128(PyTuple_GET_ITEM(r, R_STATUS), &status) < 0)
        return NULL;
    if (status >= ST_FILLED)
        goto python;
    int side = small_int_eq(PyTuple_GET_ITEM(r, R_SIDE), BUY);
    if (side < 0 || as_i128(PyTuple_GET_ITEM(r, R_REM), &rem) < 0 || as_i128(PyTuple_GET_ITEM(r, R_ORIG), &orig) < 0)
        return NULL;
    side = side ? BUY : SELL;
    PyObject *ev = PyList_New(3);
    if (ev == NULL)
        return NULL;
    PyList_SET_ITEM(ev, 0, Py_NewRef(EvReduce));
    PyList_SET_ITEM(ev, 1, Py_NewRef(order_id));
    PyList_SET_ITEM(ev, 2, Py_NewRef(args[1]));
    untrack(ev);  /* three ints, never mutated: no cycle possible, and an ITCH replay logs one per execution */
    int rc = list_append(st.events, ev);
    Py_DECREF(ev);
    if (rc < 0)
        return NULL;
    Py_INCREF(r);  /* replaced in the dict below; its items are still needed */
    PyObject *price_obj = PyTuple_GET_ITEM(r, R_PRICE), *res = NULL, *nrec;
    if (qty >= rem) {
        nrec = replace_record(r, Py_NewRef(PyTuple_GET_ITEM(r, R_REM)), ST_CANCELLED);
        rc = nrec == NULL ? -1 : PyDict_SetItem(st.orders, order_id, nrec);
        Py_XDECREF(nrec);
        if (rc == 0 && take_off_level(self, &st, side, price_obj, rem) == 0)
            res = Py_NewRef(Int[0]);
        Py_DECREF(r);
        return res;
    }
    PyObject *norig = from_i128(orig - qty), *nrem = from_i128(rem - qty);
    nrec = norig == NULL || nrem == NULL ? NULL
        : make_record(PyTuple_GET_ITEM(r, R_SIDE), price_obj, norig, nrem, PyTuple_GET_ITEM(r, R_TS),
                      PyTuple_GET_ITEM(r, R_STATUS), PyTuple_GET_ITEM(r, R_EXT));
    Py_XDECREF(norig);
    if (nrec == NULL || PyDict_SetItem(st.orders, order_id, nrec) < 0)
        goto done;
    slot_set_none(self, side == BUY ? O_bcache : O_acache);
    PyObject *lv = PyDict_GetItemWithError(side == BUY ? st.bids : st.asks, price_obj);
    if (lv == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, price_obj);
        goto done;
    }
    if (!PyList_CheckExact(lv) || PyList_GET_SIZE(lv) < 1) {
        corrupt("level is not a list");
        goto done;
    }
    if (level_add(lv, 0, -qty) == 0)
        res = Py_NewRef(nrem);
done:
    Py_XDECREF(nrec);
    Py_XDECREF(nrem);
    Py_DECREF(r);
    return res;
python:
    return fallback(PyReduce, self, args, nargs, kwnames);
}

static PyMethodDef ExchangeMethods[] = {
    {"submit_limit", (PyCFunction)(void (*)(void))ex_submit_limit, METH_FASTCALL | METH_KEYWORDS,
     "submit_limit($self, side, price, quantity, tif='gtc', *, owner=None, stp_policy='off')\n--\n\n"
     "Submit a limit order (price in ticks). Trades at resting prices; GTC remainders rest."},
    {"_match", (PyCFunction)(void (*)(void))ex_match, METH_FASTCALL | METH_KEYWORDS,
     "_match($self, s, price, qty, ext, log=True, fire_stops=True)\n--\n\n"
     "Create an order, match it, then rest, store or drop its remainder; fire stops if it traded."},
    {"cancel", (PyCFunction)(void (*)(void))ex_cancel, METH_FASTCALL | METH_KEYWORDS,
     "cancel($self, order_id)\n--\n\n"
     "Cancel a resting order or a pending stop by id."},
    {"reduce", (PyCFunction)(void (*)(void))ex_reduce, METH_FASTCALL | METH_KEYWORDS,
     "reduce($self, order_id, quantity)\n--\n\n"
     "Reduce a resting order by `quantity` in place, keeping its queue position; returns what is left."},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------ install */

static int
take(PyObject *cfg, const char *key, PyObject **out)
{
    PyObject *v = PyDict_GetItemString(cfg, key);
    if (v == NULL) {
        PyErr_Format(PyExc_KeyError, "install(): missing %s", key);
        return -1;
    }
    Py_XSETREF(*out, Py_NewRef(v));
    return 0;
}

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

static PyCFunction
deque_method(PyObject *deque_type, const char *name, int flags)
{
    PyObject *d = PyObject_GetAttrString(deque_type, name);
    if (d == NULL)
        return NULL;
    PyCFunction fn = NULL;
    if (Py_IS_TYPE(d, &PyMethodDescr_Type)) {
        PyMethodDef *def = ((PyMethodDescrObject *)d)->d_method;
        if ((def->ml_flags & (METH_NOARGS | METH_O | METH_VARARGS | METH_FASTCALL | METH_KEYWORDS)) == flags)
            fn = def->ml_meth;
    }
    Py_DECREF(d);
    if (fn == NULL)
        PyErr_Format(PyExc_TypeError, "install(): deque.%s is not a plain C method", name);
    return fn;
}

/* install(cls, cfg) -> {name: method descriptor}; the caller sets them on the class. */
static PyObject *
install(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyType_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "install(cls, cfg)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    PyObject *cfg = args[1], *tmp = NULL;
    for (int k = 0; k < O_COUNT; k++)
        if ((Off[k] = member_offset(cls, SlotNames[k])) < 0)
            return NULL;
    if (take(cfg, "SubmitResult", &tmp) < 0)
        return NULL;
    Py_XSETREF(SubmitResultType, (PyTypeObject *)tmp);
    tmp = NULL;
    if (take(cfg, "CancelResult", &tmp) < 0)
        return NULL;
    Py_XSETREF(CancelResultType, (PyTypeObject *)tmp);
    tmp = NULL;
    if (take(cfg, "deque", &tmp) < 0)
        return NULL;
    Py_XSETREF(DequeType, (PyTypeObject *)tmp);
    tmp = NULL;
    if (take(cfg, "StopBook", &tmp) < 0)
        return NULL;
    Py_XSETREF(StopBookType, (PyTypeObject *)tmp);
    tmp = NULL;
    if (!PyType_Check(StopBookType) || (PendingOffset = member_offset(StopBookType, "pending")) < 0)
        return NULL;
    PyObject *side_names = NULL;
    if (take(cfg, "CANCEL_RESULTS", &CancelResults) < 0 || take(cfg, "NOT_ACTIVE", &NotActive) < 0
        || take(cfg, "SIDE_CODES", &SideCodes) < 0 || take(cfg, "stops", &StopsModule) < 0
        || take(cfg, "submit_limit", &PySubmitLimit) < 0 || take(cfg, "_match", &PyMatch) < 0
        || take(cfg, "cancel", &PyCancel) < 0 || take(cfg, "reduce", &PyReduce) < 0
        || take(cfg, "EV_REDUCE", &EvReduce) < 0 || take(cfg, "SIDE_NAMES", &side_names) < 0)
        return NULL;
    if (!PyType_Check(SubmitResultType) || !PyType_IsSubtype(SubmitResultType, &PyTuple_Type)
        || !PyType_Check(CancelResultType) || !PyType_IsSubtype(CancelResultType, &PyTuple_Type)
        || SubmitResultType->tp_basicsize != PyTuple_Type.tp_basicsize
        || CancelResultType->tp_basicsize != PyTuple_Type.tp_basicsize || !PyType_Check(DequeType)
        || !PyDict_CheckExact(CancelResults) || !PyDict_CheckExact(SideCodes) || !PyTuple_CheckExact(side_names)
        || PyTuple_GET_SIZE(side_names) != 2) {
        Py_XDECREF(side_names);
        PyErr_SetString(PyExc_TypeError, "install(): unexpected configuration");
        return NULL;
    }
    for (int i = 0; i < 2; i++)
        Py_XSETREF(SideNames[i], Py_NewRef(PyTuple_GET_ITEM(side_names, i)));
    for (int i = 0; i < N_SHARED_CANCELS; i++) {
        PyObject *key = PyLong_FromLong(i);
        PyObject *v = key == NULL ? NULL : PyDict_GetItemWithError(CancelResults, key);
        Py_XDECREF(key);
        if (v == NULL && PyErr_Occurred()) {
            Py_DECREF(side_names);
            return NULL;
        }
        Py_XSETREF(SharedCancels[i], Py_XNewRef(v));
    }
    Py_DECREF(side_names);
    if ((DequeAppend = deque_method((PyObject *)DequeType, "append", METH_O)) == NULL
        || (DequePopleft = deque_method((PyObject *)DequeType, "popleft", METH_NOARGS)) == NULL)
        return NULL;
    Py_XSETREF(ExchangeType, (PyTypeObject *)Py_NewRef(cls));
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    for (PyMethodDef *def = ExchangeMethods; def->ml_name != NULL; def++) {
        PyObject *descr = PyDescr_NewMethod(cls, def);
        if (descr == NULL || PyDict_SetItemString(out, def->ml_name, descr) < 0) {
            Py_XDECREF(descr);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(descr);
    }
    return out;
}

/* ------------------------------------------------------------------ ITCH replay through Exchange books */

/* `ExchangeReconstructor.run_frames` (engine/lob/itch/exchange_books.py) hands whole validated frame blocks to
 * apply_itch: the same operations, counters and Exchange calls as its Python `run` (the reference), with the
 * Exchange methods called straight through their C versions above. It holds no state of its own either. */

static PyTypeObject *ItchBookType;  /* ExchangeBook */
static Py_ssize_t ItchBookExOff;    /* its `exchange` slot */

typedef struct {
    int64_t adds, execs, exec_sh, cancels, cancel_sh, deletes, replaces, trades, trade_sh;
    int64_t unknown, dup, crossed, negative, regress, skipped;
} Tally;

/* Per-locate running timestamp maxima, loaded from and written back to the reconstructor's `_locate_ts`. One per
 * call, not static: `book_for` runs Python code, so another thread may enter apply_itch meanwhile. */
typedef struct {
    int64_t ts[65536];
    uint8_t seen[65536];  /* 1: loaded from the dict, 2: changed here */
    uint16_t touched[65536];
} TsState;

static const uint8_t FrameLen[256] = {
    ['A'] = 36, ['F'] = 40, ['E'] = 31, ['C'] = 36, ['X'] = 23, ['D'] = 19, ['U'] = 35, ['P'] = 44, ['R'] = 39,
};

static inline uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

typedef PyObject *(*ExMethod)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);

static PyObject *
book_exchange(PyObject *book)  /* borrowed: the ExchangeBook's Exchange */
{
    PyObject *ex = Py_IS_TYPE(book, ItchBookType) ? *(PyObject **)((char *)book + ItchBookExOff) : NULL;
    if (ex == NULL || !Py_IS_TYPE(ex, ExchangeType)) {
        PyErr_SetString(PyExc_TypeError, "apply_itch(): a book is not an ExchangeBook holding an Exchange");
        return NULL;
    }
    return ex;
}

static int
call_ex(ExMethod fn, PyObject *ex, PyObject *const *args, Py_ssize_t n)  /* result dropped */
{
    PyObject *r = fn(ex, args, n, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int
check_entry(PyObject *o)  /* an `_orders` entry: (book, is_buy, order id or None) */
{
    if (PyTuple_CheckExact(o) && PyTuple_GET_SIZE(o) == 3)
        return 0;
    PyErr_SetString(PyExc_TypeError, "apply_itch(): unexpected order entry");
    return -1;
}

/* Take an entry's order off its book: forget a kept-off add, else cancel it on its Exchange. */
static int
drop_entry(PyObject *ghosts, PyObject *ref, PyObject *entry)
{
    PyObject *oid = PyTuple_GET_ITEM(entry, 2);
    if (oid == Py_None)
        return PyDict_DelItem(ghosts, ref);
    PyObject *ex = book_exchange(PyTuple_GET_ITEM(entry, 0));
    return ex == NULL ? -1 : call_ex(ex_cancel, ex, &oid, 1);
}

/* skipped_symbol when the locate is known and has no book, else unknown_refs. */
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

/* Rest an order under `ref` (a duplicate ref replaces the old order); an add at or through the opposite best would
 * trade inside the Exchange, so it is counted and kept off the book with its shares remembered. */
static int
add_order(PyObject *orders, PyObject *ghosts, PyObject *book, int buy, PyObject *ref, uint32_t shares,
          uint32_t price, Tally *c)
{
    PyObject *o = PyDict_GetItemWithError(orders, ref);
    if (o == NULL && PyErr_Occurred())
        return -1;
    if (o != NULL) {
        c->dup++;
        Py_INCREF(o);
        int bad = check_entry(o) < 0 || drop_entry(ghosts, ref, o) < 0;
        Py_DECREF(o);
        if (bad)
            return -1;
    }
    PyObject *ex = book_exchange(book), *bbo;
    if (ex == NULL)
        return -1;
    if ((bbo = SLOT(ex, O_bbo)) == NULL || !PyTuple_CheckExact(bbo) || PyTuple_GET_SIZE(bbo) != 2) {
        corrupt("best bid/ask");
        return -1;
    }
    PyObject *opp = PyTuple_GET_ITEM(bbo, buy ? 1 : 0);
    int crossed = 0;
    if (opp != Py_None) {
        i128 best;
        if (as_i128(opp, &best) < 0)
            return -1;
        crossed = buy ? (i128)price >= best : (i128)price <= best;
    }
    int rc = -1;
    PyObject *sh = PyLong_FromUnsignedLong(shares), *px = NULL, *oid = NULL, *entry = NULL;
    if (sh == NULL)
        goto out;
    if (crossed) {
        c->crossed++;
        oid = Py_NewRef(Py_None);
        if (PyDict_SetItem(ghosts, ref, sh) < 0)
            goto out;
    }
    else {
        if ((px = PyLong_FromUnsignedLong(price)) == NULL)
            goto out;
        PyObject *args[3] = {buy ? K_buy : K_sell, px, sh};
        PyObject *res = ex_submit_limit(ex, args, 3, NULL);
        if (res == NULL)
            goto out;
        oid = PySequence_GetItem(res, 0);
        Py_DECREF(res);
        if (oid == NULL)
            goto out;
    }
    entry = PyTuple_Pack(3, book, buy ? Py_True : Py_False, oid);
    if (entry == NULL)
        goto out;
    /* Hundreds of thousands of these live at once and the cyclic GC rescanning them cost more than the whole
     * loop. No cycle can pass through one: only the ref table refers to it and the book never refers back. */
    untrack(entry);
    if (PyDict_SetItem(orders, ref, entry) == 0)
        rc = 0;
out:
    Py_XDECREF(sh);
    Py_XDECREF(px);
    Py_XDECREF(oid);
    Py_XDECREF(entry);
    return rc;
}

/* Execute (E, C) or partially cancel (X) the order of entry `o` by `shares`; it leaves at zero or below. */
static int
reduce_entry(PyObject *orders, PyObject *ghosts, PyObject *ref, PyObject *o, uint32_t shares, Tally *c)
{
    PyObject *oid = PyTuple_GET_ITEM(o, 2), *g, *r, *q;
    i128 left, have;
    if (oid == Py_None) {
        if ((g = PyDict_GetItemWithError(ghosts, ref)) == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, ref);
            return -1;
        }
        if (as_i128(g, &have) < 0)
            return -1;
        left = have - shares;
        if (left > 0) {
            if ((q = from_i128(left)) == NULL)
                return -1;
            int rc = PyDict_SetItem(ghosts, ref, q);
            Py_DECREF(q);
            return rc;
        }
        if (PyDict_DelItem(ghosts, ref) < 0)
            return -1;
    }
    else {
        PyObject *ex = book_exchange(PyTuple_GET_ITEM(o, 0)), *recs;
        if (ex == NULL)
            return -1;
        if ((recs = SLOT(ex, O_orders)) == NULL || !PyDict_CheckExact(recs)
            || (r = PyDict_GetItemWithError(recs, oid)) == NULL || !PyTuple_CheckExact(r)
            || PyTuple_GET_SIZE(r) != R_LEN) {
            if (!PyErr_Occurred())
                corrupt("order record");
            return -1;
        }
        if (as_i128(PyTuple_GET_ITEM(r, R_REM), &have) < 0)  /* resting, so > 0 (0: a zero-share add) */
            return -1;
        left = have - shares;
        i128 by = left > 0 ? shares : have;  /* an overdraw reduces to zero: the order leaves either way */
        if (by) {
            if ((q = from_i128(by)) == NULL)
                return -1;
            PyObject *args[2] = {oid, q};
            int rc = call_ex(ex_reduce, ex, args, 2);
            Py_DECREF(q);
            if (rc < 0)
                return -1;
        }
        if (left > 0)
            return 0;
    }
    if (left < 0)
        c->negative++;
    return PyDict_DelItem(orders, ref);
}

/* One book message at type byte `m`; 0 ok, -1 error. */
static int
apply_one(PyObject *orders, PyObject *ghosts, PyObject *by_locate, PyObject *book_for, PyObject *bufobj,
          const uint8_t *b, Py_ssize_t m, uint8_t t, uint16_t locv, Tally *c)
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
    if (t == 'A' || t == 'F') {
        book = PyDict_GetItemWithError(by_locate, loc);
        if (book == NULL) {
            if (PyErr_Occurred())
                goto out;
            book = PyObject_CallFunction(book_for, "OOni", loc, bufobj, m, 24);
            if (book == NULL)
                goto out;
        }
        else {
            Py_INCREF(book);
        }
        if (book == Py_None) {
            c->skipped++;
            rc = 0;
            goto out;
        }
        c->adds++;
        rc = add_order(orders, ghosts, book, b[m + 19] == 'B', ref, (uint32_t)be(b + m + 20, 4),
                       (uint32_t)be(b + m + 32, 4), c);
        goto out;
    }
    o = PyDict_GetItemWithError(orders, ref);
    if (o == NULL && PyErr_Occurred())
        goto out;
    Py_XINCREF(o);
    if (o != NULL && check_entry(o) < 0)
        goto out;
    if (o == NULL) {
        if (t == 'U' || t == 'D' || t == 'E' || t == 'C' || t == 'X')
            rc = count_missing(by_locate, loc, c);
        else
            rc = 0;
        goto out;
    }
    if (t == 'U' || t == 'D') {
        if (PyDict_DelItem(orders, ref) < 0)
            goto out;
        if (t == 'D')
            c->deletes++;
        else
            c->replaces++;
        if (drop_entry(ghosts, ref, o) < 0)
            goto out;
        if (t == 'D') {
            rc = 0;
            goto out;
        }
        Py_SETREF(ref, PyLong_FromUnsignedLongLong(be(b + m + 19, 8)));
        if (ref != NULL)
            rc = add_order(orders, ghosts, PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1) == Py_True, ref,
                           (uint32_t)be(b + m + 27, 4), (uint32_t)be(b + m + 31, 4), c);
        goto out;
    }
    uint32_t shares = (uint32_t)be(b + m + 19, 4);
    if (t == 'X') {
        c->cancels++;
        c->cancel_sh += shares;
    }
    else {
        c->execs++;
        c->exec_sh += shares;
    }
    rc = reduce_entry(orders, ghosts, ref, o, shares, c);
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
            PyErr_SetString(PyExc_ValueError, "apply_itch(): locate out of range");
            return -1;
        }
        st->ts[kk] = vv;
        st->seen[kk] = 1;
    }
    return 0;
}

/* Write the running maxima back (first-change order, as the Python loop inserts them), even after an error. */
static int
store_ts(PyObject *locate_ts, TsState *st, Py_ssize_t ntouched)
{
    int err = 0;
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
    return err ? -1 : 0;
}

/* apply_itch(orders, ghosts, by_locate, locate_ts, book_for, buf, offsets, types, first_ts)
 *   -> (first_ts, counter deltas in book._COUNTER_NAMES order) */
static PyObject *
apply_itch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (ItchBookType == NULL || ExchangeType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "apply_itch(): install() and bind_itch() were not called");
        return NULL;
    }
    if (nargs != 9 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) || !PyDict_CheckExact(args[2])
        || !PyDict_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_itch(orders, ghosts, by_locate, locate_ts, book_for, buf, offsets, types, first_ts)");
        return NULL;
    }
    PyObject *orders = args[0], *ghosts = args[1], *by_locate = args[2], *locate_ts = args[3], *book_for = args[4];
    PyObject *bufobj = args[5];
    int have_first = args[8] != Py_None;
    long long first = 0;
    if (have_first && (first = PyLong_AsLongLong(args[8])) == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view, ov, tv;
    if (PyObject_GetBuffer(bufobj, &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[6], &ov, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (PyObject_GetBuffer(args[7], &tv, PyBUF_C_CONTIGUOUS) < 0) {
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
        PyErr_SetString(PyExc_ValueError, "apply_itch(): offsets must be int64 and as many as the uint8 types");
        goto release;
    }
    if ((st = PyMem_Calloc(1, sizeof(TsState))) == NULL) {
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
            PyErr_SetString(PyExc_ValueError, "apply_itch(): frame outside the buffer");
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
        }
        else {
            if (st->seen[loc] != 2)
                st->touched[ntouched++] = loc;
            st->ts[loc] = ts;
            st->seen[loc] = 2;
        }
        if (apply_one(orders, ghosts, by_locate, book_for, bufobj, b, m, t, loc, &c) < 0) {
            err = 1;
            break;
        }
    }
    if (store_ts(locate_ts, st, ntouched) < 0)
        err = 1;
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

/* bind_itch(book_cls): the ExchangeBook class whose `exchange` slot apply_itch reads (after install()). */
static PyObject *
bind_itch(PyObject *module, PyObject *cls)
{
    (void)module;
    if (ExchangeType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "bind_itch(): install() was not called");
        return NULL;
    }
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "bind_itch(cls)");
        return NULL;
    }
    Py_ssize_t off = member_offset((PyTypeObject *)cls, "exchange");
    if (off < 0)
        return NULL;
    ItchBookExOff = off;
    Py_XSETREF(ItchBookType, (PyTypeObject *)Py_NewRef(cls));
    Py_RETURN_NONE;
}

static PyMethodDef ModuleMethods[] = {
    {"install", (PyCFunction)(void (*)(void))install, METH_FASTCALL,
     "install(cls, cfg) -> {name: method}: C versions of submit_limit, _match, cancel and reduce for `cls`."},
    {"bind_itch", (PyCFunction)bind_itch, METH_O,
     "bind_itch(book_cls): the ExchangeBook class apply_itch reads Exchanges from (after install())."},
    {"apply_itch", (PyCFunction)(void (*)(void))apply_itch, METH_FASTCALL,
     "apply_itch(orders, ghosts, by_locate, locate_ts, book_for, buf, offsets, types, first_ts) -> "
     "(first_ts, counters): ITCH frames through one Exchange per symbol."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef AccelModule = {
    PyModuleDef_HEAD_INIT, "engine.lob._accel",
    "C hot paths (submit_limit, _match, cancel, reduce) over the pure-Python Exchange's own data structures.", -1,
    ModuleMethods, NULL, NULL, NULL, NULL,
};

#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) \
        return NULL;

PyMODINIT_FUNC
PyInit__accel(void)
{
    INTERN(S_New, "New");
    INTERN(S_Partial, "PartiallyFilled");
    INTERN(S_Filled, "Filled");
    INTERN(S_Cancelled, "Cancelled");
    INTERN(K_gtc, "gtc");
    INTERN(K_buy, "buy");
    INTERN(K_sell, "sell");
    INTERN(K_off, "off");
    INTERN(K_tif, "tif");
    INTERN(K_owner, "owner");
    INTERN(K_stp_policy, "stp_policy");
    INTERN(K_log, "log");
    INTERN(K_fire_stops, "fire_stops");
    INTERN(K_pending, "pending");
    INTERN(K_process_triggers, "process_triggers");
    INTERN(K_cancel, "cancel");
    INTERN(K_append, "append");
    INTERN(K_popleft, "popleft");
    if ((EmptyTuple = PyTuple_New(0)) == NULL)
        return NULL;
    for (int i = 0; i < 4; i++)
        if ((Int[i] = PyLong_FromLong(i)) == NULL)
            return NULL;
    return PyModule_Create(&AccelModule);
}
