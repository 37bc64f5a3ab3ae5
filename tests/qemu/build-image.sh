#!/bin/sh
# Build the qemu driver tests' bootable image, offline, from Debian's packages (the recipe in
# the README's "A base image"): MBR -> FAT16 partition -> SYSLINUX -> Debian's kernel and an
# initramfs holding the whole root file system (busybox, dropbear, sftp-server).
# Usage: build-image.sh OUT.qcow2 AUTHORIZED_KEY_FILE
set -eu
out=$(realpath -m "$1")
pubkey=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# The kernel: the package linux-image-amd64 depends on, unpacked (never installed).
kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
apt-get download "$kpkg" >/dev/null 2>&1
dpkg-deb -x ./"$kpkg"_*.deb kernel
kver=${kpkg#linux-image-}
depmod -b kernel "$kver"

root=$work/root
mkdir -p "$root"/bin "$root"/sbin "$root"/usr/bin "$root"/usr/sbin "$root"/usr/lib \
    "$root"/etc/dropbear "$root"/root/.ssh "$root"/proc "$root"/sys "$root"/dev \
    "$root"/tmp "$root"/run "$root"/var/log "$root"/lib/modules
cp /bin/busybox "$root"/bin/busybox
for applet in $(/bin/busybox --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
ln -sf /bin/busybox "$root"/init
rm -f "$root"/usr/sbin/dropbear
cp /usr/sbin/dropbear "$root"/usr/sbin/dropbear
cp /usr/lib/openssh/sftp-server "$root"/usr/lib/sftp-server
for lib in $(ldd /usr/sbin/dropbear /usr/lib/openssh/sftp-server \
        | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
mods=""
for m in $(for name in virtio_pci virtio_net virtio_blk; do
        modprobe -d kernel -S "$kver" --show-depends "$name"; done | awk '$1 == "insmod" {print $2}'); do
    case " $mods " in *" $m "*) continue ;; esac
    mods="$mods $m"
    mkdir -p "$root$(dirname "${m#"$work"/kernel}")"
    cp "$m" "$root${m#"$work"/kernel}"
done
# Each SSH session in a process group of its own, as OpenSSH gives it (dropbear does not):
# the ssh driver stops a job by signalling its group.
printf '#!/bin/sh\nexec setsid /bin/sh "$@"\n' > "$root"/bin/session-sh
chmod 755 "$root"/bin/session-sh
printf 'root:x:0:0:root:/root:/bin/session-sh\n' > "$root"/etc/passwd
printf 'root::0:0:99999:7:::\n' > "$root"/etc/shadow
printf 'root:x:0:\n' > "$root"/etc/group
printf '/bin/sh\n/bin/session-sh\n' > "$root"/etc/shells
cp "$pubkey" "$root"/root/.ssh/authorized_keys
chmod 700 "$root"/root/.ssh
chmod 600 "$root"/root/.ssh/authorized_keys
dropbearkey -t ed25519 -f "$root"/etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1
cat > "$root"/etc/inittab <<'INITTAB'
::sysinit:/etc/rc
::shutdown:/bin/killall dropbear
::shutdown:/bin/sync
ttyS0::respawn:/bin/sh
INITTAB
{
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
    echo 'mkdir -p /dev/pts; mount -t devpts devpts /dev/pts; mount -t tmpfs tmp /tmp'
    for m in $mods; do echo "insmod ${m#"$work"/kernel}"; done
    echo 'ip link set lo up; ip link set eth0 up'
    echo 'ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2'
    echo 'echo nameserver 10.0.2.3 > /etc/resolv.conf'
    echo 'dropbear -s -g -p 22 -r /etc/dropbear/dropbear_ed25519_host_key'
} > "$root"/etc/rc
chmod 755 "$root"/etc/rc
(cd "$root" && find . | cpio -o -H newc -R 0:0 2>/dev/null | gzip -9) > initrd.gz

# The disk, without mounts: a FAT16 partition file with SYSLINUX, put in an MBR disk.
cat > syslinux.cfg <<'CFG'
SERIAL 0 115200
DEFAULT linux
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=ttyS0 quiet panic=5
CFG
truncate -s 47M part.img
mkfs.fat -F 16 -h 2048 part.img >/dev/null
mcopy -i part.img kernel/boot/vmlinuz-"$kver" ::vmlinuz
mcopy -i part.img initrd.gz ::initrd.gz
mcopy -i part.img syslinux.cfg ::syslinux.cfg
syslinux --install part.img
truncate -s 48M disk.img
echo 'start=2048, type=6, bootable' | sfdisk -q disk.img
dd if=part.img of=disk.img bs=512 seek=2048 conv=notrunc status=none
dd if=/usr/lib/syslinux/mbr/mbr.bin of=disk.img bs=440 count=1 conv=notrunc status=none
qemu-img convert -O qcow2 disk.img "$out.tmp"
mv "$out.tmp" "$out"
