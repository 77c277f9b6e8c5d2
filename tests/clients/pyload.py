#!/usr/bin/python3
"""pyload: Python drivers writing rows the ways applications do, for the replay traces and tests.

    pyload.py MODE ROWS      (connects with PGHOST / PGPORT / PGUSER / PGDATABASE)

MODE: psycopg3_executemany  cursor.executemany in autocommit
      psycopg3_pipeline     conn.pipeline() with one execute per row, autocommit
      psycopg2_tx           psycopg2's default mode: a transaction, commit() at the end
      asyncpg_executemany   asyncpg (every parameter binary) executemany
Rows go into pt (id int PRIMARY KEY, v text, n numeric, at timestamptz, d date).
"""

import asyncio
import datetime
import decimal
import os
import sys


def rows(n):
	for i in range(1, n + 1):
		yield (i, "row %d 'q' é" % i, decimal.Decimal(i) / 8,
			datetime.datetime(2024, 1, 1, 12, 0, i % 60, tzinfo=datetime.timezone.utc),
			datetime.date(2000 + i % 30, 1 + i % 12, 1 + i % 28))


def dsn():
	return "host=%s port=%s user=%s dbname=%s" % (os.environ["PGHOST"], os.environ["PGPORT"],
		os.environ.get("PGUSER", "postgres"), os.environ.get("PGDATABASE", "postgres"))


SQL = "INSERT INTO pt (id, v, n, at, d) VALUES (%s, %s, %s, %s, %s)"


def main():
	mode, n = sys.argv[1], int(sys.argv[2])
	if mode.startswith("psycopg3"):
		import psycopg
		with psycopg.connect(dsn(), autocommit=True) as conn:
			if mode == "psycopg3_executemany":
				with conn.cursor() as cur:
					cur.executemany(SQL, list(rows(n)))
			else:
				with conn.pipeline():
					for r in rows(n):
						conn.execute(SQL, r)
	elif mode == "psycopg2_tx":
		import psycopg2
		conn = psycopg2.connect(dsn())
		cur = conn.cursor()
		for r in rows(n):
			cur.execute(SQL, r)
		conn.commit()
		conn.close()
	elif mode == "asyncpg_executemany":
		import asyncpg

		async def go():
			conn = await asyncpg.connect(host=os.environ["PGHOST"], port=int(os.environ["PGPORT"]),
				user=os.environ.get("PGUSER", "postgres"), database=os.environ.get("PGDATABASE", "postgres"),
				ssl=False)
			try:
				await conn.executemany("INSERT INTO pt (id, v, n, at, d) VALUES ($1, $2, $3, $4, $5)", list(rows(n)))
			finally:
				await conn.close()
		asyncio.run(go())
	else:
		sys.exit("unknown mode " + mode)
	print("%s %d" % (mode, n))


if __name__ == "__main__":
	main()
