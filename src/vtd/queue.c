// SPDX-License-Identifier: MIT
/*
 * Invalidation: the register-based interface (CCMD, IOTLB at IRO) and the
 * invalidation queue (Intel VT-d spec 6.5 "Invalidation of translation
 * caches", 10.4.7 CCMD, 10.4.8 IOTLB, 10.4.22-10.4.24 IQH/IQT/IQA; QEMU
 * hw/i386/intel_iommu.c vtd_process_inv_desc and friends for the peer).
 *
 * Each invalidation does two things: it drops what the unit's own caches
 * hold (context cache, IOTLB; at once, cost proportional to what is
 * removed), and it tells the IOMMU address spaces in its scope that the
 * guest's view may have changed there (sync.c). Syncs of consecutive IOTLB
 * invalidations are coalesced and run before the next wait descriptor,
 * device-TLB or context-cache descriptor and at the end of the pass, so
 * listeners see events in descriptor order and before the guest is told
 * the invalidation completed.
 *
 * Hostile input: a descriptor with reserved bits set, an unknown or
 * unsupported type, an address mask above MAMV, a status write that fails,
 * or a tail beyond the queue sets FSTS.IQE and leaves IQH at the bad
 * descriptor; nothing after it is fetched until software clears IQE. One
 * tail write processes at most one pass of the queue (head to tail).
 */
#include <viommu/range.h>

#include "util/log.h"
#include "vtd/vtd_int.h"

#define ECAP_DT (UINT64_C(1) << 2)
#define ECAP_IR (UINT64_C(1) << 3)
#define CAP_PSI (UINT64_C(1) << 39)

void vtd_caches_reset(struct viommu_vtd *v)
{
	viommu_iotlb_invalidate_all(v->iotlb);
	vtd_ctx_invalidate_all(v);
}

/*
 * Context-cache invalidation, @g: 1 global, 2 domain, 3 device. Domain
 * selective is carried out as global (over-invalidation is allowed; the
 * register interface then reports CAIG global, as QEMU does). Returns the
 * granularity carried out.
 */
static unsigned ctx_invalidate(struct viommu_vtd *v, unsigned g, uint16_t sid, unsigned fm)
{
	v->st.ctx_invalidations++;
	vtd_sync_flush(v);
	if (g == 3) {
		vtd_ctx_invalidate_device(v, sid, fm);
		vtd_sync_refresh(v, false, sid, fm);
		return 3;
	}
	vtd_ctx_invalidate_all(v);
	vtd_sync_refresh(v, true, 0, 0);
	return 1;
}

/*
 * IOTLB invalidation, @g: 1 global, 2 domain, 3 page selective (2^am pages
 * at @addr; the low am bits of the page number are masked, as the AM field
 * says). Returns the granularity carried out, 0 if refused (am > MAMV).
 */
static unsigned iotlb_invalidate(struct viommu_vtd *v, unsigned g, uint16_t did, uint64_t addr, unsigned am)
{
	uint64_t first, last;

	if (g == 3 && am > v->o.mamv)
		return 0;
	v->st.iotlb_invalidations++;
	if (g == 3 && !(v->cap & CAP_PSI))
		g = 2;		/* no page-selective support: the whole domain */
	switch (g) {
	case 1:
		viommu_iotlb_invalidate_all(v->iotlb);
		vtd_sync_all(v);
		return 1;
	case 2:
		viommu_iotlb_invalidate_domain(v->iotlb, did);
		vtd_sync_domain(v, did);
		return 2;
	default:
		if (viommu_vtd_psi_decode(addr & ~vi_mask(am + 12), am, v->o.mamv, &first, &last))
			return 0;
		viommu_iotlb_invalidate_range(v->iotlb, did, first, last);
		vtd_sync_range(v, did, first, last);
		return 3;
	}
}

/* CCMD with ICC set (10.4.7). */
void vtd_ccmd_write(struct viommu_vtd *v)
{
	unsigned cirg = (v->ccmd >> 61) & 3, caig = 0;

	if (v->qie) {
		/* Register-based invalidation while QI is on: ignored, ICC stays set (QEMU). */
		vtd_guest_log(v, "CCMD %#llx ignored: queued invalidation is enabled", (unsigned long long)v->ccmd);
		return;
	}
	if (cirg)
		caig = ctx_invalidate(v, cirg, (uint16_t)(v->ccmd >> 16), (unsigned)(v->ccmd >> 32) & 3);
	else
		vtd_guest_log(v, "CCMD %#llx refused: granularity 0", (unsigned long long)v->ccmd);
	vtd_sync_flush(v);
	v->ccmd = (v->ccmd & ~(UINT64_C(1) << 63 | UINT64_C(3) << 59)) | (uint64_t)caig << 59;
}

/* IOTLB register with IVT set (10.4.8, the address in IVA 10.4.8.2). */
void vtd_iotlb_reg_write(struct viommu_vtd *v)
{
	unsigned iirg = (v->iotlb_reg >> 60) & 3, iaig = 0;

	if (v->qie) {
		vtd_guest_log(v, "IOTLB %#llx ignored: queued invalidation is enabled",
			      (unsigned long long)v->iotlb_reg);
		return;
	}
	if (iirg)
		iaig = iotlb_invalidate(v, iirg, (uint16_t)(v->iotlb_reg >> 32), v->iva & ~UINT64_C(0xfff),
					(unsigned)(v->iva & 0x3f));
	if (!iaig)
		vtd_guest_log(v, "IOTLB %#llx (IVA %#llx) refused: granularity 0 or AM above MAMV %u",
			      (unsigned long long)v->iotlb_reg, (unsigned long long)v->iva, v->o.mamv);
	vtd_sync_flush(v);
	v->iotlb_reg = (v->iotlb_reg & ~(UINT64_C(1) << 63 | UINT64_C(3) << 57)) | (uint64_t)iaig << 57;
}

/* ---- descriptors (6.5.2) ---------------------------------------------- */

/*
 * Reserved bits per type, 128-bit descriptors. Bits 11:9 (the upper type
 * bits) are reserved in every legacy descriptor. Device-TLB: PFSID (15:12,
 * 63:52) and MIP/QDEP (20:16) are defined fields.
 */
#define CC_RSVD_LO	UINT64_C(0xfffc00000000ffc0)
#define IOTLB_RSVD_LO	UINT64_C(0xffffffff0000ff00)
#define IOTLB_RSVD_HI	UINT64_C(0x0000000000000f80)
#define DEV_RSVD_LO	UINT64_C(0x000f0000ffe00ff0)
#define DEV_RSVD_HI	UINT64_C(0x0000000000000ffe)
#define IEC_RSVD_LO	UINT64_C(0xffff000007ffffe0)
#define WAIT_RSVD_LO	UINT64_C(0x00000000ffffff80)
#define WAIT_RSVD_HI	UINT64_C(0x0000000000000003)

#define WAIT_IF (1u << 4)
#define WAIT_SW (1u << 5)

static const char *desc_refused(struct viommu_vtd *v, uint64_t lo, uint64_t hi)
{
	switch (lo & 0xf) {
	case VTD_DESC_CC:
		if ((lo & CC_RSVD_LO) || hi)
			return "reserved bits";
		if (!((lo >> 4) & 3))
			return "granularity 0";
		ctx_invalidate(v, (lo >> 4) & 3, (uint16_t)(lo >> 32), (unsigned)(lo >> 48) & 3);
		return NULL;
	case VTD_DESC_IOTLB:
		if ((lo & IOTLB_RSVD_LO) || (hi & IOTLB_RSVD_HI))
			return "reserved bits";
		if (!((lo >> 4) & 3))
			return "granularity 0";
		if (!iotlb_invalidate(v, (lo >> 4) & 3, (uint16_t)(lo >> 16), hi & ~UINT64_C(0xfff),
				      (unsigned)(hi & 0x3f)))
			return "address mask above MAMV";
		return NULL;
	case VTD_DESC_DEVTLB: {
		uint64_t first, last;

		if (!(v->ecap & ECAP_DT))
			return "device-TLB descriptor without ECAP.DT";
		if ((lo & DEV_RSVD_LO) || (hi & DEV_RSVD_HI))
			return "reserved bits";
		viommu_vtd_devtlb_decode(hi & ~UINT64_C(0xfff), hi & 1, &first, &last);
		v->st.devtlb_invalidations++;
		vtd_sync_devtlb(v, (uint16_t)(lo >> 32), first, last);
		return NULL;
	}
	case VTD_DESC_IEC:
		if (!(v->ecap & ECAP_IR))
			return "interrupt-entry-cache descriptor without ECAP.IR";
		if ((lo & IEC_RSVD_LO) || hi)
			return "reserved bits";
		v->st.iec_invalidations++;
		if (v->o.iec)
			v->o.iec(v->o.ctx, !(lo & 0x10), (uint32_t)(lo >> 32) & 0xffff, (unsigned)(lo >> 27) & 0x1f);
		return NULL;
	case VTD_DESC_WAIT: {
		uint32_t data = (uint32_t)(lo >> 32);

		if ((lo & WAIT_RSVD_LO) || (hi & WAIT_RSVD_HI))
			return "reserved bits";
		/* Everything before it is complete, listeners included, before software hears of it. */
		vtd_sync_flush(v);
		if ((lo & WAIT_SW) && v->o.write(v->o.ctx, hi, &data, sizeof(data)))
			return "status write failed";
		if (lo & WAIT_IF)
			vtd_completion_event(v);
		/* SW = IF = 0: a fence only (7.10); FN needs nothing, descriptors run in order. */
		v->st.waits++;
		return NULL;
	}
	default:
		/* 0, PASID-based 6 and 7 (scalable mode only), 8..15 */
		return "unsupported descriptor type";
	}
}

void vtd_queue_run(struct viommu_vtd *v)
{
	if (!v->qie || (v->fsts & VTD_FSTS_IQE))
		return;
	if (v->iq_tail >= v->iq_size) {
		vtd_guest_log(v, "IQT %u refused: beyond the queue of %u descriptors", v->iq_tail, v->iq_size);
		vtd_queue_error(v);
		return;
	}
	while (v->iq_head != v->iq_tail) {
		uint64_t d[2] = { 0, 0 }, gpa = v->iq_base + (uint64_t)v->iq_head * 16;
		const char *why;

		if (v->o.read(v->o.ctx, gpa, d, sizeof(d))) {
			v->last_desc = VTD_DESC_NONE;
			why = "descriptor unreadable";
		} else {
			v->last_desc = d[0] & 0xf;
			why = desc_refused(v, d[0], d[1]);
		}
		if (why) {
			vtd_guest_log(v, "invalidation descriptor %u at %#llx refused (%s): %#018llx %#018llx",
				      v->iq_head, (unsigned long long)gpa, why, (unsigned long long)d[0],
				      (unsigned long long)d[1]);
			vtd_queue_error(v);
			break;
		}
		v->st.descriptors++;
		v->iq_head = (v->iq_head + 1) & (v->iq_size - 1);
	}
	vtd_sync_flush(v);
}
