"""A Meltano SDK target that writes each record it is given as one JSON line to `out`.

Fed tap-msgraph's BATCH messages, the records come from the SDK's own batch reader
(`Sink.process_batch_files`: pyarrow for Parquet, gzip + JSON for JSONL), so the test checks
our batch files with third-party code, not with ours.
"""

import json
from decimal import Decimal

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink


def plain(value):
    # The SDK reads JSON numbers with a fraction as Decimal.
    return float(value) if isinstance(value, Decimal) else str(value)


class DumpSink(BatchSink):
    def process_batch(self, context):
        with open(self.config["out"], "a", encoding="utf-8") as out:
            for record in context.get("records", []):
                line = {"stream": self.stream_name, "record": record}
                out.write(json.dumps(line, default=plain) + "\n")


class TargetDump(Target):
    name = "target-dump"
    config_jsonschema = th.PropertiesList(
        th.Property("out", th.StringType, required=True),
    ).to_dict()
    default_sink_class = DumpSink


if __name__ == "__main__":
    TargetDump.cli()
