// SPDX-License-Identifier: MIT
/*
 * The vhost-user block back-end (tools/vhost_user.c, tools/vhost_user_blk.c)
 * against a front-end in this process (tests/vhost_frontend.h) that plays
 * QEMU's part over real sockets: negotiation, memory table, rings, a guest
 * IOMMU answering MISS messages with UPDATEs, INVALIDATEs. Exact results:
 * the image's bytes, status bytes, used lengths, MISS and refusal counts.
 *
 *  - negotiation: features, protocol features, queue count, config space;
 *  - I/O through the IOTLB: the misses a first request takes (3 rings, the
 *    header/status page, the data page), a buffer scattered over pages,
 *    indirect tables, a buffer at the very top of the IOVA space, flush and
 *    get-id, the same without the IOMMU (guest-physical addresses);
 *  - invalidations: QEMU's lazy flush pair ([0, 0xfee00000) and the range
 *    ending exactly at 2^64); a buffer unmapped in the guest IOMMU is refused
 *    (IOERR) and the image keeps its bytes;
 *  - a front-end that holds its MISS acks (the bug check-vhost found: more
 *    misses in flight than the back-end tracks must stall, never refuse);
 *  - hostile guests: a looping chain, an index out of the table, readable
 *    after writable, bad indirect tables, sectors past the end, unaligned
 *    lengths, unknown types, a write into a read-only mapping, the available
 *    index running ahead of the ring, a head out of range;
 *  - hostile front-ends: every malformed message ends the connection, every
 *    refused request gets a non-zero ack and leaves the connection usable.
 */
#include "vhost_frontend.h"
#include "test.h"

static int image;	/* 4 MiB, shared by every back-end of this test */
#define IMG_BYTES (4u << 20)

static void image_zero(void)
{
	T_EQ(ftruncate(image, 0), 0);
	T_EQ(ftruncate(image, IMG_BYTES), 0);
}

static bool image_holds(uint64_t off, const void *want, size_t len)
{
	uint8_t buf[65536];

	return len <= sizeof(buf) && pread(image, buf, len, (off_t)off) == (ssize_t)len && !memcmp(buf, want, len);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 37 + i * 13 + (i >> 9));
}

static struct vu_stats bstats(struct fe *f)
{
	struct vu_stats s;

	vu_dev_get_stats(f->d, &s);
	return s;
}

static void test_negotiation(void)
{
	struct fe f;
	struct vu_config c = { .offset = 0, .size = 60 };
	struct vu_msg r;
	uint64_t want = 1ull << 32 | 1ull << 33 | 1ull << 28 | 1ull << 30 | 1ull << 2 | 1ull << 6 | 1ull << 9;

	image_zero();
	T_EQ(fe_start(&f, image, true, 1, 0), 0);
	T_EQ_U64(fe_call(&f, VU_GET_FEATURES, NULL, 0, NULL, 0), want);
	T_EQ_U64(fe_call(&f, VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0), 1u << 0 | 1u << 3 | 1u << 5 | 1u << 9);
	T_EQ(fe_call(&f, VU_GET_QUEUE_NUM, NULL, 0, NULL, 0), 1);
	T_EQ(fe_send(&f, VU_GET_CONFIG, 0, &c, 12 + 60, NULL, 0), 0);
	T_EQ(fe_reply(&f, &r), 0);
	T_EQ(r.size, 72);
	uint64_t cap;
	uint32_t seg_max, blk_size;
	uint16_t nq;
	memcpy(&cap, r.u.config.region, 8);
	memcpy(&seg_max, r.u.config.region + 12, 4);
	memcpy(&blk_size, r.u.config.region + 20, 4);
	memcpy(&nq, r.u.config.region + 34, 2);
	T_EQ_U64(cap, IMG_BYTES / 512);		/* capacity */
	T_EQ(seg_max, 254);
	T_EQ(blk_size, 512);
	T_EQ(nq, 1);				/* num_queues */
	/* out of the config space: a zero-length reply (vhost-user.rst) */
	c = (struct vu_config){ .offset = 250, .size = 10 };
	T_EQ(fe_send(&f, VU_GET_CONFIG, 0, &c, 12 + 10, NULL, 0), 0);
	T_EQ(fe_reply(&f, &r), 0);
	T_EQ(r.size, 0);
	T_EQ(fe_call(&f, VU_SET_CONFIG, &c, 12 + 10, NULL, 0), 1);
	fe_stop(&f);
	T_EQ(f.serve_ret, 0);
}

static void test_iommu_io(void)
{
	struct fe f;
	uint8_t want[16384];
	struct viommu_devtlb_stats ts = { .sz = sizeof(ts) };

	image_zero();
	T_EQ(fe_start(&f, image, true, 1, 0), 0);
	/* identity window for header/status (0x300000) and data (0x100000, 0x200000) */
	fe_map(&f, fe_dev_addr(&f, 0x300000), 0x300000, 0x1000, 3);
	fe_map(&f, fe_dev_addr(&f, 0x100000), 0x100000, 0x4000, 3);
	fe_map(&f, fe_dev_addr(&f, 0x200000), 0x200000, 0x4000, 3);
	fill(f.mem + 0x100000, 4096, 1);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 10, 0x100000, 4096, 0x300000), VBLK_S_OK);
	T_OK(image_holds(10 * 512, f.mem + 0x100000, 4096));
	/* the first request missed on each ring, the header/status page and the data page */
	T_EQ(f.misses, 5);
	T_EQ(f.miss_failures, 0);
	T_EQ(fe_blk(&f, 0, VBLK_T_IN, 10, 0x200000, 4096, 0x300000), VBLK_S_OK);
	T_OK(!memcmp(f.mem + 0x200000, f.mem + 0x100000, 4096));
	T_EQ(f.misses, 6);	/* only the new data page */
	T_EQ(fe_wait(&f, 0, 100), 4097);	/* used length: data + status */
	T_EQ(viommu_devtlb_get_stats(vu_dev_devtlb(f.d), &ts), 0);
	T_EQ(ts.entries, 6);
	T_EQ(ts.updates, 6);

	/* a 16 KiB buffer over 4 IOVA pages mapped to scattered guest pages, written and read back */
	uint64_t iova = 0x48000000, gpas[4] = { 0x500000, 0x403000, 0x601000, 0x402000 };
	for (unsigned i = 0; i < 4; i++) {
		fe_map(&f, iova + i * 4096, gpas[i], 4096, 3);
		fill(f.mem + gpas[i], 4096, 10 + i);
		memcpy(want + i * 4096, f.mem + gpas[i], 4096);
	}
	struct fe_buf b[3] = { { fe_dev_addr(&f, 0x300000), 16, 0 }, { iova, 16384, 0 },
			       { fe_dev_addr(&f, 0x300010), 1, VRING_DESC_F_WRITE } };
	uint32_t t = VBLK_T_OUT;
	uint64_t sector = 100;
	memcpy(f.mem + 0x300000, &t, 4);
	memcpy(f.mem + 0x300008, &sector, 8);
	fe_post(&f, 0, b, 3);
	T_EQ(fe_wait(&f, 0, 5000), 1);
	T_EQ(f.mem[0x300010], VBLK_S_OK);
	T_OK(image_holds(100 * 512, want, 16384));
	/* read it back into the scattered pages, zeroed first */
	for (unsigned i = 0; i < 4; i++)
		memset(f.mem + gpas[i], 0, 4096);
	t = VBLK_T_IN;
	memcpy(f.mem + 0x300000, &t, 4);
	b[1].flags = VRING_DESC_F_WRITE;
	fe_post(&f, 0, b, 3);
	T_EQ(fe_wait(&f, 0, 5000), 16385);
	for (unsigned i = 0; i < 4; i++)
		T_OK(!memcmp(f.mem + gpas[i], want + i * 4096, 4096));

	/* an indirect table (at GPA 0x380000, mapped read-only) holding the same three buffers */
	struct vring_desc *it = (struct vring_desc *)(f.mem + 0x380000);
	fe_map(&f, fe_dev_addr(&f, 0x380000), 0x380000, 4096, VU_ACCESS_RO);
	fill(f.mem + 0x100000, 4096, 3);
	it[0] = (struct vring_desc){ fe_dev_addr(&f, 0x300000), 16, VRING_DESC_F_NEXT, 1 };
	it[1] = (struct vring_desc){ fe_dev_addr(&f, 0x100000), 4096, VRING_DESC_F_NEXT, 2 };
	it[2] = (struct vring_desc){ fe_dev_addr(&f, 0x300010), 1, VRING_DESC_F_WRITE, 0 };
	t = VBLK_T_OUT;
	sector = 200;
	memcpy(f.mem + 0x300000, &t, 4);
	memcpy(f.mem + 0x300008, &sector, 8);
	struct fe_buf ib = { fe_dev_addr(&f, 0x380000), 3 * 16, VRING_DESC_F_INDIRECT };
	f.mem[0x300010] = 0xee;
	fe_post(&f, 0, &ib, 1);
	T_EQ(fe_wait(&f, 0, 5000), 1);
	T_EQ(f.mem[0x300010], VBLK_S_OK);
	T_OK(image_holds(200 * 512, f.mem + 0x100000, 4096));

	/* flush and get-id */
	T_EQ(fe_blk(&f, 0, VBLK_T_FLUSH, 0, 0, 0, 0x300000), VBLK_S_OK);
	memset(f.mem + 0x200000, 0, 64);
	T_EQ(fe_blk(&f, 0, VBLK_T_GET_ID, 0, 0x200000, 64, 0x300000), VBLK_S_OK);
	T_STREQ((char *)f.mem + 0x200000, "fe-serial");
	T_EQ(fe_wait(&f, 0, 100), 21);

	/* a buffer at the very top of the IOVA space, announced by the front-end itself */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, 0xfffffffffffff000ull, 0x1000, FE_UADDR + 0x700000, 3), 0);
	fill(f.mem + 0x700000, 4096, 7);
	struct fe_buf tb[3] = { b[0], { 0xfffffffffffff000ull, 4096, 0 }, b[2] };
	t = VBLK_T_OUT;
	sector = 300;
	memcpy(f.mem + 0x300000, &t, 4);
	memcpy(f.mem + 0x300008, &sector, 8);
	fe_post(&f, 0, tb, 3);
	T_EQ(fe_wait(&f, 0, 5000), 1);
	T_EQ(f.mem[0x300010], VBLK_S_OK);
	T_OK(image_holds(300 * 512, f.mem + 0x700000, 4096));

	struct vu_stats s = bstats(&f);
	T_EQ(s.refused, 0);
	T_EQ(s.requests, 8);
	T_EQ(s.miss_failures, 0);
	fe_stop(&f);
	T_EQ(f.serve_ret, 0);
}

static void test_invalidations(void)
{
	struct fe f;
	uint8_t keep[4096];
	uint64_t m0;

	image_zero();
	T_EQ(fe_start(&f, image, true, 1, 0), 0);
	fe_map(&f, fe_dev_addr(&f, 0x300000), 0x300000, 0x1000, 3);
	fe_map(&f, fe_dev_addr(&f, 0x100000), 0x100000, 0x1000, 3);
	fill(f.mem + 0x100000, 4096, 4);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 8, 0x100000, 4096, 0x300000), VBLK_S_OK);
	memcpy(keep, f.mem + 0x100000, 4096);
	/* QEMU's lazy flush pair: the part above the interrupt window ends exactly at 2^64 */
	m0 = f.misses;
	T_EQ(fe_iotlb(&f, VU_IOTLB_INVALIDATE, 0xfef00000, 0xffffffff01100000ull, 0, 0), 0);
	T_EQ(bstats(&f).invalidates_to_top, 1);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 8, 0x100000, 4096, 0x300000), VBLK_S_OK);
	T_EQ(f.misses, m0);	/* nothing below the window was touched */
	T_EQ(fe_iotlb(&f, VU_IOTLB_INVALIDATE, 0, 0xfee00000, 0, 0), 0);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 8, 0x100000, 4096, 0x300000), VBLK_S_OK);
	T_EQ(f.misses, m0 + 5);	/* everything asked again */

	/* the guest unmaps the buffer; a descriptor still pointing at it is refused */
	T_EQ(fe_unmap(&f, fe_dev_addr(&f, 0x100000), 0x1000), 0);
	memset(f.mem + 0x100000, 'Z', 4096);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 8, 0x100000, 4096, 0x300000), VBLK_S_IOERR);
	T_OK(image_holds(8 * 512, keep, 4096));
	T_EQ(fe_blk(&f, 0, VBLK_T_IN, 8, 0x100000, 4096, 0x300000), VBLK_S_IOERR);
	T_EQ(f.mem[0x100000], 'Z');
	T_EQ(f.miss_failures, 2);
	T_EQ(bstats(&f).refused, 2);
	T_EQ(bstats(&f).miss_failures, 2);
	/* mapped again: served again (the failure was for that request only) */
	fe_map(&f, fe_dev_addr(&f, 0x100000), 0x100000, 0x1000, 3);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 8, 0x100000, 4096, 0x300000), VBLK_S_OK);
	T_OK(image_holds(8 * 512, f.mem + 0x100000, 4096));
	/* read-only in the guest IOMMU: the device may not write it */
	fe_map(&f, fe_dev_addr(&f, 0x100000), 0x100000, 0x1000, VU_ACCESS_RO);
	T_EQ(fe_unmap(&f, fe_dev_addr(&f, 0x100000), 0), 1);	/* size 0: refused */
	T_EQ(fe_iotlb(&f, VU_IOTLB_INVALIDATE, fe_dev_addr(&f, 0x100000), 0x1000, 0, 0), 0);
	fe_map(&f, fe_dev_addr(&f, 0x100000), 0x100000, 0x1000, VU_ACCESS_RO);
	T_EQ(fe_blk(&f, 0, VBLK_T_IN, 8, 0x100000, 4096, 0x300000), VBLK_S_IOERR);
	/* cached read-only by the front-end's own UPDATE: refused without asking */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, fe_dev_addr(&f, 0x100000), 0x1000, FE_UADDR + 0x100000, VU_ACCESS_RO), 0);
	m0 = f.misses;
	T_EQ(fe_blk(&f, 0, VBLK_T_IN, 8, 0x100000, 4096, 0x300000), VBLK_S_IOERR);
	T_EQ(f.misses, m0);
	T_EQ(bstats(&f).refused, 4);
	fe_stop(&f);
}

/* Held acks: many misses of one request in flight at once (check-vhost's bug). */
static void test_held_acks(void)
{
	enum { PAGES = 150 };
	static uint8_t want[PAGES * 4096];
	struct fe f;
	uint64_t iova = 0x48000000;
	struct fe_buf b[3];
	uint32_t t = VBLK_T_OUT;
	uint64_t sector = 1000;

	image_zero();
	T_EQ(fe_start(&f, image, true, 1, 0), 0);
	fe_map(&f, fe_dev_addr(&f, 0x300000), 0x300000, 0x1000, 3);
	for (unsigned i = 0; i < PAGES; i++) {
		uint64_t gpa = 0x400000 + (uint64_t)((i * 7) % PAGES) * 4096;	/* scattered */

		fe_map(&f, iova + i * 4096ull, gpa, 4096, 3);
		fill(f.mem + gpa, 4096, 50 + i);
		memcpy(want + i * 4096, f.mem + gpa, 4096);
	}
	f.delay_acks = true;
	b[0] = (struct fe_buf){ fe_dev_addr(&f, 0x300000), 16, 0 };
	b[1] = (struct fe_buf){ iova, PAGES * 4096, 0 };
	b[2] = (struct fe_buf){ fe_dev_addr(&f, 0x300010), 1, VRING_DESC_F_WRITE };
	memcpy(f.mem + 0x300000, &t, 4);
	memcpy(f.mem + 0x300008, &sector, 8);
	f.mem[0x300010] = 0xee;
	fe_post(&f, 0, b, 3);
	T_EQ(fe_wait(&f, 0, 10000), 1);
	T_EQ(f.mem[0x300010], VBLK_S_OK);
	printf("held acks: %u at most, %llu misses\n", f.max_held, (unsigned long long)f.misses);
	T_OK(f.max_held >= VU_MAX_OUTSTANDING);	/* the back-end hit its limit and waited */
	T_EQ(bstats(&f).refused, 0);
	for (unsigned i = 0; i < PAGES; i += 16)
		T_OK(image_holds(sector * 512 + i * 4096ull, want + i * 4096, 4096));
	fe_stop(&f);
}

static void test_no_iommu(void)
{
	struct fe f;

	image_zero();
	T_EQ(fe_start(&f, image, false, 1, 0), 0);
	fill(f.mem + 0x100000, 8192, 9);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 64, 0x100000, 8192, 0x300000), VBLK_S_OK);
	T_OK(image_holds(64 * 512, f.mem + 0x100000, 8192));
	T_EQ(fe_blk(&f, 0, VBLK_T_IN, 64, 0x200000, 8192, 0x300000), VBLK_S_OK);
	T_OK(!memcmp(f.mem + 0x200000, f.mem + 0x100000, 8192));
	/* outside guest memory: refused */
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 64, FE_MEM - 4096, 8192, 0x300000), VBLK_S_IOERR);
	/* IOTLB messages mean nothing without ACCESS_PLATFORM */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, 0x1000, 0x1000, FE_UADDR, 3), 1);
	T_EQ(f.misses, 0);
	T_EQ(bstats(&f).buffer_translations, 0);
	fe_stop(&f);
}

/* Post @n raw descriptors (the table entries written as given) with head @head. */
static void post_raw(struct fe *f, const struct vring_desc *d, unsigned n, uint16_t head)
{
	struct fe_vq *v = &f->vq[0];
	struct vring_desc *dt = (struct vring_desc *)(f->mem + v->desc_gpa);
	struct vring_avail *av = (struct vring_avail *)(f->mem + v->avail_gpa);
	uint64_t one = 1;

	for (unsigned i = 0; i < n; i++)
		dt[i] = d[i];
	av->ring[v->avail_idx % FE_QSIZE] = head;
	__atomic_store_n(&av->idx, ++v->avail_idx, __ATOMIC_RELEASE);
	T_EQ(write(v->kick, &one, 8), 8);
}

static void test_hostile_guest(void)
{
	struct fe f;
	uint64_t H = 0, S, D;	/* header, status, data as the device sees them */
	uint32_t t;
	uint64_t sector;
	unsigned refused = 0;

	image_zero();
	T_EQ(fe_start(&f, image, true, 1, 0), 0);
	fe_map(&f, fe_dev_addr(&f, 0x300000), 0x300000, 0x1000, 3);
	fe_map(&f, fe_dev_addr(&f, 0x100000), 0x100000, 0x4000, 3);
	H = fe_dev_addr(&f, 0x300000);
	S = H + 16;
	D = fe_dev_addr(&f, 0x100000);
	t = VBLK_T_OUT;
	sector = 4;
	memcpy(f.mem + 0x300000, &t, 4);
	memcpy(f.mem + 0x300008, &sector, 8);
	memset(f.mem + 0x100000, 'x', 4096);

	/* a loop: 0 -> 1 -> 0; no status can be trusted: used length 0 */
	struct vring_desc loop[2] = { { H, 16, VRING_DESC_F_NEXT, 1 }, { D, 4096, VRING_DESC_F_NEXT, 0 } };
	f.mem[0x300010] = 0xee;
	post_raw(&f, loop, 2, 0);
	T_EQ(fe_wait(&f, 0, 5000), 0);
	T_EQ(f.mem[0x300010], 0xee);
	refused++;
	/* next out of the table */
	struct vring_desc far[2] = { { H, 16, VRING_DESC_F_NEXT, 1 }, { D, 4096, VRING_DESC_F_NEXT, 999 } };
	post_raw(&f, far, 2, 0);
	T_EQ(fe_wait(&f, 0, 5000), 0);
	refused++;
	/* readable after writable: the status is reachable, IOERR */
	struct vring_desc order[3] = { { H, 16, VRING_DESC_F_NEXT, 1 }, { S, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 },
				       { D, 4096, 0, 0 } };
	post_raw(&f, order, 3, 0);
	T_EQ(fe_wait(&f, 0, 5000), 0);	/* its last descriptor is not writable: no status either */
	refused++;
	struct vring_desc order2[3] = { { H, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 }, { D, 4096, VRING_DESC_F_NEXT, 2 },
					{ S, 1, VRING_DESC_F_WRITE, 0 } };
	f.mem[0x300010] = 0xee;
	post_raw(&f, order2, 3, 0);
	T_EQ(fe_wait(&f, 0, 5000), 1);
	T_EQ(f.mem[0x300010], VBLK_S_IOERR);
	refused++;
	/* indirect tables: with NEXT, not a multiple of 16, nested */
	struct vring_desc *it = (struct vring_desc *)(f.mem + 0x102000);
	it[0] = (struct vring_desc){ fe_dev_addr(&f, 0x102000), 16, VRING_DESC_F_INDIRECT, 0 };
	struct vring_desc ind[3] = { { fe_dev_addr(&f, 0x102000), 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1 },
				     { fe_dev_addr(&f, 0x102000), 40, VRING_DESC_F_INDIRECT, 0 },
				     { fe_dev_addr(&f, 0x102000), 16, VRING_DESC_F_INDIRECT, 0 } };
	post_raw(&f, ind, 1, 0);
	T_EQ(fe_wait(&f, 0, 5000), 0);
	post_raw(&f, ind, 2, 1);
	T_EQ(fe_wait(&f, 0, 5000), 0);
	post_raw(&f, ind, 3, 2);	/* a table whose only entry is another table */
	T_EQ(fe_wait(&f, 0, 5000), 0);
	refused += 3;
	T_EQ(bstats(&f).refused, refused);
	T_OK(image_holds(4 * 512, (uint8_t[4096]){ 0 }, 4096));	/* none of it was written */

	/* well-formed but not acceptable requests: IOERR / UNSUPP, counted by the device, not refused */
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, IMG_BYTES / 512, 0x100000, 512, 0x300000), VBLK_S_IOERR);	/* past the end */
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, IMG_BYTES / 512 - 1, 0x100000, 1024, 0x300000), VBLK_S_IOERR);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, UINT64_MAX / 256, 0x100000, 512, 0x300000), VBLK_S_IOERR);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 4, 0x100000, 100, 0x300000), VBLK_S_IOERR);	/* not whole sectors */
	T_EQ(fe_blk(&f, 0, 99, 4, 0x100000, 512, 0x300000), VBLK_S_UNSUPP);
	T_EQ(f.blk.st.bad_requests, 4);
	T_EQ(f.blk.st.unsupported, 1);
	/* a request that still works after all that */
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 4, 0x100000, 4096, 0x300000), VBLK_S_OK);
	T_OK(image_holds(4 * 512, f.mem + 0x100000, 4096));

	/* the available index runs more than a ring ahead: the ring stops */
	struct vring_avail *av = (struct vring_avail *)(f.mem + f.vq[0].avail_gpa);
	uint64_t one = 1;
	f.vq[0].avail_idx += FE_QSIZE + 1;
	__atomic_store_n(&av->idx, f.vq[0].avail_idx, __ATOMIC_RELEASE);
	T_EQ(write(f.vq[0].kick, &one, 8), 8);
	for (int i = 0; i < 200 && !bstats(&f).bad_rings; i++)
		usleep(1000);
	T_EQ(bstats(&f).bad_rings, 1);
	/* QEMU's restart: stop (GET_VRING_BASE), rebase, addresses, kick */
	struct vu_vring_state vs = { 0, 0 };
	struct vu_msg r;
	T_EQ(fe_send(&f, VU_GET_VRING_BASE, 0, &vs, sizeof(vs), NULL, 0), 0);
	T_EQ(fe_reply(&f, &r), 0);
	T_EQ(r.size, 8);
	T_EQ(r.u.state.num, bstats(&f).requests + bstats(&f).refused);	/* every consumed entry */
	f.vq[0].avail_idx = (uint16_t)r.u.state.num;
	__atomic_store_n(&av->idx, f.vq[0].avail_idx, __ATOMIC_RELEASE);
	struct vu_vring_addr a = { .index = 0, .desc = f.vq[0].desc, .avail = f.vq[0].avail, .used = f.vq[0].used };
	T_EQ(fe_call(&f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	T_EQ(fe_call(&f, VU_SET_VRING_KICK, &(uint64_t){ 0 }, 8, &f.vq[0].kick, 1), 0);
	T_EQ(fe_blk(&f, 0, VBLK_T_OUT, 4, 0x100000, 4096, 0x300000), VBLK_S_OK);
	/* a head out of range stops it again */
	post_raw(&f, NULL, 0, 200);
	for (int i = 0; i < 200 && bstats(&f).bad_rings < 2; i++)
		usleep(1000);
	T_EQ(bstats(&f).bad_rings, 2);
	fe_stop(&f);
	T_EQ(f.serve_ret, 0);
}

/* A fresh back-end on a raw connection, for messages fe_start would not send. */
static void raw_start(struct fe *f, bool iommu_features)
{
	int sv[2];
	struct vu_dev_opts o;

	memset(f, 0, sizeof(*f));
	T_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->sock = sv[0];
	f->peer = sv[1];
	f->bsock = -1;
	f->memfd = memfd_create("raw", MFD_CLOEXEC);
	T_EQ(ftruncate(f->memfd, 1 << 20), 0);
	f->mem = mmap(NULL, FE_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	T_EQ(vblk_init(&f->blk, image, false, NULL, 1), 0);
	o = (struct vu_dev_opts){ .ops = &f->blk.ops, .dev = &f->blk, .queues = 1 };
	f->d = vu_dev_new(&o);
	T_OK(f->d);
	T_EQ(pthread_create(&f->thread, NULL, fe_backend_main, f), 0);
	if (iommu_features)
		T_EQ(fe_u64(f, VU_SET_FEATURES, 1ull << 32 | 1ull << 33), 0);
}

static void raw_stop(struct fe *f)
{
	f->stop = 1;
	shutdown(f->sock, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->sock);
	vu_dev_free(f->d);
	munmap(f->mem, FE_MEM);
	close(f->memfd);
}

/* @payload of @size sent with @flags (and @nfds copies of the memfd) must end the connection. */
static void expect_disconnect(const char *what, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
			      unsigned nfds)
{
	struct fe f;
	struct vu_msg r;
	int fds[VU_MAX_FDS];
	uint32_t hdr[3] = { req, flags, size };

	raw_start(&f, false);
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = f.memfd;
	if (flags & 0x80000000u) {	/* a raw header: the size field lies */
		T_EQ(write(f.sock, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	} else {
		T_EQ(fe_send_raw(&f, req, flags, payload, size, fds, nfds), 0);
	}
	if (fe_reply(&f, &r) != -EPIPE)
		fprintf(stderr, "FAIL %s: the connection did not end\n", what);
	T_EQ(fe_reply(&f, &r), -EPIPE);
	pthread_join(f.thread, NULL);
	f.stop = 1;
	T_OK(f.serve_ret < 0);
	close(f.sock);
	vu_dev_free(f.d);
	munmap(f.mem, FE_MEM);
	close(f.memfd);
}

static void test_hostile_frontend(void)
{
	struct fe f;
	uint64_t v = 0;
	struct { uint32_t n, pad; struct vu_region r[9]; } mt = { 0 };

	expect_disconnect("short SET_FEATURES", VU_SET_FEATURES, VU_VERSION, &v, 4, 0);
	expect_disconnect("version 2", VU_GET_FEATURES, 2, NULL, 0, 0);
	expect_disconnect("a reply as a request", VU_GET_FEATURES, VU_VERSION | VU_FLAG_REPLY, NULL, 0, 0);
	expect_disconnect("a 5000-byte payload", VU_SET_FEATURES, VU_VERSION | 0x80000000u, NULL, 5000, 0);
	mt.n = 9;
	expect_disconnect("9 regions", VU_SET_MEM_TABLE, VU_VERSION, &mt, 8 + 9 * 32, 9 > VU_MAX_FDS ? 8 : 9);
	mt.n = 1;
	mt.r[0] = (struct vu_region){ 0, 4096, 0x1000, 0 };
	expect_disconnect("a region without its fd", VU_SET_MEM_TABLE, VU_VERSION, &mt, 8 + 32, 0);
	expect_disconnect("a region with two fds", VU_SET_MEM_TABLE, VU_VERSION, &mt, 8 + 32, 2);
	expect_disconnect("a kick with no fd and no NOFD bit", VU_SET_VRING_KICK, VU_VERSION, &v, 8, 0);
	v = 0x200;
	expect_disconnect("unknown bits in the vring word", VU_SET_VRING_CALL, VU_VERSION, &v, 8, 1);
	expect_disconnect("SET_BACKEND_REQ_FD without fd", VU_SET_BACKEND_REQ_FD, VU_VERSION, NULL, 0, 0);
	expect_disconnect("a short IOTLB message", VU_IOTLB_MSG, VU_VERSION, &mt, 26, 0);
	struct vu_config cfg = { .offset = 0, .size = 60 };
	expect_disconnect("a config size past its payload", VU_GET_CONFIG, VU_VERSION, &cfg, 12, 0);
	cfg.size = 300;
	expect_disconnect("a config larger than 256 bytes", VU_GET_CONFIG, VU_VERSION, &cfg, 12 + 256, 0);

	/* refused with a non-zero ack; the connection stays usable */
	raw_start(&f, true);
	T_EQ(fe_call(&f, 99, NULL, 0, NULL, 0), 1);
	T_EQ(fe_u64(&f, VU_SET_FEATURES, 1ull << 40), 1);
	T_EQ(fe_u64(&f, VU_SET_PROTOCOL_FEATURES, 1ull << 1), 1);
	T_EQ(fe_state(&f, VU_SET_VRING_NUM, 5, 64), 1);
	T_EQ(fe_state(&f, VU_SET_VRING_NUM, 0, 0), 1);
	T_EQ(fe_state(&f, VU_SET_VRING_NUM, 0, 40000), 1);
	T_EQ(fe_state(&f, VU_SET_VRING_ENABLE, 0, 2), 1);
	struct vu_vring_addr a = { .index = 0, .desc = 0x1008, .avail = 0x2000, .used = 0x3000 };
	T_EQ(fe_call(&f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
	a.desc = 0x1000;
	a.flags = 1;	/* logging */
	T_EQ(fe_call(&f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
	/* memory tables: overlapping regions, a region past its file, one wrapping past 2^64 */
	struct { uint32_t n, pad; struct vu_region r[2]; } m2 = { 2, 0, { { 0, 0x10000, 0x100000, 0 },
									   { 0x8000, 0x10000, 0x200000, 0 } } };
	int two[2] = { f.memfd, f.memfd };
	T_EQ(fe_call(&f, VU_SET_MEM_TABLE, &m2, sizeof(m2), two, 2), 1);
	m2.r[1] = (struct vu_region){ 0x100000, 0x10000, 0x100000, 0 };	/* user addresses overlap */
	T_EQ(fe_call(&f, VU_SET_MEM_TABLE, &m2, sizeof(m2), two, 2), 1);
	m2.n = 1;
	m2.r[0] = (struct vu_region){ 0, 2u << 20, 0x100000, 0 };	/* the memfd holds 1 MiB */
	T_EQ(fe_call(&f, VU_SET_MEM_TABLE, &m2, 8 + 32, two, 1), 1);
	m2.r[0] = (struct vu_region){ UINT64_MAX - 0xfff, 0x2000, 0x100000, 0 };
	T_EQ(fe_call(&f, VU_SET_MEM_TABLE, &m2, 8 + 32, two, 1), 1);
	m2.r[0] = (struct vu_region){ 0, 1u << 20, 0x100000, 0 };
	T_EQ(fe_call(&f, VU_SET_MEM_TABLE, &m2, 8 + 32, two, 1), 0);
	/* IOTLB messages */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, 0x1000, 0, 0x100000, 3), 1);			/* size 0 */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, UINT64_MAX - 0xfff, 0x2000, 0x100000, 3), 1);	/* past 2^64 */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, 0x1000, 0x1000, 0x80000, 3), 1);		/* not in the table */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, 0x1000, 0x1000, 0x1ff001, 3), 1);		/* runs off its end */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, 0x1000, 0x1000, 0x100000, 4), 1);		/* permission */
	T_EQ(fe_iotlb(&f, VU_IOTLB_MISS, 0x1000, 0x1000, 0x100000, 3), 1);		/* not from a front-end */
	T_EQ(fe_iotlb(&f, VU_IOTLB_UPDATE, 0x1000, 0x1000, 0x100000, 3), 0);
	T_EQ(fe_iotlb(&f, VU_IOTLB_INVALIDATE, 0, 0, 0, 0), 1);
	T_EQ(fe_iotlb(&f, VU_IOTLB_INVALIDATE, 1, UINT64_MAX, 0, 0), 0);		/* ends exactly at 2^64 */
	T_EQ(fe_call(&f, VU_GET_QUEUE_NUM, NULL, 0, NULL, 0), 1);
	raw_stop(&f);
	T_EQ(f.serve_ret, 0);
}

static void log_to_stderr(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	fprintf(stderr, "log: %s\n", msg);
}

int main(void)
{
	char path[] = "/tmp/viommu-test-vhost-XXXXXX";

	if (getenv("FE_DEBUG"))
		viommu_set_log(log_to_stderr, NULL, VIOMMU_LOG_DEBUG);

	signal(SIGPIPE, SIG_IGN);
	image = mkstemp(path);
	T_OK(image >= 0);
	unlink(path);
	test_negotiation();
	test_iommu_io();
	test_invalidations();
	test_held_acks();
	test_no_iommu();
	test_hostile_guest();
	test_hostile_frontend();
	close(image);
	return t_done();
}
