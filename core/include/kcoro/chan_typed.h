/* kcoro/chan_typed.h - typed channel handles checked at compile time.
 *
 * A kc_chan_t carries elements of elem_size bytes, fixed at run time, so
 * sending an int32_t into a channel of int64_t compiles and copies the
 * wrong number of bytes. A typed handle carries its element type in its own
 * type, and the macros below check every element pointer against it: a
 * pointer to an element of another size fails to compile (_Static_assert),
 * and with GCC or Clang so does a pointer to another type of the same size
 * (int32_t against float). The handle is a struct holding the channel, so
 * the untyped calls stay one `.ch` away.
 *
 *   typedef KC_CHAN_OF(int64_t) chan_i64_t;
 *   chan_i64_t c;
 *   KC_CHAN_MAKE(&c, KC_CHAN_BUFFERED, 16);       -> elem_size = sizeof(int64_t)
 *   int64_t v = 42;
 *   KC_SEND(c, &v, KC_NO_TIMEOUT, NULL);          -> kc_chan_send(c.ch, ...)
 *   int32_t w;
 *   KC_RECV(c, &w, KC_NO_TIMEOUT, NULL);          -> does not compile
 *   kc_chan_clause_t cl[] = {KC_CLAUSE_RECV(c, &v), KC_CLAUSE_SEND(d, &x)};
 *   kc_chan_destroy(c.ch);
 *
 * The element pointer may point to const for sends. Each macro evaluates to
 * the untyped call's result; the checks cost nothing at run time.
 */
#ifndef KCORO_CHAN_TYPED_H
#define KCORO_CHAN_TYPED_H

#include "kcoro/base.h"
#include "kcoro/chan.h"

/* KC_CHAN_OF(T) is the type of a typed handle for elements of type T:
 * declare it once with typedef (two spellings of KC_CHAN_OF(T) are two
 * different struct types in C). `ch` is the untyped channel; `elem` is only
 * there for its type and stays NULL. */
#define KC_CHAN_OF(T)                                                                              \
    struct {                                                                                       \
        kc_chan_t *ch;                                                                             \
        T *elem;                                                                                   \
    }

/* KC__CHECK(cond, msg) is a compile-time assertion usable as an expression
 * (a _Static_assert inside a struct, which C11 allows), of value 0. */
#define KC__CHECK(cond, msg)                                                                       \
    (0 * (int)sizeof(struct {                                                                      \
         _Static_assert(cond, msg);                                                                \
         int kc_check;                                                                             \
     }))

#if defined(__GNUC__) || defined(__clang__)
/* Same type (qualifiers aside) as the handle's element. */
#define KC__SAME_TYPE(tc, p) __builtin_types_compatible_p(__typeof__(*(tc).elem), __typeof__(*(p)))
#else
/* Without GCC or Clang only the size is checked. */
#define KC__SAME_TYPE(tc, p) 1
#endif

/* KC__ELEM_OK(tc, p): p points to an element of tc's type (size always
 * checked; the type too where the compiler can tell). */
#define KC__ELEM_OK(tc, p)                                                                         \
    (KC__CHECK(sizeof(*(p)) == sizeof(*(tc).elem),                                                 \
               "element size differs from the channel's type") +                                   \
     KC__CHECK(KC__SAME_TYPE(tc, p), "element type differs from the channel's type"))

/* KC__CHECKED(tc, p) is tc's channel, once p has passed KC__ELEM_OK. */
#define KC__CHECKED(tc, p) ((void)KC__ELEM_OK(tc, p), (tc).ch)

/* KC_CHAN_MAKE(&tc, kind, capacity): kc_chan_make with the element size of
 * tc's type; tc->ch gets the channel (tc->elem is set to NULL). */
#define KC_CHAN_MAKE(ptc, kind, capacity)                                                          \
    ((ptc)->elem = NULL, kc_chan_make(&(ptc)->ch, (kind), (capacity), sizeof(*(ptc)->elem)))

/* KC_CHAN_CREATE(&tc, &opts): kc_chan_create with opts' elem_size, which
 * must be the size of tc's type (-EINVAL otherwise, nothing created). */
#define KC_CHAN_CREATE(ptc, popts)                                                                 \
    ((ptc)->elem = NULL, (popts)->elem_size != sizeof(*(ptc)->elem)                                \
                             ? ((ptc)->ch = NULL, -EINVAL)                                         \
                             : kc_chan_create(&(ptc)->ch, (popts)))

/* KC_SEND(tc, p, timeout, cancel): kc_chan_send of *p. */
#define KC_SEND(tc, p, timeout, cancel) kc_chan_send(KC__CHECKED(tc, p), (p), (timeout), (cancel))

/* KC_RECV(tc, p, timeout, cancel): kc_chan_recv into *p. */
#define KC_RECV(tc, p, timeout, cancel) kc_chan_recv(KC__CHECKED(tc, p), (p), (timeout), (cancel))

/* KC_TRY_SEND(tc, p) and KC_TRY_RECV(tc, p): the try-variants. */
#define KC_TRY_SEND(tc, p) kc_chan_try_send(KC__CHECKED(tc, p), (p))
/* See KC_TRY_SEND. */
#define KC_TRY_RECV(tc, p) kc_chan_try_recv(KC__CHECKED(tc, p), (p))

/* KC_CLAUSE_SEND(tc, p) and KC_CLAUSE_RECV(tc, p): select clauses (for an
 * array of automatic storage) sending *p or receiving into *p. */
#define KC_CLAUSE_SEND(tc, p) KC_CHAN_CLAUSE_SEND_INIT(KC__CHECKED(tc, p), (p))
/* See KC_CLAUSE_SEND. */
#define KC_CLAUSE_RECV(tc, p) KC_CHAN_CLAUSE_RECV_INIT(KC__CHECKED(tc, p), (p))

#endif /* KCORO_CHAN_TYPED_H */
