"""Reads a fleetbench interval log (intervals.hlog) with HdrHistogram's Python port (the
`hdrhistogram` package on PyPI, module `hdrh`), as another HdrHistogram tool would: prints,
per tag, the values counted over every interval, the intervals read, and their starts (s),
as JSON."""

import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, 3_600_000_000, 3))
tags = {}
while True:
    histogram = reader.get_next_interval_histogram()
    if histogram is None:
        break
    tag = tags.setdefault(histogram.get_tag(), {"count": 0, "starts": []})
    tag["count"] += histogram.get_total_count()
    tag["starts"].append(round(histogram.get_start_time_stamp() / 1000.0, 3))
print(json.dumps(tags))
