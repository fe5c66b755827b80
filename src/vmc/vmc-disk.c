/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc's disk verbs: export, import, resize. */
#include <errno.h>
#include <stdio.h>

#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "message-type.h"
#include "proto-validate.h"
#include "string-util.h"
#include "vmc.h"

int verb_export(char **args) {
        Bistro__Concierge__ExportVmRequest req = BISTRO__CONCIERGE__EXPORT_VM_REQUEST__INIT;
        _cleanup_free_ char *path = NULL;
        int r;

        req.name = args[0];
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        r = vmc_absolute_path(args[1], &path);
        if (r < 0)
                return log_error_errno(r, "export: cannot make '%s' absolute: %m", args[1]);
        req.path = path;
        req.force = arg_force;
        r = vmc_call(
                &(VmcCall){ .what = "export" }, BISTRO__MESSAGE_TYPE__EXPORT_VM_REQUEST, &req.base, NULL);
        if (r >= 0 && !arg_quiet)
                printf("Exported VM '%s' to %s (checksum in %s.sha256).\n", req.name, path, path);
        return r;
}

int verb_import(char **args) {
        Bistro__Concierge__ImportVmRequest req = BISTRO__CONCIERGE__IMPORT_VM_REQUEST__INIT;
        _cleanup_free_ char *path = NULL;
        int r;

        req.name = args[1];
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        r = vmc_absolute_path(args[0], &path);
        if (r < 0)
                return log_error_errno(r, "import: cannot make '%s' absolute: %m", args[0]);
        req.path = path;
        return vmc_call(
                &(VmcCall){ .what = "import" }, BISTRO__MESSAGE_TYPE__IMPORT_VM_REQUEST, &req.base, NULL);
}

int verb_resize(char **args) {
        Bistro__Concierge__ResizeVmRequest req = BISTRO__CONCIERGE__RESIZE_VM_REQUEST__INIT;
        int r;

        req.name = args[0];
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        if (parse_size(args[1], &req.size) < 0 ||
            message_validate(BISTRO__MESSAGE_TYPE__RESIZE_VM_REQUEST, &req.base) < 0)
                return log_usage_error("resize: invalid size '%s' (1G to 64T)", args[1]);
        return vmc_call(
                &(VmcCall){ .what = "resize" }, BISTRO__MESSAGE_TYPE__RESIZE_VM_REQUEST, &req.base, NULL);
}
