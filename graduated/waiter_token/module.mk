# graduated/waiter_token/module.mk - written by make graduate from lab/waiter_token/Makefile; do not edit.
MODULES       += waiter_token
waiter_token.dir      := graduated/waiter_token
waiter_token.layer    := 2
waiter_token.srcs     := kc_waiter.c
waiter_token.services := kc_waiter.h
waiter_token.uses     :=
waiter_token.public   :=
