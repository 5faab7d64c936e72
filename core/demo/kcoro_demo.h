/* kcoro_demo.h - sections of the `make demo` tour, one file each. */
#ifndef KCORO_DEMO_H
#define KCORO_DEMO_H

/* Each section prints its part of the tour and returns 0, or non-zero when
 * something it shows did not behave as it should. */
int kc_demo_coroutines(void);
int kc_demo_scheduler(void);
int kc_demo_channels(void);
int kc_demo_zero_copy(void);

/* The broadcast bus: fast, slow and topic-filtered subscribers, lag, close. */
int kc_demo_bus(void);

/* Go and Kotlin idioms: select cases off and discards, spawning with
 * arguments, produce, task-local context, timer channels, typed channels,
 * blocking calls, actors, the deadlock report. */
int kc_demo_ergonomics(void);

/* Actors: a bank of account actors under a storm of transfers, audited. */
int kc_demo_actors(void);

/* Print a section heading. */
void kc_demo_heading(const char *title);

#endif /* KCORO_DEMO_H */
