// server.mjs - Emmett's PostgreSQL event store behind the one route that
// bench/run.sh compares with evstore's single append:
//   POST /v1/aggregates/TYPE/ID/events
//   {"expected_version":0,"events":[{"event_type":"Tick","payload":{"n":1}}]}
// appends the events to the stream TYPE-ID (Emmett takes the stream's type
// from the name's first part) and answers 201; an expected_version the
// stream does not have answers 409, a body it cannot use 400. The bearer
// token wrk sends is ignored: evstore verifies its JWT, this peer does not
// (an advantage to the peer, said beside its figures).
//
// Environment: EMMETT_DATABASE_URL (required), PORT (required; bound on
// 127.0.0.1 only), PEER_PROCS (Node processes, default: one per CPU),
// PEER_POOL_SIZE (PostgreSQL connections across all processes, default 32:
// evstore's bench pool runs 32 workers with one connection each).
//
// Node runs JavaScript on one thread, so one process can use one core; the
// bench machine has two, shared with PostgreSQL and wrk, as evstore's nginx
// and workers share them. node:cluster with one process per CPU gives the
// peer every core, as evstore has them; PEER_PROCS=1 measures one process.
import cluster from 'node:cluster';
import http from 'node:http';
import os from 'node:os';
import express from 'express';
import pg from 'pg';
import { NO_CONCURRENCY_CHECK, isExpectedVersionConflictError } from '@event-driven-io/emmett';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';

const url = process.env.EMMETT_DATABASE_URL;
const port = Number(process.env.PORT);
const procs = Number(process.env.PEER_PROCS || os.availableParallelism());
const poolSize = Number(process.env.PEER_POOL_SIZE || 32);
if (!url || !Number.isInteger(port) || port <= 0 || !(procs >= 1) || !(poolSize >= procs)) {
	console.error('server.mjs: needs EMMETT_DATABASE_URL, PORT, PEER_PROCS >= 1 and PEER_POOL_SIZE >= PEER_PROCS');
	process.exit(2);
}

if (cluster.isPrimary) {
	// The schema once, before any process serves: the workers do not
	// migrate on their first append, so no request pays for it.
	const store = getPostgreSQLEventStore(url);
	await store.schema.migrate();
	await store.close();
	let listening = 0;
	let stopping = false;
	cluster.on('listening', () => {
		if (++listening === procs) console.log(`ready: ${procs} processes on 127.0.0.1:${port}, ${poolSize} connections`);
	});
	cluster.on('exit', (worker, code, signal) => {
		if (!stopping) {
			console.error(`server.mjs: process ${worker.process.pid} died (${signal || code}); stopping`);
			stop();
		}
	});
	const stop = () => {
		stopping = true;
		for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
		setTimeout(() => process.exit(0), 2000).unref();
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	for (let i = 0; i < procs; i++) cluster.fork({ PEER_PROCESS_INDEX: String(i) });
} else {
	// The pool split between the processes, the first ones taking the rest.
	const i = Number(process.env.PEER_PROCESS_INDEX);
	const max = Math.floor(poolSize / procs) + (i < poolSize % procs ? 1 : 0);
	const pool = new pg.Pool({ connectionString: url, max });
	const eventStore = getPostgreSQLEventStore(url, {
		schema: { autoMigration: 'None' },
		connectionOptions: { pool },
	});

	// What emmett-expressjs's getApplication sets up: JSON bodies, no ETag,
	// one router, problem documents for errors. (Its npm release, 0.20.0,
	// pins emmett 0.20.0; this uses the current event store directly.)
	const app = express();
	app.set('etag', false);
	app.use(express.json());
	const problem = (res, status, detail) =>
		res.status(status).type('application/problem+json').send(JSON.stringify({ status, detail }));

	app.post('/v1/aggregates/:type/:id/events', async (req, res, next) => {
		const { type, id } = req.params;
		const { expected_version: expected, events } = req.body ?? {};
		if (!Array.isArray(events) || events.length === 0 ||
		    !events.every((e) => e && typeof e.event_type === 'string' && e.event_type !== ''))
			return problem(res, 400, 'events: a non-empty array of objects with an event_type');
		if (expected !== undefined && !(Number.isInteger(expected) && expected >= 0))
			return problem(res, 400, 'expected_version: an integer >= 0');
		try {
			// expected_version 0 is a new stream: Emmett inserts its row
			// and fails on the key if the stream exists, as evstore does.
			const result = await eventStore.appendToStream(
				`${type}-${id}`,
				events.map((e) => ({ type: e.event_type, data: e.payload ?? {} })),
				{ expectedStreamVersion: expected === undefined ? NO_CONCURRENCY_CHECK : BigInt(expected) },
			);
			res.status(201).location(req.originalUrl).json({
				aggregate_type: type,
				aggregate_id: id,
				version: Number(result.nextExpectedStreamVersion),
			});
		} catch (err) {
			if (isExpectedVersionConflictError(err)) return problem(res, 409, 'the stream is not at expected_version');
			next(err);
		}
	});
	// eslint-disable-next-line no-unused-vars
	app.use((err, req, res, next) => problem(res, err.status || err.statusCode || 500, err.message));

	const server = http.createServer(app).listen(port, '127.0.0.1');
	process.on('SIGTERM', () => {
		server.close();
		server.closeAllConnections();
		pool.end().finally(() => process.exit(0));
	});
}
