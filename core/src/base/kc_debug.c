/* kc_debug.c - parse KCORO_DEBUG and write debug log lines. */
#include "base/kc_debug.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_uint kc__debug_bits;
_Atomic unsigned char kc__debug_switch_fast;

static unsigned parse(const char *s)
{
    unsigned bits = KC_DEBUG_LOADED;
    if (s == NULL || *s == '\0' || strcmp(s, "0") == 0)
        return bits;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "1") == 0 || strcmp(tok, "all") == 0)
            bits |= KC_DEBUG_CANARY | KC_DEBUG_SP | KC_DEBUG_LOG;
        else if (strcmp(tok, "canary") == 0)
            bits |= KC_DEBUG_CANARY;
        else if (strcmp(tok, "sp") == 0)
            bits |= KC_DEBUG_SP;
        else if (strcmp(tok, "log") == 0)
            bits |= KC_DEBUG_LOG;
        else
            fprintf(stderr,
                    "kcoro: KCORO_DEBUG: unknown word '%s' ignored "
                    "(use canary, sp, log, all)\n",
                    tok);
    }
    return bits;
}

unsigned kc__debug_load(void)
{
    unsigned bits = parse(getenv("KCORO_DEBUG"));
    atomic_store_explicit(&kc__debug_bits, bits, memory_order_relaxed);
    atomic_store_explicit(&kc__debug_switch_fast, !(bits & (KC_DEBUG_CANARY | KC_DEBUG_SP)),
                          memory_order_relaxed);
    return bits;
}

void kc__debug_reload(void)
{
    kc__debug_load();
}

void kc__debug_log(const char *fmt, ...)
{
    if (!(kc__debug() & KC_DEBUG_LOG))
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "kcoro[debug] %s\n", line);
}
