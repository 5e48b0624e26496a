"""The annotation QA report: its tables, one self-contained HTML file, the data as JSON.

``qa_tables`` formats one agreement report as the tables that the terminal (``humanoid-data
qa``) and the HTML page both show. ``write_report`` writes ``agreement.html`` and
``agreement.json`` into a folder. The HTML loads nothing: its style is inline and every
plot is a PNG drawn with matplotlib (its Agg canvas, through ``Figure``, so no GUI backend
and no global pyplot state) embedded as a base64 data URI. Every string that came from a
label file is escaped. matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, NamedTuple, Sequence

from humanoid_data.core.atomic_file import replace_file
from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement import (
    AgreementReport, CategoricalField, ConfusionMatrix, PairReport)
from humanoid_data.labels.agreement.counts import mean_or_none
from humanoid_data.labels.qa import PairSummary, QaResult, summarize

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HTML_NAME = 'agreement.html'
JSON_NAME = 'agreement.json'
DPI = 80

_PAGE = Template('''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; }
th { background: #eee; } td:first-child, th:first-child { text-align: left; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
img { margin: 0.3em; border: 1px solid #ddd; vertical-align: top; }
.note { white-space: pre-wrap; }
</style></head>
<body>
<h1>$title</h1>
<p>$intro</p>
$body
</body></html>
''')


class TextTable(NamedTuple):
    """A table of formatted cells, for the terminal and the HTML report alike."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _cell(value: float | None, digits: int = 3) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def _pair_rows(sums: Sequence[PairSummary]) -> tuple[list[tuple[str, ...]], ...]:
    """Rows of the phases table and of the contacts-and-labels table."""
    phases, labels = [], []
    for s in sums:
        name = f'{s.other} vs {s.reference}'
        phases.append((name, str(s.episodes), *(_cell(f) for _, f in s.boundary_f1),
                       *(_cell(f) for _, f in s.segmental_f1), _cell(s.edit, 1),
                       _cell(s.frame_accuracy), _cell(s.mean_offset_ms, 1)))
        labels.append((name, _cell(s.contact_f1), _cell(s.onset_error_p50_ms, 1),
                       *(_cell(k) for _, k in s.kappa), _cell(s.language_rate)))
    return phases, labels


def qa_tables(report: AgreementReport, title: str, top: int = 10) -> list[TextTable]:
    """The summary, raters and audit tables of one report (``top`` audit rows)."""
    sums = [summarize(p) for p in report.pairs]
    first = sums[0] if sums else None
    tols = tuple(f'bnd F1 {t:g}ms' for t, _ in (first.boundary_f1 if first else ()))
    ks = tuple(f'seg F1@{k * 100:g}' for k, _ in (first.segmental_f1 if first else ()))
    phase_rows, label_rows = _pair_rows(sums)
    audit = report.audit
    return [
        TextTable(f'{title}: phases', ('pair', 'episodes', *tols, *ks, 'edit', 'frame acc',
                                       'offset ms'), tuple(phase_rows)),
        TextTable(f'{title}: contacts and labels',
                  ('pair', 'contact F1', 'onset err p50 ms',
                   *(f'kappa {f.value}' for f in CategoricalField), 'language exact'),
                  tuple(label_rows)),
        TextTable(f'{title}: all raters ({", ".join(report.annotators)})',
                  ('field', 'subjects', 'complete', 'Fleiss kappa', 'Krippendorff alpha'),
                  tuple((f.value, str(r.subjects), str(r.fleiss_subjects),
                         _cell(r.fleiss_kappa), _cell(r.krippendorff_alpha))
                        for f, r in report.raters)),
        TextTable(f'{title}: episodes that disagree most',
                  ('episode', 'pair', 'unmatched', 'sum |offset| ms'),
                  tuple((e.episode_id, f'{e.other} vs {e.reference}', str(e.unmatched),
                         f'{e.offset_ms:.1f}') for e in audit.episodes
                        if e.unmatched or e.offset_ms)[:top]),
        TextTable(f'{title}: spans that disagree most',
                  ('episode', 'pair', 'kind', 'where', 'matched', 'size ms', 'detail'),
                  tuple((i.episode_id, f'{i.other} vs {i.reference}', i.kind.value, i.where,
                         'yes' if i.agreed else 'no', f'{i.size_ms:.1f}', i.detail)
                        for i in audit.spans[:top])),
        TextTable(f'{title}: labels that disagree', ('episode', 'pair', 'label', 'values'),
                  tuple((i.episode_id, f'{i.other} vs {i.reference}', i.where, i.detail)
                        for i in audit.labels[:top])),
    ]


def _figure(width: float = 5.0, height: float = 3.2) -> Figure:
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout='constrained')


def _img(figure: Figure, kind: str, alt: str) -> str:
    """The figure as an ``<img>`` with a PNG data URI; ``kind`` names the plot kind."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=DPI, metadata={'Software': None})
    data = base64.b64encode(buffer.getvalue()).decode('ascii')
    return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
            f'data-kind="{kind}">')


def _pair_name(pair: PairReport) -> str:
    return f'{pair.other} vs {pair.reference}'


def offset_histogram(pair: PairReport) -> str:
    """Histogram of the signed boundary offsets of one pair (positive: ``other`` late)."""
    figure = _figure()
    ax = figure.add_subplot()
    offsets = pair.phases.offsets_ms
    if offsets:
        ax.hist(offsets, bins=min(30, max(5, len(offsets) // 3)), color='#4477aa')
        mean = pair.phases.mean_offset_ms or 0.0
        ax.axvline(mean, color='#cc3311', label=f'mean {mean:+.1f} ms')
        ax.legend(loc='best')
    else:
        ax.text(0.5, 0.5, 'no matched boundary', ha='center', transform=ax.transAxes)
    ax.axvline(0.0, color='black', linewidth=0.8)
    ax.set_xlabel('signed boundary offset (ms), + = late')
    ax.set_ylabel('boundaries')
    ax.set_title(_pair_name(pair), fontsize=10)
    return _img(figure, 'offsets', f'boundary offsets, {_pair_name(pair)}')


def _draw_confusion(ax: Axes, matrix: ConfusionMatrix, field: CategoricalField) -> None:
    ax.set_title(field.value, fontsize=10)
    if not matrix.labels:
        ax.text(0.5, 0.5, 'no labels', ha='center', transform=ax.transAxes)
        ax.set_axis_off()
        return
    top = max(1, max(max(row) for row in matrix.counts))
    ax.imshow(matrix.counts, cmap='Blues', vmin=0, vmax=top)
    ticks = range(len(matrix.labels))
    ax.set_xticks(ticks, matrix.labels, rotation=45, ha='right', fontsize=7)
    ax.set_yticks(ticks, matrix.labels, fontsize=7)
    ax.set_xlabel('other', fontsize=8)
    ax.set_ylabel('reference', fontsize=8)
    for row, counts in enumerate(matrix.counts):
        for column, count in enumerate(counts):
            ax.text(column, row, str(count), ha='center', va='center', fontsize=7,
                    color='white' if count > top / 2 else 'black')


def confusion_matrices(pair: PairReport) -> str:
    """Confusion matrices of outcome, failure mode and verdict of one pair."""
    figure = _figure(9.0, 3.4)
    figure.suptitle(_pair_name(pair), fontsize=10)
    for index, field in enumerate(CategoricalField):
        _draw_confusion(figure.add_subplot(1, len(CategoricalField), index + 1),
                        pair.kappa(field).confusion, field)
    return _img(figure, 'confusion', f'confusion matrices, {_pair_name(pair)}')


def _grouped_bars(kind: str, title: str, ylabel: str, groups: Sequence[str],
                  series: dict[str, list[float]]) -> str:
    """Bars of each series side by side over the groups."""
    figure = _figure(max(5.0, 0.6 * len(groups) * max(1, len(series)) ** 0.5 + 2), 3.4)
    ax = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        ax.bar([g + index * width for g in range(len(groups))], values, width, label=name)
    if not groups:
        ax.text(0.5, 0.5, 'nothing to show', ha='center', transform=ax.transAxes)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, rotation=30,
                  ha='right')
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if series and groups:
        ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    return _img(figure, kind, title)


def phase_bars(report: AgreementReport) -> str:
    """Mean |boundary offset| per phase (where it begins), one bar per pair."""
    phases: list[str] = []
    for pair in report.pairs:
        phases += [p.phase for p in pair.phases.per_phase if p.phase not in phases]
    series = {}
    for pair in report.pairs:
        offsets = {p.phase: p.offsets_ms for p in pair.phases.per_phase}
        series[_pair_name(pair)] = [mean_or_none(abs(o) for o in offsets.get(name, ())) or 0.0
                                    for name in phases]
    return _grouped_bars('phases', 'mean |offset| per phase', 'ms', phases, series)


def channel_bars(report: AgreementReport) -> str:
    """Contact F1 per channel (first IoU threshold), one bar per pair."""
    channels = sorted({c.channel for p in report.pairs for c in p.contacts[0].channels})
    series = {_pair_name(p): [p.contacts[0].channel(c).counts.f1 for c in channels]
              for p in report.pairs}
    return _grouped_bars('channels', 'contact F1 per channel', 'F1', channels, series)


def html_table(table: TextTable) -> str:
    """A ``TextTable`` as an HTML table, every cell escaped."""
    head = ''.join(f'<th>{html.escape(h)}</th>' for h in table.headers)
    rows = ''.join('<tr>' + ''.join(f'<td>{html.escape(c)}</td>' for c in row) + '</tr>'
                   for row in table.rows)
    return (f'<table><caption>{html.escape(table.title)}</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')


def _section(title: str, report: AgreementReport) -> str:
    tables = qa_tables(report, title, top=25)
    plots = [offset_histogram(p) for p in report.pairs]
    plots += [confusion_matrices(p) for p in report.pairs]
    plots += [phase_bars(report), channel_bars(report)]
    return (f'<h2>Agreement {html.escape(title)}</h2>'
            + ''.join(html_table(t) for t in tables[:3])
            + '<div>' + '\n'.join(plots) + '</div>'
            + ''.join(html_table(t) for t in tables[3:] if t.rows))


def _extras(result: QaResult) -> str:
    excluded = TextTable('label sets left out (another taxonomy version)',
                         ('episode', 'annotator', 'taxonomy', 'why'),
                         tuple(tuple(e) for e in result.excluded))
    notes = ''.join(
        f'<tr><td>{html.escape(n.episode)}</td><td>{html.escape(n.annotator)}</td>'
        f'<td class="note">{html.escape(n.text)}</td></tr>' for n in result.notes)
    return ((html_table(excluded) if result.excluded else '')
            + (f'<h2>Notes</h2><table><thead><tr><th>episode</th><th>annotator</th>'
               f'<th>note</th></tr></thead><tbody>{notes}</tbody></table>' if notes else ''))


def render_html(result: QaResult) -> str:
    """The whole report as one self-contained HTML page."""
    intro = (f'sessions: {", ".join(result.sessions)}; taxonomy {result.taxonomy}; '
             f'{result.label_sets} label sets compared, {len(result.excluded)} left out')
    body = ''.join(_section(title, report) for title, report in result.sections())
    return _PAGE.substitute(title='Annotation QA', intro=html.escape(intro),
                            body=(body + _extras(result)) or '<p>nothing to compare</p>')


def _write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically."""
    replace_file(path, text, durable=False)


def write_report(result: QaResult, folder: str | Path) -> Path:
    """Write ``agreement.html`` and ``agreement.json`` into ``folder`` (created if needed).

    Returns:
        The path of the HTML file.

    Raises:
        LabelError: The folder cannot be created or written.

    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / JSON_NAME, result.to_json_text() + '\n')
        _write(folder / HTML_NAME, render_html(result))
    except OSError as err:
        raise LabelError(f'{folder}: cannot write the QA report: {err.strerror or err}') from err
    return folder / HTML_NAME


__all__ = ['HTML_NAME', 'JSON_NAME', 'TextTable', 'channel_bars', 'confusion_matrices',
           'html_table', 'offset_histogram', 'phase_bars', 'qa_tables', 'render_html',
           'write_report']
