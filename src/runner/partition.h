/* partition.h - which partition of a subscription an event belongs to,
 * and claiming partitions with PostgreSQL advisory locks.
 *
 * The hash is 32-bit FNV-1a over the aggregate_id's canonical text (36
 * lowercase characters with dashes), so it is stable across builds,
 * hosts and PostgreSQL versions; partition = hash mod partitions. All the
 * events of one aggregate land in one partition, in feed order. */
#ifndef EVSTORE_RUNNER_PARTITION_H
#define EVSTORE_RUNNER_PARTITION_H

#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"

struct db;

/* FNV-1a (32 bits) of s; borrows s. */
uint32_t partition_hash(const char *s);

/* The partition (0..partitions-1) of an aggregate; 0 when partitions <= 1. */
int partition_of(const char *aggregate_id, int partitions);

/* Tries to take the session advisory lock of (subscription, partition) on
 * lockdb, whose connection must stay open while the claim is held. Sets
 * *got. A lost connection is ES_EUNAVAILABLE (every claim is gone then). */
enum es_status partition_try_claim(struct db *lockdb, const char *subscription, int partition,
				   bool *got) ES_MUST_CHECK;

/* Gives a claim back. */
enum es_status partition_release(struct db *lockdb, const char *subscription,
				 int partition) ES_MUST_CHECK;

/* How many runner instances are connected (by their lock connections'
 * application_name), this one included; at least 1. */
enum es_status partition_count_runners(struct db *lockdb, int *n) ES_MUST_CHECK;

/* The application_name of a runner's lock connection. */
#define PARTITION_LOCK_APPNAME "evstore-runner-locks"

#endif
