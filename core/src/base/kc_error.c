/* kc_error.c - kc_strerror(), kc_errname() and kc_version().
 *
 * Both tables come from the KC_ERRORS X-macro in kcoro/base.h, so a new code
 * is added in one place.
 */
#include "kcoro/base.h"

#include <string.h>

/* Stringify after expansion, for the version numbers. */
#define KC_STR_(x) #x
#define KC_STR(x) KC_STR_(x)

const char *kc_strerror(int err)
{
    if (err >= 0)
        return "success";
    switch (err) { /* not -err: negating INT_MIN is undefined */
#define X(name, code, text)                                                                        \
    case -(code):                                                                                  \
        return text;
        KC_ERRORS(X)
#undef X
    default:
        return "unknown error";
    }
}

const char *kc_errname(int err)
{
    if (err >= 0)
        return "OK";
    switch (err) { /* not -err: negating INT_MIN is undefined */
#define X(name, code, text)                                                                        \
    case -(code):                                                                                  \
        return #name;
        KC_ERRORS(X)
#undef X
    default:
        return "E?";
    }
}

const char *kc_version(void)
{
    return KC_STR(KC_VERSION_MAJOR) "." KC_STR(KC_VERSION_MINOR) "." KC_STR(KC_VERSION_PATCH);
}
