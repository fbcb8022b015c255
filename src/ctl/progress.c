/* progress.c - the bar evstorectl draws on a terminal. */
#include "buildconf.h"
#include "ctl/progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/timefmt.h"

#define BAR_WIDTH 30
#define DRAW_INTERVAL_MS 100

void progress_format_count(int64_t n, char *out, size_t outlen)
{
	char digits[32];
	size_t len, o = 0;

	if (n < 0)
		n = 0;
	len = (size_t)snprintf(digits, sizeof digits, "%" PRId64, n);
	for (size_t i = 0; i < len && o + 1 < outlen; i++) {
		if (i > 0 && (len - i) % 3 == 0 && o + 2 < outlen)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

void progress_start(struct progress *p, const char *label, int64_t total)
{
	memset(p, 0, sizeof *p);
	snprintf(p->label, sizeof p->label, "%s", label);
	p->total = total > 0 ? total : 0;
	p->start_ms = time_mono_ms();
	p->tty = isatty(STDERR_FILENO);
}

static void progress_draw(struct progress *p, int64_t done, int64_t now)
{
	char bar[BAR_WIDTH + 1], cdone[32], ctotal[32], crate[32], eta[32] = "";
	double secs = (double)(now - p->start_ms) / 1000.0;
	int64_t rate = secs > 0.2 ? (int64_t)((double)done / secs) : 0;

	progress_format_count(done, cdone, sizeof cdone);
	progress_format_count(rate, crate, sizeof crate);
	if (p->total > 0) {
		int fill = (int)(done * BAR_WIDTH / p->total);

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
		bar[BAR_WIDTH] = '\0';
		progress_format_count(p->total, ctotal, sizeof ctotal);
		if (rate > 0 && done < p->total)
			snprintf(eta, sizeof eta, "  eta %" PRId64 "s", (p->total - done) / rate + 1);
		fprintf(stderr, "\r%s [%s] %3d%%  %s/%s  %s/s%s\033[K", p->label, bar,
			(int)(done * 100 / p->total), cdone, ctotal, crate, eta);
	} else {
		fprintf(stderr, "\r%s  %s  %s/s\033[K", p->label, cdone, crate);
	}
	fflush(stderr);
	p->drawn = true;
	p->last_draw_ms = now;
}

void progress_update(struct progress *p, int64_t done)
{
	int64_t now;

	if (!p->tty)
		return;
	now = time_mono_ms();
	if (p->drawn && now - p->last_draw_ms < DRAW_INTERVAL_MS)
		return;
	if (p->total > 0 && done > p->total)
		done = p->total;
	progress_draw(p, done, now);
}

void progress_finish(struct progress *p, int64_t done)
{
	if (!p->tty || !p->drawn)
		return;
	if (p->total > 0 && done > p->total)
		done = p->total;
	progress_draw(p, done, time_mono_ms());
	fputc('\n', stderr);
}
