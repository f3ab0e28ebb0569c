#!/usr/bin/env python3
# Writes the seed corpus of fuzz_vtd: guest programs that bring a unit up,
# build root / context / second-stage tables with the structured operations,
# translate, invalidate through the queue and the registers, and check the
# listener's view; plus hostile ones (garbage descriptors, registers, tables).
# Input layout: [config] then operations (fuzz/fuzz_vtd.c, LLVMFuzzerTestOneInput).
import os, struct
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vtd")
os.makedirs(d, exist_ok=True)

def u32(v): return struct.pack("<I", v & 0xffffffff)
def u64(v): return struct.pack("<Q", v & 0xffffffffffffffff)

def mmio_w(off, val, size8=False):    # op 0 with a raw offset
    return bytes([0x40 if size8 else 0]) + u32(off) + u64(val)
def mem_w(addr, val): return bytes([2]) + u32(addr) + u64(val)
def root(): return bytes([3, 0]) + u64(0)
# structured entries: [3] [k] [u64 v] then, for tables and leaves, [slot] (and [output page])
def ctx(devfn, tt_bits=0): return bytes([3, 1 | (devfn << 2)]) + u64(tt_bits)
def table(level_page, slot, child_page): return bytes([3, 2 | (level_page << 2) | (child_page << 5)]) + u64(0) + bytes([slot])
def leaf(page, slot, out_page, bits=3): return bytes([3, 3 | (page << 2)]) + u64(bits) + bytes([slot, out_page])
def bringup(qs=0, qi=True): return bytes([4 | (0x80 if qi else 0), qs])
def desc(lo, hi): return bytes([5]) + u64(lo) + u64(hi)
def xl(sid_idx, sel, fields, acc=1, ats=0):
    op = 6 | ((acc - 1) << 4) | (0x80 if ats else 0) | (0x40 if ats == 2 else 0)
    return bytes([op, sid_idx, sel]) + fields
def xl_page(sid_idx, page, off=0, acc=1): return xl(sid_idx, 4, bytes([page, off]), acc)
def flush(): return bytes([9])
def listen(sid_idx=0): return bytes([10 | (sid_idx << 4)])
def check(): return bytes([11])
def dma(sid_idx, write, length, sel, fields):
    return bytes([8 | (sid_idx << 4) | (0x80 if write else 0), length, sel]) + fields

def tables():
    # root -> context for devfn 0x18 (00:03.0) -> tables at 0x3000 (L3) -> 0x4000 (L2) -> 0x5000 (L1)
    return (root() + ctx(0x18 & 0x3f) + table(0, 0, 1) + table(1, 0, 2) +
            leaf(2, 1, 0x40) + leaf(2, 2, 0x41, 1) + leaf(2, 3, 0x42, 2))

progs = {
    "bringup_qi": bytes([0x00]) + bringup(0, True) + tables() + flush() +
        b"".join(xl_page(0, p) for p in range(6)) + desc(0x15 << 32 | 0x20 | 5, 0x90000),
    "listener_cm": bytes([0x05]) + listen(0) + bringup(0, False) + tables() + flush() + check() +
        xl_page(0, 1) + xl_page(0, 3, acc=2) + mem_w(0x5000 + 8, 0) + check(),
    "devtlb_ats": bytes([0x03]) + bringup(1, True) + tables() + ctx(0x18 & 0x3f, 1 << 2) + flush() +
        xl(0, 4, bytes([1, 0]), 1, 1) + xl(0, 4, bytes([2, 0]), 2, 2) + desc(0x18 << 32 | 3, 0x7001),
    "aw48": bytes([0x08]) + bringup(0, True) + tables() + flush() + xl_page(0, 1) +
        xl(0, 1, u64(1 << 40)),
    "window": bytes([0x00]) + bringup(0, True) + tables() + flush() + xl(0, 0, u32(0x10)) +
        dma(0, True, 64, 0, u32(0x0)) + dma(0, False, 64, 4, bytes([1, 0])),
    "garbage_queue": bytes([0x10]) + bringup(7, True) + b"".join(desc(0x0123456789abcdef * (i + 1), i * 0x1111)
        for i in range(40)) + mmio_w(0x34, 0x10) + mmio_w(0x88, 0x7fff0, True),
    "garbage_regs": bytes([0x20]) + b"".join(mmio_w(off, 0xffffffffffffffff, off % 8 == 0)
        for off in range(0, 0x240, 4)) + flush() + xl_page(1, 0),
    "faults_nfr4": bytes([0x30]) + bringup(0, True) + tables() + flush() +
        b"".join(xl(i % 4, 4, bytes([0x20 + i, 0]), 1 + i % 2) for i in range(12)) +
        mmio_w(0x38, 0) + mmio_w(0x22c, 0x80000000) + mmio_w(0x34, 1),
    "hostile_tables": bytes([0x01]) + listen(0) + bringup(0, False) + root() + ctx(0x18 & 0x3f) +
        table(0, 0, 0) + leaf(2, 4, 0x43, 3 | 0xf00) + mem_w(0x3008, 0xffffffffffffffff) + mem_w(0x2000 + 0x18 * 16 + 8, 0xff) + flush() +
        xl_page(0, 0) + xl_page(0, 1) + check(),
}
for name, data in progs.items():
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
