/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "string-util.h"
#include "wayland-filter.h"

/* Opcodes, from /usr/share/wayland/wayland.xml and stable/xdg-shell/xdg-shell.xml. */
#define WL_DISPLAY_ID 1u
#define WL_DISPLAY_GET_REGISTRY 1u     /* request: new_id registry */
#define WL_DISPLAY_DELETE_ID 1u        /* event: uint id */
#define WL_REGISTRY_BIND 0u            /* request: uint name, new_id (string interface, uint version, id) */
#define WL_REGISTRY_GLOBAL 0u          /* event: uint name, string interface, uint version */
#define WL_REGISTRY_GLOBAL_REMOVE 1u   /* event: uint name */
#define XDG_WM_BASE_GET_XDG_SURFACE 2u /* request: new_id xdg_surface, object wl_surface */
#define XDG_SURFACE_GET_TOPLEVEL 1u    /* request: new_id xdg_toplevel */
#define XDG_TOPLEVEL_SET_TITLE 2u      /* request: string title */
#define XDG_TOPLEVEL_SET_APP_ID 3u     /* request: string app_id */

#define HEADER_SIZE 8u
#define ALIGN4(n) (((n) + 3u) & ~(size_t) 3u)

/* The globals a container may bind (docs/design/sommelier.md says why each one is safe). Sorted
 * for bsearch(). Everything else is hidden: screen capture, clipboard without focus, input
 * injection, shell surfaces above other windows, session lock, other clients' windows, outputs'
 * configuration. */
const char *const wayland_filter_allowed_interfaces[] = {
        "gtk_primary_selection_device_manager",
        "wl_compositor",
        "wl_data_device_manager",
        "wl_output",
        "wl_seat",
        "wl_shm",
        "wl_subcompositor",
        "wp_fractional_scale_manager_v1",
        "wp_presentation",
        "wp_single_pixel_buffer_manager_v1",
        "wp_viewporter",
        "xdg_activation_v1",
        "xdg_wm_base",
        "zwp_idle_inhibit_manager_v1",
        "zwp_linux_dmabuf_v1",
        "zwp_pointer_constraints_v1",
        "zwp_pointer_gestures_v1",
        "zwp_primary_selection_device_manager_v1",
        "zwp_relative_pointer_manager_v1",
        "zwp_tablet_manager_v2",
        "zwp_text_input_manager_v3",
        "zxdg_decoration_manager_v1",
        "zxdg_exporter_v1",
        "zxdg_exporter_v2",
        "zxdg_importer_v1",
        "zxdg_importer_v2",
        "zxdg_output_manager_v1",
        NULL,
};

typedef enum ObjectType {
        OBJECT_NONE,
        OBJECT_REGISTRY,
        OBJECT_WM_BASE,
        OBJECT_XDG_SURFACE,
        OBJECT_TOPLEVEL,
} ObjectType;

/* One slot of the open-addressing map of tracked ids; id 0 is an empty slot. */
typedef struct ObjectSlot {
        uint32_t id;
        uint32_t type;
} ObjectSlot;

typedef struct Global {
        uint32_t name;
        uint32_t version;
        const char *interface; /* an entry of wayland_filter_allowed_interfaces */
        bool removed;          /* a bind may still race with the removal: the compositor handles it */
} Global;

typedef enum Direction {
        DIRECTION_CLIENT, /* requests: container -> compositor */
        DIRECTION_SERVER, /* events: compositor -> container */
        _DIRECTION_MAX,
} Direction;

/* What happens to one message. */
typedef enum Verdict {
        VERDICT_PASS,    /* sent on unchanged */
        VERDICT_DROP,    /* not sent */
        VERDICT_REPLACE, /* f->scratch is sent instead */
} Verdict;

struct WaylandFilter {
        WindowMark mark;
        char container[WAYLAND_FILTER_CONTAINER_MAX + 1];

        ObjectSlot *objects; /* capacity is 1 << (32 - objects_shift) slots, at most half full */
        unsigned objects_shift;
        size_t n_objects;

        Global *globals;
        size_t n_globals;

        uint8_t partial[_DIRECTION_MAX][WAYLAND_MESSAGE_MAX];
        size_t n_partial[_DIRECTION_MAX];

        /* A rewritten message, or a message and the one injected after it. */
        uint8_t scratch[2 * WAYLAND_MESSAGE_MAX];
        size_t n_scratch;

        int error; /* once set, every call fails with it */
        const char *violation;
};

static uint32_t read_u32(const uint8_t *p) {
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static void write_u32(uint8_t *p, uint32_t v) {
        memcpy(p, &v, sizeof(v));
}

static int violation(WaylandFilter *f, const char *why) {
        f->violation = why;
        return -EPROTO;
}

/* The allowlist's own copy of interface, or NULL. */
static const char *allowed_name(const char *interface) {
        size_t lo = 0, hi = ELEMENTSOF(wayland_filter_allowed_interfaces) - 1;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(interface, wayland_filter_allowed_interfaces[mid]);

                if (c == 0)
                        return wayland_filter_allowed_interfaces[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

bool wayland_filter_interface_allowed(const char *interface) {
        return allowed_name(interface) != NULL;
}

/* ---- tracked objects ---- */

static size_t object_slot(const WaylandFilter *f, uint32_t id) {
        return (uint32_t) (id * 0x9E3779B1u) >> f->objects_shift;
}

static size_t objects_mask(const WaylandFilter *f) {
        return ((size_t) 1 << (32 - f->objects_shift)) - 1;
}

static ObjectType object_get(const WaylandFilter *f, uint32_t id) {
        size_t mask = objects_mask(f);

        if (f->n_objects == 0 || id == 0)
                return OBJECT_NONE;
        for (size_t i = object_slot(f, id);; i = (i + 1) & mask) {
                if (f->objects[i].id == id)
                        return f->objects[i].type;
                if (f->objects[i].id == 0)
                        return OBJECT_NONE;
        }
}

static void object_put(WaylandFilter *f, uint32_t id, ObjectType type) {
        size_t mask = objects_mask(f), i;

        for (i = object_slot(f, id); f->objects[i].id != 0; i = (i + 1) & mask)
                ;
        f->objects[i] = (ObjectSlot){ .id = id, .type = type };
        f->n_objects++;
}

static int objects_grow(WaylandFilter *f) {
        ObjectSlot *old = f->objects;
        size_t n_old = objects_mask(f) + 1;
        ObjectSlot *n;

        n = new0(ObjectSlot, n_old * 2);
        if (!n)
                return -ENOMEM;
        f->objects = n;
        f->objects_shift--;
        f->n_objects = 0;
        for (size_t i = 0; i < n_old; i++)
                if (old[i].id != 0)
                        object_put(f, old[i].id, old[i].type);
        free(old);
        return 0;
}

/* A new id the client chose: in its range and not one of ours that is still alive. */
static int new_id_check(WaylandFilter *f, uint32_t id) {
        if (id <= WL_DISPLAY_ID || id >= WAYLAND_SERVER_ID_START)
                return violation(f, "a new object id out of the client's range");
        if (object_get(f, id) != OBJECT_NONE)
                return violation(f, "a new object id that is still in use");
        return 0;
}

/* A new id the client chose for an object we track. */
static int object_add(WaylandFilter *f, uint32_t id, ObjectType type) {
        int r;

        r = new_id_check(f, id);
        if (r < 0)
                return r;
        if (f->n_objects >= WAYLAND_FILTER_OBJECTS_MAX)
                return violation(f, "too many objects");
        if ((f->n_objects + 1) * 2 > objects_mask(f) + 1) {
                r = objects_grow(f);
                if (r < 0)
                        return r;
        }
        object_put(f, id, type);
        return 0;
}

/* wl_display.delete_id: the id is free again (backward-shift deletion keeps probes short). */
static void object_forget(WaylandFilter *f, uint32_t id) {
        size_t mask = objects_mask(f), i, j;

        if (f->n_objects == 0 || id == 0)
                return;
        for (i = object_slot(f, id); f->objects[i].id != id; i = (i + 1) & mask)
                if (f->objects[i].id == 0)
                        return;
        for (j = i;;) {
                size_t k;

                j = (j + 1) & mask;
                if (f->objects[j].id == 0)
                        break;
                k = object_slot(f, f->objects[j].id);
                /* The entry at j may move to i unless its home slot lies cyclically in (i, j]. */
                if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
                        f->objects[i] = f->objects[j];
                        i = j;
                }
        }
        f->objects[i] = (ObjectSlot){};
        f->n_objects--;
}

/* ---- advertised globals ---- */

static Global *global_find(WaylandFilter *f, uint32_t name) {
        for (size_t i = 0; i < f->n_globals; i++)
                if (f->globals[i].name == name)
                        return f->globals + i;
        return NULL;
}

static int global_add(WaylandFilter *f, uint32_t name, const char *interface, uint32_t version) {
        Global *g = global_find(f, name);

        if (!g) {
                if (f->n_globals >= WAYLAND_FILTER_GLOBALS_MAX) {
                        /* Forget removed globals first: only a bind racing the removal needs them. */
                        size_t k = 0;

                        for (size_t i = 0; i < f->n_globals; i++)
                                if (!f->globals[i].removed)
                                        f->globals[k++] = f->globals[i];
                        f->n_globals = k;
                        if (k >= WAYLAND_FILTER_GLOBALS_MAX)
                                return violation(f, "too many globals");
                }
                g = f->globals + f->n_globals++;
        }
        *g = (Global){ .name = name, .interface = interface, .version = version };
        return 0;
}

/* ---- arguments ---- */

typedef struct Reader {
        const uint8_t *p;
        size_t size;
        size_t off;
} Reader;

static int reader_u32(Reader *r, uint32_t *ret) {
        if (r->size - r->off < 4)
                return -EPROTO;
        *ret = read_u32(r->p + r->off);
        r->off += 4;
        return 0;
}

/* A string argument: *ret points into the message (NULL for a null string), *ret_len is its length
 * without the NUL. Refuses a string that does not end where its length says. */
static int reader_string(Reader *r, const char **ret, size_t *ret_len) {
        uint32_t len;
        size_t padded;

        if (reader_u32(r, &len) < 0)
                return -EPROTO;
        if (len == 0) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        padded = ALIGN4((size_t) len);
        if (padded > r->size - r->off || r->p[r->off + len - 1] != '\0')
                return -EPROTO;
        *ret = (const char *) r->p + r->off;
        *ret_len = len - 1;
        r->off += padded;
        return 0;
}

/* A non-null string with no NUL inside: what the compositor compares interface names with. */
static int reader_name(Reader *r, const char **ret) {
        const char *s;
        size_t n;

        if (reader_string(r, &s, &n) < 0 || !s || strlen(s) != n)
                return -EPROTO;
        *ret = s;
        return 0;
}

static Reader message_args(const uint8_t *m, size_t size) {
        return (Reader){ .p = m, .size = size, .off = HEADER_SIZE };
}

/* ---- window marks ---- */

static bool codepoint_is_hidden(uint32_t cp) {
        /* C0, DEL, C1; and the bidi embeddings, overrides and isolates, which could display the
         * container's mark reversed or elsewhere. */
        return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069);
}

/* Copies the n bytes at s into dst (room for max bytes) as valid UTF-8, each invalid byte and each
 * hidden character as U+FFFD, stopping before a character that would not fit. Returns the bytes
 * written. */
static size_t text_clean(const char *s, size_t n, char *dst, size_t max) {
        static const char replacement[] = "\xef\xbf\xbd";
        size_t w = 0;

        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len = utf8_sequence_len(s + i, n - i, &cp);
                const char *from = s + i;
                size_t out = len;

                if (len == 0 || codepoint_is_hidden(cp)) {
                        from = replacement;
                        out = sizeof(replacement) - 1;
                }
                if (out > max - w)
                        break;
                memcpy(dst + w, from, out);
                w += out;
                i += len ?: 1;
        }
        return w;
}

/* Writes a request with one string argument (len bytes at s, no NUL) at buf; returns its size. */
static size_t put_string_request(uint8_t *buf, uint32_t id, uint32_t opcode, const char *s, size_t len) {
        size_t padded = ALIGN4(len + 1), size = HEADER_SIZE + 4 + padded;

        write_u32(buf, id);
        write_u32(buf + 4, (uint32_t) size << 16 | opcode);
        write_u32(buf + 8, (uint32_t) (len + 1));
        memcpy(buf + 12, s, len);
        memset(buf + 12 + len, 0, padded - len);
        return size;
}

/* The marked title or app_id for the client's text (NULL: none yet) into buf; returns its length.
 * Only the text up to a NUL counts: that is what the compositor shows. */
static size_t mark_text(const WaylandFilter *f, uint32_t opcode, const char *text, char *buf, size_t size) {
        size_t w = 0, n = text ? strlen(text) : 0;

        if (opcode == XDG_TOPLEVEL_SET_TITLE) {
                w = text_clean(text, n, buf, WAYLAND_FILTER_TEXT_MAX);
                w += (size_t) snprintf(buf + w, size - w, w > 0 ? " (%s)" : "(%s)", f->container);
        } else {
                w = (size_t) snprintf(buf, size, "bistro.%s", f->container);
                if (n > 0) {
                        buf[w++] = '.';
                        w += text_clean(text, n, buf + w, WAYLAND_FILTER_TEXT_MAX);
                }
        }
        return w;
}

static uint32_t mark_opcode(const WaylandFilter *f) {
        return f->mark == WINDOW_MARK_TITLE ? XDG_TOPLEVEL_SET_TITLE : XDG_TOPLEVEL_SET_APP_ID;
}

/* ---- requests ---- */

static int on_get_registry(WaylandFilter *f, const uint8_t *m, size_t size) {
        Reader a = message_args(m, size);
        uint32_t id;
        int r;

        if (reader_u32(&a, &id) < 0 || a.off != size)
                return violation(f, "a malformed wl_display.get_registry");
        r = object_add(f, id, OBJECT_REGISTRY);
        return r < 0 ? r : VERDICT_PASS;
}

static int on_bind(WaylandFilter *f, const uint8_t *m, size_t size, uint32_t opcode) {
        Reader a = message_args(m, size);
        uint32_t name, version, id;
        const char *interface;
        const Global *g;
        int r;

        if (opcode != WL_REGISTRY_BIND)
                return violation(f, "an unknown wl_registry request");
        if (reader_u32(&a, &name) < 0 || reader_name(&a, &interface) < 0 || reader_u32(&a, &version) < 0 ||
            reader_u32(&a, &id) < 0 || a.off != size)
                return violation(f, "a malformed wl_registry.bind");
        g = global_find(f, name);
        if (!g)
                return violation(f, "a bind to a global that was not advertised");
        if (!streq(interface, g->interface))
                return violation(f, "a bind with another interface than the global's");
        if (version == 0 || version > g->version)
                return violation(f, "a bind with a version the global does not have");
        r = streq(g->interface, "xdg_wm_base") ? object_add(f, id, OBJECT_WM_BASE) : new_id_check(f, id);
        return r < 0 ? r : VERDICT_PASS;
}

/* A request whose only or first argument is a new id we track. */
static int on_new_object(WaylandFilter *f, const uint8_t *m, size_t size, size_t n_args, ObjectType type) {
        char text[WAYLAND_MESSAGE_MAX];
        uint32_t id;
        size_t n;
        int r;

        if (size != HEADER_SIZE + 4 * n_args)
                return violation(f, "a malformed xdg_wm_base or xdg_surface request");
        id = read_u32(m + HEADER_SIZE);
        r = object_add(f, id, type);
        if (r < 0)
                return r;
        if (type != OBJECT_TOPLEVEL || f->mark == WINDOW_MARK_NONE)
                return VERDICT_PASS;

        /* A window that never sets a title or app_id is marked too: the mark goes right after
         * get_toplevel, before anything the client can send. */
        n = mark_text(f, mark_opcode(f), NULL, text, sizeof(text));

        memcpy(f->scratch, m, size);
        f->n_scratch = size + put_string_request(f->scratch + size, id, mark_opcode(f), text, n);
        return VERDICT_REPLACE;
}

static int on_toplevel(WaylandFilter *f, const uint8_t *m, size_t size, uint32_t opcode) {
        Reader a = message_args(m, size);
        char text[WAYLAND_MESSAGE_MAX];
        const char *s;
        size_t n;

        if (opcode != XDG_TOPLEVEL_SET_TITLE && opcode != XDG_TOPLEVEL_SET_APP_ID)
                return VERDICT_PASS;
        if (reader_string(&a, &s, &n) < 0 || !s || a.off != size)
                return violation(f, "a malformed xdg_toplevel.set_title or set_app_id");
        if (f->mark == WINDOW_MARK_NONE || opcode != mark_opcode(f))
                return VERDICT_PASS;

        n = mark_text(f, opcode, s, text, sizeof(text));
        f->n_scratch = put_string_request(f->scratch, read_u32(m), opcode, text, n);
        return VERDICT_REPLACE;
}

static int client_message(WaylandFilter *f, const uint8_t *m, size_t size) {
        uint32_t id = read_u32(m), opcode = read_u32(m + 4) & 0xffffu;

        if (id == WL_DISPLAY_ID)
                return opcode == WL_DISPLAY_GET_REGISTRY ? on_get_registry(f, m, size) : VERDICT_PASS;

        switch (object_get(f, id)) {
        case OBJECT_REGISTRY:
                return on_bind(f, m, size, opcode);
        case OBJECT_WM_BASE:
                return opcode == XDG_WM_BASE_GET_XDG_SURFACE
                               ? on_new_object(f, m, size, 2, OBJECT_XDG_SURFACE)
                               : VERDICT_PASS;
        case OBJECT_XDG_SURFACE:
                return opcode == XDG_SURFACE_GET_TOPLEVEL ? on_new_object(f, m, size, 1, OBJECT_TOPLEVEL)
                                                          : VERDICT_PASS;
        case OBJECT_TOPLEVEL:
                return on_toplevel(f, m, size, opcode);
        case OBJECT_NONE:
                break;
        }
        return VERDICT_PASS;
}

/* ---- events ---- */

static int on_registry_event(WaylandFilter *f, const uint8_t *m, size_t size, uint32_t opcode) {
        Reader a = message_args(m, size);
        uint32_t name, version;
        const char *interface, *allowed;
        Global *g;
        int r;

        switch (opcode) {
        case WL_REGISTRY_GLOBAL:
                if (reader_u32(&a, &name) < 0 || reader_name(&a, &interface) < 0 ||
                    reader_u32(&a, &version) < 0 || a.off != size)
                        return violation(f, "a malformed wl_registry.global");
                allowed = allowed_name(interface);
                if (!allowed)
                        return VERDICT_DROP;
                r = global_add(f, name, allowed, version);
                return r < 0 ? r : VERDICT_PASS;

        case WL_REGISTRY_GLOBAL_REMOVE:
                if (reader_u32(&a, &name) < 0 || a.off != size)
                        return violation(f, "a malformed wl_registry.global_remove");
                g = global_find(f, name);
                if (!g)
                        return VERDICT_DROP;
                g->removed = true;
                return VERDICT_PASS;
        }
        return violation(f, "an unknown wl_registry event");
}

static int server_message(WaylandFilter *f, const uint8_t *m, size_t size) {
        uint32_t id = read_u32(m), opcode = read_u32(m + 4) & 0xffffu;

        if (id == WL_DISPLAY_ID) {
                if (opcode != WL_DISPLAY_DELETE_ID)
                        return VERDICT_PASS;
                if (size != HEADER_SIZE + 4)
                        return violation(f, "a malformed wl_display.delete_id");
                object_forget(f, read_u32(m + HEADER_SIZE));
                return VERDICT_PASS;
        }
        if (object_get(f, id) == OBJECT_REGISTRY)
                return on_registry_event(f, m, size, opcode);
        return VERDICT_PASS;
}

/* ---- the stream ---- */

/* The size of the message whose header is at p. */
static int message_size(WaylandFilter *f, const uint8_t *p, size_t *ret) {
        size_t size = read_u32(p + 4) >> 16;

        if (size < HEADER_SIZE || size % 4 != 0 || size > WAYLAND_MESSAGE_MAX)
                return violation(f, "a message with an invalid size");
        *ret = size;
        return 0;
}

static int emit(WaylandFilter *f, Direction d, const uint8_t *m, size_t size, Buffer *out) {
        int v = d == DIRECTION_CLIENT ? client_message(f, m, size) : server_message(f, m, size);

        if (v < 0)
                return v;
        if (v == VERDICT_PASS)
                return buffer_append(out, m, size);
        if (v == VERDICT_REPLACE)
                return buffer_append(out, f->scratch, f->n_scratch);
        return 0;
}

/* Completes the message kept from the last call with bytes from *p; consumes what it takes. */
static int feed_partial(WaylandFilter *f, Direction d, const uint8_t **p, size_t *n, Buffer *out) {
        uint8_t *m = f->partial[d];
        size_t *have = &f->n_partial[d], size, k;
        int r;

        if (*have < HEADER_SIZE) {
                k = MIN(HEADER_SIZE - *have, *n);
                memcpy(m + *have, *p, k);
                *have += k, *p += k, *n -= k;
                if (*have < HEADER_SIZE)
                        return 0;
        }
        r = message_size(f, m, &size);
        if (r < 0)
                return r;
        k = MIN(size - *have, *n);
        memcpy(m + *have, *p, k);
        *have += k, *p += k, *n -= k;
        if (*have < size)
                return 0;
        *have = 0;
        return emit(f, d, m, size, out);
}

static int feed(WaylandFilter *f, Direction d, const uint8_t *p, size_t n, Buffer *out) {
        const uint8_t *run;
        int r;

        if (f->error < 0)
                return f->error;

        if (f->n_partial[d] > 0) {
                r = feed_partial(f, d, &p, &n, out);
                if (r < 0)
                        return (f->error = r);
                if (f->n_partial[d] > 0)
                        return 0;
        }

        /* Whole messages are judged in place; a run of messages that pass is copied at once. */
        run = p;
        while (n >= HEADER_SIZE) {
                size_t size;
                int v;

                r = message_size(f, p, &size);
                if (r < 0)
                        return (f->error = r);
                if (size > n)
                        break;
                v = d == DIRECTION_CLIENT ? client_message(f, p, size) : server_message(f, p, size);
                if (v < 0)
                        return (f->error = v);
                if (v != VERDICT_PASS) {
                        r = buffer_append(out, run, (size_t) (p - run));
                        if (r >= 0 && v == VERDICT_REPLACE)
                                r = buffer_append(out, f->scratch, f->n_scratch);
                        if (r < 0)
                                return (f->error = r);
                        run = p + size;
                }
                p += size, n -= size;
        }
        r = buffer_append(out, run, (size_t) (p - run));
        if (r < 0)
                return (f->error = r);

        memcpy(f->partial[d], p, n);
        f->n_partial[d] = n;
        return 0;
}

int wayland_filter_client(WaylandFilter *f, const void *data, size_t size, Buffer *out) {
        return feed(f, DIRECTION_CLIENT, data, size, out);
}

int wayland_filter_server(WaylandFilter *f, const void *data, size_t size, Buffer *out) {
        return feed(f, DIRECTION_SERVER, data, size, out);
}

const char *wayland_filter_violation(const WaylandFilter *f) {
        return f->violation;
}

int wayland_filter_new(const char *container, WindowMark mark, WaylandFilter **ret) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = NULL;

        if (!name_is_valid(container, WAYLAND_FILTER_CONTAINER_MAX) || (unsigned) mark > WINDOW_MARK_NONE)
                return -EINVAL;

        f = new0(WaylandFilter, 1);
        if (!f)
                return -ENOMEM;
        f->mark = mark;
        strscpy(f->container, container, sizeof(f->container));
        f->objects_shift = 32 - 5;
        f->objects = new0(ObjectSlot, objects_mask(f) + 1);
        f->globals = new (Global, WAYLAND_FILTER_GLOBALS_MAX);
        if (!f->objects || !f->globals)
                return -ENOMEM;

        *ret = TAKE_PTR(f);
        return 0;
}

WaylandFilter *wayland_filter_free(WaylandFilter *f) {
        if (!f)
                return NULL;
        free(f->objects);
        free(f->globals);
        return mfree(f);
}
