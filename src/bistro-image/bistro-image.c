/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro-image: keys and signatures of Termina images, and the verifier the host runs before it
 * boots one. See docs/design/termina.md. */

#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli-util.h"
#include "fd-util.h"
#include "image-verify.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "path-util.h"
#include "string-util.h"

#define KEYS_MAX 16

/* Logs the message that came with r, else r's own text; returns r. */
static int log_failure(int r, const char *message) {
        if (message) {
                log_error("%s", message);
                return r;
        }
        return log_error_errno(r, "%m");
}

static void help(void) {
        printf("Usage: bistro-image COMMAND ...\n"
               "Signing keys and signatures of Termina images; the host-side image verifier.\n\n"
               "  keygen SECRET PUBLIC            new Ed25519 key pair (SECRET is created mode 0600)\n"
               "  pubkey SECRET                   print the public key of SECRET\n"
               "  sign --key SECRET FILE SIG      write the signature of FILE to SIG\n"
               "  verify [--key PUB]... [--trust-dir DIR] [--cmdline] IMAGEDIR\n"
               "                                  check the signature and digests of an image; with\n"
               "                                  --cmdline print the kernel arguments stage 1 needs\n"
               "  info IMAGEDIR                   print the (unverified) manifest fields\n\n"
               "Trusted keys default to every *.pub in ${XDG_CONFIG_HOME:-~/.config}/bistro/trusted-image-keys/.\n"
               "Exit status: 0 ok, 1 refused or failed, 2 usage.\n");
}

static int cmd_keygen(int argc, char **argv) {
        _cleanup_free_ char *err = NULL;
        int r;

        if (argc != 3)
                return log_usage_error("Usage: bistro-image keygen SECRET PUBLIC");
        r = image_secret_key_generate(argv[1], argv[2], &err);
        if (r < 0)
                return log_failure(r, err);
        printf("wrote %s and %s\n", argv[1], argv[2]);
        return 0;
}

static int cmd_pubkey(int argc, char **argv) {
        _cleanup_free_ char *err = NULL, *line = NULL;
        uint8_t sk[64];
        ImageKey pub;
        int r;

        if (argc != 2)
                return log_usage_error("Usage: bistro-image pubkey SECRET");
        r = image_secret_key_load(argv[1], sk, &pub, &err);
        sodium_memzero(sk, sizeof(sk));
        if (r < 0)
                return log_failure(r, err);
        r = image_key_format(&pub, &line);
        if (r < 0)
                return log_error_errno(r, "Formatting the key failed: %m");
        fputs(line, stdout);
        return 0;
}

static int cmd_sign(int argc, char **argv) {
        _cleanup_free_ char *err = NULL, *data = NULL, *line = NULL;
        const char *keyfile = NULL;
        uint8_t sk[64];
        ImageSignature sig;
        ImageKey pub;
        size_t size;
        int r;

        if (argc == 5 && streq(argv[1], "--key"))
                keyfile = argv[2];
        else
                return log_usage_error("Usage: bistro-image sign --key SECRET FILE SIG");
        r = read_file(argv[3], IMAGE_MANIFEST_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: %m", argv[3]);
        r = image_secret_key_load(keyfile, sk, &pub, &err);
        if (r < 0)
                return log_failure(r, err);
        r = image_sign(sk, &pub, data, size, &sig);
        sodium_memzero(sk, sizeof(sk));
        if (r < 0)
                return log_error_errno(r, "Signing failed: %m");
        r = image_signature_format(&sig, &line);
        if (r < 0)
                return log_error_errno(r, "Formatting the signature failed: %m");
        r = write_file_atomic(argv[4], line, 0644);
        if (r < 0)
                return log_error_errno(r, "%s: %m", argv[4]);
        printf("signed %s with key %s\n", argv[3], pub.id);
        return 0;
}

static int cmd_verify(int argc, char **argv) {
        static const struct option options[] = {
                { "key", required_argument, NULL, 'k' },
                { "trust-dir", required_argument, NULL, 't' },
                { "cmdline", no_argument, NULL, 'c' },
                {},
        };
        _cleanup_free_ ImageKey *dir_keys = NULL;
        _cleanup_free_ char *err = NULL, *default_dir = NULL, *cmdline = NULL;
        ImageKey keys[KEYS_MAX];
        const char *trust_dir = NULL;
        size_t n_keys = 0, n_dir = 0;
        bool want_cmdline = false;
        ImageManifest m;
        char hash[65];
        int c, r;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        if (n_keys >= KEYS_MAX)
                                return log_usage_error("At most %d --key options.", KEYS_MAX);
                        r = image_key_load(optarg, &keys[n_keys], &err);
                        if (r < 0)
                                return log_failure(r, err);
                        n_keys++;
                        break;
                case 't':
                        trust_dir = optarg;
                        break;
                case 'c':
                        want_cmdline = true;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind + 1 != argc)
                return log_usage_error(
                        "Usage: bistro-image verify [--key PUB]... [--trust-dir DIR] IMAGEDIR");

        if (!trust_dir && n_keys == 0) {
                r = image_trusted_keys_dir(&default_dir);
                if (r < 0)
                        return log_error_errno(r, "Cannot find the trusted key directory (set HOME): %m");
                trust_dir = default_dir;
        }
        if (trust_dir) {
                r = image_keys_load_dir(trust_dir, &dir_keys, &n_dir, &err);
                if (r < 0)
                        return log_failure(r, err);
                for (size_t i = 0; i < n_dir && n_keys < KEYS_MAX; i++)
                        keys[n_keys++] = dir_keys[i];
        }

        r = image_verify(argv[optind], keys, n_keys, &m, &err);
        if (r < 0 && err)
                return log_error_errno(r, "%s: refused: %s", argv[optind], err);
        if (r < 0)
                return log_error_errno(r, "%s: refused: %m", argv[optind]);
        if (want_cmdline) {
                r = image_manifest_kernel_cmdline(&m, &cmdline);
                if (r < 0)
                        return log_error_errno(r, "Formatting the command line failed: %m");
                printf("%s\n", cmdline);
                return 0;
        }
        image_hex(m.verity_root_hash, 32, hash);
        printf("%s: OK: image %s, kernel %s, root hash %s\n", argv[optind], m.image_version,
               m.kernel_release, hash);
        return 0;
}

static int cmd_info(int argc, char **argv) {
        _cleanup_free_ char *path = NULL, *data = NULL, *err = NULL;
        char hash[65];
        ImageManifest m;
        size_t size;
        int r;

        if (argc != 2)
                return log_usage_error("Usage: bistro-image info IMAGEDIR");
        path = path_join(argv[1], "manifest");
        if (!path)
                return log_oom();
        r = read_file(path, IMAGE_MANIFEST_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: %m", path);
        r = image_manifest_parse(data, size, &m, &err);
        if (r < 0)
                return log_failure(r, err);
        printf("image_version  %s (not verified; use 'bistro-image verify')\n", m.image_version);
        printf("kernel         %s (%s)\n", m.kernel_release, m.kernel_package);
        printf("rootfs_size    %" PRIu64 " bytes (%" PRIu64 " data blocks)\n", m.rootfs_size,
               m.verity_data_blocks);
        image_hex(m.verity_root_hash, 32, hash);
        printf("root hash      %s\n", hash);
        return 0;
}

static int run(int argc, char **argv) {
        cli_setup("bistro-image");
        if (argc < 2) {
                help();
                return -EUSAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h")) {
                help();
                return 0;
        }
        if (sodium_init() < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EIO), "libsodium failed to initialize.");
        if (streq(argv[1], "keygen"))
                return cmd_keygen(argc - 1, argv + 1);
        if (streq(argv[1], "pubkey"))
                return cmd_pubkey(argc - 1, argv + 1);
        if (streq(argv[1], "sign"))
                return cmd_sign(argc - 1, argv + 1);
        if (streq(argv[1], "verify"))
                return cmd_verify(argc - 1, argv + 1);
        if (streq(argv[1], "info"))
                return cmd_info(argc - 1, argv + 1);
        return log_usage_error("Unknown command '%s'.", argv[1]);
}

DEFINE_MAIN_FUNCTION(run);
