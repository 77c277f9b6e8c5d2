-- core.sql: a psql session covering what a pass-through proxy must carry untouched.
-- Run by test_psql.py with `psql -X -v ON_ERROR_STOP=0 -a -f core.sql` into a fresh
-- database, directly and through pgbatchd; the two outputs must be identical
-- (only PIDs are normalized). Nothing here may print OIDs, times or ports.
\set VERBOSITY verbose
\echo server :SERVER_VERSION_NAME :SERVER_VERSION_NUM encoding :ENCODING
SELECT 1 AS one, 'two'::text AS two, NULL AS three, 4.5::numeric AS four;
SELECT current_user, session_user, current_database() LIKE 'core\_%' AS fresh_db;
SHOW application_name;
SHOW server_encoding;
SHOW client_encoding;
SELECT 'héllo wörld ✓' AS unicode, length('✓') AS len, octet_length('✓') AS octets;
SELECT 'PID:' || pg_backend_pid() AS mypid;

-- DDL
CREATE TABLE items (
	id int PRIMARY KEY,
	name text NOT NULL,
	qty int DEFAULT 0 CHECK (qty >= 0),
	price numeric(10,2),
	tags text[],
	meta jsonb,
	created date
);
CREATE INDEX items_name_idx ON items (name);
ALTER TABLE items ADD COLUMN note text;
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 2;
CREATE FUNCTION add_qty(i int, n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE r int;
BEGIN
	UPDATE items SET qty = qty + n WHERE id = i RETURNING qty INTO r;
	IF r IS NULL THEN
		RAISE EXCEPTION 'no item %', i USING ERRCODE = 'P0002', HINT = 'insert it first';
	END IF;
	RETURN r;
END $$;
\d items

-- DML
INSERT INTO items VALUES (1, 'apple', 3, 1.50, '{red,green}', '{"a": 1, "b": [1, 2]}', '2024-01-02', NULL);
INSERT INTO items (id, name) VALUES (2, 'pear'), (3, 'plum') RETURNING id, name, qty;
INSERT INTO items (id, name, price) VALUES (4, 'fig', 0.99), (5, 'kiwi', 2.25);
UPDATE items SET qty = qty + 1 WHERE id > 1;
DELETE FROM items WHERE id = 3 RETURNING *;
INSERT INTO items (id, name, qty) VALUES (2, 'pear', 7)
	ON CONFLICT (id) DO UPDATE SET qty = items.qty + EXCLUDED.qty RETURNING id, qty;
SELECT add_qty(1, 10);
SELECT * FROM items ORDER BY id;
SELECT * FROM cheap ORDER BY id;
SELECT meta->'b'->>1 AS b1, tags[2] AS tag2, created + 30 AS later FROM items WHERE id = 1;
PREPARE getitem(int) AS SELECT name, qty FROM items WHERE id = $1;
EXECUTE getitem(2);
EXECUTE getitem(99);
DEALLOCATE getitem;

-- several statements in one Query message
SELECT 1 AS a \; SELECT 2 AS b \; SELECT count(*) FROM items;

-- errors
INSERT INTO items VALUES (1, 'duplicate');
INSERT INTO items (id, name, qty) VALUES (9, 'negative', -1);
INSERT INTO items (id) VALUES (9);
SELECT 1/0;
SELECT * FROM no_such_table;
SELEC 1;
SELECT 'abc'::int;
SELECT add_qty(42, 1);
\echo last error :LAST_ERROR_SQLSTATE
SELECT 'still alive' AS after_errors;

-- notices and warnings
DO $$BEGIN
	RAISE NOTICE 'hello from %', 'plpgsql';
	RAISE WARNING 'careful: % items', (SELECT count(*) FROM items);
	RAISE INFO 'info line';
END$$;
DROP TABLE IF EXISTS does_not_exist;
SET client_min_messages = warning;
DO $$BEGIN RAISE NOTICE 'suppressed'; END$$;
RESET client_min_messages;

-- LISTEN / NOTIFY (our own backend sends them)
LISTEN chan;
NOTIFY chan, 'payload one';
SELECT pg_notify('chan', 'payload two');
BEGIN;
NOTIFY chan, 'sent at commit';
SELECT 'before commit' AS t;
COMMIT;
BEGIN;
NOTIFY chan, 'rolled back, never sent';
ROLLBACK;
UNLISTEN chan;
NOTIFY chan, 'nobody listens';

-- COPY FROM STDIN inline, COPY TO STDOUT, \copy
CREATE TABLE c (a int, b text, ts timestamp);
COPY c FROM STDIN;
1	one	2024-01-01 00:00:00
2	\N	2024-01-02 12:34:56
3	tab\there, newline\nthere	\N
\.
COPY c FROM STDIN WITH (FORMAT csv, HEADER true);
a,b,ts
4,"four, quoted",2024-01-04 00:00:00
5,"multi
line",
\.
COPY c TO STDOUT;
COPY (SELECT * FROM c ORDER BY a) TO STDOUT WITH (FORMAT csv, HEADER true);
\copy c TO 'c_out.txt'
\copy c FROM 'c_out.txt'
\copy c FROM STDIN
10	ten	\N
11	eleven	2024-11-11 11:11:11
\.
\copy (SELECT a, b FROM c ORDER BY a, b) TO STDOUT WITH CSV
COPY c FROM STDIN;
20	bad row follows	\N
not-a-number	x	\N
\.
COPY c (a, b) FROM STDIN;
30	fine
\.
SELECT count(*), sum(a) FROM c;

-- transactions
BEGIN;
INSERT INTO items (id, name) VALUES (10, 'in tx');
SAVEPOINT s1;
INSERT INTO items (id, name) VALUES (10, 'dup in tx');
ROLLBACK TO SAVEPOINT s1;
INSERT INTO items (id, name) VALUES (11, 'after savepoint');
COMMIT;
BEGIN;
DELETE FROM items;
SELECT count(*) AS inside FROM items;
ROLLBACK;
SELECT count(*) AS after_rollback FROM items;
BEGIN;
INSERT INTO items (id, name) VALUES (12, 'lost');
SELECT 1/0;
SELECT 'in failed tx';
COMMIT;
SELECT count(*) AS twelve_absent FROM items WHERE id = 12;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SHOW transaction_isolation;
COMMIT;
COMMIT;

-- a cursor, and psql's FETCH_COUNT mode
BEGIN;
DECLARE cur CURSOR FOR SELECT g FROM generate_series(1, 10) g;
FETCH 3 FROM cur;
FETCH ALL FROM cur;
CLOSE cur;
COMMIT;
\set FETCH_COUNT 4
SELECT g, g * g AS sq FROM generate_series(1, 10) g;
\unset FETCH_COUNT

-- session settings and ParameterStatus
SET DateStyle = 'German';
SELECT date '2024-03-04' AS d;
SHOW DateStyle;
RESET DateStyle;
SET TimeZone = 'UTC';
SELECT timestamptz '2024-03-04 05:06:07+02' AS ts;

-- a 200 KB value sent to the server and back
SELECT repeat('0123456789abcdef', 12800) AS big \gset
CREATE TABLE bigv (id int, v text);
INSERT INTO bigv VALUES (1, :'big');
SELECT length(v), md5(v) = md5(:'big') AS same FROM bigv;
\pset format unaligned
SELECT v FROM bigv;
\pset format aligned
SELECT length(string_agg(md5(g::text), '')) FROM generate_series(1, 50000) g;
SELECT g, md5(g::text) FROM generate_series(1, 300) g;
\echo done
