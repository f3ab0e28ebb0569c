/* SPDX-License-Identifier: MIT */
/*
 * The iommufd and VFIO-cdev uAPI this library uses, for build hosts whose
 * <linux/...> headers predate them (Debian 12 ships 6.1 headers; iommufd is
 * 6.2, the VFIO device cdev 6.6). Each block is guarded so that a newer system
 * header wins. Layouts and numbers follow include/uapi/linux/iommufd.h and
 * include/uapi/linux/vfio.h of Linux 6.12; the ioctls are _IO() with the
 * structure size carried in its first field, so the numbers do not encode it.
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

#endif
