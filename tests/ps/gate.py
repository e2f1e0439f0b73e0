#!/usr/bin/env python3
"""gate.py PATH PID — hold process PID's first open of PATH until told to let it through.

A fanotify permission mark (FAN_OPEN_PERM) on PATH: when the daemon opens the file (its
walker opens every regular file before handing it on), the open blocks here, so a test can
act on a scan that is known to be in flight instead of racing it. Opens by other processes
are allowed at once.

Protocol on stdout/stdin: prints "ready" once the mark is in place, "held" when PID's open
is held; a line on stdin (or its end) lets everything through and ends the program.
Needs CAP_SYS_ADMIN (the tests run as root); prints "unavailable: <reason>" and exits 3
when fanotify cannot be used here.
"""
import ctypes
import os
import select
import struct
import sys

FAN_CLOEXEC = 0x1
FAN_CLASS_CONTENT = 0x4
FAN_MARK_ADD = 0x1
FAN_OPEN_PERM = 0x10000
FAN_ALLOW = 0x1
AT_FDCWD = -100
META = struct.Struct("IBBHQii")  # struct fanotify_event_metadata


def main():
    if len(sys.argv) != 3:
        print("usage: gate.py PATH PID", file=sys.stderr)
        return 2
    path, pid = sys.argv[1], int(sys.argv[2])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64,
                                   ctypes.c_int, ctypes.c_char_p]
    fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC,
                            os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
    if fd < 0:
        print("unavailable: fanotify_init: " + os.strerror(ctypes.get_errno()), flush=True)
        return 3
    if libc.fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, os.fsencode(path)) != 0:
        print("unavailable: fanotify_mark: " + os.strerror(ctypes.get_errno()), flush=True)
        return 3
    print("ready", flush=True)

    held = []
    released = False
    stdin = sys.stdin.fileno()
    while True:
        r, _, _ = select.select([fd, stdin] if not released else [fd], [], [],
                                None if not released else 0)
        if stdin in r:
            os.read(stdin, 4096)  # any line, or the end: let everything through
            released = True
            for efd in held:
                os.write(fd, struct.pack("iI", efd, FAN_ALLOW))
                os.close(efd)
            held = []
            continue
        if fd not in r:
            break  # released and nothing pending
        buf = os.read(fd, 4096)
        off = 0
        while off + META.size <= len(buf):
            ev_len, _, _, _, _, efd, epid = META.unpack_from(buf, off)
            off += ev_len
            if not released and epid == pid and not held:
                held.append(efd)
                print("held", flush=True)
            else:
                os.write(fd, struct.pack("iI", efd, FAN_ALLOW))
                os.close(efd)
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
