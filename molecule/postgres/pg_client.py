#!/usr/bin/env python3
"""Tiny psycopg2 client for the verify step, run inside the instance.

usage: pg_client.py HOST PORT USER DB SQL   (password in PGPASSWORD_VERIFY)
Prints the first column of every row; exit 3 on an authentication/connection failure.
"""
import os
import sys

import psycopg2

host, port, user, db, sql = sys.argv[1:6]
try:
    conn = psycopg2.connect(host=host, port=int(port), user=user, dbname=db,
                            password=os.environ["PGPASSWORD_VERIFY"], connect_timeout=5)
except psycopg2.OperationalError as exc:
    print(str(exc).strip().splitlines()[0])
    sys.exit(3)
conn.autocommit = True
with conn.cursor() as cur:
    for stmt in filter(None, (s.strip() for s in sql.split(";"))):
        cur.execute(stmt)
        if cur.description:
            for row in cur.fetchall():
                print(row[0])
