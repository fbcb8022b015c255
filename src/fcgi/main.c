/* main.c - evstore-fcgi: options, then the process mode, in this order:
 * systemd socket activation (fd 3), --listen (own socket and worker pool),
 * a listening socket on fd 0, plain CGI. */
#include "buildconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "base/startcheck.h"
#include "aggregate/aggdef.h"
#include "auth/keys.h"
#include "pg/dbcheck.h"
#include "fcgi/app.h"
#include "fcgi/pool.h"
#include "fcgi/server.h"
#include "pg/pgconninfo.h"
#include "subs/subscription.h"

#define MAX_WORKERS 1024

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: evstore-fcgi [OPTION]...\n"
		"The evstore FastCGI application.\n"
		"\n"
		"  -c, --config FILE       configuration file (default %s)\n"
		"  -l, --listen ADDR|PATH  create the listening socket: HOST:PORT, [IPv6]:PORT\n"
		"                          or a unix socket path (anything containing '/')\n"
		"  -w, --workers N         pre-forked worker processes (default [http] workers,\n"
		"                          else with --listen the number of CPUs; on fd 0 or a\n"
		"                          systemd socket: 1, served by this process)\n"
		"  -m, --socket-mode MODE  octal mode of a unix socket made by --listen (0660)\n"
		"      --print-config      print the effective configuration and exit\n"
		"      --check[=MODE]      load the configuration, keys and aggregate definitions,\n"
		"                          probe the database and its schema, say what was found\n"
		"                          and exit 0, or 1 when something failed; MODE prestart\n"
		"                          (the unit's ExecStartPre) only warns about the database\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           show the version and exit\n"
		"\n"
		"Without --listen it serves the systemd socket (LISTEN_FDS), a listening\n"
		"socket on standard input, or else one CGI request.\n",
		CONFIG_DEFAULT_PATH);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "evstore-fcgi: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'evstore-fcgi --help'.\n");
	return 2;
}

static long default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

static int print_config(const char *path)
{
	struct es_config cfg;
	char err[512];

	if (!config_load(&cfg, path, err, sizeof err)) {
		fprintf(stderr, "evstore-fcgi: %s\n", err);
		return 1;
	}
	if (subscription_print_config(&cfg, stdout, err, sizeof err) != ES_OK) {
		fprintf(stderr, "evstore-fcgi: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	config_free(&cfg);
	return 0;
}

/* --check: loads what start-up loads, probes the database (nginx -t). */
static int check_everything(const char *path, const char *mode)
{
	struct startcheck c;
	struct es_config cfg;

	startcheck_init(&c, "evstore-fcgi", stdout);
	if (!startcheck_mode(&c, mode))
		return usage_error("--check=%s: expected all or prestart", mode);
	if (startcheck_config(&c, path, &cfg)) {
		auth_keys_report(&c, &cfg);
		aggdef_registry_report(&c, cfg.aggregates.dir, cfg.privacy.master_key_file,
				       cfg.privacy.previous_master_key_file);
		dbcheck_report(&c, &cfg, "evstore-fcgi --check");
		config_free(&cfg);
	}
	return startcheck_finish(&c);
}

int main(int argc, char **argv)
{
	enum { OPT_PRINT_CONFIG = 256, OPT_CHECK };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "socket-mode", required_argument, NULL, 'm' },
		{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
		{ "check", optional_argument, NULL, OPT_CHECK },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = NULL, *listen_addr = NULL;
	long workers = 0;
	mode_t socket_mode = 0660;
	bool want_print = false, want_check = false;
	const char *check_mode = NULL;
	struct app app;
	char err[512];
	int opt, fd, rc;
	char *end;

	config_set_conninfo_check(pgconninfo_problem);
	while ((opt = getopt_long(argc, argv, "c:l:w:m:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			listen_addr = optarg;
			break;
		case 'w':
			workers = strtol(optarg, &end, 10);
			if (end == optarg || *end || workers < 1 || workers > MAX_WORKERS)
				return usage_error("--workers %s: expected a number from 1 to 1024", optarg);
			break;
		case 'm': {
			long m = strtol(optarg, &end, 8);

			if (end == optarg || *end || m < 0 || m > 0777)
				return usage_error("--socket-mode %s: expected an octal mode such as 0660",
						   optarg);
			socket_mode = (mode_t)m;
			break;
		}
		case OPT_PRINT_CONFIG:
			want_print = true;
			break;
		case OPT_CHECK:
			want_check = true;
			check_mode = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("evstore-fcgi %s\nLicense %s: see the file LICENSE.\n", PACKAGE_VERSION, PACKAGE_LICENSE);
			return 0;
		default:
			fprintf(stderr, "Try 'evstore-fcgi --help'.\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument %s", argv[optind]);
	if (want_print)
		return print_config(config_path);
	if (want_check)
		return check_everything(config_path, check_mode);

	if (!app_init(&app, config_path, err, sizeof err)) {
		fprintf(stderr, "evstore-fcgi: %s\n", err);
		return 1;
	}
	if (!log_open("evstore-fcgi", &app.cfg.log, err, sizeof err)) {
		fprintf(stderr, "evstore-fcgi: %s\n", err);
		app_fini(&app);
		return 1;
	}
	config_warn_unknown_env();
	/* --workers wins over [http] workers; read once, a reload keeps the pool's size. */
	if (!workers)
		workers = app.cfg.http.workers;

	fd = server_systemd_fd();
	if (fd >= 0) {
		rc = workers ? server_run_pool(&app, fd, (int)workers, NULL) : server_run_worker(&app, fd);
	} else if (listen_addr) {
		fd = server_listen(listen_addr, socket_mode, err, sizeof err);
		if (fd < 0) {
			fprintf(stderr, "evstore-fcgi: %s\n", err);
			rc = fd == -2 ? 2 : 1;
		} else {
			rc = server_run_pool(&app, fd, (int)(workers ? workers : default_workers()),
					     strchr(listen_addr, '/') ? listen_addr : NULL);
		}
	} else if (server_fd0_is_listener()) {
		rc = workers ? server_run_pool(&app, 0, (int)workers, NULL) : server_run_worker(&app, 0);
	} else {
		rc = server_run_cgi(&app);
	}
	app_fini(&app);
	log_close();
	return rc;
}
