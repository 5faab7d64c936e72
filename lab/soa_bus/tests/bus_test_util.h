/* bus_test_util.h - helpers shared by the soa_bus tests.
 *
 * Header-only, so each test binary stays one translation unit: bus
 * creation with asserted success, checksummed payloads that reveal torn
 * copies, counter snapshots, scaled counts and a small fixed-seed PRNG whose
 * seed the tests print when they fail.
 */
#ifndef KCORO_BUS_TEST_UTIL_H
#define KCORO_BUS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcoro/bus.h"

/* KCORO_TEST_SCALE=N divides big counts (valgrind, qemu): same assertions,
 * fewer operations. KCORO_TEST_FULL=1 multiplies them by 10 for soak runs. */
static inline long bus_scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    const char *full = getenv("KCORO_TEST_FULL");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    if (full != NULL && atoi(full) == 1)
        n *= 10;
    return n / div > 0 ? n / div : 1;
}

/* A 64-byte payload: who, which, and a checksum over both plus filler. */
typedef struct bus_payload {
    uint64_t seq;     /* per-publisher counter, from 0 */
    uint64_t pub;     /* publisher id */
    uint64_t fill[5]; /* derived from seq and pub */
    uint64_t sum;     /* checksum of the seven words above */
} bus_payload_t;

static inline uint64_t bus_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static inline void bus_payload_make(bus_payload_t *p, uint64_t pub, uint64_t seq)
{
    p->seq = seq;
    p->pub = pub;
    p->sum = bus_mix(seq) ^ pub;
    for (int i = 0; i < 5; i++) {
        p->fill[i] = bus_mix(seq * 8 + pub * 1000003u + (uint64_t)i);
        p->sum = bus_mix(p->sum + p->fill[i]);
    }
}

static inline bool bus_payload_ok(const bus_payload_t *p)
{
    bus_payload_t q;
    bus_payload_make(&q, p->pub, p->seq);
    return memcmp(&q, p, sizeof(q)) == 0;
}

/* xorshift64*: deterministic per seed. */
static inline uint64_t bus_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static inline kc_bus_t *bus_new(size_t msg_size, uint32_t cap, uint32_t subs, kc_bus_pub_t **pub)
{
    kc_bus_opts_t o = {
        .size = sizeof(o), .msg_size = msg_size, .capacity = cap, .expected_subs = subs};
    kc_bus_t *b = NULL;
    assert_int_equal(kc_bus_create(&o, &b, pub), 0);
    return b;
}

static inline kc_bus_metrics_t bus_m(const kc_bus_t *b)
{
    kc_bus_metrics_t m = {.size = sizeof(m)};
    assert_int_equal(kc_bus_metrics(b, &m), 0);
    return m;
}

static inline kc_bus_sub_metrics_t bus_sm(const kc_bus_sub_t *s)
{
    kc_bus_sub_metrics_t m = {.size = sizeof(m)};
    assert_int_equal(kc_bus_sub_metrics(s, &m), 0);
    return m;
}

static inline void bus_pub_u64(kc_bus_pub_t *p, uint64_t v)
{
    assert_true(kc_bus_publish(p, &v, sizeof(v)) >= 0);
}

#endif /* KCORO_BUS_TEST_UTIL_H */
