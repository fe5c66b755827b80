/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* concierge's VM and name handling: the config file at its limits, VM names at the exact length
 * limit and one past, the VM table's limit, state transitions of a start that fails in its start
 * job (waiters woken, nothing left running), destroy, the data directory lock and vmm.log's
 * "disk in use". Real code (libconcierge), real files in a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "concierge-manager.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "path-util.h"
#include "rm-rf.h"

static char root[] = "/tmp/test-concierge-vm-XXXXXX";

static char *sub(const char *rel) {
        char *p = path_join(root, rel);

        assert_non_null(p);
        return p;
}

static void manager_setup(Manager *m) {
        *m = (Manager){ .lock_fd = -EBADF, .ready_timeout_usec = 5 * 1000000 };
        assert_int_equal(sd_event_new(&m->event), 0);
        m->state_root = sub("data");
        m->vms_dir = sub("data/vms");
        m->runtime_root = sub("run");
        m->image_dir = sub("image");
        m->trust_dir = sub("keys"); /* empty: every start is refused in the start job */
        m->vmm_path = strdup("/bin/false");
        m->build_id = strdup("0123456789abcdef0123456789abcdef");
        assert_int_equal(mkdir_p(m->vms_dir, 0700), 0);
        assert_int_equal(mkdir_p(m->runtime_root, 0700), 0);
        assert_int_equal(mkdir_p(m->image_dir, 0700), 0);
        assert_int_equal(mkdir_p(m->trust_dir, 0700), 0);
}

static void test_config_limits(void **state) {
        VmConfig c = { .cpus = 1, .memory_mib = 512 };

        vm_config_parse(&c, "cpus=256\nmemory_mib=1048576\n");
        assert_int_equal(c.cpus, 256);
        assert_int_equal(c.memory_mib, 1048576);
        vm_config_parse(&c, "cpus=257\nmemory_mib=1048577\n"); /* one past: ignored */
        assert_int_equal(c.cpus, 256);
        assert_int_equal(c.memory_mib, 1048576);
        vm_config_parse(&c, "cpus=1\nmemory_mib=64\n");
        assert_int_equal(c.cpus, 1);
        assert_int_equal(c.memory_mib, 64);
        vm_config_parse(&c, "cpus=0\nmemory_mib=63\n");
        assert_int_equal(c.cpus, 1);
        assert_int_equal(c.memory_mib, 64);
        vm_config_parse(&c, "cpus=2x\ncpus=-1\ncpus=18446744073709551618\nmemory_mib=\nbogus\n");
        assert_int_equal(c.cpus, 1);
        assert_int_equal(c.memory_mib, 64);
        assert_false(c.grow_pending);
        assert_false(c.mkfs_pending);
        vm_config_parse(&c, "grow_pending=0\nmkfs_pending=2\n");
        assert_false(c.grow_pending);
        assert_false(c.mkfs_pending);
        vm_config_parse(&c, "grow_pending=1\nmkfs_pending=1");
        assert_true(c.grow_pending);
        assert_true(c.mkfs_pending);
}

static void test_config_size_limit(void **state) {
        VmConfig c = { .cpus = 1, .memory_mib = 512 };
        char *text = malloc(VM_CONFIG_MAX + 16);

        /* The last line that fits in VM_CONFIG_MAX bytes counts; one starting past it does not. */
        memset(text, '\n', VM_CONFIG_MAX + 16);
        memcpy(text + VM_CONFIG_MAX - 7, "cpus=9\n", 7);
        text[VM_CONFIG_MAX] = 0;
        vm_config_parse(&c, text);
        assert_int_equal(c.cpus, 9);
        memset(text, '\n', VM_CONFIG_MAX + 16);
        memcpy(text + VM_CONFIG_MAX - 6, "cpus=7", 6); /* ends exactly at the limit */
        memcpy(text + VM_CONFIG_MAX + 1, "cpus=8\n", 7);
        text[VM_CONFIG_MAX + 8] = 0;
        vm_config_parse(&c, text);
        assert_int_equal(c.cpus, 7);
        free(text);
}

static void test_config_roundtrip(void **state) {
        VmConfig a = { .cpus = 256, .memory_mib = 1048576, .grow_pending = true, .mkfs_pending = false };
        VmConfig b = { .cpus = 1, .memory_mib = 64 };
        char *text = vm_config_format(&a);

        assert_non_null(text);
        assert_string_equal(text, "cpus=256\nmemory_mib=1048576\ngrow_pending=1\n");
        vm_config_parse(&b, text);
        assert_int_equal(a.cpus, b.cpus);
        assert_int_equal(a.memory_mib, b.memory_mib);
        assert_true(a.grow_pending == b.grow_pending);
        assert_true(a.mkfs_pending == b.mkfs_pending);
        free(text);
}

static void test_names(void **state) {
        char name64[65], name65[66];
        Manager m;
        Vm *vm = NULL;

        manager_setup(&m);
        memset(name64, 'a', 64);
        name64[64] = 0;
        memset(name65, 'b', 65);
        name65[65] = 0;
        assert_int_equal(vm_get(&m, name64, true, &vm), 0);
        assert_string_equal(vm->name, name64);
        assert_int_equal(vm->state, BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED);
        assert_false(vm_is_up(vm));
        assert_int_equal(vm_get(&m, name65, true, &vm), -EINVAL);
        assert_int_equal(vm_get(&m, "", true, &vm), -EINVAL);
        assert_int_equal(vm_get(&m, ".hidden", true, &vm), -EINVAL);
        assert_int_equal(vm_get(&m, "-opt", true, &vm), -EINVAL);
        assert_int_equal(vm_get(&m, "a/b", true, &vm), -EINVAL);
        assert_int_equal(vm_get(&m, "..", true, &vm), -EINVAL);
        /* Not created on disk, not asked to create: unknown. */
        assert_int_equal(vm_get(&m, "nosuchvm", false, &vm), -ENOENT);
        assert_int_equal(m.n_vms, 1);
        manager_done(&m);
}

static void test_vms_max(void **state) {
        Manager m;
        Vm *vm = NULL;
        char name[16];

        manager_setup(&m);
        for (unsigned i = 0; i < VMS_MAX; i++) {
                (void) snprintf(name, sizeof(name), "vm%u", i);
                assert_int_equal(vm_get(&m, name, true, &vm), 0);
        }
        assert_int_equal(m.n_vms, VMS_MAX);
        assert_int_equal(vm_get(&m, "onetoomany", true, &vm), -EUSERS);
        /* An existing one is still found at the limit. */
        assert_int_equal(vm_get(&m, "vm0", false, &vm), 0);
        manager_done(&m);
}

typedef struct Woken {
        int error;
        char *message;
        unsigned n;
} Woken;

static void on_woken(Vm *vm, int error, const char *message, void *userdata) {
        Woken *w = userdata;

        w->n++;
        w->error = error;
        w->message = strdup(message);
}

static void test_start_refused_in_job(void **state) {
        Bistro__Concierge__StartVmRequest req = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        Woken w1 = {}, w2 = {};
        Manager m;
        Vm *vm = NULL;
        char *msg = NULL;

        manager_setup(&m);
        req.name = (char *) "termina";
        req.cpus = 2;
        assert_int_equal(vm_get(&m, "termina", true, &vm), 0);
        assert_int_equal(vm_start(vm, NULL, 0, &req), 0);
        /* The start job runs: STARTING, up, but no vmm yet. */
        assert_int_equal(vm->state, BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING);
        assert_true(vm_is_up(vm));
        assert_false(vm_is_active(vm));
        assert_int_equal(manager_vms_running(&m), 1);
        assert_int_equal(vm_start(vm, NULL, 0, &req), -EBUSY);
        assert_int_equal(vm_destroy(vm, &msg), -EBUSY);
        assert_non_null(strstr(msg, "stop it first"));
        free(msg);
        msg = NULL;
        assert_int_equal(vm_wait_running(vm, on_woken, &w1), 0);
        assert_int_equal(vm_wait_running(vm, on_woken, &w2), 0);
        vm_unwait(vm, &w2); /* its request went away */
        while (w1.n == 0)
                assert_true(sd_event_run(m.event, 10 * 1000000) >= 0);
        assert_int_equal(w1.n, 1);
        assert_int_equal(w2.n, 0);
        assert_int_equal(w1.error, -ENOKEY);
        assert_non_null(strstr(w1.message, "no trusted image keys"));
        /* A refused first start leaves nothing: no object, no state dir. */
        assert_int_equal(m.n_vms, 0);
        assert_int_equal(manager_vms_running(&m), 0);
        assert_int_equal(vm_get(&m, "termina", false, &vm), -ENOENT);
        {
                char *dir = sub("data/vms/termina");
                struct stat st;

                assert_int_equal(stat(dir, &st), -1);
                /* An existing VM: a refused start keeps it, STOPPED, with the reason. */
                assert_int_equal(mkdir(dir, 0700), 0);
                assert_int_equal(vm_get(&m, "termina", false, &vm), 0);
                assert_int_equal(vm_start(vm, NULL, 0, &req), 0);
                while (vm->job)
                        assert_true(sd_event_run(m.event, 10 * 1000000) >= 0);
                assert_int_equal(vm->state, BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED);
                assert_false(vm_is_up(vm));
                assert_non_null(strstr(vm->start_error, "no trusted image keys"));
                assert_int_equal(vm->config.cpus, 2);
                /* Stopped: stop is a no-op, destroy removes the state dir. */
                assert_int_equal(vm_stop(vm, NULL, 0, false), 0);
                assert_int_equal(vm_destroy(vm, &msg), 0);
                assert_int_equal(stat(dir, &st), -1);
                free(dir);
        }
        assert_int_equal(m.n_vms, 0);
        free(w1.message);
        manager_done(&m);
}

static void test_stop_during_start_job(void **state) {
        Bistro__Concierge__StartVmRequest req = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        Woken w = {};
        Manager m;
        Vm *vm = NULL;

        manager_setup(&m);
        req.name = (char *) "termina";
        assert_int_equal(vm_get(&m, "termina", true, &vm), 0);
        assert_int_equal(vm_start(vm, NULL, 0, &req), 0);
        assert_int_equal(vm_wait_running(vm, on_woken, &w), 0);
        assert_int_equal(vm_stop(vm, NULL, 0, false), 0);
        assert_int_equal(w.n, 1);
        assert_int_equal(w.error, -ECANCELED);
        assert_int_equal(vm->state, BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED);
        assert_null(vm->job);
        free(w.message);
        manager_done(&m);
}

static void test_data_dir_lock(void **state) {
        Manager a, b;
        char *holder = NULL;

        manager_setup(&a);
        manager_setup(&b);
        assert_int_equal(manager_lock_data_dir(&a, "/run/user/1000/bistro/concierge.sock", &holder), 0);
        assert_null(holder);
        assert_int_equal(manager_lock_data_dir(&b, "/elsewhere/concierge.sock", &holder), -EBUSY);
        assert_string_equal(holder, "/run/user/1000/bistro/concierge.sock");
        free(holder);
        holder = NULL;
        manager_done(&a); /* drops the lock */
        assert_int_equal(manager_lock_data_dir(&b, "/elsewhere/concierge.sock", &holder), 0);
        manager_done(&b);
}

static void test_vmm_log_explain(void **state) {
        char *log = sub("vmm.log"), *s;

        assert_int_equal(
                write_file_atomic(
                        log,
                        "qemu: starting\nqemu-system-x86_64: -drive ...: Failed to get \"write\" lock\nIs another process using the image [/d/disk.qcow2]?\n",
                        0600),
                0);
        s = vmm_log_explain(log, "/d/disk.qcow2");
        assert_non_null(s);
        assert_non_null(strstr(s, "disk /d/disk.qcow2 is in use by another process"));
        free(s);
        assert_int_equal(write_file_atomic(log, "qemu: kvm: permission denied\n", 0600), 0);
        assert_null(vmm_log_explain(log, "/d/disk.qcow2"));
        (void) unlink(log);
        assert_null(vmm_log_explain(log, "/d/disk.qcow2"));
        free(log);
}

static int setup(void **state) {
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        return rm_rf(root) < 0 ? -1 : 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_limits),
                cmocka_unit_test(test_config_size_limit),
                cmocka_unit_test(test_config_roundtrip),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_vms_max),
                cmocka_unit_test(test_start_refused_in_job),
                cmocka_unit_test(test_stop_during_start_job),
                cmocka_unit_test(test_data_dir_lock),
                cmocka_unit_test(test_vmm_log_explain),
        };
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        return cmocka_run_group_tests(tests, setup, teardown);
}
