#!/usr/bin/env python3
# Writes the seed corpus of fuzz_devtlb. Input layout (fuzz/fuzz_devtlb.c):
# [header: capacity-1 (4 bits) | pending-1 (3 bits) << 4 | no-retire 0x40 | 2M granule 0x80]
# then operations: [op] [zone] [u32] ([u64] if zone 3) [u32 len-1] [0xff: swap first/last, 0xfe: last = 2^64-1] and, for an update
# (op % 4 == 0), [u64 uaddr if op & 0x10] [perm].
# op % 4: 0 update, 1 invalidate, 2 pending clear, 3 translate (perm (op>>2)&3, max segs ((op>>4)&7)+1).
import os, struct
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "devtlb")
os.makedirs(d, exist_ok=True)
LOW, TOP, PAGE, RAW = 0, 1, 2, 3
MAX = (1 << 64) - 1

def rng(zone, v, length, flip=False, raw=0, top=False):
    b = bytes([zone]) + struct.pack("<I", v)
    if zone == RAW:
        b += struct.pack("<Q", raw)
    return b + struct.pack("<I", length - 1) + bytes([0xff if flip else 0xfe if top else 0])

def update(r, perm, ua=None):
    return bytes([0x10 if ua is not None else 0]) + r + (struct.pack("<Q", ua) if ua is not None else b"") + bytes([perm])

def inval(r):
    return bytes([1]) + r

def clear(r):
    return bytes([2]) + r

def tr(r, perm, maxseg=4):
    return bytes([3 | perm << 2 | (maxseg - 1) << 4]) + r

def write(name, hdr, ops):
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([hdr]) + b"".join(ops))

# three pages, two contiguous in user memory; reads, writes, a read-only page, too few segments
write("basic", 15 | 7 << 4, [
    update(rng(PAGE, 1, 0x1000), 3), update(rng(PAGE, 2, 0x1000), 3), update(rng(PAGE, 3, 0x1000), 1, 0x5000),
    tr(rng(PAGE, 1, 0x2000), 1), tr(rng(PAGE, 1, 0x3000), 1, 1), tr(rng(PAGE, 2, 0x2000), 2), tr(rng(PAGE, 9, 1), 1),
    tr(rng(PAGE, 9, 1), 1), tr(rng(PAGE, 9, 1), 2)])
# QEMU's lazy-mode flush: [0, 0xfee00000) and 0xfef00000 + size ending exactly at 2^64
write("lazy_flush_top", 15 | 7 << 4, [
    update(rng(LOW, 0x1000, 0x1000), 3), update(rng(RAW, 0, 0x100000, raw=0xfee00000), 3),
    update(rng(RAW, 0, 0x1000, raw=0xfef00000), 3), update(rng(TOP, 0xfff, 0x1000), 3),
    tr(rng(TOP, 0, 1), 2), inval(rng(RAW, 0, 0xfee00000, raw=0)),
    inval(rng(RAW, 0, 1, raw=0xfef00000, top=True)),
    tr(rng(RAW, 0, 0x100000, raw=0xfee00000), 1), tr(rng(TOP, 0, 1), 1)])
# overlapping updates replace whole; the same iova again with a new address
write("overlap_replace", 15 | 7 << 4, [
    update(rng(LOW, 0x1000, 0x2000), 3), update(rng(LOW, 0x2800, 0x1800), 1), tr(rng(LOW, 0x1000, 1), 1),
    update(rng(LOW, 0x2800, 0x1800), 3, 0x123456), tr(rng(LOW, 0x2800, 0x10), 2), inval(rng(LOW, 0x3fff, 2)),
    tr(rng(LOW, 0x2800, 1), 1)])
# capacity 4: the fifth retires the oldest
write("capacity_retire", 3 | 7 << 4, [update(rng(PAGE, i, 0x1000), 3) for i in range(6)] +
      [tr(rng(PAGE, 0, 0x6000), 1, 8), update(rng(PAGE, 3, 0x1000), 1), tr(rng(PAGE, 2, 0x3000), 1, 8)])
write("capacity_refuse", 3 | 7 << 4 | 0x40, [update(rng(PAGE, i, 0x1000), 3) for i in range(6)] +
      [tr(rng(PAGE, 0, 0x6000), 1, 8), update(rng(PAGE, 2, 0x1000), 1), tr(rng(PAGE, 0, 0x4000), 1, 8)])
# the pending table (2 pages, 2M granule) overflows; clears forget pages
write("pending_overflow", 15 | 1 << 4 | 0x80, [tr(rng(RAW, 0, 1, raw=i << 21), p) for i in range(4) for p in (1, 2, 1)] +
      [clear(rng(RAW, 0, 1, raw=3 << 21)), tr(rng(RAW, 0, 1, raw=3 << 21), 1), update(rng(RAW, 0, 0x1000, raw=2 << 21), 3),
       tr(rng(RAW, 0, 1, raw=(2 << 21) + 0x1000), 1)])
# the whole space and refusals: inverted ranges, unknown permission bits, a user range past 2^64
write("whole_space_refusals", 15 | 7 << 4, [
    update(rng(RAW, 0, 1, raw=0, top=True), 3), update(rng(LOW, 5, 1, flip=True), 3), update(rng(LOW, 5, 0x10), 5),
    update(rng(LOW, 0, 0x2000), 1, MAX - 0x1000), update(rng(LOW, 0, 0x2000), 1, MAX - 0x1fff),
    tr(rng(LOW, 0, 0x2000), 1), tr(rng(RAW, 0, 1, raw=0, top=True), 1), inval(rng(RAW, 0, 1, raw=0, top=True)), tr(rng(TOP, 0, 1), 0)])
