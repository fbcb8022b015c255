/* partition.c - FNV-1a partitioning and advisory-lock claims. The lock key
 * is the two-integer form: (FNV-1a of "evstore-runner:" NAME, partition). */
#include "buildconf.h"
#include "runner/partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"

uint32_t partition_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

int partition_of(const char *aggregate_id, int partitions)
{
	if (partitions <= 1)
		return 0;
	return (int)(partition_hash(aggregate_id) % (uint32_t)partitions);
}

/* The two lock keys as decimal text. */
static void partition_keys(const char *subscription, int partition, char k1[16], char k2[16])
{
	char name[256];

	snprintf(name, sizeof name, "evstore-runner:%s", subscription);
	snprintf(k1, 16, "%d", (int32_t)partition_hash(name));
	snprintf(k2, 16, "%d", partition);
}

enum es_status partition_try_claim(struct db *lockdb, const char *subscription, int partition,
				   bool *got)
{
	char k1[16], k2[16];
	const char *vals[2] = { k1, k2 };
	PGresult *r = NULL;
	enum es_status rc;

	*got = false;
	partition_keys(subscription, partition, k1, k2);
	rc = db_exec_params(lockdb, "partition_claim",
			    "SELECT pg_try_advisory_lock($1::int, $2::int)", 2, vals, &r);
	if (rc == ES_OK)
		*got = db_value_bool(r, 0, 0);
	PQclear(r);
	return rc;
}

enum es_status partition_release(struct db *lockdb, const char *subscription, int partition)
{
	char k1[16], k2[16];
	const char *vals[2] = { k1, k2 };

	partition_keys(subscription, partition, k1, k2);
	return db_exec_params(lockdb, "partition_release",
			      "SELECT pg_advisory_unlock($1::int, $2::int)", 2, vals, NULL);
}

enum es_status partition_count_runners(struct db *lockdb, int *n)
{
	const char *vals[1] = { PARTITION_LOCK_APPNAME };
	PGresult *r = NULL;
	enum es_status rc;

	*n = 1;
	rc = db_exec_params(lockdb, "partition_count_runners",
			    "SELECT count(*) FROM pg_stat_activity"
			    " WHERE application_name = $1 AND datname = current_database()",
			    1, vals, &r);
	if (rc == ES_OK) {
		*n = atoi(PQgetvalue(r, 0, 0));
		if (*n < 1)
			*n = 1;
	}
	PQclear(r);
	return rc;
}
