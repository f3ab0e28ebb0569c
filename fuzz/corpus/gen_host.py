#!/usr/bin/env python3
# Writes the seed corpora of fuzz_host_sim and fuzz_vfio_caps (run from fuzz/corpus/).
import struct, os

def q35(dma=65535):
    b = struct.pack('<IIQII', 88, 3, 0x40201000, 24, 0)
    b += struct.pack('<HHIII', 1, 1, 72, 2, 0) + struct.pack('<QQQQ', 0, 0xfedfffff, 0xfef00000, 0x7fffffffff)
    b += struct.pack('<HHII', 3, 1, 0, dma) + b'\0' * 4
    return b

os.makedirs('vfio_caps', exist_ok=True)
def w(d, name, data):
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)
w('vfio_caps', 'q35', b'\x04' + q35())
w('vfio_caps', 'q35_cap1', b'\x01' + q35())
w('vfio_caps', 'nocaps', b'\x04' + struct.pack('<IIQII', 24, 1, 0x1000, 0, 0))
loop = bytearray(q35()); struct.pack_into('<I', loop, 76, 24)
w('vfio_caps', 'loop', b'\x04' + bytes(loop))
unk = bytearray(q35()); struct.pack_into('<H', unk, 24, 2)
w('vfio_caps', 'unknown_cap', b'\x04' + bytes(unk))

# fuzz_host_sim: sem byte, limit byte, then ops: kind u8, a u64, b u64
def op(kind, a, b):
    return struct.pack('<BQQ', kind, a, b)
RW = 3 << 6
os.makedirs('host_sim', exist_ok=True)
for sem, name in ((0, 'v2'), (1, 'v1'), (2, 'iommufd')):
    s = bytes([sem, 8])
    s += op(0 | RW, 0, 2)              # map grid page 0, 2 pages
    s += op(0 | RW, 1, 1)              # overlap
    s += op(1, 1, 1)                   # bisect / v1 inside / ENOENT
    s += op(1, 0, 2)                   # exact
    s += op(0 | RW | (1 << 2), 0xf0, 0x20)  # near the MSI window
    s += op(3, 0, 0)                   # unmap all
    w('host_sim', name + '_basic', s)
s = bytes([2, 1])
for i in range(6):
    s += op(0 | RW | 0x20, i, 1 + i)   # auto IOVA maps
s += op(3, 0, 0)
w('host_sim', 'iommufd_auto', s)
s = bytes([0, 3]) + b''.join(op(0 | RW, i * 2, 1) for i in range(5))  # hits ENOSPC at 3
w('host_sim', 'v2_limit', s)
