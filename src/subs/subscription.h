/* subscription.h - one "[subscription NAME]" section, validated: the keys
 * of API.md section 6, with durations like "500ms", "5s", "2m". */
#ifndef EVSTORE_SUBSCRIPTION_H
#define EVSTORE_SUBSCRIPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct config_subscription;

enum sub_handler { SUB_HANDLER_SQL, SUB_HANDLER_EXEC, SUB_HANDLER_AUDIT, SUB_HANDLER_SNAPSHOTS };
enum sub_start { SUB_START_CHECKPOINT, SUB_START_BEGINNING, SUB_START_END, SUB_START_POSITION };
enum sub_checkpoint { SUB_CKPT_EVERY_EVENT, SUB_CKPT_EVERY_BATCH, SUB_CKPT_PERIODIC };

struct subscription {
	char *name;
	enum sub_handler handler;
	char *sql_file;               /* handler = sql */
	char *command;                /* handler = exec: run by /bin/sh -c */
	char *aggregate_types;        /* PostgreSQL text[] literal, or NULL: no filter */
	char *event_types;            /* idem */
	enum sub_start start_from;
	int64_t start_position;       /* start_from = <position> */
	int batch_size;
	enum sub_checkpoint checkpoint_strategy;
	int checkpoint_interval_ms;
	bool continue_on_error;
	int max_retries;
	int retry_initial_delay_ms;
	int retry_max_delay_ms;
	int processing_timeout_ms;
	int partitions;
	char *fingerprint;            /* every key and value: a change restarts it on reload */
};

/* Validates raw (borrowed) into out (zeroed first; copies what it keeps).
 * file names the configuration file for messages. On ES_EINVAL err holds
 * "file:line: message" and out is released. Unknown keys, bad values and
 * a missing sql_file/command are refused. */
enum es_status subscription_parse(const struct config_subscription *raw, const char *file,
			      struct subscription *out, char *err, size_t errlen) ES_MUST_CHECK;

/* Releases what subscription_parse allocated; safe on a zeroed struct. */
void subscription_free(struct subscription *c);

/* Parses "250ms", "5s", "2m", "1h" or a bare number of seconds into
 * milliseconds (0 .. max_ms). */
bool subscription_parse_duration_ms(const char *s, long max_ms, long *out);

/* Turns "A, B,C" into the text[] literal {"A","B","C"}: a new string, or
 * NULL when the list names nothing (sets *empty) or memory ran out. */
char *subscription_list_to_array(const char *csv, bool *empty);

#endif
