#!/usr/bin/env python3
# Writes the seed corpus of fuzz_out_index (run from fuzz/corpus/).
# An operation is: op byte, then three coordinates a, b, c; a coordinate byte
# below 0x80 is a small value (b & 0x3f), 0x80-0xbf the top of the space
# (2^64 - 1 - (b & 0x3f)), an odd byte from 0xc0 is followed by a u64, an even
# one is 64 + ((b >> 1) & 31) * 8. op % 5: 0, 1 insert [a, b] at IOVA c;
# 2 remove (op & 8: a present key chosen by c); 3 query [a, b]; 4 clear if
# op >= 0xf0.
import os, random, struct

def small(v): return bytes([v & 0x3f])
def top(k): return bytes([0x80 | (k & 0x3f)])
def big(v): return bytes([0xc1]) + struct.pack('<Q', v)
def ins(a, b, c): return bytes([0]) + a + b + c
def rm(a, c): return bytes([2]) + a + small(0) + c
def rm_present(k): return bytes([10]) + small(0) + small(0) + small(k)
def q(a, b): return bytes([3]) + a + b + small(0)
CLEAR = bytes([0xf4]) + small(0) * 3

os.makedirs('out_index', exist_ok=True)
def w(name, data):
    with open(os.path.join('out_index', name), 'wb') as f:
        f.write(data)

# ascending and descending keys: every rotation case
w('ascending', b''.join(ins(small(i), small(i + 3), small(i)) for i in range(60)) +
  b''.join(q(small(i), small(i)) for i in range(0, 64, 5)))
w('descending_remove', b''.join(ins(small(63 - i), small(63), small(i)) for i in range(60)) +
  b''.join(rm_present(i) for i in range(60)) + q(small(0), small(63)))
# one output range behind many IOVAs (aliases), with nested and wide ranges
w('aliases', b''.join(ins(small(8), small(16), small(i)) for i in range(40)) +
  ins(small(0), top(0), big(1 << 40)) + q(small(12), small(12)) + rm(small(8), small(7)) +
  q(small(0), small(7)) + q(small(17), top(0)))
# the top of the space and full-width values
w('top', ins(top(5), top(0), top(0)) + ins(big(0xfffffffffffff000), top(0), small(1)) +
  ins(small(0), top(0), small(2)) + q(top(0), top(0)) + q(big(0x8000000000000000), top(3)) +
  rm(top(5), top(0)) + q(top(5), top(5)) + CLEAR + q(small(0), top(0)))
# a fixed random mix
rng = random.Random(0x10330031)
def coord():
    k = rng.randrange(4)
    return small(rng.randrange(64)) if k < 2 else top(rng.randrange(64)) if k == 2 else big(rng.getrandbits(64))
mix = b''
for _ in range(400):
    kind = rng.choice([0, 0, 1, 2, 10, 3, 3])
    mix += bytes([kind]) + coord() + coord() + coord()
w('random_mix', mix + q(small(0), top(0)))
