// SPDX-License-Identifier: GPL-2.0
/*
 * xipmap: expose a reserved range of physical memory as a read-only MTD
 * device whose point() reports the physical address, so that cramfs
 * (CONFIG_CRAMFS_MTD) can map file pages in place (XIP).
 *
 * Part of mmlab's kernel captures (tools/kernel-captures). The range is
 * reserved with memmap=SIZE$ADDR on the kernel command line and filled by
 * QEMU's "loader" device; this module only describes it, like a board file
 * describes its NOR flash. The stock map_rom chip driver does the rest:
 * its point() returns map->virt + from and map->phys + from.
 */
#include <linux/module.h>
#include <linux/io.h>
#include <linux/mtd/mtd.h>
#include <linux/mtd/map.h>

static unsigned long phys = 0x10000000;
module_param(phys, ulong, 0444);
MODULE_PARM_DESC(phys, "physical start address of the image");

static unsigned long size = 32UL << 20;
module_param(size, ulong, 0444);
MODULE_PARM_DESC(size, "size of the range in bytes");

static char *name = "xipcramfs";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "MTD name (mount -t cramfs mtd:NAME)");

static struct map_info xipmap_map;
static struct mtd_info *xipmap_mtd;

static int __init xipmap_init(void)
{
	int err;

	xipmap_map.name = name;
	xipmap_map.phys = phys;
	xipmap_map.size = size;
	xipmap_map.bankwidth = 4;
	/* Cached, like normal memory: remap_pfn_range() of the cramfs mmap
	 * then asks PAT for write-back, which matches this mapping. */
	xipmap_map.virt = ioremap_cache(phys, size);
	if (!xipmap_map.virt) {
		pr_err("xipmap: ioremap_cache(%#lx, %#lx) failed\n", phys, size);
		return -ENOMEM;
	}
	simple_map_init(&xipmap_map);

	xipmap_mtd = do_map_probe("map_rom", &xipmap_map);
	if (!xipmap_mtd) {
		pr_err("xipmap: map_rom probe failed\n");
		err = -ENXIO;
		goto out_unmap;
	}
	xipmap_mtd->owner = THIS_MODULE;

	err = mtd_device_register(xipmap_mtd, NULL, 0);
	if (err) {
		pr_err("xipmap: mtd_device_register failed: %d\n", err);
		goto out_destroy;
	}
	pr_info("xipmap: mtd \"%s\": phys %#lx size %#lx\n", name, phys, size);
	return 0;

out_destroy:
	map_destroy(xipmap_mtd);
out_unmap:
	iounmap(xipmap_map.virt);
	return err;
}

static void __exit xipmap_exit(void)
{
	mtd_device_unregister(xipmap_mtd);
	map_destroy(xipmap_mtd);
	iounmap(xipmap_map.virt);
}

module_init(xipmap_init);
module_exit(xipmap_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("reserved physical memory as a ROM MTD with a physical address (XIP)");
