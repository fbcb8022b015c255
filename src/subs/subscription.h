/* subscription.h - one "[subscription NAME]" section, validated: the keys
 * of doc/configuration.md ([subscription NAME]), read by a table of keys in the grammar of
 * base/confval.h (durations like "500ms", "5s", "2min"; a bare number is
 * seconds). */
#ifndef EVSTORE_SUBSCRIPTION_H
#define EVSTORE_SUBSCRIPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "base/error.h"

struct config_subscription;
struct es_config;

enum sub_handler { SUB_HANDLER_SQL, SUB_HANDLER_EXEC, SUB_HANDLER_AUDIT, SUB_HANDLER_SNAPSHOTS };
enum sub_start { SUB_START_CHECKPOINT, SUB_START_BEGINNING, SUB_START_END, SUB_START_POSITION };
enum sub_checkpoint { SUB_CKPT_EVERY_EVENT, SUB_CKPT_EVERY_BATCH, SUB_CKPT_PERIODIC };
/* What a handler gets of declared personal fields (doc/privacy.md); an
 * erased subject's fields are null either way. */
enum sub_personal { SUB_PERSONAL_REDACTED, SUB_PERSONAL_CLEAR };
/* Whether the handler gets a synthetic SubjectErased event for each data
 * subject erased (subs/erasures.h, doc/privacy.md). */
enum sub_erased { SUB_ERASED_IGNORE, SUB_ERASED_DELIVER };

struct subscription {
	char *name;
	enum sub_handler handler;
	char *sql_file;               /* handler = sql */
	char *command;                /* handler = exec: run by /bin/sh -c */
	char *env;                    /* handler = exec: "NAME=value NAME2=value2", single
				       * spaces between the pairs; "" when none */
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
	int statement_timeout_ms;     /* handler = sql, per statement; 0: the server's */
	int partitions;
	enum sub_personal personal_data;
	enum sub_erased subject_erased;
	char *fingerprint;            /* every key and value: a change restarts it on reload */
};

/* Validates raw (borrowed) into out (zeroed first; copies what it keeps);
 * keys not in raw take their defaults. file names the configuration file
 * for messages. On ES_EINVAL err holds "file:line: key: message" (the
 * message a global key gets for the same value) or "file:line: [subscription
 * NAME] ..." for keys that do not fit together, and out is released.
 * Unknown keys, bad values and a missing handler, sql_file or command are
 * refused, as is subject_erased = deliver with a handler other than sql
 * or exec. */
enum es_status subscription_parse(const struct config_subscription *raw, const char *file,
			      struct subscription *out, char *err, size_t errlen) ES_MUST_CHECK;

/* Releases what subscription_parse allocated; safe on a zeroed struct. */
void subscription_free(struct subscription *c);

/* Validates every [subscription NAME] of cfg and reads the sql_file of each
 * sql subscription (sqlfile.h), as the runner does at start and on reload;
 * with subject_erased = deliver the file needs a "-- on SubjectErased"
 * section.
 * On failure err holds "file:line: message" (or the SQL file's
 * "path: line N: message") and *subs is NULL. On ES_OK *subs is a new
 * array of *n configurations: release with subscription_free_all. */
enum es_status subscription_parse_all(const struct es_config *cfg, struct subscription **subs,
				      size_t *n, char *err, size_t errlen) ES_MUST_CHECK;
void subscription_free_all(struct subscription *subs, size_t n);

/* What is said of a configuration without any [subscription NAME]
 * section: the runner starts (a reload may bring some) with nothing to do. */
#define SUBSCRIPTION_NONE "no [subscription NAME] section: the runner has nothing to run"

/* --print-config: checks every [subscription NAME] of cfg, then writes the
 * global sections (config_print) and each subscription with every key of
 * the table, each after its help as a comment, defaults included; all of
 * it reads back to the same values. On failure (ES_EINVAL, ES_ENOMEM) err says why and
 * nothing was written. Borrows cfg. */
enum es_status subscription_print_config(const struct es_config *cfg, FILE *out, char *err,
					 size_t errlen) ES_MUST_CHECK;

#endif
