"""NDJSON -> Parquet (zstd) with DuckDB, as a user would: COPY (SELECT * FROM read_json(...)).
Usage: duckdb_copy.py SRC DST THREADS. Prints {"rows", "bytes_out", "inner_s"} (inner_s: after import)."""
import json, os, sys, time

import duckdb

src, dst, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
rows = con.execute(
    f"COPY (SELECT * FROM read_json('{src}', format = 'newline_delimited')) "
    f"TO '{dst}' (FORMAT parquet, COMPRESSION zstd)"
).fetchone()[0]
inner = time.perf_counter() - start
print(json.dumps({"rows": rows, "bytes_out": os.path.getsize(dst), "inner_s": inner}))
