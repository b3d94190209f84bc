# BENCHMARKS figure 7 (by hand): N Graph-shaped mail rows as SCHEMA + RECORD lines (records.jsonl) and
# as SCHEMA + BATCH messages naming gzipped JSONL files of 10,000 rows (batch.jsonl + batches/).
# python3 batch_input.py OUT_DIR N
import gzip, json, os, sys
out = sys.argv[1]; n = int(sys.argv[2])
os.makedirs(f"{out}/batches", exist_ok=True)
schema = {"type": "SCHEMA", "stream": "mail", "key_properties": ["id"], "schema": {"type": "object", "properties": {
  "id": {"type": "string"}, "subject": {"type": ["null", "string"]}, "receivedDateTime": {"type": ["null", "string"], "format": "date-time"},
  "importance": {"type": ["null", "string"]}, "isRead": {"type": ["null", "boolean"]}, "size": {"type": ["null", "integer"]},
  "from": {"type": ["null", "object"], "properties": {"emailAddress": {"type": ["null", "object"], "properties": {"name": {"type": ["null", "string"]}, "address": {"type": ["null", "string"]}}}}},
  "bodyPreview": {"type": ["null", "string"]}}}}
def row(i):
    return {"id": f"AAMkAG{i:012d}", "subject": f"Quarterly report {i}", "receivedDateTime": f"2026-11-{i % 28 + 1:02d}T10:{i % 60:02d}:00Z",
            "importance": "normal", "isRead": i % 3 == 0, "size": 1000 + i % 5000,
            "from": {"emailAddress": {"name": f"Sender {i % 97}", "address": f"sender{i % 97}@contoso.com"}},
            "bodyPreview": "Hello team, please find the figures attached. " * 3}
with open(f"{out}/records.jsonl", "w") as r, open(f"{out}/batch.jsonl", "w") as b:
    r.write(json.dumps(schema) + "\n"); b.write(json.dumps(schema) + "\n")
    per = 10000
    for f in range(0, n, per):
        path = f"{out}/batches/b-{f // per}.json.gz"
        with gzip.open(path, "wt", compresslevel=1) as g:
            for i in range(f, min(n, f + per)):
                rec = row(i)
                r.write(json.dumps({"type": "RECORD", "stream": "mail", "record": rec}) + "\n")
                g.write(json.dumps(rec) + "\n")
        b.write(json.dumps({"type": "BATCH", "stream": "mail", "encoding": {"format": "jsonl", "compression": "gzip"}, "manifest": [f"file://{path}"]}) + "\n")
    r.write('{"type":"STATE","value":{"n":%d}}\n' % n); b.write('{"type":"STATE","value":{"n":%d}}\n' % n)
