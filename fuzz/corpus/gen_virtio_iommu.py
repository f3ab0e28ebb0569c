#!/usr/bin/env python3
# Writes the seed corpus of fuzz_virtio_iommu (run from fuzz/corpus/). The byte
# format is fuzz/fuzz_virtio_iommu.c's: a configuration byte, then operations.
import os, random, struct

EP = {0x00: 0, 0x18: 1, 0x20: 2, 0xf8: 3}

def attach(dom, ep, flags=0, rsv=0):
    return bytes([0, 0, dom, EP[ep], flags | (rsv << 2)])
def detach(dom, ep):
    return bytes([0, 2, dom, EP[ep], 0])
def map_(dom, page, npages, phys_page, flags=3, misalign=False):
    # addr_of: 0x80 | page (small aligned space); length (npages-1); flags byte; phys byte
    f = flags | (0x40 if misalign else 0)
    return bytes([0, 3, dom, 0, 0x80 | page, npages - 1, f, phys_page])
def map_top(dom, k):
    return bytes([0, 3, dom, 0, 0x40 | k, 0, 3, 1])
def unmap(dom, page, npages, whole=True):
    return bytes([0, 5, dom, 0, 0x80 | page, npages, 1 if whole else 0])
def probe(ep, small=False):
    return bytes([0, 6, 0, EP[ep], 0 if small else 1] + ([40] if small else []))
def chain(req):
    return bytes([5]) + req[1:] + bytes([0x13])
def bad(kind):
    return bytes([6, kind, 1, 0])
def xl(ep, page, perm):
    return bytes([7, EP[ep], 0x80 | page, 5, perm - 1])
def reset(system):
    return bytes([9, 0 | (4 if system else 0)])
def bypass(v):
    return bytes([9, 1 | (v << 2)])

os.makedirs('virtio_iommu', exist_ok=True)
def w(name, data):
    with open(os.path.join('virtio_iommu', name), 'wb') as f:
        f.write(data)

# The spec's UNMAP examples with a byte granule (config mask 1), pages = bytes.
s = bytes([0x01]) + attach(1, 0x18)
s += unmap(1, 0, 5) + map_(1, 0, 4, 0) + unmap(1, 0, 4)   # (1) nothing; (2) map 0-3... unmap
s += map_(1, 0, 2, 1) + map_(1, 2, 2, 3) + unmap(1, 0, 4)
s += map_(1, 0, 4, 5) + unmap(1, 0, 2) + unmap(1, 0, 4)    # (4) refused, then whole
s += map_(1, 0, 2, 1) + map_(1, 10, 2, 3) + unmap(1, 0, 14)
w('spec_examples', s)
# QEMU's attach_detach and map_unmap shape with a 4K granule and bypass.
s = bytes([0x04]) + attach(0, 0x00) + attach(1, 0x00) + detach(0, 0x00) + detach(1, 0x00)
s += attach(1, 0x00) + map_(1, 0, 1, 0xa1) + map_(1, 2, 1, 0xb1) + map_(1, 0, 16, 0xb1)
s += unmap(1, 0, 0, False) + unmap(1, 0, 1) + detach(1, 0x00)
w('qemu_cases', s)
# Two endpoints in a domain, moves, bypass domains, reserved regions, translations.
s = bytes([0x94]) + attach(2, 0x18) + attach(2, 0x20) + map_(2, 4, 2, 9) + map_(2, 8, 1, 7, 1)
s += xl(0x18, 4, 1) + xl(0x18, 8, 2) + xl(0x20, 9, 1) + attach(3, 0x18, 1) + xl(0x18, 4, 3)
s += map_(3, 1, 1, 1) + attach(2, 0x18) + unmap(2, 0, 12) + bypass(0) + xl(0xf8, 1, 1) + bypass(1)
s += map_top(2, 0) + map_top(2, 1) + unmap(2, 0, 0) + reset(False) + reset(True)
w('endpoints', s)
# PROBE and chains.
s = bytes([0x90]) + probe(0x18) + probe(0x20) + probe(0x18, True)
s += chain(attach(1, 0x18)) + chain(map_(1, 3, 1, 3)) + chain(probe(0x20)) + chain(unmap(1, 0, 8))
s += b''.join(bad(k) for k in range(10))
w('chains', s)
# Narrow ranges, small budget, no BYPASS_CONFIG.
s = bytes([0x68]) + attach(1, 0x18) + attach(4, 0x18) + b''.join(map_(1, i, 1, i) for i in range(6))
s += attach(2, 0x20, 1) + unmap(1, 0, 64)
w('narrow', s)
rng = random.Random(12)
for i in range(4):
    w('random%d' % i, bytes(rng.randrange(256) for _ in range(600)))
