/* kc_bytes.h - integers in network byte order (big-endian) at any address.
 *
 * Every kcoro wire format writes its integers most significant byte first
 * (core/docs/WIRE.md): the frame header and HELLO, RPC's call header, the
 * reliability layer's segments, the mux's control messages and the remote
 * select messages. These are the only helpers they use. Byte by byte, so
 * the address needs no alignment; compilers turn each into one load or
 * store and a byte swap.
 */
#ifndef KCORO_KC_BYTES_H
#define KCORO_KC_BYTES_H

#include <stdint.h>

static inline void kc__put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void kc__put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void kc__put_be64(uint8_t *p, uint64_t v)
{
    kc__put_be32(p, (uint32_t)(v >> 32));
    kc__put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t kc__get_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t kc__get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t kc__get_be64(const uint8_t *p)
{
    return (uint64_t)kc__get_be32(p) << 32 | kc__get_be32(p + 4);
}

#endif /* KCORO_KC_BYTES_H */
