/* demo_zcopy.c - demo section: a zero-copy pipeline and the arena's allocation table.
 *
 * A camera coroutine allocates 6 KiB frames in an arena and sends them as
 * descriptors into "frames" (buffered, 3); every fourth frame is instead
 * the station logo, which lives in the program's own memory, registered
 * with the arena as a read-only region and wrapped without a copy. A
 * filter coroutine brightens each frame in place and forwards it into
 * "out" (buffered, 3). The main thread shows the allocation table before
 * anything runs, then while the pipeline is stalled (both channels full,
 * each stage holding one frame), then reads eight frames and stops early:
 * the camera's and the filter's blocked sends fail with -EPIPE (so they
 * release their own frames), and destroying the channels releases what
 * they still buffer, since the arena is attached to them. The last table
 * shows zero live tickets, and the logo region can be unregistered.
 */
#define _POSIX_C_SOURCE 200809L
#include "kcoro.h"

#include "kcoro_demo.h"

#include <stdio.h>
#include <string.h>

enum {
    FRAME = 6 * 1024,
    CAP = 3,
    READ = 8
};

struct zpipe {
    kc_arena_t *arena;
    kc_chan_t *frames, *out;
    int logo;             /* region id of logo[] */
    long shot, forwarded; /* frames sent by the camera, by the filter */
};

static char logo[FRAME]; /* the program's own memory */

static int camera(void *arg)
{
    struct zpipe *z = arg;
    for (int n = 0;; n++) {
        kc_zdesc_t d;
        int rc = n % 4 == 3 ? kc_zdesc_wrap(&d, z->arena, z->logo, logo, FRAME, KC_ZDESC_READONLY)
                            : kc_zdesc_alloc(&d, z->arena, FRAME, 0);
        if (rc != 0)
            return rc;
        if (!(d.flags & KC_ZDESC_READONLY))
            memset(d.ptr, n, FRAME); /* "expose" the frame */
        if (kc_chan_send_desc(z->frames, &d, KC_NO_TIMEOUT, NULL) != 0) {
            kc_zdesc_release(&d, z->arena); /* a failed send left it with us */
            return 0;
        }
        z->shot++;
    }
}

static int filter(void *arg)
{
    struct zpipe *z = arg;
    kc_zdesc_t d;
    while (kc_chan_recv_desc(z->frames, &d, KC_NO_TIMEOUT, NULL) == 0) {
        unsigned char *px;
        if (kc_zdesc_hydrate(&d, z->arena, (void **)&px, NULL) == 0 &&
            !(d.flags & KC_ZDESC_READONLY))
            for (size_t i = 0; i < d.len; i++)
                px[i]++; /* brighten in place: nothing is copied */
        if (kc_chan_send_desc(z->out, &d, KC_NO_TIMEOUT, NULL) != 0) {
            kc_zdesc_release(&d, z->arena);
            break;
        }
        z->forwarded++;
    }
    return 0;
}

static kc_chan_t *chan(const char *name, kc_arena_t *a)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = CAP;
    o.arena = a; /* tickets are checked on send; leftovers released at destroy */
    o.name = name;
    kc_chan_t *ch = NULL;
    return kc_chan_create(&ch, &o) == 0 ? ch : NULL;
}

static void table(kc_arena_t *a, const char *when)
{
    printf("\n  -- allocation table %s --\n", when);
    fflush(stdout);
    kc_arena_dump(a, stdout, KC_ARENA_DUMP_TEXT);
}

int kc_demo_zero_copy(void)
{
    kc_demo_heading("zero copy: frames move through channels as arena tickets");
    struct zpipe z = {0};
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 64 * 4096;
    ao.name = "frames";
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    if (kc_arena_create(&z.arena, &ao) != 0 || kc_sched_create(&s, &so) != 0) {
        printf("  could not set up the pipeline\n");
        return 1;
    }
    memset(logo, 0xee, sizeof(logo));
    z.logo = kc_arena_register_region(z.arena, logo, sizeof(logo), KC_ARENA_REGION_RDONLY);
    z.frames = chan("frames", z.arena);
    z.out = chan("out", z.arena);
    printf("  camera -> frames (%d) -> filter (brightens in place) -> out (%d) -> main\n", CAP,
           CAP);
    table(z.arena, "before");

    kc_task_t *cam, *fil;
    kc_sched_spawn(s, &fil, filter, &z, NULL);
    kc_sched_spawn(s, &cam, camera, &z, NULL);
    for (int i = 0; i < 10000 && (kc_chan_len(z.out) < CAP || kc_chan_len(z.frames) < CAP); i++)
        kc_sched_sleep(100000, NULL); /* until the pipeline stalls on full channels */
    kc_sched_sleep(1000000, NULL);
    table(z.arena, "during (both channels full, each stage holding a frame)");

    long bright = 0, logos = 0;
    for (int n = 0; n < READ; n++) {
        kc_zdesc_t d;
        unsigned char *px;
        if (kc_chan_recv_desc(z.out, &d, KC_NO_TIMEOUT, NULL) != 0 ||
            kc_zdesc_hydrate(&d, z.arena, (void **)&px, NULL) != 0)
            break;
        if (d.ptr == (void *)logo)
            logos++;
        else
            bright += px[0] == (unsigned char)(n + 1);
        kc_zdesc_release(&d, z.arena);
    }
    kc_chan_close(z.frames); /* stop early: the blocked sends fail and release */
    kc_chan_close(z.out);
    kc_sched_join(cam, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(fil, NULL, KC_NO_TIMEOUT, NULL);
    kc_chan_destroy(z.frames); /* the arena is attached: leftovers are released here */
    kc_chan_destroy(z.out);
    kc_sched_destroy(s);
    table(z.arena, "after");

    kc_arena_metrics_t m = {.size = sizeof(m)};
    kc_arena_metrics(z.arena, &m);
    int unreg = kc_arena_unregister_region(z.arena, z.logo);
    printf("\n  camera shot %ld, filter forwarded %ld, main read %d (%ld brightened frames, %ld "
           "logos, not one byte copied)\n",
           z.shot, z.forwarded, READ, bright, logos);
    printf("  live tickets %llu, double releases %llu, logo region unregistered: %s\n",
           (unsigned long long)m.live_tickets, (unsigned long long)m.double_releases,
           unreg == 0 ? "yes" : kc_strerror(unreg));
    bool ok = m.live_tickets == 0 && m.double_releases == 0 && unreg == 0 &&
              bright + logos == READ && kc_arena_destroy(z.arena) == 0;
    printf("  zero live tickets at the end: %s\n", ok ? "yes" : "NO");
    return ok ? 0 : 1;
}
