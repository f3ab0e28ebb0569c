// SPDX-License-Identifier: MIT
/*
 * The split-virtqueue helpers (virtio spec 1.2 section 2.7) over a small
 * guest memory: requests split over descriptors and indirect tables, the
 * used ring, the event queue, and every malformed chain refused with
 * bounded work: loops, chains longer than the bound, indexes out of range,
 * readable after writable, bad indirect descriptors, unreadable memory.
 */
#include <viommu/virtio_iommu.h>

#include "test.h"
#include "virtio_iommu_model.h"
#include "virtq_guest.h"

#define S(x) VIOMMU_VIRTIO_IOMMU_S_##x
#define DESC 0x0000u
#define AVAIL 0x1000u
#define USED 0x2000u
#define QSZ 16u
static struct viommu_virtio_vq vq_new(void)
{
	return (struct viommu_virtio_vq){ .desc = DESC, .avail = AVAIL, .used = USED, .size = QSZ };
}

static struct viommu_virtio_iommu *dev_new(unsigned max_chain)
{
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .max_chain = max_chain };
	struct viommu_virtio_iommu *d = viommu_virtio_iommu_new(&o);

	if (!d || viommu_virtio_iommu_add_endpoint(d, 8, NULL))
		T_FATAL("device");
	return d;
}

static uint64_t bad_chains(struct viommu_virtio_iommu *d)
{
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };

	viommu_virtio_iommu_get_stats(d, &st);
	return st.bad_chains;
}

/* Requests over plain chains, split descriptors, the used ring. */
static void test_chains(void)
{
	struct viommu_virtio_iommu *d = dev_new(0);
	struct viommu_virtio_vq vq = vq_new();
	uint32_t used;

	memset(vq_mem, 0, sizeof(vq_mem));
	/* ATTACH: readable 20 bytes in one descriptor, the tail in another. */
	enc_attach(vq_mem + 0x10000, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 8, 0, 0);
	vq_mem[0x10100] = 0xee;
	vq_desc(DESC, 0, 0x10000, 20, VQ_F_NEXT, 1);
	vq_desc(DESC, 1, 0x10100, 4, VQ_F_WRITE, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 0, &used), S(OK));
	T_EQ(used, 4);
	T_EQ(vq_mem[0x10100], 0);
	/* MAP split 5 + 31 readable bytes, the tail split 1 + 3 writable bytes. */
	enc_map(vq_mem + 0x11000, 1, 0x4000, 0x4fff, 0x9000, 3);
	memmove(vq_mem + 0x11100, vq_mem + 0x11005, 31);
	memset(vq_mem + 0x11200, 0xee, 8);
	vq_desc(DESC, 2, 0x11000, 5, VQ_F_NEXT, 3);
	vq_desc(DESC, 3, 0x11100, 31, VQ_F_NEXT, 4);
	vq_desc(DESC, 4, 0x11200, 1, VQ_F_WRITE | VQ_F_NEXT, 5);
	vq_desc(DESC, 5, 0x11204, 3, VQ_F_WRITE, 0);
	vq_offer(AVAIL, QSZ, 2);
	vq_offer(AVAIL, QSZ, 2);		/* the same MAP again: INVAL (overlap) */
	T_EQ(viommu_virtio_iommu_process_queue(d, &vq_gm, &vq), 2);
	T_EQ(vq.last_avail, 2);
	T_EQ(vq.used_idx, 2);
	T_EQ(m_get16(vq_mem + USED + 2), 2);
	T_EQ(m_get32(vq_mem + USED + 4), 2);	/* used[0].id */
	T_EQ(m_get32(vq_mem + USED + 8), 4);	/* used[0].len */
	T_EQ(m_get32(vq_mem + USED + 12), 2);
	T_EQ(m_get32(vq_mem + USED + 16), 4);
	T_EQ(vq_mem[0x11200], S(INVAL));		/* the second answer overwrote the first */
	T_EQ(vq_mem[0x11201], 0xee);		/* a 1-byte descriptor holds one byte */
	T_EQ(vq_mem[0x11204] | vq_mem[0x11205] | vq_mem[0x11206], 0);
	T_EQ(vq_mem[0x11207], 0xee);
	T_EQ(viommu_virtio_iommu_domain_mappings(d, 1, NULL, NULL), 1);
	T_EQ(viommu_virtio_iommu_process_queue(d, &vq_gm, &vq), 0);	/* nothing new */
	/* PROBE: the properties and the tail split over two writable descriptors. */
	enc_probe(vq_mem + 0x12000, 8);
	memset(vq_mem + 0x13000, 0xee, 0x300);
	vq_desc(DESC, 6, 0x12000, 72, VQ_F_NEXT, 7);
	vq_desc(DESC, 7, 0x13000, 300, VQ_F_WRITE | VQ_F_NEXT, 8);
	vq_desc(DESC, 8, 0x13200, 216, VQ_F_WRITE, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 6, &used), S(OK));
	T_EQ(used, 516);
	T_EQ(vq_mem[0x13000], 0);
	T_EQ(vq_mem[0x13200 + 211], 0);
	T_EQ(vq_mem[0x13200 + 212], S(OK));	/* byte 512 of the answer */
	T_EQ(vq_mem[0x13200 + 215], 0);
	T_EQ(vq_mem[0x1312c], 0xee);		/* past the first descriptor's 300 bytes */
	viommu_virtio_iommu_free(d);
}

/* The same ATTACH through an indirect table, with and without the feature. */
static void test_indirect(void)
{
	struct viommu_virtio_iommu *d = dev_new(0);
	struct viommu_virtio_vq vq = vq_new();
	uint32_t used;

	memset(vq_mem, 0, sizeof(vq_mem));
	enc_attach(vq_mem + 0x10000, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 8, 0, 0);
	vq_desc(0x20000, 0, 0x10000, 20, VQ_F_NEXT, 1);
	vq_desc(0x20000, 1, 0x10100, 4, VQ_F_WRITE, 0);
	vq_desc(DESC, 0, 0x20000, 32, VQ_F_INDIRECT, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 0, &used), -EINVAL);	/* not negotiated */
	T_EQ(used, 0);
	vq.indirect = true;
	vq_mem[0x10100] = 0xee;
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 0, &used), S(OK));
	T_EQ(used, 4);
	T_EQ(vq_mem[0x10100], 0);
	/* A normal descriptor then an indirect one (allowed, 2.7.5.3.2). */
	vq_desc(0x20100, 0, 0x10100, 4, VQ_F_WRITE, 0);
	vq_desc(DESC, 1, 0x10000, 20, VQ_F_NEXT, 2);
	vq_desc(DESC, 2, 0x20100, 16, VQ_F_INDIRECT, 0);
	vq_mem[0x10100] = 0xee;
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 1, &used), S(OK));
	T_EQ(vq_mem[0x10100], 0);
	/* Refused: INDIRECT with NEXT, nested, length 0 or not a multiple of 16. */
	vq_desc(DESC, 3, 0x20000, 32, VQ_F_INDIRECT | VQ_F_NEXT, 1);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 3, &used), -EINVAL);
	vq_desc(0x20200, 0, 0x20000, 32, VQ_F_INDIRECT, 0);
	vq_desc(DESC, 4, 0x20200, 16, VQ_F_INDIRECT, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 4, &used), -EINVAL);
	vq_desc(DESC, 5, 0x20000, 0, VQ_F_INDIRECT, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 5, &used), -EINVAL);
	vq_desc(DESC, 5, 0x20000, 24, VQ_F_INDIRECT, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 5, &used), -EINVAL);
	/* An indirect table that loops: bounded by the queue size, refused. */
	vq_desc(0x20300, 0, 0x10000, 4, VQ_F_NEXT, 1);
	vq_desc(0x20300, 1, 0x10000, 4, VQ_F_NEXT, 0);
	vq_desc(DESC, 6, 0x20300, 32, VQ_F_INDIRECT, 0);
	vq_mem_reads = 0;
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 6, &used), -EINVAL);
	T_OK(vq_mem_reads <= 2 * QSZ + 2);
	T_EQ(bad_chains(d), 6);
	viommu_virtio_iommu_free(d);
}

/* Malformed plain chains: each refused, with used length 0 and bounded vq_mem_reads. */
static void test_bad_chains(void)
{
	struct viommu_virtio_iommu *d = dev_new(4);
	struct viommu_virtio_vq vq = vq_new();
	uint32_t used = 99;

	memset(vq_mem, 0, sizeof(vq_mem));
	enc_attach(vq_mem + 0x10000, VIOMMU_VIRTIO_IOMMU_T_ATTACH, 1, 8, 0, 0);
	/* A loop 0 -> 1 -> 0. */
	vq_desc(DESC, 0, 0x10000, 20, VQ_F_NEXT, 1);
	vq_desc(DESC, 1, 0x10100, 4, VQ_F_WRITE | VQ_F_NEXT, 0);
	vq_mem_reads = 0;
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 0, &used), -EINVAL);
	T_EQ(used, 0);
	T_OK(vq_mem_reads <= 4 + 1);
	/* Longer than max_chain (4), though loop-free. */
	vq_desc(DESC, 2, 0x10000, 0, VQ_F_NEXT, 3);
	vq_desc(DESC, 3, 0x10000, 8, VQ_F_NEXT, 4);
	vq_desc(DESC, 4, 0x10008, 4, VQ_F_NEXT, 5);
	vq_desc(DESC, 5, 0x1000c, 8, VQ_F_NEXT, 6);
	vq_desc(DESC, 6, 0x10100, 4, VQ_F_WRITE, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 2, &used), -EINVAL);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 3, &used), S(OK));	/* 4 descriptors: fine */
	/* next beyond the table; head beyond the table. */
	vq_desc(DESC, 7, 0x10000, 20, VQ_F_NEXT, 16);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 7, &used), -EINVAL);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 16, &used), -EINVAL);
	/* Readable after writable. */
	vq_desc(DESC, 8, 0x10100, 4, VQ_F_WRITE | VQ_F_NEXT, 9);
	vq_desc(DESC, 9, 0x10000, 20, 0, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 8, &used), -EINVAL);
	/* Memory the callbacks refuse. */
	vq_desc(DESC, 10, 0xfffffff0, 20, VQ_F_NEXT, 11);
	vq_desc(DESC, 11, 0x10100, 4, VQ_F_WRITE, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 10, &used), -EFAULT);
	vq_desc(DESC, 10, 0x10000, 20, VQ_F_NEXT, 11);
	vq_desc(DESC, 11, VQ_MEM_SIZE, 4, VQ_F_WRITE, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 10, &used), -EFAULT);
	T_EQ(used, 0);
	/* No writable part: unwritten, no status (and not a bad chain). */
	vq_desc(DESC, 12, 0x10000, 20, 0, 0);
	T_EQ(viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, 12, &used), -EINVAL);
	T_EQ(bad_chains(d), 7);
	/* Refused chains come back on the used ring with length 0. */
	vq_offer(AVAIL, QSZ, 0);
	vq_offer(AVAIL, QSZ, 12);
	T_EQ(viommu_virtio_iommu_process_queue(d, &vq_gm, &vq), 2);
	T_EQ(m_get32(vq_mem + USED + 4), 0);
	T_EQ(m_get32(vq_mem + USED + 8), 0);
	T_EQ(m_get32(vq_mem + USED + 12), 12);
	T_EQ(m_get32(vq_mem + USED + 16), 0);
	/* Broken rings: an index too far ahead, a head out of range. */
	m_put16(vq_mem + AVAIL + 2, (uint16_t)(vq.last_avail + QSZ + 1));
	T_EQ(viommu_virtio_iommu_process_queue(d, &vq_gm, &vq), -EINVAL);
	m_put16(vq_mem + AVAIL + 2, (uint16_t)(vq.last_avail + 1));
	m_put16(vq_mem + AVAIL + 4 + 2 * (vq.last_avail % QSZ), 40);
	T_EQ(viommu_virtio_iommu_process_queue(d, &vq_gm, &vq), -EINVAL);
	T_EQ(vq.last_avail, 2);
	struct viommu_virtio_vq bad = vq_new();

	bad.size = 12;
	T_EQ(viommu_virtio_iommu_process_queue(d, &vq_gm, &bad), -EINVAL);
	viommu_virtio_iommu_free(d);
}

/* Random descriptor tables: any answer is a status or a refusal, with bounded vq_mem_reads. */
static void test_random_tables(void)
{
	struct viommu_virtio_iommu *d = dev_new(0);
	struct t_rng rng;
	unsigned statuses = 0, refused = 0;

	t_rng_init(&rng, t_seed("vq-random", 0x5eed0001));
	for (int round = 0; round < 2000; round++) {
		struct viommu_virtio_vq vq = vq_new();
		uint32_t used;

		uint16_t head = (uint16_t)t_rng_below(&rng, QSZ);

		vq.indirect = round & 1;
		for (unsigned i = 0; i < QSZ; i++) {
			uint64_t r = t_rng_next(&rng);
			uint16_t flags = (uint16_t)(r & 7);
			uint64_t addr = (r >> 8) % 4 == 0 ? 0x20000 : 0x10000 + ((r >> 12) & 0xff);
			uint32_t len = (uint32_t)((r >> 24) % 80);

			vq_desc(DESC, i, addr, len, flags, (uint16_t)((r >> 40) % (QSZ + 2)));
			vq_desc(0x20000, i, 0x10000 + ((r >> 48) & 0xff), len, (uint16_t)((r >> 56) & 7),
			     (uint16_t)((r >> 32) % (QSZ + 2)));
		}
		for (unsigned i = 0; i < 80; i++)
			vq_mem[0x10000 + i] = (uint8_t)t_rng_below(&rng, 8);
		/* Half the rounds: a well-formed chain at a random head, then one random corruption. */
		if (round % 2 == 0) {
			unsigned h = head, n = (h + 1) % QSZ;

			vq_mem[0x10000] = (uint8_t)(1 + t_rng_below(&rng, 5));
			vq_desc(DESC, h, 0x10000, (uint32_t)t_rng_below(&rng, 80), VQ_F_NEXT, (uint16_t)n);
			vq_desc(DESC, n, 0x30000, (uint32_t)t_rng_below(&rng, 600), VQ_F_WRITE, 0);
			if (t_rng_below(&rng, 2))
				vq_mem[DESC + 16 * t_rng_below(&rng, QSZ) + t_rng_below(&rng, 16)] ^=
					(uint8_t)(1u << t_rng_below(&rng, 8));
		}
		vq_mem_reads = 0;
		int r = viommu_virtio_iommu_process_chain(d, &vq_gm, &vq, head, &used);

		T_OK(vq_mem_reads <= 4 * QSZ + 8);
		if (r >= 0) {
			statuses++;
			T_OK(r < VIOMMU_VIRTIO_IOMMU_S_COUNT && used >= 4);
		} else {
			refused++;
			T_EQ(used, 0);
		}
	}
	printf("random tables: %u statuses, %u refused\n", statuses, refused);
	T_OK(statuses > 0 && refused > 0);
	viommu_virtio_iommu_free(d);
}

/* The event queue: faults into its buffers, a full queue, bad buffers. */
static struct viommu_virtio_vq eq;

static int to_eventq(void *ctx, const struct viommu_virtio_iommu_fault *f)
{
	(void)ctx;
	return viommu_virtio_iommu_push_event(&vq_gm, &eq, f);
}

static void test_event_queue(void)
{
	struct viommu_virtio_iommu_opts o = { .sz = sizeof(o), .event = to_eventq };
	struct viommu_virtio_iommu *d = viommu_virtio_iommu_new(&o);
	struct viommu_virtio_iommu_stats st = { .sz = sizeof(st) };
	struct viommu_virtio_iommu_fault f = { 2, 0x102, 7, 0x1234 };

	memset(vq_mem, 0, sizeof(vq_mem));
	T_EQ(viommu_virtio_iommu_add_endpoint(d, 0x18, NULL), 0);
	eq = (struct viommu_virtio_vq){ .desc = 0x40000, .avail = 0x41000, .used = 0x42000, .size = 4 };
	/* Two buffers: 24 bytes in one descriptor, and 8 + 16 in two. */
	vq_desc(0x40000, 0, 0x50000, 24, VQ_F_WRITE, 0);
	vq_desc(0x40000, 1, 0x50100, 8, VQ_F_WRITE | VQ_F_NEXT, 2);
	vq_desc(0x40000, 2, 0x50200, 16, VQ_F_WRITE, 0);
	vq_desc(0x40000, 3, 0x50300, 16, VQ_F_WRITE, 0);	/* too small */
	m_put16(vq_mem + 0x41004, 0);
	m_put16(vq_mem + 0x41006, 1);
	m_put16(vq_mem + 0x41008, 3);
	m_put16(vq_mem + 0x41002, 2);
	T_EQ(viommu_virtio_iommu_push_event(&vq_gm, &eq, &f), 0);
	T_EQ(vq_mem[0x50000], 2);
	T_EQ(m_get32(vq_mem + 0x50004), 0x102);
	T_EQ(m_get32(vq_mem + 0x50008), 7);
	T_EQ(m_get32(vq_mem + 0x5000c), 0);
	T_EQ_U64(m_get64(vq_mem + 0x50010), 0x1234);
	T_EQ(m_get32(vq_mem + 0x42004), 0);	/* used id */
	T_EQ(m_get32(vq_mem + 0x42008), 24);	/* used len */
	/* A translation fault through the device's callback lands in the second buffer. */
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x7000, VIOMMU_PERM_WRITE, NULL, NULL), -EFAULT);
	T_EQ(vq_mem[0x50100], VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN);
	T_EQ(m_get32(vq_mem + 0x50104), 0x102);
	T_EQ(m_get32(vq_mem + 0x50200), 0x18);		/* the rest in the second descriptor */
	T_EQ_U64(m_get64(vq_mem + 0x50208), 0x7000);
	T_EQ(m_get16(vq_mem + 0x42002), 2);
	/* No buffer left: dropped and counted. */
	T_EQ(viommu_virtio_iommu_translate(d, 0x18, 0x8000, VIOMMU_PERM_READ, NULL, NULL), -EFAULT);
	T_EQ(viommu_virtio_iommu_get_stats(d, &st), 0);
	T_EQ(st.faults, 2);
	T_EQ(st.events_dropped, 1);
	/* A buffer too small is given back with length 0. */
	m_put16(vq_mem + 0x41002, 3);
	T_EQ(viommu_virtio_iommu_push_event(&vq_gm, &eq, &f), -EINVAL);
	T_EQ(m_get32(vq_mem + 0x42004 + 16), 3);
	T_EQ(m_get32(vq_mem + 0x42008 + 16), 0);
	T_EQ(vq_mem[0x50300], 0);
	/* A device-readable event buffer: refused. */
	vq_desc(0x40000, 0, 0x50000, 24, 0, 0);
	m_put16(vq_mem + 0x4100a, 0);
	m_put16(vq_mem + 0x41002, 4);
	T_EQ(viommu_virtio_iommu_push_event(&vq_gm, &eq, &f), -EINVAL);
	T_EQ(viommu_virtio_iommu_push_event(&vq_gm, &eq, &f), -ENOSPC);
	viommu_virtio_iommu_free(d);
}

int main(void)
{
	test_chains();
	test_indirect();
	test_bad_chains();
	test_random_tables();
	test_event_queue();
	return t_done();
}
