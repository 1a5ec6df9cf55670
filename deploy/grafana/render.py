"""Draw the dashboard's panels as one PNG from a live Prometheus (Grafana cannot run everywhere).

    python deploy/grafana/render.py --prometheus http://127.0.0.1:9090 --out live.png [--minutes 5]

Each panel of dashboards/vast.json becomes one plot of its queries over the last minutes, fetched from
the Prometheus HTTP API (query_range); the compose test draws docs/img/compose-live-metrics.png this way.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parent / "dashboards" / "vast.json"


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus rejected {expr!r}: {body}")
    return body["data"]["result"]


def legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip() or "value"


def render(prometheus: str, out: Path, minutes: float, title: str) -> int:
    """Write the PNG; returns how many panels had data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in json.loads(DASHBOARD.read_text())["panels"] if p.get("type") == "timeseries"]
    end = time.time()
    start = end - minutes * 60
    step = max(1.0, minutes * 60 / 200)
    cols = 4
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3 * rows), squeeze=False)
    with_data = 0
    for ax, panel in zip(axes.flat, panels):
        lines = 0
        for target in panel["targets"]:
            for series in query_range(prometheus, target["expr"], start, end, step):
                xs = [(float(t) - end) / 60 for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                ax.plot(xs, ys, label=legend(target.get("legendFormat", ""), series["metric"]), lw=1.2)
                lines += 1
        with_data += lines > 0
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel("minutes", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if 0 < lines <= 8:
            ax.legend(fontsize=6, loc="best")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return with_data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--minutes", type=float, default=5.0, help="time window (default 5)")
    p.add_argument("--title", default="vast: live metrics from Prometheus")
    args = p.parse_args(argv)
    n = render(args.prometheus.rstrip("/"), args.out, args.minutes, args.title)
    print(f"wrote {args.out}: {n} panels with data")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
