/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "vmm-accel.h"

bool kvm_device_usable(void) {
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

        return fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
}

bool kvm_usable(void) {
        if (!kvm_device_usable())
                return false;
        if (access("/sys/module/kvm_pvm", F_OK) == 0 && access("/sys/module/kvm_intel", F_OK) < 0 &&
            access("/sys/module/kvm_amd", F_OK) < 0) {
                log_info("/dev/kvm is kvm_pvm, which needs PVM-aware guests: using TCG.");
                return false;
        }
        return true;
}

int accel_resolve(Accel requested) {
        switch (requested) {
        case ACCEL_AUTO:
                return kvm_usable() ? ACCEL_KVM : ACCEL_TCG;
        case ACCEL_KVM:
                /* Asked for explicitly: the kvm_pvm check is skipped (docs/design/vmm.md, "KVM"). */
                return kvm_device_usable() ? ACCEL_KVM : -ENODEV;
        case ACCEL_TCG:
                return ACCEL_TCG;
        default:
                return -EINVAL;
        }
}
