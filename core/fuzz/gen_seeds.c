/* gen_seeds.c - writes the committed seed corpus of fuzz_wire.c.
 *
 * Usage: gen_seeds DIR. Each seed is a valid input built with the codecs
 * themselves, so the fuzzer starts from the shapes a connection really
 * sees: a HELLO payload (with and without extensions), and frame streams
 * that open with a HELLO frame followed by every other frame type.
 * mk/fuzz.sh builds and runs it with `make fuzz-seeds`.
 * kc-fuzz-srcs: graduated/ipc_posix_co/kc_frame.c
 */
#include "kcoro/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static void put(const char *name, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t frame(uint8_t *out, uint8_t type, uint16_t flags, uint32_t chan, uint32_t id,
                    const uint8_t *payload, uint32_t len)
{
    kc_frame_hdr_t h = {KC_WIRE_VERSION, type, flags, chan, id, len};
    if (kc_frame_encode(&h, out) != KC_FRAME_HDR_SIZE)
        exit(1);
    if (len > 0)
        memcpy(out + KC_FRAME_HDR_SIZE, payload, len);
    return KC_FRAME_HDR_SIZE + len;
}

static int hello(kc_hello_t *h, uint8_t *out)
{
    int n = kc_hello_encode(h, out, KC_HELLO_MAX_SIZE);
    if (n < 0)
        exit(1);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    dir = argv[1];
    static uint8_t buf[1 << 16], hb[KC_HELLO_MAX_SIZE], val[KC_HELLO_EXT_MAX_LEN];
    memset(val, 0x42, sizeof val);

    kc_hello_t h;
    kc_hello_init(&h);
    int n = hello(&h, hb);
    put("hello_plain", hb, (size_t)n);

    kc_hello_t hx = h;
    hx.n_ext = 2;
    hx.ext[0] = (kc_hello_ext_t){1, 32, val};
    hx.ext[1] = (kc_hello_ext_t){2, 0, NULL};
    hx.max_frame = KC_FRAME_MIN_MAX;
    hx.max_msg = KC_MSG_MAX_MAX;
    int nx = hello(&hx, hb + 256);
    put("hello_ext", hb + 256, (size_t)nx);

    kc_hello_t hm = h;
    hm.n_ext = KC_HELLO_MAX_EXT;
    for (int i = 0; i < KC_HELLO_MAX_EXT; i++)
        hm.ext[i] = (kc_hello_ext_t){(uint16_t)(i + 1), 100, val};
    uint8_t big[KC_HELLO_MAX_SIZE];
    int nm = hello(&hm, big);
    put("hello_max_ext", big, (size_t)nm);

    /* A connection's opening: HELLO, then one frame of every other type. */
    size_t at = frame(buf, KC_FRAME_HELLO, 0, 0, 0, hb, (uint32_t)n);
    at += frame(buf + at, KC_FRAME_PING, 0, 0, 7, NULL, 0);
    at += frame(buf + at, KC_FRAME_PONG, 0, 0, 7, NULL, 0);
    uint8_t req[80];
    memset(req, 0x5a, sizeof req);
    at += frame(buf + at, KC_FRAME_REQUEST, 0, 0, 0x12345678, req, sizeof req);
    at += frame(buf + at, KC_FRAME_REPLY, 0, 0, 0x12345678, req, 64);
    at += frame(buf + at, KC_FRAME_CANCEL, 0, 0, 0x12345679, NULL, 0);
    at += frame(buf + at, KC_FRAME_DATA, KC_FRAME_F_MORE, 3, 1, req, sizeof req);
    at += frame(buf + at, KC_FRAME_DATA, 0, 3, 2, req, 16);
    uint8_t status[4] = {0, 0, 0, 0};
    at += frame(buf + at, KC_FRAME_GOAWAY, 0, 0, 0x12345678, status, 4);
    put("stream_all_types", buf, at);

    /* HELLO with extensions, then a frame at the negotiated limit. */
    at = frame(buf, KC_FRAME_HELLO, 0, 0, 0, hb + 256, (uint32_t)nx);
    static uint8_t payload[KC_FRAME_MIN_MAX];
    at += frame(buf + at, KC_FRAME_DATA, 0, 1, 1, payload, KC_FRAME_MIN_MAX);
    put("stream_max_frame", buf, at);

    /* A frame header alone, before any HELLO. */
    at = frame(buf, KC_FRAME_REQUEST, 0, 0, 1, NULL, 0);
    put("frame_header", buf, at);
    return 0;
}
