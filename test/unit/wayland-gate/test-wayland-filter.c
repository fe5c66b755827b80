/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host's Wayland filter: hidden globals are dropped and cannot be bound, windows are marked,
 * everything else passes byte for byte, a message split anywhere gives the same output, and
 * malformed or hostile streams are refused. Messages are built by hand from the protocol XML's
 * signatures; the last test runs a real recording (foot on headless sway). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "fd-util.h"
#include "macro.h"
#include "message-type.h"
#include "wayland-filter.h"

#define REGISTRY 2u
#define WM_BASE 3u
#define SURFACE 4u
#define XDG_SURFACE 5u
#define TOPLEVEL 6u

/* A message from a signature: 'u' a uint32_t, 's' a C string (NULL: null), 'b' raw string bytes
 * (const char *, size_t n: the length field is n, the bytes are copied as they are). */
static void put(Buffer *b, uint32_t id, uint32_t opcode, const char *sig, ...) {
        size_t start = b->size, size;
        uint32_t zero = 0, word;
        va_list ap;

        assert_int_equal(buffer_append(b, &id, 4), 0);
        assert_int_equal(buffer_append(b, &zero, 4), 0);
        va_start(ap, sig);
        for (const char *c = sig; *c; c++) {
                uint32_t u, len;
                const char *s;

                switch (*c) {
                case 'u':
                        u = va_arg(ap, uint32_t);
                        assert_int_equal(buffer_append(b, &u, 4), 0);
                        break;
                case 's':
                case 'b':
                        s = va_arg(ap, const char *);
                        len = *c == 's' ? (s ? (uint32_t) strlen(s) + 1 : 0) : (uint32_t) va_arg(ap, size_t);
                        assert_int_equal(buffer_append(b, &len, 4), 0);
                        assert_int_equal(buffer_append(b, s, len), 0);
                        while ((b->size - start) % 4 != 0)
                                assert_int_equal(buffer_append(b, &zero, 1), 0);
                        break;
                default:
                        fail();
                }
        }
        va_end(ap);
        size = b->size - start;
        word = (uint32_t) size << 16 | opcode;
        memcpy(b->data + start + 4, &word, 4);
}

static WaylandFilter *filter(WindowMark mark) {
        WaylandFilter *f = NULL;

        assert_int_equal(wayland_filter_new("penguin", mark, &f), 0);
        return f;
}

static int client(WaylandFilter *f, const Buffer *in, Buffer *out) {
        return wayland_filter_client(f, in->data, in->size, out);
}

static int server(WaylandFilter *f, const Buffer *in, Buffer *out) {
        return wayland_filter_server(f, in->data, in->size, out);
}

static void assert_buffer_equal(const Buffer *a, const Buffer *b) {
        assert_int_equal(a->size, b->size);
        if (a->size > 0)
                assert_memory_equal(a->data, b->data, a->size);
}

/* Sends bytes through and checks they come out unchanged. */
static void pass(WaylandFilter *f, bool from_client, Buffer *in) {
        Buffer out = {};

        assert_int_equal(from_client ? client(f, in, &out) : server(f, in, &out), 0);
        assert_buffer_equal(in, &out);
        buffer_done(&out);
        buffer_done(in);
}

/* get_registry, then the compositor's globals: name 1 wl_compositor, 2 screencopy, 3 data control,
 * 4 xdg_wm_base, 5 wl_output (v4). */
static void setup_registry(WaylandFilter *f) {
        Buffer in = {}, out = {}, want = {};

        put(&in, 1, 1, "u", REGISTRY);
        pass(f, true, &in);

        put(&in, REGISTRY, 0, "usu", 1, "wl_compositor", 5);
        put(&in, REGISTRY, 0, "usu", 2, "zwlr_screencopy_manager_v1", 3);
        put(&in, REGISTRY, 0, "usu", 3, "zwlr_data_control_manager_v1", 2);
        put(&in, REGISTRY, 0, "usu", 4, "xdg_wm_base", 5);
        put(&in, REGISTRY, 0, "usu", 5, "wl_output", 4);
        put(&want, REGISTRY, 0, "usu", 1, "wl_compositor", 5);
        put(&want, REGISTRY, 0, "usu", 4, "xdg_wm_base", 5);
        put(&want, REGISTRY, 0, "usu", 5, "wl_output", 4);
        assert_int_equal(server(f, &in, &out), 0);
        assert_buffer_equal(&out, &want);
        buffer_done(&in);
        buffer_done(&out);
        buffer_done(&want);
}

static void test_globals(void **state) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
        Buffer in = {}, out = {}, want = {};

        setup_registry(f);

        /* A removal is sent only for a global the client saw. */
        put(&in, REGISTRY, 1, "u", 2);
        put(&in, REGISTRY, 1, "u", 5);
        put(&in, REGISTRY, 1, "u", 99);
        put(&want, REGISTRY, 1, "u", 5);
        assert_int_equal(server(f, &in, &out), 0);
        assert_buffer_equal(&out, &want);
        buffer_done(&in);
        buffer_done(&out);
        buffer_done(&want);

        /* Other events, and events on other objects, pass. */
        put(&in, 1, 0, "uus", 7, 2, "error text");
        put(&in, 9, 0, "usu", 1, "zwlr_layer_shell_v1", 1);
        pass(f, false, &in);

        /* Every allowed interface is found, the list is sorted, and a lookalike is not allowed. */
        for (size_t i = 0; wayland_filter_allowed_interfaces[i]; i++) {
                assert_true(wayland_filter_interface_allowed(wayland_filter_allowed_interfaces[i]));
                if (i > 0)
                        assert_true(
                                strcmp(wayland_filter_allowed_interfaces[i - 1],
                                       wayland_filter_allowed_interfaces[i]) < 0);
        }
        assert_false(wayland_filter_interface_allowed("zwlr_layer_shell_v1"));
        assert_false(wayland_filter_interface_allowed("wl_seat2"));
        assert_false(wayland_filter_interface_allowed(""));
}

static void test_bind(void **state) {
        static const struct {
                uint32_t name;
                const char *interface;
                uint32_t version;
                uint32_t id;
                const char *why;
        } refused[] = {
                { 2, "zwlr_screencopy_manager_v1", 3, 10, "not advertised" }, /* hidden */
                { 3, "zwlr_data_control_manager_v1", 1, 10, "not advertised" },
                { 42, "wl_compositor", 1, 10, "not advertised" },
                { 1, "zwlr_screencopy_manager_v1", 1, 10, "another interface" },
                { 1, "wl_compositor", 6, 10, "version" },
                { 1, "wl_compositor", 0, 10, "version" },
                { 1, "wl_compositor", 1, 0, "range" },
                { 1, "wl_compositor", 1, 0xff000001u, "range" },
                { 4, "xdg_wm_base", 1, REGISTRY, "still in use" },
        };
        Buffer in = {}, out = {};

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                setup_registry(f);
                put(&in, REGISTRY, 0, "usuu", refused[i].name, refused[i].interface, refused[i].version,
                    refused[i].id);
                assert_int_equal(client(f, &in, &out), -EPROTO);
                assert_non_null(strstr(wayland_filter_violation(f), refused[i].why));
                assert_int_equal(out.size, 0);
                /* Nothing more is accepted, either way. */
                assert_int_equal(client(f, &in, &out), -EPROTO);
                assert_int_equal(wayland_filter_server(f, NULL, 0, &out), -EPROTO);
                buffer_done(&in);
        }

        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                setup_registry(f);
                put(&in, REGISTRY, 0, "usuu", 1, "wl_compositor", 5, 10);
                put(&in, REGISTRY, 0, "usuu", 4, "xdg_wm_base", 2, 11);
                pass(f, true, &in);
                /* The compositor removes wl_output while the client binds it: still the
                 * compositor's business, not a violation. */
                put(&in, REGISTRY, 1, "u", 5);
                pass(f, false, &in);
                put(&in, REGISTRY, 0, "usuu", 5, "wl_output", 4, 12);
                pass(f, true, &in);
                /* wl_registry has no other request; a malformed bind is refused. */
                put(&in, REGISTRY, 1, "u", 1);
                assert_int_equal(client(f, &in, &out), -EPROTO);
                buffer_done(&in);
        }
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                setup_registry(f);
                /* An interface with a NUL inside, as strcmp() would read it: refused. */
                put(&in, REGISTRY, 0, "ubuu", 1, "wl_compositor\0x", (size_t) 16, 1, 10);
                assert_int_equal(client(f, &in, &out), -EPROTO);
                buffer_done(&in);
        }
}

/* The client's side of a window: bind xdg_wm_base, get_xdg_surface, get_toplevel. Returns what the
 * filter sent for get_toplevel. */
static void setup_toplevel(WaylandFilter *f, Buffer *out) {
        Buffer in = {};

        setup_registry(f);
        put(&in, REGISTRY, 0, "usuu", 4, "xdg_wm_base", 5, WM_BASE);
        put(&in, 1, 0, "u", 20); /* wl_display.sync */
        put(&in, WM_BASE, 2, "uu", XDG_SURFACE, SURFACE);
        pass(f, true, &in);
        put(&in, XDG_SURFACE, 1, "u", TOPLEVEL);
        assert_int_equal(client(f, &in, out), 0);
        buffer_done(&in);
}

/* Sends one request to the toplevel and checks what comes out. */
static void check_request(WaylandFilter *f, const Buffer *in, const Buffer *want) {
        Buffer out = {};

        assert_int_equal(client(f, in, &out), 0);
        assert_buffer_equal(&out, want);
        buffer_done(&out);
}

static void test_title(void **state) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
        _cleanup_free_ char *long_title = NULL, *expect = NULL;
        Buffer in = {}, out = {}, want = {};

        /* The mark goes right after get_toplevel, so a window without a title has one too. */
        setup_toplevel(f, &out);
        put(&want, XDG_SURFACE, 1, "u", TOPLEVEL);
        put(&want, TOPLEVEL, 2, "s", "(penguin)");
        assert_buffer_equal(&out, &want);
        buffer_done(&out);
        buffer_done(&want);

        put(&in, TOPLEVEL, 2, "s", "Terminal");
        put(&want, TOPLEVEL, 2, "s", "Terminal (penguin)");
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        /* The compositor reads up to the first NUL: the mark must come right after it. */
        put(&in, TOPLEVEL, 2, "b", "Bank\0 (host)", (size_t) 13);
        put(&want, TOPLEVEL, 2, "s", "Bank (penguin)");
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        /* Invalid UTF-8, controls and bidi overrides become U+FFFD; valid UTF-8 stays. */
        put(&in, TOPLEVEL, 2, "s", "a\xff\xc3(b\x1b[2J\xe2\x80\xae\xc3\xa9t\xc3\xa9");
        put(&want, TOPLEVEL, 2, "s",
            "a\xef\xbf\xbd\xef\xbf\xbd(b\xef\xbf\xbd[2J\xef\xbf\xbd\xc3\xa9t\xc3\xa9 (penguin)");
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        /* A title as long as a message allows is cut at a character boundary. */
        long_title = malloc(4080);
        assert_non_null(long_title);
        memset(long_title, 'x', 4079);
        long_title[0] = 'y';
        memcpy(long_title + WAYLAND_FILTER_TEXT_MAX - 1, "\xc3\xa9", 2);
        long_title[4079] = '\0';
        put(&in, TOPLEVEL, 2, "s", long_title);
        assert_true(asprintf(&expect, "%.*s (penguin)", (int) WAYLAND_FILTER_TEXT_MAX - 1, long_title) > 0);
        put(&want, TOPLEVEL, 2, "s", expect);
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        /* The app_id passes (it groups the window with its launcher entry), other requests too. */
        put(&in, TOPLEVEL, 3, "s", "org.gnome.Terminal");
        put(&in, TOPLEVEL, 8, "uu", 100, 100);
        pass(f, true, &in);

        /* A null title breaks the protocol. */
        put(&in, TOPLEVEL, 2, "s", NULL);
        assert_int_equal(client(f, &in, &out), -EPROTO);
        buffer_done(&in);
}

static void test_app_id(void **state) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_APP_ID);
        Buffer in = {}, out = {}, want = {};

        setup_toplevel(f, &out);
        put(&want, XDG_SURFACE, 1, "u", TOPLEVEL);
        put(&want, TOPLEVEL, 3, "s", "bistro.penguin");
        assert_buffer_equal(&out, &want);
        buffer_done(&out);
        buffer_done(&want);

        put(&in, TOPLEVEL, 3, "s", "org.gnome.gedit");
        put(&want, TOPLEVEL, 3, "s", "bistro.penguin.org.gnome.gedit");
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        put(&in, TOPLEVEL, 3, "s", "");
        put(&want, TOPLEVEL, 3, "s", "bistro.penguin");
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        put(&in, TOPLEVEL, 2, "s", "Title");
        pass(f, true, &in);
}

static void test_no_mark(void **state) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_NONE);
        Buffer in = {}, out = {}, want = {};

        setup_toplevel(f, &out);
        put(&want, XDG_SURFACE, 1, "u", TOPLEVEL);
        assert_buffer_equal(&out, &want);
        buffer_done(&out);
        buffer_done(&want);

        put(&in, TOPLEVEL, 2, "s", "Title");
        put(&in, TOPLEVEL, 3, "s", "app");
        pass(f, true, &in);
}

/* Ids: a new id still in use is refused until the compositor's delete_id frees it. */
static void test_ids(void **state) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
        Buffer in = {}, out = {}, want = {};

        setup_toplevel(f, &out);
        buffer_done(&out);

        put(&in, TOPLEVEL, 0, "");               /* xdg_toplevel.destroy */
        put(&in, WM_BASE, 2, "uu", 30, SURFACE); /* another xdg_surface */
        pass(f, true, &in);
        put(&in, 1, 1, "u", TOPLEVEL);
        pass(f, false, &in);

        /* TOPLEVEL is free again: a new toplevel on the new xdg_surface may take it... */
        put(&in, 30, 1, "u", TOPLEVEL);
        put(&want, 30, 1, "u", TOPLEVEL);
        put(&want, TOPLEVEL, 2, "s", "(penguin)");
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        /* ...but an id that is still an xdg_surface may not. */
        put(&in, 30, 1, "u", XDG_SURFACE);
        assert_int_equal(client(f, &in, &out), -EPROTO);
        assert_non_null(strstr(wayland_filter_violation(f), "still in use"));
        buffer_done(&in);
}

/* Many objects come and go (the id map's deletion), and the cap holds. The ids are scattered, as a
 * hostile client may choose them, so that they collide in the map. */
static uint32_t scattered_id(uint32_t i) {
        /* Distinct for distinct i below 2^20, between 2^20 and 2^31: an odd multiplier permutes. */
        return ((i * 2654435761u) & 0xfffffu) | 0x100000u | (i & 0x3ff00000u);
}

static void test_many_objects(void **state) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
        Buffer in = {}, out = {}, want = {};

        setup_toplevel(f, &out);
        buffer_done(&out);

        /* 4 tracked now (registry, wm_base, xdg_surface, toplevel). */
        for (uint32_t i = 0; i < 3000; i++)
                put(&in, WM_BASE, 2, "uu", scattered_id(i), SURFACE);
        pass(f, true, &in);
        for (uint32_t i = 0; i < 3000; i += 2)
                put(&in, 1, 1, "u", scattered_id(i));
        pass(f, false, &in);
        /* The odd ones are still xdg_surfaces, the even ones unknown again. */
        for (uint32_t i = 0; i < 3000; i++) {
                put(&in, scattered_id(i), 1, "u", 10000 + i);
                put(&want, scattered_id(i), 1, "u", 10000 + i);
                if (i % 2 == 1)
                        put(&want, 10000 + i, 2, "s", "(penguin)");
        }
        check_request(f, &in, &want);
        buffer_done(&in);
        buffer_done(&want);

        /* 4 + 1500 + 1500 toplevels = 3004 objects; up to the cap is fine, past it is not. */
        for (uint32_t i = 0; i < WAYLAND_FILTER_OBJECTS_MAX - 3004; i++)
                put(&in, WM_BASE, 2, "uu", 20000 + i, SURFACE);
        pass(f, true, &in);
        put(&in, WM_BASE, 2, "uu", 30000, SURFACE);
        assert_int_equal(client(f, &in, &out), -EPROTO);
        assert_non_null(strstr(wayland_filter_violation(f), "too many"));
        buffer_done(&in);
}

/* A stream with a bit of everything, in both directions, fed whole. */
static void session(Buffer *c, Buffer *s) {
        put(c, 1, 1, "u", REGISTRY);
        put(s, REGISTRY, 0, "usu", 1, "wl_compositor", 5);
        put(s, REGISTRY, 0, "usu", 2, "zwlr_screencopy_manager_v1", 3);
        put(s, REGISTRY, 0, "usu", 4, "xdg_wm_base", 5);
        put(c, REGISTRY, 0, "usuu", 1, "wl_compositor", 5, 7);
        put(c, REGISTRY, 0, "usuu", 4, "xdg_wm_base", 5, WM_BASE);
        put(c, 7, 0, "u", SURFACE); /* wl_compositor.create_surface */
        put(c, WM_BASE, 2, "uu", XDG_SURFACE, SURFACE);
        put(c, XDG_SURFACE, 1, "u", TOPLEVEL);
        put(c, TOPLEVEL, 2, "s", "Hello, world");
        put(c, TOPLEVEL, 3, "s", "org.example.App");
        put(c, SURFACE, 6, "");
        put(s, TOPLEVEL, 0, "uub", 640, 480, "\1\0\0\0", (size_t) 4);
        put(s, XDG_SURFACE, 0, "u", 77);
        put(s, REGISTRY, 1, "u", 2);
}

static void test_split(void **state) {
        Buffer c = {}, s = {}, want_c = {}, want_s = {};

        session(&c, &s);
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                /* Client first, so the registry is known when its events come. */
                assert_int_equal(wayland_filter_client(f, c.data, 12, &want_c), 0);
                assert_int_equal(server(f, &s, &want_s), 0);
                assert_int_equal(wayland_filter_client(f, c.data + 12, c.size - 12, &want_c), 0);
        }
        /* Two pieces, cut at every offset, in each direction; then a byte at a time. */
        for (size_t cut = 0; cut <= c.size + s.size; cut++) {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
                Buffer out_c = {}, out_s = {};
                size_t sc = MIN(cut, s.size);
                size_t cc = MIN(cut, c.size - 12);

                assert_int_equal(wayland_filter_client(f, c.data, 12, &out_c), 0);
                assert_int_equal(wayland_filter_server(f, s.data, sc, &out_s), 0);
                assert_int_equal(wayland_filter_server(f, s.data + sc, s.size - sc, &out_s), 0);
                assert_int_equal(wayland_filter_client(f, c.data + 12, cc, &out_c), 0);
                assert_int_equal(wayland_filter_client(f, c.data + 12 + cc, c.size - 12 - cc, &out_c), 0);
                assert_buffer_equal(&out_c, &want_c);
                assert_buffer_equal(&out_s, &want_s);
                buffer_done(&out_c);
                buffer_done(&out_s);
        }
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
                Buffer out_c = {}, out_s = {};

                assert_int_equal(wayland_filter_client(f, c.data, 12, &out_c), 0);
                for (size_t i = 0; i < s.size; i++)
                        assert_int_equal(wayland_filter_server(f, s.data + i, 1, &out_s), 0);
                for (size_t i = 12; i < c.size; i++)
                        assert_int_equal(wayland_filter_client(f, c.data + i, 1, &out_c), 0);
                assert_buffer_equal(&out_c, &want_c);
                assert_buffer_equal(&out_s, &want_s);
                buffer_done(&out_c);
                buffer_done(&out_s);
        }
        /* What the filter changed: the hidden global and its removal, the title, the mark. */
        assert_int_equal(want_s.size, s.size - (8 + 4 + 4 + 28 + 4) - (8 + 4));
        assert_int_not_equal(want_c.size, c.size);
        buffer_done(&c);
        buffer_done(&s);
        buffer_done(&want_c);
        buffer_done(&want_s);
}

static void test_malformed(void **state) {
        static const uint32_t bad_words[] = {
                4u << 16,           /* smaller than a header */
                10u << 16,          /* not a multiple of 4 */
                4100u << 16,        /* above libwayland's 4096 */
                0xfffcu << 16 | 1u, /* far above */
        };
        Buffer in = {}, out = {};

        for (size_t i = 0; i < ELEMENTSOF(bad_words); i++)
                for (int dir = 0; dir < 2; dir++) {
                        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
                        uint32_t msg[3] = { 7, bad_words[i], 0 };

                        assert_int_equal(
                                dir == 0 ? wayland_filter_client(f, msg, sizeof(msg), &out)
                                         : wayland_filter_server(f, msg, sizeof(msg), &out),
                                -EPROTO);
                        assert_non_null(strstr(wayland_filter_violation(f), "size"));
                        assert_int_equal(out.size, 0);
                }
        {
                /* A header split from its message is judged as soon as it is whole. */
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
                uint32_t msg[2] = { 7, 10u << 16 };

                assert_int_equal(wayland_filter_client(f, msg, 5, &out), 0);
                assert_int_equal(wayland_filter_client(f, (uint8_t *) msg + 5, 3, &out), -EPROTO);
        }

        /* Arguments that do not fit their message. */
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                put(&in, 1, 1, "uu", REGISTRY, 0); /* get_registry with a trailing word */
                assert_int_equal(client(f, &in, &out), -EPROTO);
                buffer_done(&in);
        }
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                put(&in, 1, 1, "", REGISTRY); /* get_registry without its id */
                assert_int_equal(client(f, &in, &out), -EPROTO);
                buffer_done(&in);
        }
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
                uint32_t msg[5] = { REGISTRY, 20u << 16, 1, 200, 0 }; /* a string longer than the message */

                setup_registry(f);
                assert_int_equal(wayland_filter_client(f, msg, sizeof(msg), &out), -EPROTO);
        }
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                setup_registry(f);
                /* The compositor's global event without its NUL. */
                put(&in, REGISTRY, 0, "ubu", 9, "wl_shmX", (size_t) 7, 1);
                assert_int_equal(server(f, &in, &out), -EPROTO);
                buffer_done(&in);
        }
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                setup_toplevel(f, &out);
                put(&in, TOPLEVEL, 2, "su", "t", 5); /* set_title with a trailing word */
                assert_int_equal(client(f, &in, &out), -EPROTO);
                buffer_done(&in);
        }
        {
                _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);

                setup_registry(f);
                put(&in, REGISTRY, 7, "u", 1); /* an event wl_registry does not have */
                assert_int_equal(server(f, &in, &out), -EPROTO);
                buffer_done(&in);
        }
        buffer_done(&out);
}

static void test_new(void **state) {
        WaylandFilter *f = NULL;
        char name[WAYLAND_FILTER_CONTAINER_MAX + 2];

        assert_int_equal(WAYLAND_FILTER_CONTAINER_MAX, PROTO_NAME_MAX);
        assert_int_equal(wayland_filter_new("", WINDOW_MARK_TITLE, &f), -EINVAL);
        assert_int_equal(wayland_filter_new("a b", WINDOW_MARK_TITLE, &f), -EINVAL);
        assert_int_equal(wayland_filter_new("-x", WINDOW_MARK_TITLE, &f), -EINVAL);
        assert_int_equal(wayland_filter_new("penguin", (WindowMark) 3, &f), -EINVAL);
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        assert_int_equal(wayland_filter_new(name, WINDOW_MARK_TITLE, &f), -EINVAL);
        name[sizeof(name) - 2] = '\0';
        assert_int_equal(wayland_filter_new(name, WINDOW_MARK_TITLE, &f), 0);
        assert_null(f = wayland_filter_free(f));
        assert_null(wayland_filter_free(NULL));
}

/* Walks one direction of a recording (the fuzz corpus format) and counts global events for hidden
 * interfaces and titles without the mark in what the filter sent. */
static void scan(
        const Buffer *out, bool server_side, unsigned *hidden, unsigned *globals, unsigned *titles) {
        for (size_t off = 0; off < out->size;) {
                uint32_t id, word, len;
                size_t size;

                memcpy(&id, out->data + off, 4);
                memcpy(&word, out->data + off + 4, 4);
                size = word >> 16;
                assert_true(size >= 8 && size <= out->size - off);
                /* The recording's registry is id 2, its toplevel's set_title has opcode 2 and one
                 * string: good enough to look for them. */
                if (server_side && id == 2 && (word & 0xffff) == 0 && size > 16) {
                        memcpy(&len, out->data + off + 12, 4);
                        (*globals)++;
                        if (!wayland_filter_interface_allowed((const char *) out->data + off + 16))
                                (*hidden)++;
                }
                if (!server_side && (word & 0xffff) == 2 && size > 12) {
                        memcpy(&len, out->data + off + 8, 4);
                        if (len > 0 && len == strnlen((const char *) out->data + off + 12, size - 12) + 1 &&
                            len >= 10 && streq((const char *) out->data + off + 12 + len - 11, " (penguin)"))
                                (*titles)++;
                }
                off += size;
        }
}

static void test_recording(void **state) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = filter(WINDOW_MARK_TITLE);
        _cleanup_free_ char *data = NULL;
        Buffer out[2] = {};
        unsigned hidden = 0, globals = 0, titles = 0, unused = 0;
        size_t n = 0, off = 1, in[2] = {};

        assert_non_null(getenv("WAYLAND_RECORDING"));
        assert_int_equal(read_file(getenv("WAYLAND_RECORDING"), 1024 * 1024, &data, &n), 0);
        while (n - off >= 3) {
                const uint8_t *p = (const uint8_t *) data + off;
                size_t len = MIN((size_t) (p[1] | p[2] << 8), n - off - 3);

                assert_int_equal(
                        (p[0] ? wayland_filter_server
                              : wayland_filter_client)(f, p + 3, len, &out[p[0] & 1]),
                        0);
                in[p[0] & 1] += len;
                off += 3 + len;
        }
        scan(&out[1], true, &hidden, &globals, &unused);
        scan(&out[0], false, &unused, &unused, &titles);
        /* sway 1.7 offers 38 globals, 23 of them to a container; foot titles its window. */
        assert_int_equal(hidden, 0);
        assert_int_equal(globals, 23);
        assert_true(titles >= 1);
        assert_true(out[1].size < in[1]);
        buffer_done(&out[0]);
        buffer_done(&out[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_globals),      cmocka_unit_test(test_bind),
                cmocka_unit_test(test_title),        cmocka_unit_test(test_app_id),
                cmocka_unit_test(test_no_mark),      cmocka_unit_test(test_ids),
                cmocka_unit_test(test_many_objects), cmocka_unit_test(test_split),
                cmocka_unit_test(test_malformed),    cmocka_unit_test(test_new),
                cmocka_unit_test(test_recording),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
