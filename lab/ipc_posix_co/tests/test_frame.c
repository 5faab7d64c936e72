/* test_frame.c - the wire codecs: frame header and HELLO (WIRE.md). */
#include "ipc_test.h"

static void test_frame_roundtrip_network_order(void **state)
{
    (void)state;
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_REQUEST, KC_FRAME_F_MORE,
                        0x01020304u,     0xa1b2c3d4u,      0x00010203u};
    uint8_t b[KC_FRAME_HDR_SIZE];
    assert_int_equal(kc_frame_encode(&h, b), KC_FRAME_HDR_SIZE);
    const uint8_t want[16] = {1, 5, 0, 1, 1, 2, 3, 4, 0xa1, 0xb2, 0xc3, 0xd4, 0, 1, 2, 3};
    assert_memory_equal(b, want, 16);
    kc_frame_hdr_t d;
    assert_int_equal(kc_frame_decode(b, sizeof b, &d), KC_FRAME_HDR_SIZE);
    assert_memory_equal(&d, &h, sizeof h);
}

static void test_frame_decode_rejects_bad_input(void **state)
{
    (void)state;
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 7, 0};
    uint8_t b[KC_FRAME_HDR_SIZE];
    kc_frame_hdr_t d;
    assert_int_equal(kc_frame_encode(&h, b), 16);
    for (size_t n = 0; n < 16; n++)
        assert_int_equal(kc_frame_decode(b, n, &d), -EAGAIN);
    uint8_t c[16];
    memcpy(c, b, 16);
    c[0] = 2; /* version */
    assert_int_equal(kc_frame_decode(c, 16, &d), -EPROTO);
    memcpy(c, b, 16);
    c[1] = 0; /* type 0 */
    assert_int_equal(kc_frame_decode(c, 16, &d), -EPROTO);
    c[1] = KC_FRAME_TYPE_MAX + 1;
    assert_int_equal(kc_frame_decode(c, 16, &d), -EPROTO);
    memcpy(c, b, 16);
    c[2] = 0x80; /* unknown flag */
    assert_int_equal(kc_frame_decode(c, 16, &d), -EPROTO);
    assert_int_equal(kc_frame_decode(NULL, 16, &d), -EINVAL);
    assert_int_equal(kc_frame_decode(b, 16, NULL), -EINVAL);
    memcpy(c, b, 16);
    c[3] = KC_FRAME_F_CREDIT; /* a credit prefix outside a DATA frame */
    assert_int_equal(kc_frame_decode(c, 16, &d), -EPROTO);
    h.flags = KC_FRAME_F_CREDIT;
    assert_int_equal(kc_frame_encode(&h, b), -EPROTO);
    h.type = KC_FRAME_DATA; /* where it belongs */
    assert_int_equal(kc_frame_encode(&h, b), 16);
    assert_int_equal(kc_frame_decode(b, 16, &d), 16);
    assert_int_equal(d.flags, KC_FRAME_F_CREDIT);
    h.flags = 4;
    assert_int_equal(kc_frame_encode(&h, b), -EPROTO);
    h.type = KC_FRAME_PING;
    h.flags = 0;
    h.type = 0;
    assert_int_equal(kc_frame_encode(&h, b), -EPROTO);
    assert_int_equal(kc_frame_encode(NULL, b), -EINVAL);
}

static void test_hello_roundtrip_with_extensions(void **state)
{
    (void)state;
    kc_hello_t h;
    kc_hello_init(&h);
    assert_int_equal(h.max_frame, KC_FRAME_MAX_DEFAULT);
    assert_int_equal(h.max_msg, KC_MSG_MAX_DEFAULT);
    const uint8_t proof[32] = {1, 2, 3};
    h.n_ext = 2;
    h.ext[0] = (kc_hello_ext_t){7, sizeof proof, proof};
    h.ext[1] = (kc_hello_ext_t){9, 0, NULL};
    uint8_t buf[KC_HELLO_MAX_SIZE];
    int n = kc_hello_encode(&h, buf, sizeof buf);
    assert_int_equal(n, KC_HELLO_MIN_SIZE + 4 + 32 + 4);
    assert_int_equal(kc_hello_encode(&h, buf, (size_t)n - 1), -EMSGSIZE);
    kc_hello_t d;
    assert_int_equal(kc_hello_decode(buf, (size_t)n, &d), 0);
    assert_int_equal(d.ver_min, 1);
    assert_int_equal(d.ver_max, KC_WIRE_VERSION);
    assert_int_equal(d.features, h.features);
    assert_int_equal(d.n_ext, 2);
    assert_int_equal(d.ext[0].type, 7);
    assert_int_equal(d.ext[0].len, 32);
    assert_memory_equal(d.ext[0].val, proof, 32);
    assert_ptr_equal(d.ext[0].val, buf + KC_HELLO_MIN_SIZE + 4);
    assert_int_equal(d.ext[1].len, 0);
    assert_null(d.ext[1].val);
}

static void test_hello_decode_rejects_every_truncation_and_bad_field(void **state)
{
    (void)state;
    kc_hello_t h, d;
    kc_hello_init(&h);
    const uint8_t v[3] = {1, 2, 3};
    h.n_ext = 1;
    h.ext[0] = (kc_hello_ext_t){1, 3, v};
    uint8_t buf[64];
    int n = kc_hello_encode(&h, buf, sizeof buf);
    assert_int_equal(n, 31);
    for (int i = 0; i < n; i++)
        assert_int_equal(kc_hello_decode(buf, (size_t)i, &d), -EPROTO);
    uint8_t big[KC_HELLO_MAX_SIZE + 1] = {0};
    assert_int_equal(kc_hello_decode(big, sizeof big, &d), -EMSGSIZE);
    uint8_t c[64];
    /* One byte changed makes one field invalid: magic, ver_min 0, ver_min >
     * ver_max, n_ext 0x0901, max_frame 0 and 128 KiB, max_msg 0 and
     * 0x01400000 (20 MiB), reserved 1, extension type 0, extension length
     * past the end and above the cap. */
    static const struct {
        int at;
        uint8_t val;
    } bad[] = {{0, 0},  {4, 0},  {4, 2},  {6, 9},  {13, 0}, {13, 2},
               {17, 0}, {16, 1}, {23, 1}, {25, 0}, {27, 4}, {27, 129}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(c, buf, (size_t)n);
        c[bad[i].at] = bad[i].val;
        assert_int_equal(kc_hello_decode(c, (size_t)n, &d), -EPROTO);
    }
    /* trailing byte */
    memcpy(c, buf, (size_t)n);
    c[n] = 0;
    assert_int_equal(kc_hello_decode(c, (size_t)n + 1, &d), -EPROTO);
}

static void test_hello_encode_rejects_out_of_range_offers(void **state)
{
    (void)state;
    kc_hello_t h;
    uint8_t buf[KC_HELLO_MAX_SIZE];
    kc_hello_init(&h);
    h.max_frame = KC_FRAME_MIN_MAX - 1;
    assert_int_equal(kc_hello_encode(&h, buf, sizeof buf), -EINVAL);
    kc_hello_init(&h);
    h.max_msg = KC_MSG_MAX_MAX + 1;
    assert_int_equal(kc_hello_encode(&h, buf, sizeof buf), -EINVAL);
    kc_hello_init(&h);
    h.ver_min = 3;
    h.ver_max = 2;
    assert_int_equal(kc_hello_encode(&h, buf, sizeof buf), -EINVAL);
    kc_hello_init(&h);
    h.n_ext = KC_HELLO_MAX_EXT + 1;
    assert_int_equal(kc_hello_encode(&h, buf, sizeof buf), -EINVAL);
    kc_hello_init(&h);
    h.n_ext = 1;
    h.ext[0] = (kc_hello_ext_t){0, 0, NULL};
    assert_int_equal(kc_hello_encode(&h, buf, sizeof buf), -EINVAL);
    h.ext[0] = (kc_hello_ext_t){1, KC_HELLO_EXT_MAX_LEN + 1, buf};
    assert_int_equal(kc_hello_encode(&h, buf, sizeof buf), -EINVAL);
    assert_int_equal(kc_hello_encode(NULL, buf, sizeof buf), -EINVAL);
}

static void test_hello_negotiate_takes_the_smaller_limits(void **state)
{
    (void)state;
    kc_hello_t a, b, r;
    kc_hello_init(&a);
    kc_hello_init(&b);
    b.max_frame = KC_FRAME_MIN_MAX;
    b.max_msg = KC_MSG_MAX_MAX;
    a.features = KC_HELLO_FEAT_RPC | KC_HELLO_FEAT_PING;
    b.features = KC_HELLO_FEAT_RPC | KC_HELLO_FEAT_DATA;
    assert_int_equal(kc_hello_negotiate(&a, &b, &r), 0);
    assert_int_equal(r.max_frame, KC_FRAME_MIN_MAX);
    assert_int_equal(r.max_msg, KC_MSG_MAX_DEFAULT);
    assert_int_equal(r.features, KC_HELLO_FEAT_RPC);
    assert_int_equal(r.ver_max, KC_WIRE_VERSION);
    b.ver_min = b.ver_max = KC_WIRE_VERSION + 1;
    assert_int_equal(kc_hello_negotiate(&a, &b, &r), -EPROTO);
    assert_int_equal(kc_hello_negotiate(NULL, &b, &r), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_roundtrip_network_order),
        cmocka_unit_test(test_frame_decode_rejects_bad_input),
        cmocka_unit_test(test_hello_roundtrip_with_extensions),
        cmocka_unit_test(test_hello_decode_rejects_every_truncation_and_bad_field),
        cmocka_unit_test(test_hello_encode_rejects_out_of_range_offers),
        cmocka_unit_test(test_hello_negotiate_takes_the_smaller_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
