#!/usr/bin/env bash
# Regenerates the checked-in QEMU DTBs used by tests/unit/fdt (QEMU 7.2, Debian bookworm). QEMU pads its DTB to
# 1 MiB; the header's totalsize is trimmed to the used size so the files stay small (content unchanged).
# -nodefaults: no default NIC, whose option ROM (ipxe-qemu) a fresh machine lacks; the DTB is the same without it.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 65536 /dev/zero >"$tmp/hv.bin"
head -c 65536 /dev/urandom >"$tmp/k.bin"
head -c 16384 /dev/urandom >"$tmp/r.bin"
M=virt,virtualization=on,gic-version=3,its=on
qemu-system-aarch64 -M $M,dumpdtb="$tmp/a.dtb" -cpu max -smp 4 -m 1G -nographic -nodefaults
qemu-system-aarch64 -M $M,iommu=smmuv3,dumpdtb="$tmp/c.dtb" -cpu max -smp 2 -m 1G -nographic -nodefaults
qemu-system-aarch64 -M $M,dumpdtb="$tmp/b.dtb" -cpu max -smp 2 -m 2G -nographic -nodefaults -kernel "$tmp/hv.bin" \
  -append "vcpus=2 mem=512M psci=1.0" \
  -device guest-loader,addr=0x60000000,kernel="$tmp/k.bin",bootargs="console=ttyAMA0 earlycon" \
  -device guest-loader,addr=0x64000000,initrd="$tmp/r.bin"
python3 - "$tmp" <<'PY'
import struct, sys
tmp = sys.argv[1]
for src, dst in [("a.dtb", "qemu-virt-smp4.dtb"), ("b.dtb", "qemu-virt-smp2-modules.dtb"),
                 ("c.dtb", "qemu-virt-smmuv3.dtb")]:
    d = bytearray(open(f"{tmp}/{src}", "rb").read())
    h = list(struct.unpack(">10I", d[:40]))
    end = (max(h[2] + h[9], h[3] + h[8]) + 7) & ~7
    h[1] = end
    d[:40] = struct.pack(">10I", *h)
    open(dst, "wb").write(d[:end])
PY
