// SPDX-License-Identifier: MIT
/*
 * The VT-d remapping unit: object, register file, fault recording and the
 * two interrupt sources (Intel VT-d spec chapter 7 "Translation faults" and
 * 10.4 "Register descriptions"; QEMU hw/i386/intel_iommu.c vtd_init,
 * vtd_mem_read/write, vtd_report_dmar_fault for the peer's behaviour).
 *
 * Register semantics in one place: every register is decoded by
 * reg_read32/64 and reg_write32/64; a 64-bit access to a pair of 32-bit
 * registers becomes two 32-bit accesses, a 32-bit access to half of a
 * 64-bit register merges into it with a byte mask (so write-1-to-clear bits
 * only clear what was written, and a command triggers only when the half
 * holding its command bit is written, as hardware and QEMU do). Reserved
 * bits are masked on write, so they always read 0; read-only registers
 * ignore writes.
 */
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/opts.h"
#include "vtd/vtd_int.h"

#define viommu_vtd_opts__last_field max_sync_reads

/*
 * The chain of units whose lock this thread holds, innermost first: a
 * callback that calls back into any of them would deadlock, so such calls
 * fail with -EDEADLK instead.
 */
static _Thread_local struct viommu_vtd *vtd_held;

void vtd_lock(struct viommu_vtd *v)
{
	pthread_mutex_lock(&v->lock);
	v->held_prev = vtd_held;
	vtd_held = v;
	/* what one access (or one call) may spend on syncs: bounded whatever the guest queued */
	v->pass_reads = v->o.max_sync_reads > UINT64_MAX / 8 ? UINT64_MAX : v->o.max_sync_reads * 8;
}

void vtd_unlock(struct viommu_vtd *v)
{
	vtd_held = v->held_prev;
	pthread_mutex_unlock(&v->lock);
}

bool vtd_in_callback(const struct viommu_vtd *v)
{
	/* Each link's prev is protected by that unit's lock, which this thread holds. */
	for (const struct viommu_vtd *u = vtd_held; u; u = u->held_prev)
		if (u == v)
			return true;
	return false;
}

/* ---- interrupts ------------------------------------------------------- */

/* A new interrupt condition of @e: the message goes out now, or waits in IP while IM is set. */
static void event_raise(struct viommu_vtd *v, struct vtd_event *e)
{
	e->ctl |= VTD_CTL_IP;
	if (!(e->ctl & VTD_CTL_IM)) {
		if (v->o.msi)
			v->o.msi(v->o.ctx, e->addr, e->data);
		e->ctl &= ~VTD_CTL_IP;
	}
}

/* FECTL / IECTL: only IM is writable; unmasking releases a pending message. */
static void event_ctl_write(struct viommu_vtd *v, struct vtd_event *e, uint32_t val)
{
	e->ctl = (e->ctl & ~VTD_CTL_IM) | (val & VTD_CTL_IM);
	if (e->ctl & VTD_CTL_IP) {
		e->ctl &= ~VTD_CTL_IP;
		event_raise(v, e);
	}
}

/*
 * A new fault-event condition (spec 7.3: PPF or IQE set by hardware).
 * @pre is FSTS before the status bit was set: if any status bit was
 * already set, it is not a new condition (FECTL.IP description).
 */
static void fault_event(struct viommu_vtd *v, uint32_t pre)
{
	if (pre & (VTD_FSTS_PPF | VTD_FSTS_PFO | VTD_FSTS_IQE))
		return;
	v->st.fault_events++;
	event_raise(v, &v->fe);
}

static bool ppf(const struct viommu_vtd *v)
{
	for (unsigned i = 0; i < v->nfr; i++)
		if (v->frcd[i][1] & VTD_FRCD_F)
			return true;
	return false;
}

static void update_ppf(struct viommu_vtd *v)
{
	if (ppf(v))
		v->fsts |= VTD_FSTS_PPF;
	else
		v->fsts &= ~VTD_FSTS_PPF;
}

/* Fault conditions the FPD field can suppress (spec 7.1.3, "qualified"; QEMU vtd_qualified_faults). */
static bool qualified(uint8_t reason)
{
	switch (reason) {
	case 0x2: case 0x3: case 0x4: case 0x5: case 0x6: case 0x7:
	case 0xC: case 0xD: case 0xE:
		return true;
	default:
		return false;	/* 1, 8, 9, 0xA, 0xB: found before the context entry could be trusted */
	}
}

/*
 * Primary fault logging (spec 7.2.1): one record per fault in the register
 * at the unit's next index; while a record of the same requester is pending
 * (F set) further faults of it are collapsed (the F field description
 * allows this and QEMU does it); when the next register is still in use the
 * fault is lost and PFO is set; with PFO set nothing is recorded. Only the
 * record that sets PPF raises the fault event.
 */
bool vtd_fault_record(struct viommu_vtd *v, uint16_t sid, uint64_t addr, uint8_t reason, bool is_write, bool fpd)
{
	uint32_t pre = v->fsts;

	v->st.faults++;
	if (fpd && qualified(reason)) {
		v->st.faults_fpd++;
		return false;
	}
	if (v->fsts & VTD_FSTS_PFO) {
		v->st.faults_overflow++;
		return false;
	}
	for (unsigned i = 0; i < v->nfr; i++) {
		if ((v->frcd[i][1] & VTD_FRCD_F) && (uint16_t)v->frcd[i][1] == sid) {
			v->st.faults_collapsed++;
			return false;
		}
	}
	if (v->frcd[v->next_frcd][1] & VTD_FRCD_F) {
		v->fsts |= VTD_FSTS_PFO;
		v->st.faults_overflow++;
		return false;
	}
	v->frcd[v->next_frcd][0] = addr & ~UINT64_C(0xfff);
	v->frcd[v->next_frcd][1] = VTD_FRCD_F | (is_write ? 0 : VTD_FRCD_T) | (uint64_t)reason << 32 | sid;
	if (!(pre & VTD_FSTS_PPF)) {
		v->fsts = (v->fsts & ~(0xffu << VTD_FSTS_FRI_SHIFT)) | v->next_frcd << VTD_FSTS_FRI_SHIFT |
			  VTD_FSTS_PPF;
		fault_event(v, pre);
	}
	v->next_frcd = (v->next_frcd + 1) % v->nfr;
	v->st.faults_recorded++;
	return true;
}

void vtd_queue_error(struct viommu_vtd *v)
{
	uint32_t pre = v->fsts;

	v->st.queue_errors++;
	v->fsts |= VTD_FSTS_IQE;
	fault_event(v, pre);
}

/* A wait descriptor with IF completed (spec 10.4.24, 10.4.25). */
void vtd_completion_event(struct viommu_vtd *v)
{
	if (v->ics & VTD_ICS_IWC)
		return;		/* a previous condition is still to be serviced */
	v->st.completion_events++;
	v->ics |= VTD_ICS_IWC;
	event_raise(v, &v->ie);
}

/* ---- global command ------------------------------------------------- */

static void set_te(struct viommu_vtd *v, bool en)
{
	atomic_store_explicit(&v->te, en, memory_order_release);
	if (en) {
		v->gsts |= VTD_GCMD_TE;
	} else {
		v->gsts &= ~VTD_GCMD_TE;
		v->next_frcd = 0;	/* as QEMU vtd_handle_gcmd_te */
	}
	vtd_caches_reset(v);
	vtd_sync_refresh(v, true, 0, 0);
}

static void set_root(struct viommu_vtd *v)
{
	/* Bits 11:10 select the translation table mode; only legacy (00b) exists here. */
	v->root = v->rtaddr & v->haw_mask & ~UINT64_C(0xfff);
	v->gsts |= VTD_GCMD_SRTP;	/* RTPS */
	vtd_caches_reset(v);
	vtd_sync_refresh(v, true, 0, 0);
}

static void set_qie(struct viommu_vtd *v, bool en)
{
	if (en) {
		v->iq_base = v->iqa & v->haw_mask & ~UINT64_C(0xfff);
		v->iq_size = UINT32_C(1) << ((v->iqa & 7) + 8);
		v->qie = true;
		v->gsts |= VTD_GCMD_QIE;
		/* A tail left non-zero: processed at once, as QEMU does for Windows guests. */
		if (v->iq_tail)
			vtd_queue_run(v);
		return;
	}
	/* Disabling is only allowed with the queue idle after a wait descriptor (spec 6.5.2). */
	if (v->iq_tail != v->iq_head || v->last_desc != VTD_DESC_WAIT) {
		vtd_guest_log(v, "QIE clear refused: head %u tail %u last descriptor type %u",
			      v->iq_head, v->iq_tail, v->last_desc);
		return;
	}
	v->iq_head = 0;
	v->qie = false;
	v->gsts &= ~VTD_GCMD_QIE;
}

/*
 * GCMD (10.4.4): software writes GCMD with the persistent bits it wants
 * (TE, QIE, IRE) and at most one one-shot command (SRTP, SIRTP; WBF, SFL and
 * CFI are not supported here and ignored). A persistent bit acts only if it
 * differs from GSTS, so it is compared with GSTS, as QEMU does.
 */
static void gcmd_write(struct viommu_vtd *v, uint32_t val)
{
	uint32_t changed = v->gsts ^ val;

	if (changed & VTD_GCMD_TE)
		set_te(v, val & VTD_GCMD_TE);
	if (val & VTD_GCMD_SRTP)
		set_root(v);
	if ((changed & VTD_GCMD_QIE) && (v->ecap & (1u << 1)))
		set_qie(v, val & VTD_GCMD_QIE);
	if (val & VTD_GCMD_SIRTP)
		v->gsts |= VTD_GCMD_SIRTP;	/* IRTPS: the VMM reads IRTA itself */
	if ((changed & VTD_GCMD_IRE) && (v->ecap & (1u << 3))) {
		if (val & VTD_GCMD_IRE)
			v->gsts |= VTD_GCMD_IRE;
		else
			v->gsts &= ~VTD_GCMD_IRE;
	}
}

/* ---- register decode ------------------------------------------------- */

#define CCMD_WMASK	UINT64_C(0xe0000003ffffffff)	/* ICC, CIRG, FM, SID, DID */
#define CCMD_WOMASK	UINT64_C(0x00000003ffff0000)	/* FM, SID: write only */
#define IOTLB_WMASK	UINT64_C(0xb003ffff00000000)	/* IVT, IIRG, DR, DW, DID */
#define HI_DWORD	UINT64_C(0xffffffff00000000)
#define LO_DWORD	UINT64_C(0x00000000ffffffff)

static bool qi_reg(uint64_t off)
{
	return (off >= VIOMMU_VTD_REG_IQH && off < VIOMMU_VTD_REG_IQA + 8) ||
	       (off >= VIOMMU_VTD_REG_ICS && off < VIOMMU_VTD_REG_IEUADDR + 4);
}

static bool frcd_reg(const struct viommu_vtd *v, uint64_t off)
{
	return off >= VIOMMU_VTD_REG_FRCD && off < VIOMMU_VTD_REG_FRCD + 16 * (uint64_t)v->nfr;
}

/* Offsets (8-byte aligned) of the 64-bit registers. */
static bool reg64(const struct viommu_vtd *v, uint64_t off)
{
	switch (off) {
	case VIOMMU_VTD_REG_CAP: case VIOMMU_VTD_REG_ECAP: case VIOMMU_VTD_REG_RTADDR:
	case VIOMMU_VTD_REG_CCMD: case VIOMMU_VTD_REG_IQH: case VIOMMU_VTD_REG_IQT:
	case VIOMMU_VTD_REG_IQA: case VIOMMU_VTD_REG_IRTA: case VIOMMU_VTD_REG_IVA:
	case VIOMMU_VTD_REG_IOTLB:
		return true;
	default:
		return frcd_reg(v, off);
	}
}

static uint64_t reg_read64(struct viommu_vtd *v, uint64_t off)
{
	if (!(v->ecap & 2) && qi_reg(off))
		return 0;
	switch (off) {
	case VIOMMU_VTD_REG_CAP: return v->cap;
	case VIOMMU_VTD_REG_ECAP: return v->ecap;
	case VIOMMU_VTD_REG_RTADDR: return v->rtaddr;
	case VIOMMU_VTD_REG_CCMD: return v->ccmd & ~CCMD_WOMASK;
	case VIOMMU_VTD_REG_IQH: return (uint64_t)v->iq_head << 4;
	case VIOMMU_VTD_REG_IQT: return v->iqt;
	case VIOMMU_VTD_REG_IQA: return v->iqa;
	case VIOMMU_VTD_REG_IRTA: return v->irta;
	case VIOMMU_VTD_REG_IVA: return 0;	/* write only */
	case VIOMMU_VTD_REG_IOTLB: return v->iotlb_reg;
	default:
		if (frcd_reg(v, off))
			return v->frcd[(off - VIOMMU_VTD_REG_FRCD) / 16][(off >> 3) & 1];
		return 0;
	}
}

static uint32_t reg_read32(struct viommu_vtd *v, uint64_t off)
{
	if (reg64(v, off & ~UINT64_C(7)))
		return (uint32_t)(reg_read64(v, off & ~UINT64_C(7)) >> (off & 4 ? 32 : 0));
	if (!(v->ecap & 2) && qi_reg(off))
		return 0;
	switch (off) {
	case VIOMMU_VTD_REG_VER: return 0x10;	/* architecture version 1.0, as QEMU */
	case VIOMMU_VTD_REG_GCMD: return 0;	/* write only */
	case VIOMMU_VTD_REG_GSTS: return v->gsts;
	case VIOMMU_VTD_REG_FSTS: return v->fsts;
	case VIOMMU_VTD_REG_FECTL: return v->fe.ctl;
	case VIOMMU_VTD_REG_FEDATA: return v->fe.data;
	case VIOMMU_VTD_REG_FEADDR: return v->fe.addr;
	case VIOMMU_VTD_REG_ICS: return v->ics;
	case VIOMMU_VTD_REG_IECTL: return v->ie.ctl;
	case VIOMMU_VTD_REG_IEDATA: return v->ie.data;
	case VIOMMU_VTD_REG_IEADDR: return v->ie.addr;
	default: return 0;	/* FEUADDR, IEUADDR (no EIM), PMEN, PLMR/PHMR, reserved */
	}
}

/* @val positioned in the 64-bit register, @mask the bytes written. */
static void reg_write64(struct viommu_vtd *v, uint64_t off, uint64_t val, uint64_t mask)
{
	if (!(v->ecap & 2) && qi_reg(off))
		return;
	switch (off) {
	case VIOMMU_VTD_REG_RTADDR:
		v->rtaddr = (v->rtaddr & ~mask) | (val & mask & ~UINT64_C(0x3ff));
		return;
	case VIOMMU_VTD_REG_CCMD:
		v->ccmd = (v->ccmd & ~(mask & CCMD_WMASK)) | (val & mask & CCMD_WMASK);
		if ((mask & HI_DWORD) && (v->ccmd & (UINT64_C(1) << 63)))
			vtd_ccmd_write(v);
		return;
	case VIOMMU_VTD_REG_IQT:
		v->iqt = (v->iqt & ~mask) | (val & mask & UINT64_C(0x7fff0));
		if (mask & LO_DWORD) {
			v->iq_tail = (uint32_t)(v->iqt >> 4);
			vtd_queue_run(v);
		}
		return;
	case VIOMMU_VTD_REG_IQA:
		/* bit 11 (DW, 256-bit descriptors) needs scalable mode: reserved here */
		v->iqa = (v->iqa & ~mask) | (val & mask & UINT64_C(0xfffffffffffff007));
		return;
	case VIOMMU_VTD_REG_IRTA:
		v->irta = (v->irta & ~mask) | (val & mask & UINT64_C(0xfffffffffffff80f));
		return;
	case VIOMMU_VTD_REG_IVA:
		v->iva = (v->iva & ~mask) | (val & mask & UINT64_C(0xfffffffffffff07f));
		return;
	case VIOMMU_VTD_REG_IOTLB:
		v->iotlb_reg = (v->iotlb_reg & ~(mask & IOTLB_WMASK)) | (val & mask & IOTLB_WMASK);
		if ((mask & HI_DWORD) && (v->iotlb_reg & (UINT64_C(1) << 63)))
			vtd_iotlb_reg_write(v);
		return;
	default:
		if (frcd_reg(v, off) && (off & 8)) {
			unsigned i = (unsigned)((off - VIOMMU_VTD_REG_FRCD) / 16);

			if (val & mask & VTD_FRCD_F) {
				v->frcd[i][1] &= ~VTD_FRCD_F;
				update_ppf(v);
			}
		}
		return;		/* CAP, ECAP, IQH, FRCD low: read only */
	}
}

static void reg_write32(struct viommu_vtd *v, uint64_t off, uint32_t val)
{
	uint64_t q = off & ~UINT64_C(7);

	if (reg64(v, q)) {
		unsigned sh = off & 4 ? 32 : 0;

		reg_write64(v, q, (uint64_t)val << sh, LO_DWORD << sh);
		return;
	}
	if (!(v->ecap & 2) && qi_reg(off))
		return;
	switch (off) {
	case VIOMMU_VTD_REG_GCMD:
		gcmd_write(v, val);
		return;
	case VIOMMU_VTD_REG_FSTS: {
		bool had_iqe = v->fsts & VTD_FSTS_IQE;

		v->fsts &= ~(val & (VTD_FSTS_PFO | VTD_FSTS_IQE));
		/* no status left: the held message is serviced (FECTL.IP description) */
		if (!(v->fsts & (VTD_FSTS_PFO | VTD_FSTS_PPF | VTD_FSTS_IQE)))
			v->fe.ctl &= ~VTD_CTL_IP;
		/* IQH still names the bad descriptor: fetching resumes there (Linux dmar.c qi_check_fault). */
		if (had_iqe && !(v->fsts & VTD_FSTS_IQE))
			vtd_queue_run(v);
		return;
	}
	case VIOMMU_VTD_REG_FECTL:
		event_ctl_write(v, &v->fe, val);
		return;
	case VIOMMU_VTD_REG_FEDATA:
		v->fe.data = val & 0xffff;	/* 31:16 are EIMD, reserved without ECAP.EIM */
		return;
	case VIOMMU_VTD_REG_FEADDR:
		v->fe.addr = val & ~3u;
		return;
	case VIOMMU_VTD_REG_ICS:
		v->ics &= ~(val & VTD_ICS_IWC);
		if (!(v->ics & VTD_ICS_IWC))
			v->ie.ctl &= ~VTD_CTL_IP;
		return;
	case VIOMMU_VTD_REG_IECTL:
		event_ctl_write(v, &v->ie, val);
		return;
	case VIOMMU_VTD_REG_IEDATA:
		v->ie.data = val & 0xffff;
		return;
	case VIOMMU_VTD_REG_IEADDR:
		v->ie.addr = val & ~3u;
		return;
	default:
		return;		/* VER, GSTS, FEUADDR, IEUADDR, PMEN, reserved */
	}
}

static int mmio_check(const struct viommu_vtd *v, uint64_t off, unsigned size, const char *what)
{
	if (!v || (size != 4 && size != 8) || (off & (size - 1)) || off >= VIOMMU_VTD_MMIO_SIZE) {
		vi_debug("vtd: MMIO %s refused: offset %#llx size %u", what, (unsigned long long)off, size);
		return -EINVAL;
	}
	if (vtd_in_callback(v))
		return -EDEADLK;
	return 0;
}

VIOMMU_API int viommu_vtd_mmio_read(struct viommu_vtd *v, uint64_t offset, unsigned size, uint64_t *val)
{
	int r = mmio_check(v, offset, size, "read");

	if (!r && !val)
		r = -EINVAL;
	if (r)
		return vi_errno(r);
	vtd_lock(v);
	if (size == 8 && reg64(v, offset))
		*val = reg_read64(v, offset);
	else if (size == 8)
		*val = reg_read32(v, offset) | (uint64_t)reg_read32(v, offset + 4) << 32;
	else
		*val = reg_read32(v, offset);
	vtd_unlock(v);
	return 0;
}

VIOMMU_API int viommu_vtd_mmio_write(struct viommu_vtd *v, uint64_t offset, unsigned size, uint64_t val)
{
	int r = mmio_check(v, offset, size, "write");

	if (r)
		return vi_errno(r);
	vtd_lock(v);
	if (size == 8 && reg64(v, offset)) {
		reg_write64(v, offset, val, UINT64_MAX);
	} else if (size == 8) {
		reg_write32(v, offset, (uint32_t)val);
		reg_write32(v, offset + 4, (uint32_t)(val >> 32));
	} else {
		reg_write32(v, offset, (uint32_t)val);
	}
	vtd_unlock(v);
	return 0;
}

/* ---- the object ------------------------------------------------------- */

/* Power-on values (spec 10.4: FECTL.IM and IECTL.IM reset to 1). */
static void regs_reset(struct viommu_vtd *v)
{
	v->gsts = v->fsts = v->ics = 0;
	v->fe = v->ie = (struct vtd_event){ VTD_CTL_IM, 0, 0 };
	v->rtaddr = v->ccmd = v->iqa = v->iqt = v->irta = v->iotlb_reg = v->iva = 0;
	memset(v->frcd, 0, sizeof(v->frcd[0]) * v->nfr);
	v->next_frcd = 0;
	v->root = 0;
	atomic_store_explicit(&v->te, false, memory_order_release);
	v->qie = false;
	v->iq_base = 0;
	v->iq_size = 0;
	v->iq_head = v->iq_tail = 0;
	v->last_desc = VTD_DESC_NONE;
}

static uint64_t make_cap(const struct viommu_vtd *v)
{
	uint64_t cap = 6;					/* ND: 16-bit domain ids */

	if (v->o.caching_mode)
		cap |= UINT64_C(1) << 7;
	cap |= (uint64_t)v->sagaw << 8;
	cap |= (uint64_t)(v->aw - 1) << 16;			/* MGAW */
	cap |= (uint64_t)(VIOMMU_VTD_REG_FRCD >> 4) << 24;	/* FRO */
	cap |= UINT64_C(3) << 34;				/* SLLPS: 2M and 1G */
	if (!v->o.no_psi)
		cap |= UINT64_C(1) << 39;
	cap |= (uint64_t)(v->nfr - 1) << 40;
	cap |= (uint64_t)v->o.mamv << 48;
	cap |= UINT64_C(3) << 54;				/* DWD, DRD (QEMU dma-drain=on) */
	return cap;
}

static uint64_t make_ecap(const struct viommu_vtd *v)
{
	uint64_t ecap = (uint64_t)(VIOMMU_VTD_REG_IVA >> 4) << 8;	/* IRO */

	if (!v->o.no_qi)
		ecap |= 1u << 1;
	if (v->o.device_iotlb)
		ecap |= 1u << 2;
	if (!v->o.no_intremap)
		ecap |= 1u << 3 | UINT64_C(15) << 20;		/* IR, MHMV */
	if (!v->o.no_pass_through)
		ecap |= 1u << 6;
	return ecap;
}

static int opts_check(struct viommu_vtd *v, const struct viommu_vtd_opts *opts)
{
	struct viommu_vtd_opts *o = &v->o;

	if (!opts || !VI_OPTS_VALID(opts, viommu_vtd_opts))
		return -EINVAL;
	VI_OPTS_COPY(o, opts);
	if (!o->read || !o->write) {
		vi_warn("vtd: read and write callbacks are required");
		return -EINVAL;
	}
	v->aw = o->aw_bits ? o->aw_bits : 39;
	if (v->aw != 39 && v->aw != 48 && v->aw != 57) {
		vi_warn("vtd: aw_bits %u refused: 39, 48 or 57", o->aw_bits);
		return -EINVAL;
	}
	v->sagaw = o->sagaw ? o->sagaw : 0x2u | (v->aw >= 48 ? 0x4u : 0) | (v->aw >= 57 ? 0x8u : 0);
	if (v->sagaw & ~0xeu) {
		vi_warn("vtd: sagaw %#x refused: only bits 1..3 (3, 4, 5 levels)", o->sagaw);
		return -EINVAL;
	}
	v->haw = o->haw_bits ? o->haw_bits : VI_MIN(v->aw, 52);
	if (v->haw < 32 || v->haw > 52) {
		vi_warn("vtd: haw_bits %u refused: 32..52", o->haw_bits);
		return -EINVAL;
	}
	v->haw_mask = vi_mask(v->haw);
	v->nfr = o->nfr ? o->nfr : 1;
	if (v->nfr > (VIOMMU_VTD_MMIO_SIZE - VIOMMU_VTD_REG_FRCD) / 16) {
		vi_warn("vtd: nfr %u refused: the records must fit the register page (1..222)", o->nfr);
		return -EINVAL;
	}
	if (!o->mamv)
		o->mamv = 18;
	if (o->mamv > 52) {
		vi_warn("vtd: mamv %u refused: 1..52", o->mamv);
		return -EINVAL;
	}
	if (!o->max_sync_reads)
		o->max_sync_reads = UINT64_C(1) << 24;
	if (!o->memory != !o->sys) {
		vi_warn("vtd: memory and sys must be given together");
		return -EINVAL;
	}
	v->host_ok = o->memory != NULL;
	return 0;
}

VIOMMU_API struct viommu_vtd *viommu_vtd_new(const struct viommu_vtd_opts *opts)
{
	struct viommu_vtd *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return vi_null(ENOMEM);
	r = opts_check(v, opts);
	if (r) {
		free(v);
		return vi_null(-r);
	}
	v->cap = make_cap(v);
	v->ecap = make_ecap(v);
	v->frcd = calloc(v->nfr, sizeof(*v->frcd));
	v->iotlb = viommu_iotlb_new(&(struct viommu_iotlb_opts){ .sz = sizeof(struct viommu_iotlb_opts),
								 .capacity = v->o.iotlb_entries });
	if (!v->frcd || !v->iotlb || pthread_mutex_init(&v->lock, NULL)) {
		viommu_iotlb_free(v->iotlb);
		free(v->frcd);
		free(v);
		return vi_null(ENOMEM);
	}
	atomic_init(&v->ctx_gen, 1);
	regs_reset(v);
	return v;
}

VIOMMU_API void viommu_vtd_free(struct viommu_vtd *v)
{
	if (!v)
		return;
	vtd_sync_free(v);
	vtd_ctx_free(v);
	viommu_iotlb_free(v->iotlb);
	pthread_mutex_destroy(&v->lock);
	free(v->frcd);
	free(v);
}

VIOMMU_API int viommu_vtd_reset(struct viommu_vtd *v)
{
	if (!v)
		return vi_errno(-EINVAL);
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	vtd_lock(v);
	regs_reset(v);
	vtd_caches_reset(v);
	vtd_sync_refresh(v, true, 0, 0);
	vtd_unlock(v);
	return 0;
}

VIOMMU_API uint64_t viommu_vtd_cap(const struct viommu_vtd *v)
{
	return v ? v->cap : 0;
}

VIOMMU_API uint64_t viommu_vtd_ecap(const struct viommu_vtd *v)
{
	return v ? v->ecap : 0;
}

#define viommu_vtd_stats__last_field interrupts

VIOMMU_API int viommu_vtd_get_stats(struct viommu_vtd *v, struct viommu_vtd_stats *st)
{
	struct viommu_iotlb_stats is = { .sz = sizeof(is) };
	struct viommu_vtd_stats s;

	if (!v || !st)
		return vi_errno(-EINVAL);
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	vtd_lock(v);
	s = v->st;
	vtd_unlock(v);
	viommu_iotlb_get_stats(v->iotlb, &is);
	s.iotlb_hits = is.hits;
	s.interrupts = atomic_load_explicit(&v->interrupts, memory_order_relaxed);
	return vi_errno(VI_OPTS_OUT(st, &s, viommu_vtd_stats));
}
