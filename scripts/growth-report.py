"""The growth benchmark's report, from the outputs scripts/bench-growth saved: a
markdown table on stdout, a CSV and a PNG plot.

    growth-report.py RESULTS_DIR CSV PNG MESSAGES...
"""

import csv
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

LATENCY_TICKS = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]

# The ingest benchmark's SQLite line that counts: the default synchronous=full.
INGEST_STORES = {"sqlite (synchronous=Full)": "sqlite", "postgres": "postgres"}
INGEST_LINE = re.compile(r"^(.+?): \d+ messages, .* stored: (\d+) messages/s$")
STORE_LINE = re.compile(r"^(sqlite|postgres): \d+ tickets, \d+ messages filled")
QUERY_LINE = re.compile(r"^(.+?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")

# (column, the ticket queries benchmark's shape, plotted)
QUERIES = [
    ("first page", "list: first page", True),
    ("status", "list: status", True),
    ("deep cursor", "list: deep cursor (middle of the list)", True),
    ("search: common word", "search: a common word (~25%)", True),
    ("search: prefix", "search: a prefix being typed", True),
    ("ticket view", "ticket: with its 200 messages", True),
    ("contact", "contact: with its identities and tickets", False),
]


def parse(results, size):
    """{store: {"ingest": rate, shape: (p50, p99)}} for one size."""
    found = {}
    with open(f"{results}/ingest-{size}.txt") as lines:
        for line in lines:
            match = INGEST_LINE.match(line.strip())
            if match and match[1] in INGEST_STORES:
                found.setdefault(INGEST_STORES[match[1]], {})["ingest"] = int(match[2])
    store = None
    with open(f"{results}/queries-{size}.txt") as lines:
        for line in lines:
            line = line.strip()
            if match := STORE_LINE.match(line):
                store = match[1]
            elif store and (match := QUERY_LINE.match(line)):
                found.setdefault(store, {})[match[1]] = (float(match[2]), float(match[3]))
    return found


def main():
    results, csv_path, png_path, *sizes = sys.argv[1:]
    sizes = [int(s) for s in sizes]
    by_size = {size: parse(results, size) for size in sizes}
    stores = [s for s in ("sqlite", "postgres") if any(s in by_size[n] for n in sizes)]
    rows = [
        (store, size, by_size[size][store])
        for store in stores
        for size in sizes
        if store in by_size[size]
    ]

    header = ["store", "stored messages", "ingest messages/s"] + [
        f"{column} p50 / p99 ms" for column, _, _ in QUERIES
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for store, size, figures in rows:
        cells = [store, f"{size:,}", f"{figures['ingest']:,}"] + [
            "{:.2f} / {:.2f}".format(*figures[shape]) for _, shape, _ in QUERIES
        ]
        print("| " + " | ".join(cells) + " |")

    with open(csv_path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["store", "stored_messages", "ingest_messages_per_s"]
            + [
                f"{column.replace(': ', '_').replace(' ', '_')}_{p}_ms"
                for column, _, _ in QUERIES
                for p in ("p50", "p99")
            ]
        )
        for store, size, figures in rows:
            writer.writerow(
                [store, size, figures["ingest"]]
                + [f"{v:.2f}" for _, shape, _ in QUERIES for v in figures[shape]]
            )

    style = {"sqlite": "-", "postgres": "--"}
    fig, (rate, latency) = plt.subplots(1, 2, figsize=(15, 5.5))
    for store in stores:
        points = [(size, f) for s, size, f in rows if s == store]
        xs = [size for size, _ in points]
        rate.plot(xs, [f["ingest"] for _, f in points], style[store], marker="o", label=store)
        for k, (column, shape, plotted) in enumerate(QUERIES):
            if plotted:
                latency.plot(
                    xs,
                    [f[shape][1] for _, f in points],
                    style[store],
                    marker="o",
                    color=f"C{k}",
                    label=f"{store}: {column}",
                )
    rate.set_title("Ingest into a store already holding that many messages")
    rate.set_ylabel("messages/s (in process, 64 concurrent)")
    rate.set_ylim(bottom=0)
    latency.set_title("Agent API queries, p99 (50 a page)")
    latency.set_ylabel("p99 latency (ms, log scale)")
    latency.set_yscale("log")
    latency.axhline(20, color="grey", linestyle=":", label="goal: lists 20 ms")
    latency.axhline(50, color="black", linestyle=":", label="goal: search 50 ms")
    low, high = latency.get_ylim()
    ticks = [t for t in LATENCY_TICKS if low <= t <= high]
    latency.set_yticks(ticks, [f"{t:g}" for t in ticks])
    latency.yaxis.set_minor_locator(NullLocator())
    for axis in (rate, latency):
        axis.set_xscale("log")
        axis.set_xticks(sizes, [f"{size:,}" for size in sizes])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xlabel("messages already stored (log scale)")
        axis.grid(True, which="major", alpha=0.3)
    rate.legend()
    latency.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


if __name__ == "__main__":
    main()
