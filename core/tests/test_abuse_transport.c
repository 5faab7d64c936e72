/* test_abuse_transport.c - kcoro/transport.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"
#include "kcoro/transport.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void test_abuse_transport_codecs_with_bad_input(void **state)
{
    (void)state;
    uint8_t out[KC_FRAME_HDR_SIZE], buf[KC_HELLO_MAX_SIZE + 8];
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 1, 0}, d;
    assert_int_equal(kc_frame_encode(NULL, out), -EINVAL);
    assert_int_equal(kc_frame_encode(&h, NULL), -EINVAL);
    h.version = 0;
    assert_int_equal(kc_frame_encode(&h, out), -EPROTO);
    h.version = KC_WIRE_VERSION;
    h.type = KC_FRAME_TYPE_MAX + 1;
    assert_int_equal(kc_frame_encode(&h, out), -EPROTO);
    h.type = 0;
    assert_int_equal(kc_frame_encode(&h, out), -EPROTO);
    h.type = KC_FRAME_PING;
    h.flags = 0x8000;
    assert_int_equal(kc_frame_encode(&h, out), -EPROTO);
    h.flags = 0;
    h.len = UINT32_MAX; /* not checked here */
    assert_int_equal(kc_frame_encode(&h, out), KC_FRAME_HDR_SIZE);
    assert_int_equal(kc_frame_decode(NULL, 16, &d), -EINVAL);
    assert_int_equal(kc_frame_decode(out, 16, NULL), -EINVAL);
    assert_int_equal(kc_frame_decode(out, 0, &d), -EAGAIN);
    assert_int_equal(kc_frame_decode(out, 15, &d), -EAGAIN);
    assert_int_equal(kc_frame_decode(out, SIZE_MAX, &d), KC_FRAME_HDR_SIZE);
    assert_int_equal(d.len, UINT32_MAX);
    memset(out, 0xff, sizeof(out));
    assert_int_equal(kc_frame_decode(out, sizeof(out), &d), -EPROTO);

    kc_hello_t me, peer, agreed;
    kc_hello_init(NULL); /* documented: ignored */
    kc_hello_init(&me);
    assert_int_equal(kc_hello_encode(NULL, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(kc_hello_encode(&me, NULL, sizeof(buf)), -EINVAL);
    assert_int_equal(kc_hello_encode(&me, buf, 0), -EMSGSIZE);
    assert_int_equal(kc_hello_encode(&me, buf, KC_HELLO_MIN_SIZE - 1), -EMSGSIZE);
    peer = me;
    peer.ver_min = 9;
    peer.ver_max = 1;
    assert_int_equal(kc_hello_encode(&peer, buf, sizeof(buf)), -EINVAL);
    peer = me;
    peer.max_frame = UINT32_MAX;
    assert_int_equal(kc_hello_encode(&peer, buf, sizeof(buf)), -EINVAL);
    peer = me;
    peer.n_ext = UINT16_MAX;
    assert_int_equal(kc_hello_encode(&peer, buf, sizeof(buf)), -EINVAL);
    peer = me;
    peer.n_ext = 1;
    peer.ext[0] = (kc_hello_ext_t){0, 1, buf}; /* type 0 */
    assert_int_equal(kc_hello_encode(&peer, buf, sizeof(buf)), -EINVAL);
    int n = kc_hello_encode(&me, buf, sizeof(buf));
    assert_true(n >= KC_HELLO_MIN_SIZE);
    assert_int_equal(kc_hello_decode(NULL, (size_t)n, &peer), -EINVAL);
    assert_int_equal(kc_hello_decode(buf, (size_t)n, NULL), -EINVAL);
    assert_int_equal(kc_hello_decode(buf, 0, &peer), -EPROTO);
    assert_int_equal(kc_hello_decode(buf, (size_t)n - 1, &peer), -EPROTO);
    assert_int_equal(kc_hello_decode(buf, (size_t)n + 1, &peer), -EPROTO); /* trailing */
    assert_int_equal(kc_hello_decode(buf, SIZE_MAX, &peer), -EMSGSIZE);
    buf[0] ^= 0xff; /* magic */
    assert_int_equal(kc_hello_decode(buf, (size_t)n, &peer), -EPROTO);
    buf[0] ^= 0xff;
    assert_int_equal(kc_hello_decode(buf, (size_t)n, &peer), 0);
    assert_int_equal(kc_hello_negotiate(NULL, &peer, &agreed), -EINVAL);
    assert_int_equal(kc_hello_negotiate(&me, NULL, &agreed), -EINVAL);
    assert_int_equal(kc_hello_negotiate(&me, &peer, NULL), -EINVAL);
    peer.ver_min = peer.ver_max = KC_WIRE_VERSION + 1; /* nothing in common */
    assert_int_equal(kc_hello_negotiate(&me, &peer, &agreed), -EPROTO);
}

static int dummy_listen(const char *a, const kc_transport_opts_t *o, void **s)
{
    (void)a, (void)o, (void)s;
    return -ENOTSUP;
}

static void test_abuse_transport_registry(void **state)
{
    (void)state;
    kc_transport_ops_t ops;
    memset(&ops, 0, sizeof(ops));
    ops.size = sizeof(ops);
    ops.scheme = "abuse";
    ops.listen = dummy_listen; /* the other required functions missing */
    assert_int_equal(kc_transport_register(NULL), -EINVAL);
    assert_int_equal(kc_transport_register(&ops), -EINVAL);
    assert_int_equal(kc_transport_unregister(NULL), -EINVAL);
    assert_int_equal(kc_transport_unregister("abuse"), -EINVAL); /* not registered */
    assert_int_equal(kc_transport_unregister("unix"), -EINVAL);  /* built in */
    assert_int_equal(kc_transport_unregister("mem"), -EINVAL);
    assert_null(kc_transport_lookup(NULL));
    assert_null(kc_transport_lookup(""));
    assert_null(kc_transport_lookup("nosuchscheme:x"));
    assert_null(kc_transport_lookup("no colon at all"));
    assert_non_null(kc_transport_lookup("mem:x"));
}

static void test_abuse_transport_endpoints_null_and_stale(void **state)
{
    (void)state;
    kc_transport_t *l = NULL, *c = NULL, *s = NULL;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    kc_transport_stats_t st;
    kc_transport_peer_t peer;
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 1, 0};
    void *payload = (void *)(uintptr_t)1;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    memset(&peer, 0, sizeof(peer));
    assert_int_equal(kc_transport_listen(NULL, &o, &l), -EINVAL);
    assert_int_equal(kc_transport_listen("mem:abuse", &o, NULL), -EINVAL);
    assert_int_equal(kc_transport_listen("nosuch:x", &o, &l), -ENOTSUP);
    assert_int_equal(kc_transport_listen("garbage", &o, &l), -EINVAL);
    assert_int_equal(kc_transport_accept(NULL, &s, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_connect(NULL, &o, &c, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_connect("mem:abuse", &o, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_connect("nosuch:x", &o, &c, INT64_MAX, NULL), -ENOTSUP);
    assert_int_equal(kc_transport_send_frame(NULL, &h, NULL, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_recv_frame(NULL, &h, &payload, 64, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_poll_handle(NULL), -EINVAL);
    assert_int_equal(kc_transport_stats(NULL, &st), -EINVAL);
    assert_int_equal(kc_transport_close(NULL), 0);
    assert_null(kc_transport_scheme(NULL));

    assert_int_equal(kc_transport_listen("mem:abuse", &o, &l), 0);
    assert_int_equal(kc_transport_listen("mem:abuse", &o, &s), -EBUSY); /* served */
    assert_string_equal(kc_transport_scheme(l), "mem");
    assert_int_equal(kc_transport_accept(l, NULL, NULL, 0, NULL), -EINVAL);
    peer.size = 1;
    assert_int_equal(kc_transport_accept(l, &s, &peer, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_accept(l, &s, NULL, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_accept(l, &s, NULL, -5, NULL), -EAGAIN);
    assert_int_equal(kc_transport_accept(l, &s, NULL, INT64_MIN, NULL), -EAGAIN);
    assert_int_equal(kc_transport_stats(l, NULL), -EINVAL);
    assert_int_equal(kc_transport_poll_handle(l), -ENOTSUP); /* mem: no fd */
    assert_null(kc_transport_clock(NULL));
    assert_null(kc_transport_clock(l)); /* mem: real time */
    assert_int_equal(kc_transport_pending(NULL), 0);
    assert_int_equal(kc_transport_pending(l), 0); /* a listener holds no frames */
    assert_int_equal(kc_transport_send_frame(l, &h, NULL, 0, 0, NULL), -EINVAL); /* listener */
    assert_int_equal(kc_transport_connect("mem:abuse", &o, &c, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &s, NULL, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_send_frame(c, NULL, NULL, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, -1, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, INT_MAX, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, 1, 0, NULL), -EINVAL);
    h.len = 5; /* no payload given */
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, 0, 0, NULL), -EINVAL);
    h.len = 0;
    h.type = 0;
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, 0, 0, NULL), -EINVAL);
    h.type = KC_FRAME_PING;
    assert_int_equal(kc_transport_recv_frame(s, NULL, &payload, 64, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_recv_frame(s, &h, NULL, 64, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 64, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 64, INT64_MIN, NULL), -EAGAIN);
    /* batches: NULL, zero, negative and huge counts, a bad frame inside */
    kc_frame_out_t fo[2] = {{h, NULL, 0}, {h, NULL, 0}};
    assert_int_equal(kc_transport_send_frames(NULL, fo, 1, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(l, fo, 1, 0, NULL), -EINVAL); /* listener */
    assert_int_equal(kc_transport_send_frames(c, NULL, 1, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(c, fo, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(c, fo, -1, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(c, fo, INT_MIN, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(c, fo, KC_TRANSPORT_BATCH_MAX + 1, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(c, fo, INT_MAX, 0, NULL), -EINVAL);
    fo[1].hdr.len = 5; /* no payload given for it: nothing is sent */
    assert_int_equal(kc_transport_send_frames(c, fo, 2, INT64_MAX, NULL), -EINVAL);
    fo[1].hdr.len = 0;
    fo[1].iovcnt = -1;
    assert_int_equal(kc_transport_send_frames(c, fo, 2, INT64_MAX, NULL), -EINVAL);
    fo[1].iovcnt = 0;
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 64, -5, NULL), -EAGAIN);
    assert_int_equal(kc_transport_send_frames(c, fo, 2, INT64_MIN, NULL), 0); /* room: at once */
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 0, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 0, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 64, INT64_MIN, NULL), -EAGAIN);
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, 0, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 0, INT64_MAX - 1, NULL), 0);
    assert_null(payload);
    assert_int_equal(kc_transport_stats(s, &st), -ENOTSUP); /* not a listener */
    assert_int_equal(kc_transport_close(c), 0);
    assert_int_equal(kc_transport_recv_frame(s, &h, &payload, 64, INT64_MAX, NULL), -EPIPE);
    assert_int_equal(kc_transport_close(s), 0);
    /* connect with expired timeouts: one try, which a mem: listener takes
     * at once (nobody listening: refused, never a wait) */
    assert_int_equal(kc_transport_connect("mem:abuse", &o, &c, -5, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &s, NULL, INT64_MIN, NULL), 0);
    assert_int_equal(kc_transport_close(c), 0);
    assert_int_equal(kc_transport_close(s), 0);
    assert_int_equal(kc_transport_connect("mem:abuse", &o, &c, INT64_MIN, NULL), 0);
    assert_int_equal(kc_transport_close(c), 0); /* never accepted */
    assert_int_equal(kc_transport_close(l), 0);
    assert_int_equal(kc_transport_connect("mem:abuse", &o, &c, -5, NULL), -ECONNREFUSED);
}

/* Routing every listen through one backend: unknown, empty and huge
 * scheme names change nothing; NULL stops it (twice is fine); a listener
 * asking for KC_TRANSPORT_F_DIRECT is not routed. */
static void test_abuse_transport_interpose(void **state)
{
    (void)state;
    char huge[300];
    memset(huge, 's', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(kc_transport_interpose("nosuch"), -ENOTSUP);
    assert_int_equal(kc_transport_interpose(""), -ENOTSUP);
    assert_int_equal(kc_transport_interpose(huge), -ENOTSUP);
    assert_int_equal(kc_transport_interpose(NULL), 0);
    assert_int_equal(kc_transport_interpose(NULL), 0);
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    kc_transport_t *l = NULL;
    assert_int_equal(kc_transport_listen("mem:abuse-interpose", &o, &l), 0);
    assert_string_equal(kc_transport_scheme(l), "mem"); /* nothing routed */
    assert_int_equal(kc_transport_close(l), 0);
    assert_int_equal(kc_transport_interpose("sim"), 0); /* libkcoro registers it */
    assert_int_equal(kc_transport_listen("mem:abuse-interpose", &o, &l), 0);
    assert_string_equal(kc_transport_scheme(l), "sim");
    assert_int_equal(kc_transport_close(l), 0);
    o.flags = KC_TRANSPORT_F_DIRECT;
    assert_int_equal(kc_transport_listen("mem:abuse-interpose", &o, &l), 0);
    assert_string_equal(kc_transport_scheme(l), "mem");
    assert_int_equal(kc_transport_close(l), 0);
    assert_int_equal(kc_transport_interpose(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_transport_interpose),
        cmocka_unit_test(test_abuse_transport_codecs_with_bad_input),
        cmocka_unit_test(test_abuse_transport_registry),
        cmocka_unit_test(test_abuse_transport_endpoints_null_and_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
