// node_insert.js: node-postgres writes rows through one Pool, all at once, the way a web service does.
//
// Usage: node node_insert.js PORT DATABASE MODE [N [FIRST]]
// MODE: pool    N parameterized INSERTs into nt (id int, v text, at timestamptz, n numeric), concurrently
//       quick   client.connect() then client.end() at once (the Terminate may overtake the startup)
'use strict';
const { Pool, Client } = require('pg');

const port = parseInt(process.argv[2], 10);
const database = process.argv[3];
const mode = process.argv[4];
const n = parseInt(process.argv[5] || '50', 10);
const first = parseInt(process.argv[6] || '1', 10);
const conf = { host: '127.0.0.1', port, user: 'postgres', database };
// NODE_PG_CA: TLS, pgbatchd's certificate checked against that CA (its name too)
if (process.env.NODE_PG_CA)
	conf.ssl = { ca: require('fs').readFileSync(process.env.NODE_PG_CA), rejectUnauthorized: true };

async function pool() {
	const p = new Pool({ ...conf, max: 10 });
	const jobs = [];
	for (let i = first; i < first + n; i++)
		jobs.push(p.query('INSERT INTO nt (id, v, at, n) VALUES ($1, $2, $3, $4)',
			[i, 'node ' + i, new Date(Date.UTC(2024, 0, 1, 0, 0, i % 60)), (i / 4).toString()]));
	const res = await Promise.all(jobs);
	let sum = 0;
	for (const r of res) {
		if (r.command !== 'INSERT') throw new Error('unexpected command ' + r.command);
		sum += r.rowCount;
	}
	await p.end();
	console.log('inserted ' + sum);
}

async function quick() {
	for (let i = 0; i < n; i++) {
		const c = new Client(conf);
		c.on('error', (e) => { console.log('error event: ' + e.message); process.exitCode = 1; });
		c.connect().catch(() => {});
		await c.end();
	}
	console.log('quick done');
}

process.on('unhandledRejection', (e) => { console.log('unhandled: ' + e); process.exit(2); });
(mode === 'pool' ? pool() : quick()).catch((e) => { console.log('failed: ' + e); process.exit(1); });
