/* dbjudge.h - what a PostgreSQL server's settings mean for an event store
 * that must never lose an acknowledged event, can be restored to a point in
 * time, and reads its feed behind the oldest open transaction. Pure
 * functions, each giving one item of `evstorectl check` (dbcheck.h asks
 * the server, these judge): a status and one line saying why and what to
 * do. */
#ifndef EVSTORE_DBJUDGE_H
#define EVSTORE_DBJUDGE_H

#include "base/startcheck.h"

struct es_config;

struct dbjudge_verdict {
	enum startcheck_status status;
	char why[320];
};

/* The oldest server evstore runs on: xid8 and pg_current_xact_id() came
 * with PostgreSQL 13. */
#define DBJUDGE_MIN_VERSION_NUM 130000

/* server_version_num (150008 for 15.8). */
void dbjudge_version(int version_num, struct dbjudge_verdict *v);

/* One of the settings "fsync", "full_page_writes", "synchronous_commit",
 * "wal_level", "autovacuum", "track_counts", "statement_timeout" or
 * "idle_in_transaction_session_timeout" (both in milliseconds, as
 * pg_settings gives them), with its value as pg_settings spells it. An unknown name fails: the check asked for the wrong thing. */
void dbjudge_setting(const char *name, const char *value, struct dbjudge_verdict *v);

/* archive_mode with archive_command and archive_library (PostgreSQL 15;
 * NULL when the server has no such setting): what point-in-time recovery
 * needs besides wal_level. */
void dbjudge_archive(const char *mode, const char *command, const char *library,
		     struct dbjudge_verdict *v);

/* The connections evstore opens at most: hosts x (workers + 1) (workers:
 * [http] workers, or cpus when it is 0, the --listen default; plus the
 * pool's waiter) + runners x 2 (each runner's work and its partition locks)
 * + spare_connections. */
int dbjudge_connection_budget(const struct es_config *cfg, int cpus);

/* max_connections less the reserved connections against the budget. */
void dbjudge_connections(int max_connections, int reserved, int budget,
			 struct dbjudge_verdict *v);

/* The oldest open transaction (who: "pid 123 (psql, idle in
 * transaction)", NULL when none is open) against [health]
 * transaction_age_warn and _critical. */
void dbjudge_transaction_age(const char *who, double age_seconds, int warn, int critical,
			     struct dbjudge_verdict *v);

/* Replication seen from the primary: synchronous_standby_names, how many
 * standbys stream from it (pg_stat_replication) and how many of them are
 * synchronous (sync_state sync or quorum). Asynchronous standbys warn: a
 * failover to one can lose acknowledged appends. Standby names with no
 * standby connected fail: commits wait for one. No standby passes (a single
 * server's recovery is its backups). */
void dbjudge_replication(const char *sync_names, int standbys, int sync_standbys,
			 struct dbjudge_verdict *v);

/* TLS for [database] url's hosts: host and hostaddr as libpq takes them
 * (comma-separated lists, "" or NULL when unset) and sslmode ("" or NULL:
 * libpq's default, prefer). A unix socket or a loopback address needs no
 * TLS; any other host needs sslmode=verify-full (verify-ca and require
 * warn: no check of the server's name; disable, allow and prefer fail). */
void dbjudge_tls(const char *hosts, const char *hostaddrs, const char *sslmode,
		 struct dbjudge_verdict *v);

#endif
