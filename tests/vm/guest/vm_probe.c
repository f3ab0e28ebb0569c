// SPDX-License-Identifier: MIT
/*
 * The guest environment the other guest programs rely on: the
 * edu device is bound to vfio-pci in its own IOMMU group, the VFIO container
 * speaks API version 0 and offers type1 v2 (and v1); the iommufd kernel also
 * has /dev/iommu and the device cdev.
 */
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "test.h"

int main(int argc, char **argv)
{
	const char *kernel = argc > 1 ? argv[1] : "stock";
	const char *group = getenv("VIOMMU_VM_GROUP");
	char path[64];
	int c, g;

	T_OK(group != NULL);
	if (!group)
		return t_done();
	c = open("/dev/vfio/vfio", O_RDWR);
	T_OK(c >= 0);
	T_EQ(ioctl(c, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	T_EQ(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
	T_EQ(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 1);
	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	g = open(path, O_RDWR);
	T_OK(g >= 0);
	if (g >= 0) {
		struct vfio_group_status st = { .argsz = sizeof(st) };
		T_EQ(ioctl(g, VFIO_GROUP_GET_STATUS, &st), 0);
		T_EQ(st.flags & VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
		close(g);
	}
	close(c);
	if (!strcmp(kernel, "iommufd")) {
		int fd = open("/dev/iommu", O_RDWR);
		T_OK(fd >= 0);
		T_OK(getenv("VIOMMU_VM_CDEV") != NULL);
		if (fd >= 0)
			close(fd);
	}
	/* run.sh sets the type1 mapping limit on the kernel command line */
	{
		FILE *f = fopen("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", "r");
		unsigned limit = 0;
		T_OK(f != NULL);
		if (f) {
			T_EQ(fscanf(f, "%u", &limit), 1);
			fclose(f);
		}
		T_EQ(limit, 100);
	}
	printf("case vm_probe %s group %s\n", kernel, group);
	return t_done();
}
