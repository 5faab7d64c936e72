# graduated/arena/module.mk - written by make graduate from lab/arena/Makefile; do not edit.
MODULES       += arena
arena.dir      := graduated/arena
arena.layer    := 2
arena.srcs     := kc_arena.c kc_arena_cache.c kc_arena_check.c kc_arena_dump.c kc_arena_page.c kc_arena_region.c kc_arena_ticket.c
arena.services :=
arena.uses     :=
arena.public   := kcoro/arena.h
