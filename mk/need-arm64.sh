#!/bin/sh
# mk/need-arm64.sh - the cross toolchain, qemu-user and an arm64 cmocka for
# `make test-aarch64`. cmocka comes from Debian's arm64 archive (multiarch).
here=$(dirname "$0")
if ! dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "kcoro: run: sudo dpkg --add-architecture arm64 && sudo apt-get update" >&2
        exit 1
    fi
    dpkg --add-architecture arm64 && apt-get update -q >/dev/null 2>&1
fi
exec "$here/need.sh" gcc-aarch64-linux-gnu=/usr/bin/aarch64-linux-gnu-gcc \
    qemu-user=/usr/bin/qemu-aarch64 \
    libcmocka-dev:arm64=link:aarch64-linux-gnu-gcc:cmocka.h:-lcmocka
