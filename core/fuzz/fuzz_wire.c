/* fuzz_wire.c - libFuzzer target over the wire codecs (core/docs/WIRE.md).
 *
 * Each input is read twice:
 *  1. as one HELLO payload (kc_hello_decode);
 *  2. as a byte stream of frames, the way a connection reads it: decode a
 *     header, refuse a length above the limit in force (the HELLO size
 *     until a HELLO has been negotiated, the negotiated max frame after),
 *     parse HELLO payloads and negotiate with our own offer.
 * Besides "no crash, leak or sanitizer report", it checks the codecs'
 * invariants: every accepted header and HELLO re-encodes to exactly the
 * bytes it came from, every refusal is the documented errno, and a
 * negotiated result lies inside the negotiable ranges. `make fuzz` builds it
 * with clang -fsanitize=fuzzer,address,undefined.
 * kc-fuzz-srcs: graduated/ipc_posix_co/kc_frame.c
 */
#include "kcoro/transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_wire: %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Decode a HELLO from a heap copy of exactly len bytes (so an over-read is
 * an ASan report), check the round trip, negotiate. 0 and *out on success. */
static int hello(const uint8_t *data, size_t len, kc_hello_t *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len > 0)
        memcpy(copy, data, len);
    kc_hello_t h;
    int rc = kc_hello_decode(copy, len, &h);
    if (rc != 0) {
        CHECK(rc == -EPROTO || (rc == -EMSGSIZE && len > KC_HELLO_MAX_SIZE));
        free(copy);
        return rc;
    }
    CHECK(len >= KC_HELLO_MIN_SIZE && len <= KC_HELLO_MAX_SIZE);
    CHECK(h.ver_min >= 1 && h.ver_min <= h.ver_max && h.n_ext <= KC_HELLO_MAX_EXT);
    for (unsigned i = 0; i < h.n_ext; i++) {
        CHECK(h.ext[i].type != 0 && h.ext[i].len <= KC_HELLO_EXT_MAX_LEN);
        CHECK(h.ext[i].len == 0 ||
              (h.ext[i].val >= copy && h.ext[i].val + h.ext[i].len <= copy + len));
    }
    uint8_t again[KC_HELLO_MAX_SIZE];
    CHECK(kc_hello_encode(&h, again, sizeof again) == (int)len);
    CHECK(memcmp(again, copy, len) == 0);
    if (len > KC_HELLO_MIN_SIZE)
        CHECK(kc_hello_encode(&h, again, len - 1) == -EMSGSIZE);

    kc_hello_t mine, agreed;
    kc_hello_init(&mine);
    rc = kc_hello_negotiate(&mine, &h, &agreed);
    if (rc == 0) {
        CHECK(agreed.ver_min == agreed.ver_max && agreed.ver_max >= h.ver_min &&
              agreed.ver_max <= h.ver_max && agreed.ver_max <= KC_WIRE_VERSION);
        CHECK(agreed.max_frame >= KC_FRAME_MIN_MAX && agreed.max_frame <= KC_FRAME_MAX_MAX &&
              agreed.max_frame <= h.max_frame);
        CHECK(agreed.max_msg >= KC_MSG_MIN_MAX && agreed.max_msg <= KC_MSG_MAX_MAX &&
              agreed.max_msg <= h.max_msg);
        CHECK((agreed.features & ~h.features) == 0 && agreed.n_ext == 0);
        *out = agreed;
    } else
        CHECK(rc == -EPROTO && (h.ver_min > KC_WIRE_VERSION));
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kc_hello_t agreed;
    hello(data, size, &agreed);

    /* The input as a stream of frames. */
    size_t at = 0;
    uint32_t limit = KC_HELLO_MAX_SIZE; /* nothing negotiated yet */
    while (at < size) {
        kc_frame_hdr_t h;
        int rc = kc_frame_decode(data + at, size - at, &h);
        if (rc == -EAGAIN) {
            CHECK(size - at < KC_FRAME_HDR_SIZE);
            break;
        }
        if (rc != KC_FRAME_HDR_SIZE) {
            CHECK(rc == -EPROTO);
            break;
        }
        uint8_t again[KC_FRAME_HDR_SIZE];
        CHECK(kc_frame_encode(&h, again) == KC_FRAME_HDR_SIZE);
        CHECK(memcmp(again, data + at, KC_FRAME_HDR_SIZE) == 0);
        CHECK(h.version == KC_WIRE_VERSION && h.type >= KC_FRAME_HELLO &&
              h.type <= KC_FRAME_TYPE_MAX && (h.flags & ~KC_FRAME_F_KNOWN) == 0 &&
              ((h.flags & KC_FRAME_F_CREDIT) == 0 || h.type == KC_FRAME_DATA));
        at += KC_FRAME_HDR_SIZE;
        if (h.len > limit || h.len > size - at)
            break; /* a connection refuses it before allocating */
        if (h.type == KC_FRAME_HELLO && hello(data + at, h.len, &agreed) == 0)
            limit = agreed.max_frame;
        at += h.len;
    }
    /* Argument checks: never a crash on NULL. */
    CHECK(kc_frame_decode(NULL, size, NULL) == -EINVAL);
    CHECK(kc_hello_decode(NULL, size, NULL) == -EINVAL);
    return 0;
}
