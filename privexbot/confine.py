"""A seccomp filter a child process puts on itself before it opens untrusted files: socket(2) and
io_uring_setup(2) fail with EACCES.

A network namespace (privexbot.sandbox.network_isolation) takes away the network, but not Unix sockets, which
live in the filesystem: the embedded PostgreSQL and Valkey listen on sockets under var/, where a parser taken
over by a hostile file could connect as the same user. With the filter no socket can be created at all, of any
family; socketpair(2) stays allowed (it reaches nothing). Unprivileged (PR_SET_NO_NEW_PRIVS), so it applies
whenever the kernel has seccomp, root or not.

Pure standard library (ctypes): the parse child does not load Django.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_X32_SYSCALL_BIT = 0x40000000

# machine -> (AUDIT_ARCH_*, socket, io_uring_setup, has the x32 ABI)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425, True),
    "aarch64": (0xC00000B7, 198, 425, False),
}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def socket_filter_program(machine: str) -> bytes | None:
    """The BPF program: calls of a foreign ABI (32-bit int 0x80, x32) are refused outright, since their
    numbers differ; socket and io_uring_setup are refused; everything else is allowed. None on an unknown
    machine."""
    if machine not in _ARCHES:
        return None
    arch, nr_socket, nr_io_uring, x32 = _ARCHES[machine]
    deny = _RET_ERRNO | errno.EACCES
    program = [
        _insn(_LD_W_ABS, 4),  # seccomp_data.arch
        _insn(_JEQ_K, arch, jt=1),
        _insn(_RET_K, deny),
        _insn(_LD_W_ABS, 0),  # seccomp_data.nr
    ]
    if x32:
        program += [_insn(_JGE_K, _X32_SYSCALL_BIT, jf=1), _insn(_RET_K, deny)]
    program += [
        _insn(_JEQ_K, nr_socket, jt=2),
        _insn(_JEQ_K, nr_io_uring, jt=1),
        _insn(_RET_K, _RET_ALLOW),
        _insn(_RET_K, deny),
    ]
    return b"".join(program)


def block_sockets() -> bool:
    """Install the filter on this process (and every process it starts); False where the machine has no
    seccomp or an unknown architecture. Cannot be undone."""
    program = socket_filter_program(platform.machine())
    if program is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    no_new_privs = libc.prctl(
        ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)
    )
    if no_new_privs != 0:
        return False
    installed = libc.prctl(
        ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
        ctypes.c_ulong(0), ctypes.c_ulong(0),
    )  # fmt: skip
    return installed == 0
