/* fuzz_config.c - the configuration parser (config_load) on a file holding
 * the input. What it accepts, config_print must write back as a file that
 * loads again (passwords masked, so not always to the same values). */
#include "buildconf.h"

#include <unistd.h>

#include "fuzz.h"

static char input_path[64] = "/tmp/evstore-fuzz-config.XXXXXX";
static char print_path[64] = "/tmp/evstore-fuzz-print.XXXXXX";

static void remove_files(void)
{
	unlink(input_path);
	unlink(print_path);
}

/* Two scratch files for the whole run; the environment holds no override. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int a = mkstemp(input_path), b = mkstemp(print_path);

	if (a < 0 || b < 0) {
		perror("fuzz: mkstemp");
		exit(1);
	}
	close(a);
	close(b);
	atexit(remove_files);
	clearenv();
	return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror("fuzz: writing the input");
		exit(1);
	}
}

static void check_print_reloads(const struct es_config *cfg)
{
	struct es_config again;
	char err[512];
	FILE *f = fopen(print_path, "w");

	if (!f) {
		perror("fuzz: writing the printed configuration");
		exit(1);
	}
	config_print(cfg, f);
	fclose(f);
	FUZZ_ASSERT(config_load(&again, print_path, err, sizeof err), "printed config refused: %s", err);
	config_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct es_config cfg;
	char err[512];

	write_file(input_path, data, size);
	if (!config_load(&cfg, input_path, err, sizeof err))
		return 0;
	check_print_reloads(&cfg);
	config_free(&cfg);
	return 0;
}
