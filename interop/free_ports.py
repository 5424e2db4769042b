"""Prints N distinct TCP ports on 127.0.0.1 that are free right now.

They are picked below the kernel's ephemeral range, so an outgoing connection made between
picking and binding (a peer's client, a package download) cannot take one as its source port,
and they are distinct from each other (ports picked one by one with bind(0) can repeat).
"""

import random
import socket
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
lo, hi = 20000, 32000
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        hi = min(hi, int(f.read().split()[0]) - 1)
except (OSError, ValueError, IndexError):
    pass
got = []
for _ in range(10000):
    if len(got) == n:
        break
    p = random.randint(lo, hi)
    if p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
if len(got) < n:
    sys.exit("free_ports: not enough free ports")
print(" ".join(map(str, got)))
