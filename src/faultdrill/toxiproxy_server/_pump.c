/* The data path's native pump: moves bytes for links with no toxic, off the Python event loop.
 *
 * One pump per process: a thread with its own epoll. ``add(src, dst)`` takes a direction of a
 * connection and from then on every chunk readable on ``src`` is written to ``dst`` by this thread,
 * without the GIL. The caller owns both descriptors and keeps them open until ``remove()`` returns:
 * ``link.py`` hands over duplicates of the sockets that only it closes (one per socket, shared by
 * the connection's two directions), so a number the event loop closes is never reused under the pump. The pump never decides anything a Toxiproxy link would decide: on anything but plain
 * data (the peer's FIN, a reset, an error, a write that did not take the whole chunk) it stops
 * watching the direction and reports it ended, without reading further, and Python carries on
 * exactly as without the pump (``link.py``). Python reclaims a direction with ``remove(handle)``:
 * the bytes read but not yet written come back with the counters.
 *
 * Python learns of ended directions by reading ``fileno()`` (an eventfd) and calling ``ended()``,
 * which raises OSError once the thread has stopped on an error of its own (fail closed: the server
 * stops rather than leave connections that no longer move).
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define STOP_TOKEN UINT64_MAX

enum { RUNNING = 0, ENDED_EVENT = 1, ENDED_BACKLOG = 2, ENDED_ERROR = 3 };

typedef struct {
    uint32_t gen;
    int used;
    int state;
    int src, dst;              /* borrowed: the caller closes them, after remove() */
    uint64_t received, sent;   /* written by the pump thread, read under the lock */
    char *left;                /* read from src, not yet written to dst */
    size_t left_len;
} Entry;

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    int running;
    int ep, notify, stop;
    pthread_mutex_t mu;
    Entry *entries;
    uint32_t cap;
    uint32_t *free_ids;
    uint32_t free_len;
    uint32_t *ended_ids;
    uint32_t ended_len;
    char *buf;
    int error;                 /* errno of what stopped the thread, 0 while it runs */
} Pump;

static uint64_t token(uint32_t id, uint32_t gen) { return ((uint64_t)gen << 32) | id; }

static void lock(Pump *p) {
    if (pthread_mutex_trylock(&p->mu) == 0) return;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&p->mu);
    Py_END_ALLOW_THREADS
}

/* Under the lock, in the pump thread. */
static void end_entry(Pump *p, uint32_t id, int state) {
    Entry *e = &p->entries[id];
    e->state = state;
    epoll_ctl(p->ep, EPOLL_CTL_DEL, e->src, NULL);
    p->ended_ids[p->ended_len++] = id;
    uint64_t one = 1;
    ssize_t ignored = write(p->notify, &one, sizeof one);
    (void)ignored;
}

static void keep_left(Entry *e, const char *data, size_t len) {
    e->left = malloc(len);
    if (e->left != NULL) {
        memcpy(e->left, data, len);
        e->left_len = len;
    }
}

static void pump_one(Pump *p, uint32_t id, uint32_t events, char *buf) {
    Entry *e = &p->entries[id];
    if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
        end_entry(p, id, ENDED_EVENT);  /* Python reads what is left and sees the end itself */
        return;
    }
    ssize_t r = read(e->src, buf, CHUNK);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) end_entry(p, id, ENDED_EVENT);
        return;
    }
    if (r == 0) {
        end_entry(p, id, ENDED_EVENT);  /* EOF reads again as EOF: Python sees it too */
        return;
    }
    e->received += (uint64_t)r;
    ssize_t done = 0;
    while (done < r) {
        ssize_t w = write(e->dst, buf + done, (size_t)(r - done));
        if (w > 0) {
            done += w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        int state = (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ? ENDED_ERROR : ENDED_BACKLOG;
        e->sent += (uint64_t)done;
        keep_left(e, buf + done, (size_t)(r - done));
        end_entry(p, id, state);
        return;
    }
    e->sent += (uint64_t)r;
}

static void *pump_thread(void *arg) {
    Pump *p = arg;
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(p->ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            pthread_mutex_lock(&p->mu);
            p->error = errno;
            pthread_mutex_unlock(&p->mu);
            uint64_t one = 1;
            ssize_t ignored = write(p->notify, &one, sizeof one);
            (void)ignored;
            return NULL;
        }
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < n; i++) {
            uint64_t t = events[i].data.u64;
            if (t == STOP_TOKEN) {
                pthread_mutex_unlock(&p->mu);
                return NULL;
            }
            uint32_t id = (uint32_t)t, gen = (uint32_t)(t >> 32);
            if (id >= p->cap) continue;
            Entry *e = &p->entries[id];
            if (!e->used || e->gen != gen || e->state != RUNNING) continue;  /* removed meanwhile */
            pump_one(p, id, events[i].events, p->buf);
        }
        pthread_mutex_unlock(&p->mu);
    }
}

static int grow(Pump *p) {
    uint32_t cap = p->cap ? p->cap * 2 : 1024;
    Entry *entries = realloc(p->entries, sizeof(Entry) * cap);
    if (entries == NULL) return -1;
    p->entries = entries;
    uint32_t *free_ids = realloc(p->free_ids, sizeof(uint32_t) * cap);
    if (free_ids == NULL) return -1;
    p->free_ids = free_ids;
    uint32_t *ended = realloc(p->ended_ids, sizeof(uint32_t) * cap);
    if (ended == NULL) return -1;
    p->ended_ids = ended;
    memset(&p->entries[p->cap], 0, sizeof(Entry) * (cap - p->cap));
    for (uint32_t id = cap; id > p->cap; id--) p->free_ids[p->free_len++] = id - 1;
    p->cap = cap;
    return 0;
}

static int Pump_init(Pump *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist)) return -1;
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "pump already started");
        return -1;
    }
    self->ep = epoll_create1(EPOLL_CLOEXEC);
    self->notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->stop = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->ep < 0 || self->notify < 0 || self->stop < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_TOKEN};
    if (epoll_ctl(self->ep, EPOLL_CTL_ADD, self->stop, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    pthread_mutex_init(&self->mu, NULL);
    self->buf = malloc(CHUNK);
    if (self->buf == NULL || grow(self) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    if (pthread_create(&self->thread, NULL, pump_thread, self) != 0) {
        PyErr_SetString(PyExc_OSError, "cannot start the pump thread");
        return -1;
    }
    self->running = 1;
    return 0;
}

static void release(Entry *e) {
    free(e->left);
    e->left = NULL;
    e->left_len = 0;
    e->used = 0;
}

static PyObject *Pump_close(Pump *self, PyObject *Py_UNUSED(ignored)) {
    if (self->running) {
        uint64_t one = 1;
        ssize_t ignored = write(self->stop, &one, sizeof one);
        (void)ignored;
        Py_BEGIN_ALLOW_THREADS
        pthread_join(self->thread, NULL);
        Py_END_ALLOW_THREADS
        self->running = 0;
        for (uint32_t id = 0; id < self->cap; id++)
            if (self->entries[id].used) release(&self->entries[id]);
        close(self->ep);
        close(self->notify);
        close(self->stop);
        self->ep = self->notify = self->stop = -1;
    }
    Py_RETURN_NONE;
}

static void Pump_dealloc(Pump *self) {
    PyObject *r = Pump_close(self, NULL);
    Py_XDECREF(r);
    free(self->entries);
    free(self->free_ids);
    free(self->ended_ids);
    free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int closed(Pump *self) {
    if (!self->running) {
        PyErr_SetString(PyExc_ValueError, "the pump is closed");
        return 1;
    }
    return 0;
}

static PyObject *Pump_add(Pump *self, PyObject *args) {
    int s, d;
    if (!PyArg_ParseTuple(args, "ii", &s, &d) || closed(self)) return NULL;
    lock(self);
    if (self->free_len == 0 && grow(self) < 0) {
        pthread_mutex_unlock(&self->mu);
        return PyErr_NoMemory();
    }
    uint32_t id = self->free_ids[--self->free_len];
    Entry *e = &self->entries[id];
    uint32_t gen = e->gen + 1;
    memset(e, 0, sizeof *e);
    e->gen = gen;
    e->used = 1;
    e->src = s;
    e->dst = d;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = token(id, gen)};
    if (epoll_ctl(self->ep, EPOLL_CTL_ADD, s, &ev) < 0) {
        int err = errno;
        release(e);
        self->free_ids[self->free_len++] = id;
        pthread_mutex_unlock(&self->mu);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromUnsignedLongLong(token(id, gen));
}

static Entry *find(Pump *self, unsigned long long handle, uint32_t *id_out) {
    uint32_t id = (uint32_t)handle, gen = (uint32_t)(handle >> 32);
    if (id >= self->cap || !self->entries[id].used || self->entries[id].gen != gen) return NULL;
    *id_out = id;
    return &self->entries[id];
}

static PyObject *Pump_remove(Pump *self, PyObject *args) {
    unsigned long long handle;
    if (!PyArg_ParseTuple(args, "K", &handle) || closed(self)) return NULL;
    lock(self);
    uint32_t id;
    Entry *e = find(self, handle, &id);
    if (e == NULL) {
        pthread_mutex_unlock(&self->mu);
        PyErr_SetString(PyExc_KeyError, "no such pumped direction");
        return NULL;
    }
    if (e->state == RUNNING) epoll_ctl(self->ep, EPOLL_CTL_DEL, e->src, NULL);
    PyObject *left = PyBytes_FromStringAndSize(e->left ? e->left : "", (Py_ssize_t)e->left_len);
    unsigned long long received = e->received, sent = e->sent;
    int state = e->state;
    release(e);
    for (uint32_t i = 0; i < self->ended_len; i++)  /* ended and removed before Python asked */
        if (self->ended_ids[i] == id) self->ended_ids[i] = self->ended_ids[--self->ended_len];
    self->free_ids[self->free_len++] = id;
    pthread_mutex_unlock(&self->mu);
    if (left == NULL) return NULL;
    return Py_BuildValue("(NKKi)", left, received, sent, state);
}

static PyObject *Pump_ended(Pump *self, PyObject *Py_UNUSED(ignored)) {
    if (closed(self)) return NULL;
    uint64_t count;
    ssize_t ignored = read(self->notify, &count, sizeof count);
    (void)ignored;
    lock(self);
    if (self->error) {
        int err = self->error;
        pthread_mutex_unlock(&self->mu);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *list = PyList_New(0);
    for (uint32_t i = 0; list != NULL && i < self->ended_len; i++) {
        Entry *e = &self->entries[self->ended_ids[i]];
        PyObject *item = Py_BuildValue("(Ki)", (unsigned long long)token(self->ended_ids[i], e->gen), e->state);
        if (item == NULL || PyList_Append(list, item) < 0) Py_CLEAR(list);
        Py_XDECREF(item);
    }
    self->ended_len = 0;
    pthread_mutex_unlock(&self->mu);
    return list;
}

static PyObject *Pump_counts(Pump *self, PyObject *args) {
    unsigned long long handle;
    if (!PyArg_ParseTuple(args, "K", &handle) || closed(self)) return NULL;
    lock(self);
    uint32_t id;
    Entry *e = find(self, handle, &id);
    unsigned long long received = e ? e->received : 0, sent = e ? e->sent : 0;
    pthread_mutex_unlock(&self->mu);
    if (e == NULL) {
        PyErr_SetString(PyExc_KeyError, "no such pumped direction");
        return NULL;
    }
    return Py_BuildValue("(KK)", received, sent);
}

static PyObject *Pump_fileno(Pump *self, PyObject *Py_UNUSED(ignored)) {
    if (closed(self)) return NULL;
    return PyLong_FromLong(self->notify);
}

static PyObject *Pump_active(Pump *self, PyObject *Py_UNUSED(ignored)) {
    lock(self);
    long n = 0;
    for (uint32_t id = 0; id < self->cap; id++) n += self->entries[id].used;
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromLong(n);
}

static PyMethodDef Pump_methods[] = {
    {"add", (PyCFunction)Pump_add, METH_VARARGS,
     "add(src_fd, dst_fd) -> handle: pump src's bytes to dst (keep both open until remove())"},
    {"remove", (PyCFunction)Pump_remove, METH_VARARGS,
     "remove(handle) -> (unwritten bytes, received, sent, state): stop pumping (the fds are free again)"},
    {"ended", (PyCFunction)Pump_ended, METH_NOARGS,
     "ended() -> [(handle, state)]: directions that stopped on their own since the last call"},
    {"counts", (PyCFunction)Pump_counts, METH_VARARGS, "counts(handle) -> (received, sent)"},
    {"fileno", (PyCFunction)Pump_fileno, METH_NOARGS, "readable when ended() has news"},
    {"active", (PyCFunction)Pump_active, METH_NOARGS, "directions held (running or ended, not yet removed)"},
    {"close", (PyCFunction)Pump_close, METH_NOARGS, "stop the thread and forget every direction"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PumpType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "faultdrill.toxiproxy_server._pump.Pump",
    .tp_basicsize = sizeof(Pump),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A thread moving bytes between sockets for links with no toxic.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Pump_init,
    .tp_dealloc = (destructor)Pump_dealloc,
    .tp_methods = Pump_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pump", "The data path's native pump (links with no toxic).", -1, NULL,
};

PyMODINIT_FUNC PyInit__pump(void) {
    if (PyType_Ready(&PumpType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&PumpType);
    if (PyModule_AddObject(m, "Pump", (PyObject *)&PumpType) < 0) {
        Py_DECREF(&PumpType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "RUNNING", RUNNING);
    PyModule_AddIntConstant(m, "ENDED_EVENT", ENDED_EVENT);
    PyModule_AddIntConstant(m, "ENDED_BACKLOG", ENDED_BACKLOG);
    PyModule_AddIntConstant(m, "ENDED_ERROR", ENDED_ERROR);
    return m;
}
