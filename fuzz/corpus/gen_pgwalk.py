#!/usr/bin/env python3
# Writes the seed corpus of fuzz_pgwalk: small guest memories holding valid and
# broken tables. Input layout: [fmt] [geometry] [oas] [4 x u64 iova] [access] memory...
import os, struct
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pgwalk")
os.makedirs(d, exist_ok=True)

def entry(mem, page_off, idx, val):
    off = page_off + idx * 8
    if len(mem) < off + 8:
        mem.extend(b"\0" * (off + 8 - len(mem)))
    mem[off:off + 8] = struct.pack("<Q", val)

def write(name, sel, geo, oasb, iovas, acc, mem):
    hdr = bytes([sel, geo, oasb]) + b"".join(struct.pack("<Q", i) for i in iovas) + bytes([acc])
    with open(os.path.join(d, name), "wb") as f:
        f.write(hdr + bytes(mem))

# VT-d 4 levels (geo 1), oas 48 (oasb 9): a 4K leaf, a 2M leaf, a read-only table.
m = bytearray()
entry(m, 0x0000, 0, 0x1000 | 3)
entry(m, 0x1000, 0, 0x2000 | 3)
entry(m, 0x2000, 0, 0x3000 | 3)
entry(m, 0x2000, 1, 0x40200000 | 3 | 0x80)
entry(m, 0x2000, 2, 0x3000 | 1)
entry(m, 0x3000, 0, 0x7000 | 3 | 0x800)
entry(m, 0x3000, 1, (1 << 50) | 3)
write("vtd4", 0, 1, 9, [0x10, 0x200123, 0x400000, 0x1000], 0b10011001, m)
# VT-d 3 levels with a self loop at the root.
m = bytearray()
entry(m, 0, 0, 0x0 | 3)
write("vtd3_loop", 0, 0, 0, [0x8, 0x1000, 1 << 39, 0x40000000], 0b01010101, m)
# ARM S1 4K 48 bits (geo 23 -> ias 48): table chain, a page, a 2M block, APTable RO.
T, AF = 3, 1 << 10
m = bytearray()
entry(m, 0x0000, 0, 0x1000 | T)
entry(m, 0x1000, 0, 0x2000 | T)
entry(m, 0x2000, 0, 0x3000 | T)
entry(m, 0x2000, 1, 0x40200000 | 1 | AF)
entry(m, 0x2000, 2, 0x3000 | T | (1 << 62))
entry(m, 0x3000, 0, 0x9000 | T | AF | 0x80)
entry(m, 0x3000, 1, 0x9000 | 1 | AF)
write("arm_s1_4k", 1, 23, 16, [0x0, 0x200000, 0x400000, 0x1000], 0b10101010, m)
# ARM S2 4K: S2AP read-only and write-only leaves, AF missing.
m = bytearray()
entry(m, 0x0000, 0, 0x1000 | T)
entry(m, 0x1000, 0, 0x2000 | T)
entry(m, 0x2000, 0, 0x3000 | T)
entry(m, 0x3000, 0, 0x9000 | T | AF | (1 << 6) | (0xf << 2))
entry(m, 0x3000, 1, 0x9000 | T | AF | (2 << 6))
entry(m, 0x3000, 2, 0x9000 | T | (3 << 6))
write("arm_s2_4k", 2, 23, 16, [0x0, 0x1000, 0x2000, 0x3000], 0b01100110, m)
# ARM S1 16K granule, 36 bits (geo 11): two levels.
m = bytearray()
entry(m, 0x0000, 0, 0x4000 | T)
entry(m, 0x0000, 1, 0x2000000 | 1 | AF)
entry(m, 0x4000, 3, 0x8000 | T | AF)
write("arm_s1_16k", 1 | (1 << 2), 11, 16, [0xc000, 0x2004000, 0x0, 0x4000], 0b00000101, m)
# ARM S2 64K granule, 29 bits (geo 4): a single level of 64K pages.
m = bytearray()
entry(m, 0x0000, 0, 0x30000 | T | AF | (3 << 6))
entry(m, 0x0000, 1, 0x40000 | 1 | AF | (3 << 6))
write("arm_s2_64k", 2 | (2 << 2), 4, 16, [0x1234, 0x10000, 0x20000, 1 << 29], 0b10101010, m)
# AMD v1 (fmt % 3 == 0 with bit 7; bits 3:2 = the DTE's withheld IR/IW), mode 4
# (geo 3), oas 48 (oasb 16): a PDE chain, a 4K PTE, an 8K NL=7 page, a 2M NL=0
# leaf, a PDE skipping level 2, and a root entry pointing at its own level.
PR, IR, IW, FC = 1, 1 << 61, 1 << 62, 1 << 60
def nl(n):
    return n << 9
m = bytearray()
entry(m, 0x0000, 0, 0x1000 | PR | IR | IW | nl(3))
entry(m, 0x0000, 1, 0x0000 | PR | IR | IW | nl(4))
entry(m, 0x1000, 0, 0x2000 | PR | IR | IW | nl(2))
entry(m, 0x1000, 1, 0x3000 | PR | IR | nl(1))
entry(m, 0x2000, 0, 0x3000 | PR | IR | IW | nl(1))
entry(m, 0x2000, 1, 0x400000 | PR | IR | IW | FC)
entry(m, 0x3000, 0, 0x9000 | PR | IR | IW)
entry(m, 0x3000, 2, 0x8000 | PR | IR | nl(7))
write("amd4", 0x81, 3, 16, [0x10, 0x2008, 0x200123, 0x40000000], 0b01100110, m)
# AMD mode 6 (geo 5), the DTE withholds write (sel 0x8a): a 64K NL=7 page under
# a PDE that skips from level 6 to level 1, an undecodable size, a loop upwards.
m = bytearray()
entry(m, 0x0000, 0, 0x1000 | PR | IR | IW | nl(1))
entry(m, 0x0000, 1, 0x0000 | PR | IR | IW | nl(5))
entry(m, 0x1000, 0, 0x30000 | 0x7000 | PR | IR | IW | nl(7))
entry(m, 0x1000, 16, 0x1000 | PR | IR | IW | nl(7))
entry(m, 0x1000, 32, 0x1000 | PR | IR | IW | nl(2))
write("amd6_skip", 0x8a, 5, 16, [0x0, 0x10000, 0x20000, 1 << 57], 0b00101110, m)
