"""Fan-out makespan against members, from bench/fan-out.txt, drawn with
matplotlib (run by scripts/bench-fan-out.sh).

Usage: fan_out_chart.py FIGURES.txt OUT.png
"""

import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LINE = re.compile(r"^fan-out to (\d+) members: makespan ([\d.]+) s, (\d+) SendMessageBatch calls, (\d+) pages")
ASSUMED = re.compile(r"every SendMessageBatch takes (\d+) ms")
GOAL_MEMBERS, GOAL_SECONDS = 100_000, 30


def main(figures: str, out: str) -> None:
    text = open(figures, encoding="utf-8").read()
    points = [tuple(map(float, m.groups())) for m in map(LINE.match, text.splitlines()) if m]
    if not points:
        sys.exit(f"no 'fan-out to N members: makespan' lines in {figures}")
    latency = ASSUMED.search(text)
    header = text.splitlines()[0].lstrip("# ") if text.startswith("#") else ""
    members = [p[0] for p in points]
    seconds = [p[1] for p in points]

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(members, seconds, marker="o", color="tab:blue", label="makespan (fan_out to the end)")
    for m, s, calls, pages in points:
        ax.annotate(
            f"{s:.2f} s\n{int(calls):,} calls, {int(pages)} pages",
            (m, s),
            textcoords="offset points",
            xytext=(8, -14),
            fontsize=8,
        )
    ax.axhline(GOAL_SECONDS, color="tab:red", linestyle="--", linewidth=1, label=f"goal: {GOAL_MEMBERS:,} members < {GOAL_SECONDS} s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("members of the event (log scale)")
    ax.set_ylabel("makespan, s (log scale)")
    ax.set_ylim(bottom=min(seconds) / 3, top=max(GOAL_SECONDS * 2, max(seconds) * 2))
    ax.set_xlim(min(members) / 2, max(members) * 4)
    subtitle = f"simulated SQS: {latency.group(1)} ms per SendMessageBatch" if latency else ""
    ax.set_title("Fan-out makespan against members\n" + subtitle, fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    if header:
        fig.text(0.99, 0.01, header, ha="right", va="bottom", fontsize=6, color="gray")
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
