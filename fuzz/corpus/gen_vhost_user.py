#!/usr/bin/env python3
# Writes the seed corpus of fuzz_vhost_user (layout in fuzz/fuzz_vhost_user.c):
# whole sessions as QEMU runs them (with and without the IOMMU), requests through
# the rings, an invalidation and a failed MISS, hostile descriptors, malformed messages.
import os, struct
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vhost_user")
os.makedirs(d, exist_ok=True)
V, NEED = 1, 8
F_VERSION_1, F_ACCESS_PLATFORM, F_INDIRECT = 1 << 32, 1 << 33, 1 << 28
P_REPLY_ACK, P_BACKEND_REQ = 1 << 3, 1 << 5
UADDR, IOVA = 0x7000000, 0x40000000

def msg(req, payload=b"", nfds=0, flags=V | NEED):
    return bytes([req, flags]) + struct.pack("<H", len(payload)) + bytes([nfds]) + payload

def u64(v): return struct.pack("<Q", v)
def state(i, n): return struct.pack("<II", i, n)
def poke(off, data):
    out = b""
    for k in range(0, len(data), 255):
        c = data[k:k + 255]
        out += bytes([0xff]) + struct.pack("<H", off + k) + bytes([len(c)]) + c
    return out
PROCESS = bytes([0xfe])
def ack(v, good=True): return bytes([0xfd, 0 if good else 1]) + u64(v)
def iotlb(iova, size, uaddr, perm, typ): return msg(22, struct.pack("<QQQBB6x", iova, size, uaddr, perm, typ))
def desc(addr, ln, flags, nxt): return struct.pack("<QIHH", addr, ln, flags, nxt)

def setup(iommu):
    base = IOVA if iommu else 0
    s = msg(2, u64(F_VERSION_1 | F_INDIRECT | (F_ACCESS_PLATFORM if iommu else 0)))
    s += msg(16, u64(P_REPLY_ACK | P_BACKEND_REQ)) + msg(21, nfds=1)
    s += msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x10000, UADDR, 0), nfds=1)
    ring = IOVA if iommu else UADDR
    s += msg(8, state(0, 8)) + msg(9, struct.pack("<IIQQQQ", 0, 0, ring, ring + 0x200, ring + 0x100, 0))
    s += msg(10, state(0, 0)) + msg(12, u64(0), nfds=1) + msg(13, u64(0), nfds=1) + msg(18, state(0, 1))
    return s, base

def request(base, typ, sector, idx, table):
    hdr = struct.pack("<IIQ", typ, 0, sector)
    s = poke(0x1000, hdr) + poke(0x2000, bytes(range(256)) * 2)
    s += poke(0, table(base))
    s += poke(0x100, struct.pack("<HH", 0, idx) + struct.pack("<H", 0) * 8)
    return s + PROCESS

def chain(base, wr=False):
    return desc(base + 0x1000, 16, 1, 1) + desc(base + 0x2000, 512, 1 | (2 if wr else 0), 2) + desc(base + 0x3000, 1, 2, 0)

def write(name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

s, b = setup(True)
s += msg(1) + msg(15) + msg(17) + msg(24, struct.pack("<III", 0, 60, 0) + bytes(60))
s += iotlb(IOVA, 0x10000, UADDR, 3, 2) + ack(0)
s += request(b, 1, 0, 1, chain) + request(b, 0, 0, 2, lambda x: chain(x, True))
s += iotlb(IOVA + 0x2000, 0x1000, 0, 0, 3) + request(b, 1, 0, 3, chain) + ack(1) + PROCESS
s += iotlb(0xfef00000, 0xffffffff01100000, 0, 0, 3) + msg(11, state(0, 0))
write("session_iommu", s)

s, b = setup(True)  # no UPDATE at all: every ring access misses, acks succeed without updates
s += request(b, 1, 0, 1, chain) + ack(0) + PROCESS + ack(0) + PROCESS + ack(1) + PROCESS + ack(0, good=False)
write("session_misses", s)

s, b = setup(False)
s += request(b, 1, 8, 1, chain) + request(b, 0, 8, 2, lambda x: chain(x, True)) + request(b, 4, 0, 3, lambda x: desc(x + 0x1000, 16, 1, 1) + desc(x + 0x3000, 1, 2, 0))
s += request(b, 8, 0, 4, lambda x: chain(x, True))
write("session_gpa", s)

s, b = setup(False)  # a loop, a far index, readable after writable, indirect tables
s += request(b, 1, 0, 1, lambda x: desc(x + 0x1000, 16, 1, 1) + desc(x + 0x2000, 16, 1, 0))
s += request(b, 1, 0, 2, lambda x: desc(x + 0x1000, 16, 1, 200))
s += request(b, 1, 0, 3, lambda x: desc(x + 0x3000, 1, 3, 1) + desc(x + 0x1000, 16, 0, 0))
s += poke(0x4000, chain(b)) + request(b, 1, 0, 4, lambda x: desc(x + 0x4000, 48, 4, 0))
s += request(b, 1, 0, 5, lambda x: desc(x + 0x4000, 40, 4, 0)) + request(b, 1, 0, 6, lambda x: desc(x + 0x4000, 48, 5, 0))
s += poke(0x100, struct.pack("<HH", 0, 200)) + PROCESS
write("hostile_chains", s)

s = msg(2, u64(1), flags=V) + msg(2, b"\0" * 4) + msg(1, flags=2) + msg(1, flags=V | 4) + msg(99) + msg(99, flags=V)
s += msg(5, struct.pack("<II", 9, 0) + bytes(9 * 32), nfds=8) + msg(5, struct.pack("<II", 1, 0) + bytes(32))
s += msg(12, u64(0)) + msg(12, u64(0x200), nfds=1) + msg(12, u64(0x100)) + msg(21) + msg(22, bytes(26))
s += msg(24, struct.pack("<III", 0, 300, 0) + bytes(256)) + msg(8, state(7, 8)) + msg(8, state(0, 0))
s += msg(9, struct.pack("<IIQQQQ", 0, 1, 0x1000, 0x2000, 0x3000, 0)) + msg(9, struct.pack("<IIQQQQ", 0, 0, 0x1008, 0x2000, 0x3000, 0))
s += msg(5, struct.pack("<II", 2, 0) + struct.pack("<QQQQ", 0, 0x10000, UADDR, 0) * 2, nfds=2)
s += msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x20000, UADDR, 0), nfds=1)
s += iotlb(0, 0, 0, 3, 2) + iotlb(1, 0, 0, 0, 1) + msg(25, struct.pack("<III", 0, 4, 0) + bytes(4))
write("hostile_messages", s)
