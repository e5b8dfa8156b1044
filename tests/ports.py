"""Free TCP ports on 127.0.0.1 for the servers and workers tests start (the OS picks them)."""

import socket


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free right now: all bound at once, so the OS cannot repeat one."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """One port free right now on 127.0.0.1."""
    return free_ports(1)[0]
