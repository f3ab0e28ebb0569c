// SPDX-License-Identifier: MIT
/*
 * The qtest client against a machine with no IOMMU: edu's identification
 * register, PCI config reads, guest memory round trips and two edu DMAs
 * (RAM -> device buffer -> RAM) with the exact bytes checked. Every oracle
 * test built on tests/qtest/qtest.h relies on these working.
 */
#include "test.h"
#include "qtest/qtest.h"

#define EDU_DEVFN QT_DEVFN(3, 0)
#define EDU_BAR UINT64_C(0xe0000000)

int main(void)
{
	if (!qt_qemu_available())
		return qt_missing_status();
	struct qtest *qt = qt_start("-device edu,addr=03.0");
	unsigned char pat[2000], back[2000];

	T_OK(qt != NULL);
	if (!qt)
		return t_done();
	T_EQ(qt_pci_readl(qt, EDU_DEVFN, 0x00), 0x11e81234);	/* vendor 1234, device 11e8 */
	qt_pci_map_bar(qt, EDU_DEVFN, 0, EDU_BAR);
	T_EQ(qt_readl(qt, EDU_BAR + QT_EDU_ID), 0x010000ed);

	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (unsigned char)(i * 7 + 3);
	T_EQ(qt_memwrite(qt, 0x100000, pat, sizeof(pat)), 0);
	T_EQ(qt_memread(qt, 0x100000, back, sizeof(back)), 0);
	T_EQ(memcmp(pat, back, sizeof(pat)), 0);
	T_EQ(qt_memset(qt, 0x200000, sizeof(back), 0), 0);

	/* RAM -> buffer, then buffer -> other RAM: identity without an IOMMU. */
	T_EQ(qt_edu_dma(qt, EDU_BAR, false, 0x100000, 0, sizeof(pat)), 0);
	T_EQ(qt_edu_dma(qt, EDU_BAR, true, 0x200000, 0, sizeof(pat)), 0);
	memset(back, 0, sizeof(back));
	T_EQ(qt_memread(qt, 0x200000, back, sizeof(back)), 0);
	T_EQ(memcmp(pat, back, sizeof(pat)), 0);
	T_OK(qt_ok(qt));
	printf("qtest: %llu commands\n", (unsigned long long)qt->cmds);
	qt_quit(qt);
	return t_done();
}
