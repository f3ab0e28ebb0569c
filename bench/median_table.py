#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn benchmark output into the cost tables of docs/design.md.

Every bench prints one line per case, "<case> <value> <unit>" or
"<case> ratio <R>". Given several runs of one benchmark (the docs quote
medians of 3), this prints a Markdown table of the median of each case:
one row per ROW, one column per COL, the case name being PATTERN with
{row} and {col} filled in. With --before, each cell reads "after (before)"
so one table shows a change.

  bench/median_table.py --pattern 'pgtable.{col}.{row}' \\
      --cols vtd4,arm_s1_4k,arm_s2_4k,amd4 --rows map.4k,unmap.4k \\
      new1.txt new2.txt new3.txt --before old1.txt old2.txt old3.txt

A row ending in " ratio" reads the ratio line of that case.
"""
import argparse
import statistics
import sys


def load(paths):
    """case name -> list of values, one per file that has it."""
    runs = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 2:
                    continue
                if parts[1] == 'ratio' and len(parts) >= 3:
                    key, val = parts[0] + ' ratio', parts[2]
                else:
                    key, val = parts[0], parts[1]
                try:
                    runs.setdefault(key, []).append(float(val))
                except ValueError:
                    pass
    return runs


def cell(runs, key):
    vals = runs.get(key)
    if not vals:
        return None
    return statistics.median(vals)


def fmt(v, ratio):
    if v is None:
        return '-'
    return ('%.2f' % v) if ratio else ('%.1f' % v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pattern', required=True)
    ap.add_argument('--rows', required=True)
    ap.add_argument('--cols', default='')
    ap.add_argument('--before', nargs='+', default=[])
    ap.add_argument('files', nargs='+')
    a = ap.parse_args()
    after, before = load(a.files), load(a.before)
    cols = a.cols.split(',') if a.cols else ['']
    print('| case | ' + ' | '.join(c or 'value' for c in cols) + ' |')
    print('|---|' + '---:|' * len(cols))
    for row in a.rows.split(','):
        ratio = row.endswith(' ratio')
        name = row[:-len(' ratio')] if ratio else row
        cells = []
        for col in cols:
            key = a.pattern.format(row=name, col=col) + (' ratio' if ratio else '')
            text = fmt(cell(after, key), ratio)
            if a.before:
                text += ' (%s)' % fmt(cell(before, key), ratio)
            cells.append(text)
        print('| %s | %s |' % (row, ' | '.join(cells)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
