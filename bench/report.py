#!/usr/bin/python3
"""Turns scripts/bench's raw samples into the Markdown table (stdout) and the JSON file.

report.py WORKDIR JSON_PATH

WORKDIR holds, written by scripts/bench:
  metrics.tsv  id, section, label, unit, flags ("noratio": the two columns measure different
               things, no ratio), in the order the rows are printed;
  samples.tsv  id, path ("kernel" or "netshim"), kind ("ok", "fail" or "na"), value, note;
  env.tsv      key, value (machine, kernel, settings, commit).
A cell is the median of its "ok" samples with (min-max) when there are several; a cell
without any is "failed" or "n/a", and the reason becomes a footnote.
"""
import csv
import json
import statistics
import sys

PATHS = ("kernel", "netshim")


def read_tsv(path):
    with open(path, newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]


def fmt(v):
    if v is None:
        return ""
    a = abs(v)
    if a >= 10000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


class Cell:
    def __init__(self):
        self.values, self.failures, self.na, self.notes = [], [], [], []

    def add(self, kind, value, note):
        if kind == "ok":
            self.values.append(float(value))
            if note:
                self.notes.append(note)
        elif kind == "na":
            self.na.append(note)
        else:
            self.failures.append(note or "failed")

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    def to_json(self):
        out = {"runs": self.values}
        if self.values:
            out.update(median=self.median, min=min(self.values), max=max(self.values))
        if self.failures:
            out["failures"] = self.failures
        if self.na:
            out["not_available"] = self.na[0]
        if self.notes:
            out["notes"] = sorted(set(self.notes))
        return out


def main():
    work, json_path = sys.argv[1], sys.argv[2]
    metrics = read_tsv(f"{work}/metrics.tsv")
    cells = {(m[0], p): Cell() for m in metrics for p in PATHS}
    for row in read_tsv(f"{work}/samples.tsv"):
        mid, path, kind, value = row[:4]
        note = row[4] if len(row) > 4 else ""
        cells[(mid, path)].add(kind, value, note)
    env = {k: int(v) if v.isdigit() else v for k, v in read_tsv(f"{work}/env.tsv")}

    footnotes = []

    def footnote(text):
        if text not in footnotes:
            footnotes.append(text)
        return f"[{footnotes.index(text) + 1}]"

    def show(cell):
        if cell.values:
            s = fmt(cell.median)
            if len(cell.values) > 1:
                s += f" ({fmt(min(cell.values))}–{fmt(max(cell.values))})"
            if cell.failures:
                s += f" {footnote(f'{len(cell.failures)} run(s) failed: ' + cell.failures[0])}"
            for note in sorted(set(cell.notes)):
                s += f" {footnote(note)}"
            return s
        if cell.na:
            return f"n/a {footnote(cell.na[0])}"
        if cell.failures:
            return f"failed {footnote(cell.failures[0])}"
        return "not run"

    results, lines, section = [], [], None
    print(f"netshim {env.get('commit', '?')[:12]} vs kernel {env.get('kernel', '?')}, "
          f"{env.get('cpu', '?')}; congestion control {env.get('congestion_control', '?')} "
          f"(netshim: cubic); MTU {env.get('mtu', '?')}; "
          f"median (min–max) of {env.get('runs', '?')} alternating runs of "
          f"{env.get('seconds_per_run', '?')} s")
    print(f"kernel: tcp_rmem {env.get('tcp_rmem', '?')}, tcp_wmem {env.get('tcp_wmem', '?')}, "
          f"qdisc {env.get('default_qdisc', '?')}, tcp_tw_reuse {env.get('tcp_tw_reuse', '?')}, "
          f"veth offloads on (TSO/GSO/GRO); "
          f"netshim build {env.get('build', '?')}, tree {env.get('tree', '?')}\n")
    lines.append("| metric | kernel veth | netshim | netshim/kernel |")
    lines.append("|---|---:|---:|---:|")
    for mid, sect, label, unit, flags in metrics:
        if sect != section:
            section = sect
            lines.append(f"| **{sect}** | | | |")
        k, n = cells[(mid, "kernel")], cells[(mid, "netshim")]
        ratio = None
        if "noratio" not in flags and k.median and n.median is not None:
            ratio = n.median / k.median
        lines.append(f"| {label} ({unit}) | {show(k)} | {show(n)} | "
                     f"{f'{ratio:.2f}' if ratio is not None else '—'} |")
        results.append({"id": mid, "section": sect, "metric": label, "unit": unit,
                        "kernel": k.to_json(), "netshim": n.to_json(), "ratio": ratio})
    print("\n".join(lines))
    if footnotes:
        print()
        for i, text in enumerate(footnotes, 1):
            print(f"[{i}] {text}")
    with open(json_path, "w") as f:
        json.dump({"environment": env, "results": results, "footnotes": footnotes}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
