/* progress.h - a progress bar on stderr for long operator work
 * (evstorectl rebuild, snapshot --all). Drawn only when stderr is a
 * terminal, at most ten times a second; logs and pipes get nothing, so the
 * commands' stdout stays a clean summary. */
#ifndef EVSTORE_CTL_PROGRESS_H
#define EVSTORE_CTL_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct progress {
	char label[64];
	int64_t total;            /* 0: unknown, no bar or percentage */
	int64_t start_ms, last_draw_ms;
	bool tty, drawn;
};

/* Starts the clock. label is copied (truncated to fit). */
void progress_start(struct progress *p, const char *label, int64_t total);

/* Redraws "label [#####-----]  52%  52,340/100,000  21,300/s  eta 2s"
 * when due. done is clamped to total. */
void progress_update(struct progress *p, int64_t done);

/* Draws the last state (when anything was drawn) and ends the line. */
void progress_finish(struct progress *p, int64_t done);

/* Formats n with thousands separators ("1,234,567") into out. */
void progress_format_count(int64_t n, char *out, size_t outlen);

#endif
