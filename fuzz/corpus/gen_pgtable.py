#!/usr/bin/env python3
# Writes the seed corpus of fuzz_pgtable. Input: [sel] then 7-byte records
# [kind|class<<2] [iova units] [len code] [phys code] [off lo] [off hi] [extra].
import os
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pgtable")
os.makedirs(d, exist_ok=True)
MAP, UNMAP, CUT, LOOK = 0, 1, 2, 3
def rec(kind, cls, a, l, p=0x80, off=0, extra=0):
    return bytes([kind | (cls << 2), a, l, p, off & 0xff, off >> 8, extra])
def write(name, sel, recs):
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([sel]) + b"".join(recs))
# VT-d 4 levels, whole-leaf policy: map big, cut, unmap pieces, look up.
write("vtd4_cut", 1, [rec(MAP, 2, 1, 0), rec(CUT, 0, 1, 0, extra=0x0b), rec(LOOK, 0, 1, 0, off=0x100),
                      rec(UNMAP, 0, 1, 0), rec(UNMAP, 2, 1, 0), rec(LOOK, 1, 3, 0)])
# VT-d 3 levels, refuse-partial: mixed sizes, partial unmaps refused.
write("vtd3_refuse", 1 << 3, [rec(MAP, 1, 3, 0x0e), rec(UNMAP, 0, 3, 0, extra=0x09), rec(MAP, 0, 200, 2, p=0x10, off=7),
                              rec(UNMAP, 1, 3, 1), rec(LOOK, 0, 200, 0)])
# ARM S1 4K 39 bits: identity-offset maps, overlap, cut, unmap all.
write("arm_s1_4k", 3, [rec(MAP, 1, 5, 3), rec(MAP, 0, 5, 1), rec(CUT, 1, 6, 0, extra=0x0f), rec(MAP, 2, 0, 0),
                       rec(UNMAP, 1, 5, 3), rec(LOOK, 2, 0, 0, off=9)])
# ARM S2 64K 42 bits: 512M blocks.
write("arm_s2_64k", 6, [rec(MAP, 1, 1, 1), rec(CUT, 0, 1, 0, extra=0x0a), rec(UNMAP, 1, 1, 0), rec(MAP, 0, 17, 4, p=0x20, off=3)])
# ARM S1 16K restricted to the granule: only 16K pages.
write("arm_s1_16k_gran", 5 | (1 << 4), [rec(MAP, 0, 1, 3, off=1), rec(CUT, 0, 2, 0), rec(UNMAP, 0, 1, 1)])
# VT-d 4K only: runs of 4K pages across table boundaries.
write("vtd4_gran", 1 | (1 << 4), [rec(MAP, 0, 250, 0x3f), rec(UNMAP, 0, 251, 0x3f), rec(LOOK, 0, 250, 0, off=1)])
# AMD v1 (sel bit 5): 4 levels, whole-leaf policy; 1 level (4K pages only); 6 levels, refuse-partial.
write("amd4_cut", 0x20 | 3, [rec(MAP, 2, 1, 0), rec(CUT, 0, 1, 0, extra=0x0b), rec(LOOK, 0, 1, 0, off=0x100),
                             rec(UNMAP, 0, 1, 0), rec(UNMAP, 2, 1, 0), rec(LOOK, 1, 3, 0)])
write("amd1", 0x20 | 0, [rec(MAP, 0, 1, 3, off=1), rec(CUT, 0, 2, 0), rec(UNMAP, 0, 1, 1), rec(LOOK, 0, 1, 0)])
write("amd6_refuse", 0x20 | 5 | (1 << 3), [rec(MAP, 1, 3, 0x0e), rec(UNMAP, 0, 3, 0, extra=0x09),
                                          rec(MAP, 0, 200, 2, p=0x10, off=7), rec(UNMAP, 1, 3, 1), rec(LOOK, 0, 200, 0)])
