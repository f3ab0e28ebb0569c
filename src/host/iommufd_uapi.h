/* SPDX-License-Identifier: MIT */
/*
 * The iommufd and VFIO-cdev uAPI this library uses, for build hosts whose
 * <linux/...> headers predate them (Debian 12 ships 6.1 headers; iommufd is
 * 6.2, the VFIO device cdev 6.6). Each block is guarded so that a newer system
 * header wins. Layouts and numbers follow include/uapi/linux/iommufd.h and
 * include/uapi/linux/vfio.h of Linux 6.12 (IOMMU_IOAS_CHANGE_PROCESS: of
 * 6.14, command 0x92); the ioctls are _IO() with the structure size carried
 * in its first field, so the numbers do not encode it, and the kernel accepts
 * an older (smaller) structure.
 */
#ifndef VI_HOST_IOMMUFD_UAPI_H
#define VI_HOST_IOMMUFD_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/vfio.h>

#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif

#ifndef IOMMUFD_TYPE
#define IOMMUFD_TYPE (';')
#endif

/* IOMMUFD_CMD_* are an enum upstream, so the ioctl macros are the guards. */
#ifndef IOMMU_DESTROY
struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, 0x80)
#endif

#ifndef IOMMU_IOAS_ALLOC
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, 0x81)
#endif

#ifndef IOMMU_IOAS_IOVA_RANGES
struct iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};
struct iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
};
#define IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, 0x84)
#endif

#ifndef IOMMU_IOAS_MAP
#define IOMMU_IOAS_MAP_FIXED_IOVA (1 << 0)
#define IOMMU_IOAS_MAP_WRITEABLE  (1 << 1)
#define IOMMU_IOAS_MAP_READABLE   (1 << 2)
struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP _IO(IOMMUFD_TYPE, 0x85)
#endif

#ifndef IOMMU_IOAS_UNMAP
struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOMMU_IOAS_UNMAP _IO(IOMMUFD_TYPE, 0x86)
#endif

#ifndef IOMMU_IOAS_ALLOW_IOVAS
struct iommu_ioas_allow_iovas {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
};
#define IOMMU_IOAS_ALLOW_IOVAS _IO(IOMMUFD_TYPE, 0x82)
#endif

#ifndef IOMMU_IOAS_COPY
struct iommu_ioas_copy {
	__u32 size;
	__u32 flags;
	__u32 dst_ioas_id;
	__u32 src_ioas_id;
	__aligned_u64 length;
	__aligned_u64 dst_iova;
	__aligned_u64 src_iova;
};
#define IOMMU_IOAS_COPY _IO(IOMMUFD_TYPE, 0x83)
#endif

/* HWPT allocation (6.6) and device capabilities (6.7) */
#ifndef IOMMU_HWPT_ALLOC
struct iommu_hwpt_alloc {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 pt_id;
	__u32 out_hwpt_id;
	__u32 __reserved;
	__u32 data_type;
	__u32 data_len;
	__aligned_u64 data_uptr;
};
#define IOMMU_HWPT_ALLOC _IO(IOMMUFD_TYPE, 0x89)
#endif
#ifndef IOMMU_HWPT_ALLOC_DIRTY_TRACKING
#define IOMMU_HWPT_ALLOC_DIRTY_TRACKING (1 << 1)
#endif

#ifndef IOMMU_GET_HW_INFO
struct iommu_hw_info {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 data_len;
	__aligned_u64 data_uptr;
	__u32 out_data_type;
	__u32 __reserved;
	__aligned_u64 out_capabilities;
};
#define IOMMU_GET_HW_INFO _IO(IOMMUFD_TYPE, 0x8a)
#endif
#ifndef IOMMU_HW_CAP_DIRTY_TRACKING
#define IOMMU_HW_CAP_DIRTY_TRACKING (1 << 0)
#endif

/* dirty tracking (6.7) */
#ifndef IOMMU_HWPT_SET_DIRTY_TRACKING
#define IOMMU_HWPT_DIRTY_TRACKING_ENABLE 1
struct iommu_hwpt_set_dirty_tracking {
	__u32 size;
	__u32 flags;
	__u32 hwpt_id;
	__u32 __reserved;
};
#define IOMMU_HWPT_SET_DIRTY_TRACKING _IO(IOMMUFD_TYPE, 0x8b)
#endif

#ifndef IOMMU_HWPT_GET_DIRTY_BITMAP
#define IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR 1
struct iommu_hwpt_get_dirty_bitmap {
	__u32 size;
	__u32 hwpt_id;
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 data;
};
#define IOMMU_HWPT_GET_DIRTY_BITMAP _IO(IOMMUFD_TYPE, 0x8c)
#endif

/* live update by exec (6.14) */
#ifndef IOMMU_IOAS_CHANGE_PROCESS
struct iommu_ioas_change_process {
	__u32 size;
	__u32 __reserved;
};
#define IOMMU_IOAS_CHANGE_PROCESS _IO(IOMMUFD_TYPE, 0x92)
#endif

/* VFIO device cdev (Linux 6.6): bind to an iommufd, attach to an IOAS/HWPT. */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
#endif

#ifndef VFIO_DEVICE_ATTACH_IOMMUFD_PT
struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

#ifndef VFIO_DEVICE_DETACH_IOMMUFD_PT
struct vfio_device_detach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
};
#define VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 20)
#endif

#endif
