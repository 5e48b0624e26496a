"""``humanoid-data qa``: terminal tables, JSON, a self-contained HTML report, exit codes."""

from __future__ import annotations

import json
import re

from humanoid_data.cli.main import main
from humanoid_data.labels.store import LabelStore
from humanoid_data.sim.annotators import annotate
from test.labels.test_qa import ALICE, EPISODES, NOTE, OLD_TAXONOMY, make_session, truths

PLOT_KINDS = ('offsets', 'confusion', 'phases', 'channels')


def test_json_holds_every_pair_with_the_bias_as_the_offset_sign(tmp_path, capsys):
    session = make_session(tmp_path / 's1')
    assert main(['qa', str(session), '--json']) == 0
    body = json.loads(capsys.readouterr().out)
    pairs = {(p['reference'], p['other']): p for p in body['agreement']['pairs']}
    assert set(pairs) == {('alice', 'bob'), ('alice', 'prelabel'), ('bob', 'prelabel')}
    assert pairs['alice', 'bob']['phases']['mean_offset_ms'] > 40
    assert pairs['alice', 'prelabel']['phases']['mean_offset_ms'] < -15
    assert body['agreement']['raters']['outcome']['fleiss_kappa'] is not None


def test_gold_scores_each_annotator_in_the_terminal_tables(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('COLUMNS', '200')
    session = make_session(tmp_path / 's1', gold='v1')
    assert main(['qa', str(session), '--gold', 'v1', '--annotators', 'alice,bob']) == 0
    out = capsys.readouterr().out
    assert 'against gold v1: phases' in out and 'Krippendorff alpha' in out
    rows: dict[str, str] = {}
    for match in re.finditer(r'^│ (alice|bob) vs gold@v1 +│ \d+ +│ ([\d.]+)', out, re.M):
        rows.setdefault(match.group(1), match.group(2))      # the phases table comes first
    assert float(rows['alice']) > float(rows['bob'])        # boundary F1 at 50 ms
    assert 'prelabel vs' not in out                          # narrowed to alice and bob
    assert 'spans that disagree most' in out


def test_the_html_report_is_self_contained_with_every_plot_and_escaped_notes(
        tmp_path, capsys):
    session = make_session(tmp_path / 's1', gold='v1', note=True)
    report = tmp_path / 'report'
    assert main(['qa', str(session), '--gold', 'v1', '--report', str(report)]) == 0
    page = (report / 'agreement.html').read_text(encoding='utf-8')
    assert 'http://' not in page and 'https://' not in page
    assert '<script' not in page and '<link' not in page and '@import' not in page
    for kind in PLOT_KINDS:
        assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}" '
                         rf'alt="[^"]*" data-kind="{kind}">', page), kind
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;' in page
    assert NOTE not in page
    data = json.loads((report / 'agreement.json').read_text())
    assert data['gold']['summary'][0]['reference'] == 'gold@v1'
    assert data['notes'][0]['text'] == NOTE
    assert str(report / 'agreement.html') in capsys.readouterr().out


def test_another_taxonomy_version_is_reported_and_left_out(tmp_path, capsys):
    session = make_session(tmp_path / 's1', old_carol=True)
    assert main(['qa', str(session)]) == 0
    out = capsys.readouterr().out
    assert f"left out: {EPISODES} label sets of 'carol'" in out and OLD_TAXONOMY in out
    assert 'carol vs' not in out
    assert main(['qa', str(session), '--json']) == 0
    body = json.loads(capsys.readouterr().out)
    assert {e['annotator'] for e in body['excluded']} == {'carol'}
    assert 'carol' not in body['agreement']['annotators']


def test_nothing_to_compare_exits_1_with_the_reason(tmp_path, capsys):
    session = tmp_path / 's1'
    session.mkdir()
    LabelStore(session).save(annotate(truths()[0], ALICE))
    report = tmp_path / 'report'
    assert main(['qa', str(session), '--report', str(report)]) == 1
    assert 'nothing to compare: no episode has two label sets' in capsys.readouterr().err
    assert not report.exists()
    gold_session = make_session(tmp_path / 'g', gold='v1')
    assert main(['qa', str(gold_session), '--gold', 'v1', '--annotators', 'nobody']) == 1
    assert 'no annotator labelled an episode of gold set v1' in capsys.readouterr().err


def test_project_errors_exit_2_without_a_traceback(tmp_path, capsys):
    assert main(['qa', str(tmp_path / 'missing')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'missing' in err and 'Traceback' not in err
    session = make_session(tmp_path / 's1')
    assert main(['qa', str(session), '--gold', 'v7']) == 2
    assert 'no gold set v7' in capsys.readouterr().err
    (session / 'labels' / 'episode_0000' / 'bob.json').write_text('{"schema": 1')
    assert main(['qa', str(session)]) == 2
    assert 'bob.json' in capsys.readouterr().err


def test_json_with_a_report_keeps_stdout_pure_json(tmp_path, capsys):
    session = make_session(tmp_path / 's1', adjudicated=True)
    report = tmp_path / 'report'
    assert main(['qa', str(session), '--reference', 'adjudicated', '--json',
                 '--report', str(report)]) == 0
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert {p['reference'] for p in body['agreement']['pairs']} == {'adjudicated'}
    assert str(report / 'agreement.html') in captured.err
    assert json.loads((report / 'agreement.json').read_text()) == body
