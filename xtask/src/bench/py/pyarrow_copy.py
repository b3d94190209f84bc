"""NDJSON -> Parquet (zstd) with pyarrow: pyarrow.json.read_json then pyarrow.parquet.write_table.
Usage: pyarrow_copy.py SRC DST THREADS. Prints {"rows", "bytes_out", "inner_s"} (inner_s: after import)."""
import json, os, sys, time

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

src, dst, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
pa.set_cpu_count(threads)
pa.set_io_thread_count(threads)
# Blocks must hold the largest record (one message body is over 1 MB).
table = pj.read_json(src, read_options=pj.ReadOptions(block_size=16 << 20))
pq.write_table(table, dst, compression="zstd")
inner = time.perf_counter() - start
print(json.dumps({"rows": table.num_rows, "bytes_out": os.path.getsize(dst), "inner_s": inner}))
