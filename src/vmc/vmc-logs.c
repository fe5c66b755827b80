/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc logs: the tail of a VM's console log. */
#include <stdio.h>
#include <stdlib.h>

#include "cli-util.h"
#include "log.h"
#include "macro.h"
#include "message-type.h"
#include "vmc.h"

int verb_logs(char **args) {
        Bistro__Concierge__GetVmLogsRequest req = BISTRO__CONCIERGE__GET_VM_LOGS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *text = NULL, *lf = NULL;
        size_t n = 0;
        const Bistro__Concierge__GetVmLogsResponse *l;
        int r;

        req.name = args[0] ?: (char *) VMC_DEFAULT_VM;
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        r = vmc_call(
                &(VmcCall){ .what = "logs" }, BISTRO__MESSAGE_TYPE__GET_VM_LOGS_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        /* Raw guest console bytes, written by a hostile guest: escape sequences (OSC 52 would set the
         * user's clipboard), C1 controls and bad UTF-8 are shown as \xNN, never obeyed. */
        lf = malloc(l->log.len ?: 1);
        if (!lf)
                return log_oom();
        /* The serial console ends lines with CR LF: keep the LF only (a lone CR is escaped). */
        for (size_t i = 0; i < l->log.len; i++)
                if (!(l->log.data[i] == '\r' && i + 1 < l->log.len && l->log.data[i + 1] == '\n'))
                        lf[n++] = (char) l->log.data[i];
        text = escape_for_terminal(lf, n, true);
        if (!text)
                return log_oom();
        fputs(text, stdout);
        return 0;
}
